//! The pipeline's activities: `GenerateData`, `step0`, `step1` … `step4`. Each reads and writes
//! blobs of the data container; the CPU work (generating, parsing, sampling) runs on the blocking
//! pool. Every step overwrites its output, so running one twice is harmless.

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

use super::data::{self, Shape, SAMPLE_ROWS, STEP1_ROWS};
use super::types::{input_file, PipelineInput, StepOutput};
use super::Pipeline;
use crate::core::{Failure, FailureDetails};

const CSV: &str = "text/csv";

/// What `GenerateData` returns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Generated {
    /// `rawDataPath`: the folder of the raw files.
    #[serde(rename = "rawDataPath")]
    pub raw_data_path: String,
    /// `numFiles`: how many files were written.
    #[serde(rename = "numFiles")]
    pub num_files: u64,
    /// `numRows`: rows per file.
    #[serde(rename = "numRows")]
    pub num_rows: u64,
}

fn invalid(message: String) -> Failure {
    Failure::new(FailureDetails::INVALID_INPUT, message).non_retriable()
}

/// Runs CPU-bound work off the async threads.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::new("Panic", format!("{what}: {e}")))
}

/// `GenerateData`: writes `{rawDataPath}/0.csv` … of `numRows` fake records each.
pub async fn generate_data(p: Pipeline, input: Value) -> Result<Generated, Failure> {
    let input =
        PipelineInput::from_value(&input).map_err(|m| invalid(format!("GenerateData: {m}")))?;
    for i in 0..input.num_files {
        let rows = input.num_rows as usize;
        let bytes = blocking("GenerateData", move || {
            data::fake_people(rows, &mut StdRng::from_entropy())
        })
        .await?;
        let name = format!("{}/{i}.csv", input.raw_data_path);
        p.data.write(&name, bytes, CSV).await?;
    }
    Ok(Generated {
        raw_data_path: input.raw_data_path,
        num_files: input.num_files,
        num_rows: input.num_rows,
    })
}

/// `step0`: the `.csv` blobs under the raw folder, in natural order (`2.csv` before `10.csv`).
pub async fn step0(p: Pipeline, input: Value) -> Result<Vec<String>, Failure> {
    let raw = match &input {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("rawDataPath")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    let raw = raw.trim().trim_matches('/');
    if raw.is_empty() {
        return Err(invalid(format!(
            "step0: expected the raw folder (\"raw\" or {{\"rawDataPath\": \"raw\"}}), got {input}"
        )));
    }
    let mut names: Vec<String> = p
        .data
        .list(&format!("{raw}/"))
        .await?
        .into_iter()
        .filter(|n| n.ends_with(".csv"))
        .collect();
    names.sort_by_cached_key(|n| natural_key(n));
    Ok(names)
}

/// Sorts digit runs by their value.
fn natural_key(s: &str) -> Vec<(String, u128)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut digits = c.to_string();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            out.push((
                std::mem::take(&mut text),
                digits.parse().unwrap_or(u128::MAX),
            ));
        } else {
            text.push(c);
        }
    }
    out.push((text, 0));
    out
}

/// The output name of step `n` for the file it read: the raw file's base name with the step's
/// prefix, e.g. `raw/0.csv` → `step1/data_0.csv` → `step2/processed_0.csv` →
/// `step3/interim_0.csv` → `step4/final_0.csv`.
pub fn output_name(subpath: &str, step: u8, input: &str) -> String {
    const PREFIXES: [&str; 4] = ["data_", "processed_", "interim_", "final_"];
    let base = input.rsplit('/').next().unwrap_or(input);
    let base = match step {
        2..=4 => base
            .strip_prefix(PREFIXES[step as usize - 2])
            .unwrap_or(base),
        _ => base,
    };
    format!("{subpath}/{}{base}", PREFIXES[step as usize - 1])
}

fn file_of(step: u8, input: &Value) -> Result<String, Failure> {
    input_file(input).filter(|f| !f.is_empty()).ok_or_else(|| {
        invalid(format!(
            "step{step}: expected a blob name or the previous step's output, got {input}"
        ))
    })
}

fn parse_failure(step: u8, file: &str, e: data::CsvError) -> Failure {
    Failure::new(
        "CsvError",
        format!("step{step}: cannot parse '{file}' as CSV: {e}"),
    )
    .non_retriable()
}

fn output(step: u8, name: String, shape: Shape) -> StepOutput {
    StepOutput {
        step,
        output_filename: name,
        col_count: shape.col_count as u64,
        row_count: shape.row_count as u64,
    }
}

/// `step1`: reads a raw file and writes 100,000 rows of random integers under its header.
pub async fn step1(p: Pipeline, input: Value) -> Result<StepOutput, Failure> {
    let file = file_of(1, &input)?;
    let bytes = p.data.read(&file).await?;
    let f = file.clone();
    let (out, shape) = blocking("step1", move || {
        let (header, shape) = data::shape(&bytes).map_err(|e| parse_failure(1, &f, e))?;
        drop(bytes);
        let out = data::random_integers(&header, STEP1_ROWS, &mut StdRng::from_entropy());
        Ok::<_, Failure>((out, shape))
    })
    .await??;
    let name = output_name(p.config.step_subpath(1), 1, &file);
    p.data.write(&name, out, CSV).await?;
    Ok(output(1, name, shape))
}

/// `step2` … `step4`: samples 100, 10 or 5 rows of the previous step's file.
pub async fn sample_step(p: Pipeline, step: u8, input: Value) -> Result<StepOutput, Failure> {
    let file = file_of(step, &input)?;
    let bytes = p.data.read(&file).await?;
    let k = SAMPLE_ROWS[step as usize - 2];
    let f = file.clone();
    let (out, shape) = blocking("sampling", move || {
        data::sample_rows(&bytes, k, &mut StdRng::from_entropy())
            .map_err(|e| parse_failure(step, &f, e))
    })
    .await??;
    let name = output_name(p.config.step_subpath(step as usize), step, &file);
    p.data.write(&name, out, CSV).await?;
    Ok(output(step, name, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_follow_the_raw_file() {
        assert_eq!(output_name("step1", 1, "raw/0.csv"), "step1/data_0.csv");
        assert_eq!(
            output_name("s2", 2, "step1/data_0.csv"),
            "s2/processed_0.csv"
        );
        assert_eq!(
            output_name("step3", 3, "step2/processed_7.csv"),
            "step3/interim_7.csv"
        );
        assert_eq!(
            output_name("step4", 4, "step3/interim_7.csv"),
            "step4/final_7.csv"
        );
        // A file that does not carry the previous prefix keeps its name.
        assert_eq!(
            output_name("step2", 2, "elsewhere/x.csv"),
            "step2/processed_x.csv"
        );
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["raw/10.csv", "raw/2.csv", "raw/1.csv", "raw/a.csv"];
        v.sort_by_cached_key(|n| natural_key(n));
        assert_eq!(v, ["raw/1.csv", "raw/2.csv", "raw/10.csv", "raw/a.csv"]);
    }
}
