//! Decoding JSON inputs and results into user types.
//!
//! Absent values decode as `null`. A JSON *string that holds JSON text* — what the Python Durable
//! Functions client sends for inputs and event data — decodes as the value it holds when the
//! string itself does not fit the wanted type, so `{"a":1}` and `"{\"a\":1}"` both give a struct.

use serde::de::DeserializeOwned;

/// Decodes JSON text (or its absence) into `T`.
pub fn decode<T: DeserializeOwned>(json: Option<&str>) -> Result<T, serde_json::Error> {
    let text = json.unwrap_or("null");
    match serde_json::from_str::<T>(text) {
        Ok(v) => Ok(v),
        Err(first) => match serde_json::from_str::<String>(text) {
            Ok(inner) => serde_json::from_str::<T>(&inner).map_err(|_| first),
            Err(_) => Err(first),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct In {
        a: u32,
    }

    #[test]
    fn plain_and_double_encoded_json_both_decode() {
        assert_eq!(decode::<In>(Some("{\"a\":1}")).unwrap(), In { a: 1 });
        assert_eq!(
            decode::<In>(Some("\"{\\\"a\\\":1}\"")).unwrap(),
            In { a: 1 }
        );
        // A string that is wanted as a string stays a string.
        assert_eq!(
            decode::<String>(Some("\"{\\\"a\\\":1}\"")).unwrap(),
            "{\"a\":1}"
        );
        assert_eq!(decode::<Option<u32>>(None).unwrap(), None);
        assert!(decode::<In>(Some("\"nope\"")).is_err());
    }
}
