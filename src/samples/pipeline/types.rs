//! The pipeline's inputs and outputs, and the validation of the orchestration's input.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::core::{Failure, FailureDetails};

/// The most files one run may generate.
pub const MAX_FILES: u64 = 10_000;
/// The most rows one raw file may have.
pub const MAX_ROWS: u64 = 10_000_000;

/// The input of `OrchestratorFunc` and `GenerateData`:
/// `{"rawDataPath": "raw", "numFiles": 4, "numRows": 10}` (the numbers may be strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineInput {
    /// `rawDataPath`: the folder (blob name prefix) of the raw files.
    #[serde(rename = "rawDataPath")]
    pub raw_data_path: String,
    /// `numFiles`: how many raw files to generate (at most [`MAX_FILES`]).
    #[serde(rename = "numFiles")]
    pub num_files: u64,
    /// `numRows`: rows per raw file (at most [`MAX_ROWS`]).
    #[serde(rename = "numRows")]
    pub num_rows: u64,
}

impl PipelineInput {
    /// Validates an input given as JSON text: an object, or a JSON string holding the object's
    /// JSON text (what the Python Durable client sends). The message says what is wrong.
    pub fn parse(json: Option<&str>) -> Result<PipelineInput, String> {
        const EXPECTED: &str = r#"expected {"rawDataPath": "raw", "numFiles": 4, "numRows": 10}"#;
        let Some(text) = json else {
            return Err(format!("the input is missing; {EXPECTED}"));
        };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("the input is not JSON ({e}); {EXPECTED}"))?;
        Self::from_value(&value)
    }

    /// Validates an input already parsed as JSON (a string holding the JSON text of the object
    /// is accepted too).
    pub fn from_value(value: &Value) -> Result<PipelineInput, String> {
        const EXPECTED: &str = r#"expected {"rawDataPath": "raw", "numFiles": 4, "numRows": 10}"#;
        let inner;
        let value = match value {
            Value::String(s) => {
                inner = serde_json::from_str::<Value>(s).map_err(|_| {
                    format!("the input is a string, not an object: {value}; {EXPECTED}")
                })?;
                if inner.is_string() {
                    return Err(format!(
                        "the input must be an object, not {value}; {EXPECTED}"
                    ));
                }
                &inner
            }
            v => v,
        };
        let Value::Object(map) = value else {
            return Err(format!(
                "the input must be an object, not {value}; {EXPECTED}"
            ));
        };
        let raw = match map.get("rawDataPath") {
            None | Some(Value::Null) => return Err(format!("rawDataPath is missing; {EXPECTED}")),
            Some(Value::String(s)) => s.trim().trim_matches('/').to_string(),
            Some(other) => return Err(format!("rawDataPath must be a string, not {other}")),
        };
        if raw.is_empty() {
            return Err(
                "rawDataPath is empty: give the folder for the raw files, e.g. \"raw\"".into(),
            );
        }
        let num_files = count(map.get("numFiles"), "numFiles", MAX_FILES)?;
        let num_rows = count(map.get("numRows"), "numRows", MAX_ROWS)?;
        Ok(PipelineInput {
            raw_data_path: raw,
            num_files,
            num_rows,
        })
    }

    /// The input of the running orchestration, or a non-retriable `InvalidInput` failure.
    pub fn from_raw(json: Option<&str>) -> Result<PipelineInput, Failure> {
        PipelineInput::parse(json).map_err(|m| {
            Failure::new(
                FailureDetails::INVALID_INPUT,
                format!("invalid pipeline input: {m}"),
            )
            .non_retriable()
        })
    }
}

/// A non-negative whole number, given as a JSON number or as a string holding one.
fn count(v: Option<&Value>, name: &str, max: u64) -> Result<u64, String> {
    let n = match v {
        None | Some(Value::Null) => return Err(format!("{name} is missing")),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                u
            } else if n.as_i64().is_some_and(|i| i < 0) {
                return Err(format!("{name} must not be negative, got {n}"));
            } else {
                match n.as_f64() {
                    Some(f) if f < 0.0 => {
                        return Err(format!("{name} must not be negative, got {n}"))
                    }
                    Some(f) if f.fract() == 0.0 && f <= max as f64 => f as u64,
                    _ => return Err(format!("{name} must be a whole number, got {n}")),
                }
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            match t.parse::<u64>() {
                Ok(u) => u,
                Err(_) if t.parse::<i64>().is_ok_and(|i| i < 0) => {
                    return Err(format!("{name} must not be negative, got \"{s}\""))
                }
                Err(_) => return Err(format!("{name} is not a number: \"{s}\"")),
            }
        }
        Some(other) => return Err(format!("{name} must be a number, not {other}")),
    };
    if n > max {
        return Err(format!("{name} is {n}; at most {max} is allowed"));
    }
    Ok(n)
}

/// What a step returns: `{"stepN_output_filename": …, "col_count": …, "row_count": …}`, where
/// `row_count` and `col_count` are those of the file the step read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutput {
    /// 1–4.
    pub step: u8,
    /// The blob the step wrote, e.g. `step1/data_0.csv`.
    pub output_filename: String,
    /// `col_count`: the columns of the file the step read.
    pub col_count: u64,
    /// `row_count`: the data rows of the file the step read.
    pub row_count: u64,
}

impl Serialize for StepOutput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry(
            &format!("step{}_output_filename", self.step),
            &self.output_filename,
        )?;
        m.serialize_entry("col_count", &self.col_count)?;
        m.serialize_entry("row_count", &self.row_count)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for StepOutput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        let (step, file) = map
            .iter()
            .find_map(|(k, v)| {
                let n = k.strip_prefix("step")?.strip_suffix("_output_filename")?;
                Some((n.parse::<u8>().ok()?, v.as_str()?.to_string()))
            })
            .ok_or_else(|| D::Error::custom("no stepN_output_filename"))?;
        let num = |k: &str| {
            map.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| D::Error::custom(format!("no {k}")))
        };
        Ok(StepOutput {
            step,
            output_filename: file,
            col_count: num("col_count")?,
            row_count: num("row_count")?,
        })
    }
}

/// The file a step reads: a blob name, or the previous step's output.
pub fn input_file(input: &Value) -> Option<String> {
    match input {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            (k.ends_with("_output_filename") || k == "filename")
                .then(|| v.as_str().map(str::to_string))
                .flatten()
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<PipelineInput, String> {
        PipelineInput::parse(Some(&v.to_string()))
    }

    #[test]
    fn numbers_as_numbers_or_strings() {
        let want = PipelineInput {
            raw_data_path: "raw".into(),
            num_files: 4,
            num_rows: 10,
        };
        assert_eq!(
            parse(json!({"rawDataPath": "raw", "numFiles": "4", "numRows": "10"})).unwrap(),
            want
        );
        assert_eq!(
            parse(json!({"rawDataPath": "/raw/", "numFiles": 4, "numRows": 10.0})).unwrap(),
            want
        );
        // The Python client's form: a JSON string holding the JSON text.
        let double = json!(r#"{"rawDataPath":"raw","numFiles":"4","numRows":10}"#);
        assert_eq!(parse(double).unwrap(), want);
    }

    #[test]
    fn bad_inputs_say_what_is_wrong() {
        let cases = [
            (
                json!({"numFiles": 4, "numRows": 10}),
                "rawDataPath is missing",
            ),
            (
                json!({"rawDataPath": "", "numFiles": 4, "numRows": 10}),
                "rawDataPath is empty",
            ),
            (
                json!({"rawDataPath": 5, "numFiles": 4, "numRows": 10}),
                "rawDataPath must be a string",
            ),
            (
                json!({"rawDataPath": "raw", "numFiles": "four", "numRows": 10}),
                "numFiles is not a number: \"four\"",
            ),
            (
                json!({"rawDataPath": "raw", "numFiles": -1, "numRows": 10}),
                "numFiles must not be negative",
            ),
            (
                json!({"rawDataPath": "raw", "numFiles": 4, "numRows": "-3"}),
                "numRows must not be negative",
            ),
            (
                json!({"rawDataPath": "raw", "numFiles": 1.5, "numRows": 3}),
                "numFiles must be a whole number",
            ),
            (
                json!({"rawDataPath": "raw", "numRows": 3}),
                "numFiles is missing",
            ),
            (
                json!({"rawDataPath": "raw", "numFiles": 1, "numRows": 99_999_999}),
                "numRows is 99999999; at most",
            ),
            (json!([1, 2]), "the input must be an object"),
            (json!("not json"), "the input is a string, not an object"),
        ];
        for (input, want) in cases {
            let e = parse(input.clone()).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
        assert!(PipelineInput::parse(None).unwrap_err().contains("missing"));
    }

    #[test]
    fn step_output_json() {
        let o = StepOutput {
            step: 2,
            output_filename: "step2/processed_0.csv".into(),
            col_count: 10,
            row_count: 100_000,
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(
            v,
            json!({"step2_output_filename": "step2/processed_0.csv", "col_count": 10, "row_count": 100000})
        );
        assert_eq!(serde_json::from_value::<StepOutput>(v.clone()).unwrap(), o);
        assert_eq!(input_file(&v).as_deref(), Some("step2/processed_0.csv"));
        assert_eq!(
            input_file(&json!("raw/1.csv")).as_deref(),
            Some("raw/1.csv")
        );
        assert_eq!(input_file(&json!(3)), None);
    }
}
