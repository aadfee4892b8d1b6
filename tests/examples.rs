//! The examples run against the test Azurite, so they cannot rot: `hello_worker` and `fan_out`
//! to their printed result, and `own_cli` — a registry of its own behind the whole command line —
//! through `worker`, `start`, `wait` and `history`. (`test_orchestration`'s unit tests run with
//! `cargo test` itself.)

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{connection_string, example, unique_hub_name, wait_until};

/// Runs an example to its end; returns its stdout.
async fn run_example(name: &str) -> String {
    let conn = connection_string().await;
    let hub = unique_hub_name(name);
    let out = tokio::task::spawn_blocking({
        let path = example(name);
        move || {
            Command::new(path)
                .env("AzureWebJobsStorage", conn)
                .env("TASKHUB_HUB", hub)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .output()
                .expect("the example runs")
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{name} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn hello_worker_greets_and_counts() {
    let out = run_example("hello_worker").await;
    assert!(out.contains("Hello, Tokyo! Hello, Seattle!"), "{out}");
    assert!(out.contains("Tokyo visited 1 time(s)"), "{out}");
}

#[tokio::test]
async fn fan_out_sums_with_a_retry() {
    let out = run_example("fan_out").await;
    assert!(out.contains("10 files, 160000 bytes"), "{out}");
}

#[tokio::test]
async fn own_cli_runs_its_own_orchestration_through_the_commands() {
    let conn = connection_string().await;
    let hub = unique_hub_name("OwnCli");
    let cli = |args: &[&str]| {
        let mut c = Command::new(example("own_cli"));
        c.args(["--connection", &conn, "--hub", &hub])
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    };
    let mut worker = cli(&["worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("own_cli worker starts");
    let run = |args: &[&str]| {
        let out = cli(args).output().expect("own_cli runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["start", "Countdown", "--input", "2", "--id", "c1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "c1");
    assert!(
        !stderr.contains("warning"),
        "its own worker knows Countdown: {stderr}"
    );
    let (code, stdout, stderr) = run(&["wait", "c1", "--timeout", "60"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("liftoff after 2"), "{stdout}");
    let (code, stdout, _) = run(&["history", "c1"]);
    assert_eq!(code, Some(0));
    for event in [
        "ExecutionStarted",
        "TimerFired",
        "TaskCompleted",
        "ExecutionCompleted",
    ] {
        assert!(stdout.contains(event), "{event} in {stdout}");
    }
    // The samples' own commands are the stock binary's.
    let (code, _, stderr) = run(&["pipeline"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("does not host"), "{stderr}");
    let (_, help, _) = run(&["--help"]);
    assert!(
        help.contains("\n  worker ") && !help.contains("\n  pipeline "),
        "{help}"
    );

    // SIGTERM: it stops gracefully.
    #[cfg(unix)]
    unsafe {
        libc::kill(worker.id() as i32, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = worker.kill();
    let status = wait_until("the worker exits", Duration::from_secs(60), || {
        let s = worker.try_wait().ok().flatten();
        async move { s }
    })
    .await;
    assert!(status.success() || cfg!(not(unix)), "{status:?}");
}
