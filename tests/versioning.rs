//! Versions deployed side by side, as a rolling deploy does it: two real worker processes of the
//! `rolling_deploy` example (its old build registers Greeting 1.0, its new build 1.0 and 2.0),
//! started with `--version 1.0` and `--version 2.0` on one hub of the harness Azurite.
//!
//! Instances started at 1.0 finish on 1.0 code wherever they run; 2.0 instances run only on
//! the new build, the old one leaving their messages for it (Reject) without them ever counting
//! as failed deliveries; nothing fails. Then a worker told to `--version-failure fail` fails what
//! it must not run, saying why.

mod common;

use common::cli::{Cli, WorkerProcess};
use common::example;
use common::hub::{wait_for_split, TestHub};
use serde_json::Value;
use taskhub::backend::partition_index;

/// One instance id per partition (of 4), with this prefix.
fn one_per_partition(prefix: &str) -> Vec<String> {
    (0..4)
        .map(|p| {
            (0..)
                .map(|i| format!("{prefix}-{i}"))
                .find(|id| partition_index(id, 4) == p)
                .expect("some id lands on every partition")
        })
        .collect()
}

fn start(cli: &Cli, id: &str, version: &str) {
    cli.ok(&[
        "start",
        "Greeting",
        "--id",
        id,
        "--version",
        version,
        "--input",
        "\"Ada\"",
    ]);
}

fn status(cli: &Cli, id: &str) -> Value {
    cli.json(&["status", id, "--json"])
}

fn rejections(worker: &WorkerProcess, id: &str) -> usize {
    worker
        .log()
        .lines()
        .filter(|l| l.contains(id) && l.contains("not run here"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_runs_each_version_on_its_own_code_and_fails_nothing() {
    let hub = TestHub::create("Rolling").await;
    let base = Cli::for_hub(&hub).await;
    let program = example("rolling_deploy");
    let old_build = base.with_program(program.clone(), &[("GREETING_VERSIONS", "1.0")]);
    let new_build = base.with_program(program.clone(), &[("GREETING_VERSIONS", "1.0,2.0")]);

    // The old build alone. With a poison limit of 1, a second counted delivery of any message
    // fails its instance: the rejected 2.0 start below is put back again and again, and must
    // never be counted (turning the put-back into an abandon fails this test).
    let old = old_build.spawn_worker(&[
        "--worker-id",
        "old",
        "--version",
        "1.0",
        "--poison-limit",
        "1",
    ]);
    wait_for_split(&hub, &[4]).await;
    let v1 = one_per_partition("v1");
    for id in &v1 {
        start(&old_build, id, "1.0");
    }
    for id in &v1 {
        old_build.status_becomes(id, "Running");
    }
    start(&old_build, "early-v2", "2.0");
    old.wait_for_log("the 2.0 start was put back twice", |_| {
        rejections(&old, "early-v2") >= 2
    });
    assert_eq!(status(&base, "early-v2")["runtime_status"], "Pending");

    // The new build beside it: the partitions split, and 2.0 instances start on every one.
    let new = new_build.spawn_worker(&["--worker-id", "new", "--version", "2.0"]);
    let split = wait_for_split(&hub, &[2, 2]).await;
    let v2 = one_per_partition("v2");
    for id in &v2 {
        start(&new_build, id, "2.0");
    }
    for id in v1.iter().chain(&v2).chain(["early-v2".to_string()].iter()) {
        base.ok(&["raise", id, "Go"]);
    }

    // Every 1.0 instance finishes on 1.0 code, on either build.
    for id in &v1 {
        let done = base.status_becomes(id, "Completed");
        assert_eq!(done["output"], "v1: Hello, Ada!", "{id}: {done}");
    }
    // 2.0 instances on the new build's partitions finish on 2.0 code; those on the old
    // build's wait for it, Pending, and nothing is failed.
    let mut waiting = Vec::new();
    for (p, id) in v2.iter().enumerate() {
        let owner = base.json(&["partitions", "--json"])[p]["owner"].clone();
        if owner == "new" {
            let done = base.status_becomes(id, "Completed");
            assert_eq!(
                done["output"], "v2: Hello, Ada! (version 2.0)",
                "{id}: {done}"
            );
        } else {
            waiting.push(id.clone());
        }
    }
    assert_eq!(
        waiting.len(),
        2,
        "the old build owns two partitions: {split:?}"
    );
    for id in &waiting {
        old.wait_for_log("the old build leaves the 2.0 instance alone", |_| {
            rejections(&old, id) >= 1
        });
        assert_eq!(status(&base, id)["runtime_status"], "Pending", "{id}");
    }

    // The deploy completes: the old build stops, and the new one runs what it left.
    let (exit, _, old_log) = old.stop(libc::SIGTERM);
    assert!(exit.success(), "{old_log}");
    assert!(
        !old_log.contains("PoisonMessage") && !old_log.contains("poison queue"),
        "rejections must not count as failed deliveries:\n{old_log}"
    );
    for id in waiting.iter().chain(["early-v2".to_string()].iter()) {
        let done = base.status_becomes(id, "Completed");
        assert_eq!(
            done["output"], "v2: Hello, Ada! (version 2.0)",
            "{id}: {done}"
        );
    }
    let listed = base.json(&["list", "--json", "--status", "Failed"]);
    assert_eq!(listed["instances"], Value::Array(vec![]), "nothing failed");
    let (exit, _, new_log) = new.stop(libc::SIGTERM);
    assert!(exit.success(), "{new_log}");

    // A worker told to fail what it must not run: a newer version (whose code this build has,
    // and whose first turn, start and Go together, would schedule a task if the code ran), and
    // a name it lacks.
    start(&new_build, "too-new", "2.0");
    base.ok(&["raise", "too-new", "Go"]);
    base.ok(&[
        "start",
        "NoSuchOrchestrator",
        "--id",
        "unknown",
        "--version",
        "1.0",
    ]);
    let strict = new_build.spawn_worker(&[
        "--worker-id",
        "strict",
        "--version",
        "1.0",
        "--version-match",
        "strict",
        "--version-failure",
        "fail",
    ]);
    let failed = base.status_becomes("too-new", "Failed");
    let why = failed["output"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("VersionMismatch: ")
            && why.contains("'2.0' is not this worker's version '1.0'"),
        "{failed}"
    );
    let failed = base.status_becomes("unknown", "Failed");
    let why = failed["output"].as_str().unwrap_or_default();
    assert!(
        why.contains("no orchestrator named 'NoSuchOrchestrator' is registered"),
        "{failed}"
    );
    // None of its code ran: its history holds the event but no scheduled task.
    let history = base.ok(&["history", "too-new"]);
    assert!(
        history.contains("EventRaised") && !history.contains("TaskScheduled"),
        "{history}"
    );
    let (exit, _, log) = strict.stop(libc::SIGTERM);
    assert!(exit.success(), "{log}");
}
