//! Table entities as JSON maps, and typed property helpers.
//!
//! Owns [`TableEntity`] and [`EntityExt`]. The table service types a property by an
//! `<Name>@odata.type` annotation next to it; a bare JSON number is an Int32 or a Double, so
//! Int64 and DateTime need the annotation (Int64 travels as a string). The setters write the
//! annotation, the getters read either form back.

use super::escape::format_edm_datetime;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A table entity: property name → JSON value (annotations included).
pub type TableEntity = Map<String, Value>;

const ODATA_TYPE: &str = "@odata.type";

fn annotation(name: &str) -> String {
    format!("{name}{ODATA_TYPE}")
}

/// Typed access to the properties of a [`TableEntity`].
pub trait EntityExt {
    /// Sets an Edm.String property.
    fn put_str(&mut self, name: &str, value: impl Into<String>) -> &mut Self;
    /// Sets an Edm.Int32 property (a plain JSON integer).
    fn put_i32(&mut self, name: &str, value: i32) -> &mut Self;
    /// Sets an Edm.Int64 property (a string value with its annotation).
    fn put_i64(&mut self, name: &str, value: i64) -> &mut Self;
    /// Sets an Edm.Boolean property.
    fn put_bool(&mut self, name: &str, value: bool) -> &mut Self;
    /// Sets an Edm.Double property.
    fn put_f64(&mut self, name: &str, value: f64) -> &mut Self;
    /// Sets an Edm.DateTime property (UTC, 7 fractional digits, with its annotation).
    fn put_datetime(&mut self, name: &str, value: OffsetDateTime) -> &mut Self;
    /// Removes a property and its annotation.
    fn remove_property(&mut self, name: &str) -> &mut Self;

    /// A string property.
    fn get_str(&self, name: &str) -> Option<&str>;
    /// An Int32 property.
    fn get_i32(&self, name: &str) -> Option<i32>;
    /// An Int64 property (string with annotation, or a bare number).
    fn get_i64(&self, name: &str) -> Option<i64>;
    /// A boolean property.
    fn get_bool(&self, name: &str) -> Option<bool>;
    /// A double property.
    fn get_f64(&self, name: &str) -> Option<f64>;
    /// A DateTime property.
    fn get_datetime(&self, name: &str) -> Option<OffsetDateTime>;
    /// `PartitionKey`.
    fn partition_key(&self) -> Option<&str> {
        self.get_str("PartitionKey")
    }
    /// `RowKey`.
    fn row_key(&self) -> Option<&str> {
        self.get_str("RowKey")
    }
}

impl EntityExt for TableEntity {
    fn put_str(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.remove(&annotation(name));
        self.insert(name.to_string(), Value::String(value.into()));
        self
    }

    fn put_i32(&mut self, name: &str, value: i32) -> &mut Self {
        self.remove(&annotation(name));
        self.insert(name.to_string(), Value::from(value));
        self
    }

    fn put_i64(&mut self, name: &str, value: i64) -> &mut Self {
        self.insert(annotation(name), Value::String("Edm.Int64".into()));
        self.insert(name.to_string(), Value::String(value.to_string()));
        self
    }

    fn put_bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.remove(&annotation(name));
        self.insert(name.to_string(), Value::Bool(value));
        self
    }

    fn put_f64(&mut self, name: &str, value: f64) -> &mut Self {
        self.insert(annotation(name), Value::String("Edm.Double".into()));
        self.insert(name.to_string(), Value::from(value));
        self
    }

    fn put_datetime(&mut self, name: &str, value: OffsetDateTime) -> &mut Self {
        self.insert(annotation(name), Value::String("Edm.DateTime".into()));
        self.insert(name.to_string(), Value::String(format_edm_datetime(value)));
        self
    }

    fn remove_property(&mut self, name: &str) -> &mut Self {
        self.remove(&annotation(name));
        self.remove(name);
        self
    }

    fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_str()
    }

    fn get_i32(&self, name: &str) -> Option<i32> {
        i32::try_from(self.get(name)?.as_i64()?).ok()
    }

    fn get_i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::String(s) => s.parse().ok(),
            v => v.as_i64(),
        }
    }

    fn get_bool(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_bool()
    }

    fn get_f64(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            // The service writes NaN and infinities as strings.
            Value::String(s) => s.parse().ok(),
            v => v.as_f64(),
        }
    }

    fn get_datetime(&self, name: &str) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.get(name)?.as_str()?, &Rfc3339).ok()
    }
}

/// Drops what the service adds on reads and refuses on writes: `odata.*` metadata.
pub(crate) fn strip_metadata(entity: &mut TableEntity) {
    entity.retain(|k, _| !k.starts_with("odata."));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_properties_round_trip_in_memory() {
        let t = time::macros::datetime!(2024-05-01 10:00:00.5 UTC);
        let mut e = TableEntity::new();
        e.put_str("S", "x")
            .put_i32("I", -5)
            .put_i64("L", 1 << 40)
            .put_bool("B", true)
            .put_datetime("D", t);
        assert_eq!(e["L@odata.type"], "Edm.Int64");
        assert_eq!(e["L"], "1099511627776");
        assert_eq!(e["D"], "2024-05-01T10:00:00.5000000Z");
        assert_eq!(e.get_str("S"), Some("x"));
        assert_eq!(e.get_i32("I"), Some(-5));
        assert_eq!(e.get_i64("L"), Some(1 << 40));
        assert_eq!(e.get_bool("B"), Some(true));
        assert_eq!(e.get_datetime("D"), Some(t));
        e.remove_property("L");
        assert!(!e.contains_key("L@odata.type"));
    }
}
