//! The other seed samples on a real Azurite: the job monitor (completes, fails through its status
//! blob, expires), the backup fan-out/fan-in, and the eternal singleton.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cli::taskhub_with_env;
use common::hub::TestHub;
use common::{test_storage, unique_name, wait_until};
use serde_json::{json, Value};
use taskhub::client::{Error as ClientError, StartRequest};
use taskhub::core::OrchestrationStatus;
use taskhub::samples::monitor::{JobResult, MonitorInput};
use taskhub::samples::{self, backup, eternal, monitor, SamplesConfig};

const WAIT: Duration = Duration::from_secs(60);

async fn config() -> SamplesConfig {
    let mut c = SamplesConfig::new(test_storage().await);
    c.data_container = unique_name("data");
    c.backup_container = unique_name("backups");
    c
}

async fn run_monitor(t: &TestHub, input: &MonitorInput) -> JobResult {
    let req =
        StartRequest::new(monitor::ORCHESTRATOR).with_input(&serde_json::to_value(input).unwrap());
    let id = t.client.start(req).await.unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(
        s.runtime_status,
        OrchestrationStatus::Completed,
        "{:?}",
        s.output
    );
    // Continue-as-new keeps the history to one check.
    let history = t.client.history(&id).await.unwrap();
    assert!(history.len() <= 16, "{}", history.len());
    serde_json::from_str(&s.output.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_monitor_checks_until_done_fails_or_expires() {
    let config = config().await;
    let t = TestHub::start("Monitor", samples::registry(&config)).await;
    let data = config.data_storage.container(&config.data_container);

    let mut completes = MonitorInput::new("quick");
    completes.polling_interval_seconds = 1;
    completes.completes_after_seconds = Some(2);
    let mut expires = MonitorInput::new("never");
    expires.polling_interval_seconds = 1;
    expires.expiry_seconds = 2;
    let mut failing = MonitorInput::new("broken");
    failing.polling_interval_seconds = 1;
    failing.expiry_seconds = 30;

    let (done, expired, failed) = tokio::join!(
        run_monitor(&t, &completes),
        run_monitor(&t, &expires),
        async {
            // The job's status blob says it failed, after the monitor has checked once.
            let t = &t;
            let writer = async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                data.create_if_missing().await.unwrap();
                data.put(
                    &monitor::status_blob("broken"),
                    b"Failed\n".to_vec(),
                    "text/plain",
                )
                .await
                .unwrap();
            };
            let (r, ()) = tokio::join!(run_monitor(t, &failing), writer);
            r
        }
    );
    assert_eq!(
        (done.job_id.as_str(), done.status.as_str()),
        ("quick", "Completed")
    );
    assert!((2..=6).contains(&done.checks), "{done:?}");
    assert_eq!(expired.status, "Expired");
    assert!((2..=4).contains(&expired.checks), "{expired:?}");
    assert_eq!(failed.status, "Failed");
    assert!(failed.checks >= 2, "{failed:?}");

    // The final status was recorded.
    for r in [&done, &expired, &failed] {
        let body = data.get(&monitor::result_blob(&r.job_id)).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], r.status.as_str());
        assert_eq!(v["checks"], r.checks);
    }

    // A bad job id fails at once.
    let req = StartRequest::new(monitor::ORCHESTRATOR).with_input(&json!({"jobId": ""}));
    let id = t.client.start(req).await.unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Failed);
    assert!(s.output.unwrap().contains("jobId"));
}

/// A directory tree under the system temp dir, removed on drop.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_tree_in_parallel_and_sums_the_bytes() {
    let config = config().await;
    let t = TestHub::start("Backup", samples::registry(&config)).await;
    let root = std::env::temp_dir().join(unique_name("site"));
    let tree = TempTree(root.clone());
    let files: Vec<(String, usize)> = (0..12)
        .map(|i| (format!("d{}/sub{}/f{i}.txt", i % 3, i % 2), 100 + i * 37))
        .chain([("top.bin".to_string(), 70_000), ("empty".to_string(), 0)])
        .collect();
    for (rel, size) in &files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![b'x'; *size]).unwrap();
    }
    let total: usize = files.iter().map(|(_, s)| s).sum();

    let req = StartRequest::new(backup::ORCHESTRATOR).with_input(&json!(root.to_string_lossy()));
    let id = t.client.start(req).await.unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(
        s.runtime_status,
        OrchestrationStatus::Completed,
        "{:?}",
        s.output
    );
    assert_eq!(s.output.as_deref(), Some(total.to_string().as_str()));

    let top = root.file_name().unwrap().to_string_lossy().into_owned();
    let backups = config.data_storage.container(&config.backup_container);
    let mut listed: Vec<(String, u64)> = backups
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.name, b.size))
        .collect();
    listed.sort();
    let mut want: Vec<(String, u64)> = files
        .iter()
        .map(|(rel, size)| (format!("{top}/{rel}"), *size as u64))
        .collect();
    want.sort();
    assert_eq!(listed, want);
    // Fan-out: every copy was scheduled in the same turn.
    let history = t.client.history(&id).await.unwrap();
    assert!(history.len() > files.len() * 2);

    // A missing directory fails with its name.
    let missing = root.join("nope");
    let req = StartRequest::new(backup::ORCHESTRATOR)
        .with_input(&json!({"path": missing.to_string_lossy()}));
    let id = t.client.start(req).await.unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Failed);
    assert!(s.output.unwrap().contains("nope"));
    drop(tree);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eternal_is_a_singleton_that_processes_records_forever() {
    let config = config().await;
    let t = TestHub::start("Eternal", samples::registry(&config)).await;
    let data = config.data_storage.container(&config.data_container);
    let start = || {
        StartRequest::new(eternal::ORCHESTRATOR)
            .with_id(eternal::INSTANCE_ID)
            .with_input(&json!({"idleSeconds": 1}))
    };
    t.client.start(start()).await.unwrap();
    // A second start while it runs is refused.
    match t.client.start(start()).await {
        Err(ClientError::AlreadyRunning { id, .. }) => assert_eq!(id, eternal::INSTANCE_ID),
        other => panic!("second start: {other:?}"),
    }

    // Idle rounds first (nothing in the inbox), then records to process.
    let iteration = |t: &TestHub| {
        let c = t.client.clone();
        async move {
            let s = c.status(eternal::INSTANCE_ID, false).await.ok()??;
            let v: Value = serde_json::from_str(s.custom_status.as_deref()?).ok()?;
            Some(v)
        }
    };
    wait_until("two idle rounds", WAIT, || async {
        iteration(&t)
            .await
            .filter(|v| v["iteration"].as_u64() >= Some(2))
    })
    .await;
    data.create_if_missing().await.unwrap();
    for i in 0..5 {
        data.put(
            &format!("{}r{i}.json", eternal::INBOX),
            format!("{{\"n\":{i}}}").into_bytes(),
            "application/json",
        )
        .await
        .unwrap();
    }
    let status = wait_until("the five records are processed", WAIT, || async {
        iteration(&t).await.filter(|v| v["totalProcessed"] == 5)
    })
    .await;
    assert_eq!(status["lastError"], Value::Null);
    assert!(data.list(eternal::INBOX).await.unwrap().is_empty());
    assert_eq!(data.list(eternal::PROCESSED).await.unwrap().len(), 5);
    assert_eq!(
        data.get(&format!("{}r3.json", eternal::PROCESSED))
            .await
            .unwrap(),
        b"{\"n\":3}"
    );

    // It keeps running (continue-as-new), with a short history.
    let s = t
        .client
        .status(eternal::INSTANCE_ID, false)
        .await
        .unwrap()
        .unwrap();
    assert!(!s.runtime_status.is_terminal(), "{s:?}");
    assert!(t.client.history(eternal::INSTANCE_ID).await.unwrap().len() <= 16);

    // Terminated, it can be started again.
    t.client
        .terminate(eternal::INSTANCE_ID, Some("test over"))
        .await
        .unwrap();
    let s = t
        .client
        .wait_for_completion(eternal::INSTANCE_ID, WAIT)
        .await
        .unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Terminated);
    t.client.start(start()).await.unwrap();
    t.client
        .terminate(eternal::INSTANCE_ID, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn taskhub_sample_commands_run_the_samples() {
    let conn = common::connection_string().await;
    let hub = common::unique_hub_name("CliSample");
    let data = unique_name("clidata");
    let backups = unique_name("clibackups");
    let env = [
        ("DataContainer", data.as_str()),
        ("BackupContainer", backups.as_str()),
    ];
    let run = |extra: &[&str]| {
        let base = [
            "--connection",
            conn.as_str(),
            "--hub",
            hub.as_str(),
            "sample",
        ];
        taskhub_with_env(&[&base[..], extra].concat(), &env)
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // Hello with the counter: the greetings, and the counter after two runs.
    for expected in [2, 4] {
        let out = run(&["hello", "--key", "cli", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["greetings"],
            serde_json::json!(["HelloTokyo!", "HelloSeattle!"])
        );
        assert_eq!(v["entity"], "@session_handler@cli");
        assert_eq!(v["count"], expected);
    }

    let out = run(&[
        "monitor",
        "--job-id",
        "cli-job",
        "--interval",
        "1",
        "--completes-after",
        "1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobId"], "cli-job");
    assert_eq!(v["status"], "Completed");

    let root = std::env::temp_dir().join(unique_name("clisite"));
    let _tree = TempTree(root.clone());
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::write(root.join("a/x.txt"), b"12345").unwrap();
    std::fs::write(root.join("y.txt"), b"123").unwrap();
    let out = run(&["backup", root.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8");
    let out = run(&["backup", root.join("missing").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));

    // The singleton: started once, refused while it runs, stopped.
    let out = run(&["eternal", "--no-worker"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["eternal", "--no-worker"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already"), "{}", stderr(&out));
    let out = run(&["eternal", "--stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
