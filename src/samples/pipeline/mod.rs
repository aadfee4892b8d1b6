//! The sample pipeline, the seed system this project exists to run: `raw` → step1 → step2 →
//! step3 → step4 over CSV files in a blob container.
//!
//! - `OrchestratorFunc`, input `{"rawDataPath": "raw", "numFiles": 4, "numRows": 10}` (numbers
//!   may be strings; the whole input may be a JSON string holding that object): calls
//!   `GenerateData`, then `step0`, then `SubOrchestratorFunc` for every file in parallel, and
//!   returns the list of their results. A bad input fails the instance at once, saying what is
//!   wrong.
//! - `GenerateData` writes `{rawDataPath}/0.csv` … of `numRows` rows of fake personal data
//!   (columns [`data::COLUMNS`]) and returns `{rawDataPath, numFiles, numRows}`.
//! - `step0` lists the `.csv` blobs under the raw folder.
//! - `SubOrchestratorFunc` chains `step1` → `step2` → `step3` → `step4` on one file and returns
//!   the four results; its custom status is `{"file": …, "step": n}` after step n, which is how
//!   `taskhub pipeline` shows progress.
//! - `step1` writes `{Step1DataSubpath}/data_<name>`, 100,000 rows of random integers in
//!   [0, 99999) under the file's header; `step2`, `step3`, `step4` sample 100, 10 and 5 rows into
//!   `{Step2DataSubpath}/processed_<name>`, `{Step3DataSubpath}/interim_<name>`,
//!   `{Step4DataSubpath}/final_<name>`, where `<name>` is the raw file's name. Each returns
//!   `{"stepN_output_filename", "col_count", "row_count"}` of the file it read.
//!
//! Activities are retried (3 attempts) except for failures that cannot get better, such as a
//! missing input blob, whose name the failure gives.

pub mod activities;
pub mod data;
pub mod types;

use std::time::Duration;

use serde_json::{json, Value};

use super::config::{LazyContainer, SamplesConfig};
use crate::core::{Failure, OrchestrationContext, Registry, RetryPolicy};
pub use activities::Generated;
pub use types::{PipelineInput, StepOutput};

/// Orchestrator and activity names.
pub const ORCHESTRATOR: &str = "OrchestratorFunc";
/// The sub-orchestrator that runs the four steps on one file.
pub const SUB_ORCHESTRATOR: &str = "SubOrchestratorFunc";

/// What the activities share: the configuration and the data container.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub(crate) config: SamplesConfig,
    pub(crate) data: LazyContainer,
}

impl Pipeline {
    /// The pipeline of `config`; its data container is created on first use.
    pub fn new(config: &SamplesConfig) -> Pipeline {
        Pipeline {
            data: LazyContainer::new(&config.data_storage, &config.data_container),
            config: config.clone(),
        }
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_secs(1))
}

/// Registers the pipeline's orchestrators and activities.
pub fn register(r: &mut Registry, config: &SamplesConfig) {
    let p = Pipeline::new(config);
    r.add_orchestrator(ORCHESTRATOR, orchestrator);
    r.add_orchestrator(SUB_ORCHESTRATOR, sub_orchestrator);
    let q = p.clone();
    r.add_activity("GenerateData", move |_ctx, input: Value| {
        activities::generate_data(q.clone(), input)
    });
    let q = p.clone();
    r.add_activity("step0", move |_ctx, input: Value| {
        activities::step0(q.clone(), input)
    });
    let q = p.clone();
    r.add_activity("step1", move |_ctx, input: Value| {
        activities::step1(q.clone(), input)
    });
    for step in 2..=4u8 {
        let q = p.clone();
        r.add_activity(&format!("step{step}"), move |_ctx, input: Value| {
            activities::sample_step(q.clone(), step, input)
        });
    }
}

/// `OrchestratorFunc`.
async fn orchestrator(ctx: OrchestrationContext) -> Result<Vec<Vec<StepOutput>>, Failure> {
    let input = PipelineInput::from_raw(ctx.raw_input().as_deref())?;
    ctx.set_custom_status(&json!({"stage": "generating"}));
    let generated: Generated = ctx
        .call_activity_with_retry("GenerateData", &input, retry())
        .await?;
    let files: Vec<String> = ctx
        .call_activity_with_retry("step0", &generated.raw_data_path, retry())
        .await?;
    ctx.set_custom_status(&json!({"stage": "processing", "files": files.len()}));
    let runs = files
        .iter()
        .map(|f| ctx.call_sub_orchestrator::<Vec<StepOutput>>(SUB_ORCHESTRATOR, f));
    let results = ctx.all_of(runs).await;
    let mut out = Vec::with_capacity(results.len());
    for (file, result) in files.iter().zip(results) {
        match result {
            Ok(r) => out.push(r),
            Err(e) => {
                return Err(Failure::new(
                    "PipelineFailed",
                    format!("{SUB_ORCHESTRATOR} failed for '{file}': {}", e.details),
                ))
            }
        }
    }
    ctx.set_custom_status(&json!({"stage": "done", "files": files.len()}));
    Ok(out)
}

/// `SubOrchestratorFunc`: step1 → step4 on one file.
async fn sub_orchestrator(ctx: OrchestrationContext) -> Result<Vec<StepOutput>, Failure> {
    let file: String = ctx.input()?;
    let mut results: Vec<StepOutput> = Vec::with_capacity(4);
    let mut input = json!(file);
    for step in 1..=4u8 {
        let r: StepOutput = ctx
            .call_activity_with_retry(&format!("step{step}"), &input, retry())
            .await?;
        ctx.set_custom_status(&json!({"file": file, "step": step}));
        input = serde_json::to_value(&r).unwrap_or(Value::Null);
        results.push(r);
    }
    Ok(results)
}
