//! The sample pipeline on a real Azurite: a whole run with small sizes and every output blob
//! checked, input validation (including the Python client's JSON-in-a-string form), activities
//! that cannot read their input, idempotent steps, and `taskhub pipeline` through the binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cli::taskhub_with_env;
use common::hub::TestHub;
use common::{connection_string, test_storage, unique_hub_name, unique_name};
use serde_json::{json, Value};
use taskhub::client::StartRequest;
use taskhub::core::{ActivityContext, EventKind, OrchestrationStatus};
use taskhub::samples::pipeline::data::COLUMNS;
use taskhub::samples::pipeline::StepOutput;
use taskhub::samples::{self, SamplesConfig};
use taskhub::storage::Container;

const WAIT: Duration = Duration::from_secs(120);

/// Samples on the harness Azurite with a data container of their own.
async fn config() -> SamplesConfig {
    let mut c = SamplesConfig::new(test_storage().await);
    c.data_container = unique_name("data");
    c
}

async fn read_csv(container: &Container, blob: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = container
        .get(blob)
        .await
        .unwrap_or_else(|e| panic!("{blob}: {e}"));
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

async fn names(container: &Container, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = container
        .list(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_writes_every_step_and_returns_the_counts() {
    let config = config().await;
    let t = TestHub::start("Pipe", samples::registry(&config)).await;
    let input = json!({"rawDataPath": "raw", "numFiles": "3", "numRows": "7"});
    let id = t
        .client
        .start(StartRequest::new("OrchestratorFunc").with_input(&input))
        .await
        .unwrap();
    let status = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(
        status.runtime_status,
        OrchestrationStatus::Completed,
        "{:?}",
        status.output
    );
    let results: Vec<Vec<StepOutput>> =
        serde_json::from_str(status.output.as_deref().unwrap()).unwrap();
    assert_eq!(results.len(), 3);
    for (i, r) in results.iter().enumerate() {
        let counts: Vec<(u8, &str, u64, u64)> = r
            .iter()
            .map(|o| (o.step, o.output_filename.as_str(), o.col_count, o.row_count))
            .collect();
        assert_eq!(
            counts,
            [
                (1, format!("step1/data_{i}.csv").as_str(), 10, 7),
                (2, format!("step2/processed_{i}.csv").as_str(), 10, 100_000),
                (3, format!("step3/interim_{i}.csv").as_str(), 10, 100),
                (4, format!("step4/final_{i}.csv").as_str(), 10, 10),
            ]
        );
    }
    // The output keeps the seed's JSON shape.
    let raw: Value = serde_json::from_str(status.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        raw[0][0],
        json!({"step1_output_filename": "step1/data_0.csv", "col_count": 10, "row_count": 7})
    );

    let data = config.data_storage.container(&config.data_container);
    let folders = [
        ("raw/", "", 7),
        ("step1/", "data_", 100_000),
        ("step2/", "processed_", 100),
        ("step3/", "interim_", 10),
        ("step4/", "final_", 5),
    ];
    for (folder, prefix, rows) in folders {
        let want: Vec<String> = (0..3).map(|i| format!("{folder}{prefix}{i}.csv")).collect();
        assert_eq!(names(&data, folder).await, want);
        for blob in &want {
            let (header, body) = read_csv(&data, blob).await;
            assert_eq!(header, COLUMNS, "{blob}");
            assert_eq!(body.len(), rows, "{blob}");
            assert!(body.iter().all(|r| r.len() == 10), "{blob}");
            if folder != "raw/" {
                for v in body.iter().flatten() {
                    let n: u32 = v.parse().unwrap_or_else(|_| panic!("{blob}: {v}"));
                    assert!(n < 99_999, "{blob}: {n}");
                }
            }
        }
    }
    // Raw rows look like people; later steps are samples of the step before them.
    let (_, people) = read_csv(&data, "raw/0.csv").await;
    assert!(people.iter().all(|p| p[1].contains('@')), "{people:?}");
    let (_, step3) = read_csv(&data, "step3/interim_1.csv").await;
    let (_, step4) = read_csv(&data, "step4/final_1.csv").await;
    assert!(step4.iter().all(|r| step3.contains(r)));
    let (_, step2) = read_csv(&data, "step2/processed_1.csv").await;
    assert!(step3.iter().all(|r| step2.contains(r)));

    // Progress: each sub-orchestration's custom status ends at step 4.
    let q = taskhub::backend::InstanceQuery {
        instance_id_prefix: Some(format!("{id}:")),
        ..Default::default()
    };
    let children = t.hub.instances().query_all(&q).await.unwrap();
    assert_eq!(children.len(), 3);
    for c in children {
        let custom: Value = serde_json::from_str(c.custom_status.as_deref().unwrap()).unwrap();
        assert_eq!(custom["step"], 4, "{custom}");
    }
}

#[tokio::test]
async fn bad_inputs_fail_the_instance_at_once_and_say_why() {
    let config = config().await;
    let t = TestHub::start("PipeBad", samples::registry(&config)).await;
    let cases = [
        (
            json!({"numFiles": 2, "numRows": 3}),
            "rawDataPath is missing",
        ),
        (
            json!({"rawDataPath": "raw", "numFiles": "-2", "numRows": 3}),
            "numFiles must not be negative",
        ),
        (
            json!({"rawDataPath": "raw", "numFiles": 2, "numRows": "lots"}),
            "numRows is not a number: \"lots\"",
        ),
        (
            json!({"rawDataPath": "raw", "numFiles": -1, "numRows": 3}),
            "numFiles must not be negative",
        ),
    ];
    let mut ids = Vec::new();
    for (input, _) in &cases {
        let req = StartRequest::new("OrchestratorFunc").with_input(input);
        ids.push(t.client.start(req).await.unwrap());
    }
    for (id, (input, want)) in ids.iter().zip(&cases) {
        let s = t.client.wait_for_completion(id, WAIT).await.unwrap();
        assert_eq!(s.runtime_status, OrchestrationStatus::Failed, "{input}");
        let out = s.output.unwrap_or_default();
        assert!(
            out.contains("InvalidInput") && out.contains(want),
            "{input}: {out}"
        );
        // Failed before scheduling anything: no activity ran.
        let history = t.client.history(id).await.unwrap();
        assert!(
            !history
                .iter()
                .any(|e| matches!(e.kind, EventKind::TaskScheduled { .. })),
            "{input}"
        );
    }
    // Nothing was written.
    let data = config.data_storage.container(&config.data_container);
    assert!(!data.exists().await.unwrap());
}

#[tokio::test]
async fn the_python_clients_json_string_input_works() {
    let config = config().await;
    let t = TestHub::start("PipePy", samples::registry(&config)).await;
    // What azure-functions-durable sends: the input as a JSON string of JSON text.
    let text = r#"{"rawDataPath": "pyraw", "numFiles": "1", "numRows": "2"}"#;
    let input = serde_json::to_string(text).unwrap();
    let id = t
        .client
        .start(StartRequest::new("OrchestratorFunc").with_json_input(&input))
        .await
        .unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(
        s.runtime_status,
        OrchestrationStatus::Completed,
        "{:?}",
        s.output
    );
    let results: Vec<Vec<StepOutput>> = serde_json::from_str(&s.output.unwrap()).unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0][0].row_count, 2);
    assert_eq!(results[0][3].output_filename, "step4/final_0.csv");
}

fn activity(name: &str) -> ActivityContext {
    ActivityContext {
        instance_id: "test".into(),
        execution_id: None,
        name: name.into(),
        task_id: 0,
    }
}

#[tokio::test]
async fn activities_name_the_blob_they_cannot_read_and_steps_are_idempotent() {
    let mut config = config().await;
    config.step_subpaths[2] = "out/three".into();
    let registry = samples::registry(&config);
    let run = |name: &'static str, input: Value| {
        let registry = registry.clone();
        async move {
            registry
                .run_activity(activity(name), Some(input.to_string()))
                .await
        }
    };

    // A missing input blob: the failure names it and is not retried.
    let e = run(
        "step2",
        json!({"step1_output_filename": "step1/missing.csv", "col_count": 10, "row_count": 5}),
    )
    .await
    .unwrap_err();
    assert!(e.error_message.contains("step1/missing.csv"), "{e}");
    assert!(e.is_non_retriable, "{e}");
    let e = run("step1", json!("raw/nope.csv")).await.unwrap_err();
    assert!(e.error_message.contains("raw/nope.csv"), "{e}");
    let e = run("step3", json!({"what": 1})).await.unwrap_err();
    assert!(e.error_message.contains("step3"), "{e}");

    // A file that is not CSV of one shape: the failure says which file.
    let data = config.data_storage.container(&config.data_container);
    data.put("bad/x.csv", b"a,b\n1,2\n3\n".to_vec(), "text/csv")
        .await
        .unwrap();
    let e = run("step3", json!("bad/x.csv")).await.unwrap_err();
    assert!(e.error_message.contains("bad/x.csv"), "{e}");

    // GenerateData, step0 and a step run twice: the same blobs, overwritten.
    let input = json!({"rawDataPath": "r", "numFiles": 2, "numRows": 30});
    for _ in 0..2 {
        let out = run("GenerateData", input.clone()).await.unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"rawDataPath": "r", "numFiles": 2, "numRows": 30})
        );
    }
    let listed = run("step0", json!("r")).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&listed).unwrap(),
        json!(["r/0.csv", "r/1.csv"])
    );
    for _ in 0..2 {
        let out = run("step3", json!("r/1.csv")).await.unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"step3_output_filename": "out/three/interim_1.csv", "col_count": 10, "row_count": 30})
        );
    }
    assert_eq!(names(&data, "out/").await, ["out/three/interim_1.csv"]);
    let (_, rows) = read_csv(&data, "out/three/interim_1.csv").await;
    assert_eq!(rows.len(), 10);
}

#[tokio::test]
async fn taskhub_pipeline_runs_the_job_and_prints_a_summary_or_json() {
    let conn = connection_string().await;
    let hub = unique_hub_name("CliPipe");
    let container = unique_name("clidata");
    let env = [("DataContainer", container.as_str())];
    let pipeline = |extra: &[&str]| {
        let base = [
            "--connection",
            conn.as_str(),
            "--hub",
            hub.as_str(),
            "pipeline",
        ];
        taskhub_with_env(&[&base[..], extra].concat(), &env)
    };

    let out = pipeline(&["--files", "2", "--rows", "4", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let results = json.as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let rows: Vec<u64> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["row_count"].as_u64().unwrap())
            .collect();
        assert_eq!(rows, [4, 100_000, 100, 10]);
    }
    // The summary went to stderr.
    assert!(stderr.contains("completed in"), "{stderr}");
    assert!(stderr.contains(&format!("{container}/step4/")), "{stderr}");
    let data = test_storage().await.container(&container);
    for folder in ["raw/", "step1/", "step2/", "step3/", "step4/"] {
        assert_eq!(names(&data, folder).await.len(), 2, "{folder}");
    }

    // Without --json: the summary table on stdout.
    let out = pipeline(&["--files", "1", "--rows", "3", "--raw-path", "other"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 files from"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("step4") && l.contains(" 5 ")),
        "{stdout}"
    );
}

/// Stops a child process with SIGTERM when dropped (and reaps it).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn taskhub_pipeline_no_worker_runs_on_two_worker_processes() {
    let conn = connection_string().await;
    let hub = unique_hub_name("CliPipeW");
    let container = unique_name("wdata");
    let base = ["--connection", conn.as_str(), "--hub", hub.as_str()];
    let worker = |id: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskhub"));
        cmd.args(base)
            .args(["worker", "--worker-id", id, "--max-poll-interval-ms", "200"])
            .env_remove("AzureWebJobsStorage")
            .env("DataContainer", &container)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Child(cmd.spawn().expect("worker starts"))
    };
    let workers = [worker("w1"), worker("w2")];
    let out = taskhub_with_env(
        &[
            &base[..],
            &[
                "pipeline",
                "--no-worker",
                "--files",
                "3",
                "--rows",
                "2",
                "--json",
            ],
        ]
        .concat(),
        &[("DataContainer", container.as_str())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts: Vec<Vec<u64>> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|s| s["row_count"].as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(counts, vec![vec![2, 100_000, 100, 10]; 3]);
    let data = test_storage().await.container(&container);
    assert_eq!(names(&data, "step4/").await.len(), 3);
    drop(workers);
}
