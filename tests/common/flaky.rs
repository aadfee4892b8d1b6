//! A sample pipeline with a step that fails: for pipelines whose instance id starts with
//! `flaky`, `step2` of file `1.csv` fails its first three calls (every attempt of the
//! pipeline's retry policy, so the pipeline ends Failed) and works from then on (after a
//! rewind, say). Other pipelines run the real step.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use taskhub::core::{Failure, Registry};
use taskhub::samples::pipeline::{activities, Pipeline};
use taskhub::samples::SamplesConfig;

/// The failing pipelines' prefix.
pub const PREFIX: &str = "flaky";
/// Calls that fail per pipeline: the pipeline's retry policy makes three attempts.
const FAILING_CALLS: u32 = 3;

static CALLS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

/// Replaces `step2` in `registry` (which holds the samples of `config`).
pub fn make_step2_flaky(registry: &mut Registry, config: &SamplesConfig) {
    let pipeline = Pipeline::new(config);
    registry.add_activity("step2", move |ctx, input: Value| {
        let root = ctx
            .instance_id
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let fail = root.starts_with(PREFIX) && input.to_string().contains("1.csv") && {
            let mut calls = CALLS.lock().unwrap_or_else(|e| e.into_inner());
            let n = calls
                .get_or_insert_with(HashMap::new)
                .entry(root)
                .or_insert(0);
            *n += 1;
            *n <= FAILING_CALLS
        };
        let p = pipeline.clone();
        async move {
            if fail {
                return Err(Failure::new("Flaky", "step2 is down for 1.csv"));
            }
            activities::sample_step(p, 2, input).await
        }
    });
}
