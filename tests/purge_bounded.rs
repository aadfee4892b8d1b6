//! Purge by filter, streamed and budgeted, on the harness Azurite: `Client::purge_page` makes
//! progress in every call of a small budget and, resumed from its token, deletes each match
//! exactly once and nothing else; `taskhub purge --older-than` shows progress, stops at
//! `--max-time` or Ctrl-C with a token and resumes from it; bad input is one line with nothing
//! deleted.
//!
//! The instances are written straight to the tables (`bench::write_finished_instances`: an
//! Instances row and five history rows each), so hundreds cost seconds, not a worker run.
//!
//! How these tests are known to catch what they guard (each checked once by breaking the code):
//! - resuming one key too far on (`after: keys[n]` instead of `keys[n - 1]` in
//!   `bulk_purge.rs`) skips an instance at every stop: the first test finds instances left
//!   over (and the second a total short of 400);
//! - a budget that is not checked (`within_limits` always true) purges everything in the first
//!   call: both tests fail their "more than one call" / "stopped before the end" assertions;
//! - Ctrl-C not listened to (the `interrupt.recv()` arm of `cli/commands/purge.rs` never ready):
//!   the purge runs to its end and exits 0, which the second test refuses.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::cli::Cli;
use common::hub::{write_finished, TestHub};
use taskhub::backend::{InstanceQuery, PurgeFilter};
use taskhub::client::{Client, Error};
use taskhub::core::OrchestrationStatus;
use taskhub::storage::{EntityExt, TableEntity};

const DAY: Duration = Duration::from_secs(86_400);

/// Instance ids left in the hub, in order.
async fn ids(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list(&InstanceQuery::default(), Some(1000), token.as_deref())
            .await
            .unwrap();
        out.extend(page.instances.into_iter().map(|s| s.instance_id));
        match page.continuation {
            Some(c) => token = Some(c.to_token()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgeted_calls_make_progress_and_resume_without_skipping_or_counting_twice() {
    let hub = TestHub::create("PurgePages").await;
    let client = Client::new(hub.clone());
    write_finished(&hub, "old-", 300, OrchestrationStatus::Completed, 10 * DAY).await;
    write_finished(&hub, "oldlive-", 10, OrchestrationStatus::Running, 10 * DAY).await;
    write_finished(
        &hub,
        "young-",
        10,
        OrchestrationStatus::Completed,
        Duration::ZERO,
    )
    .await;
    let filter = PurgeFilter {
        created_to: Some(hub.clock().now() - 7 * DAY),
        ..PurgeFilter::default()
    };

    // A token it did not issue: refused, nothing deleted.
    let e = client
        .purge_page(&filter, Duration::from_secs(1), Some("garbage!"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert_eq!(ids(&client).await.len(), 320);

    // After the first call, one old instance further on is started again (its row now says
    // Running): the resumed purge must leave it.
    let mut restarted = TableEntity::new();
    restarted.put_str("RuntimeStatus", "Running");
    let budget = Duration::from_millis(150);
    let mut token: Option<String> = None;
    let mut calls = 0;
    let (mut deleted, mut examined) = (0, 0);
    let mut history_rows = 0;
    loop {
        let start = Instant::now();
        let p = client
            .purge_page(&filter, budget, token.as_deref())
            .await
            .unwrap();
        let took = start.elapsed();
        calls += 1;
        if calls == 1 {
            hub.instances()
                .upsert_merge("old-000299", &restarted)
                .await
                .unwrap();
        }
        // Within its budget, give or take the instances in flight when it ran out. The margin
        // is wide because a loaded machine slows each storage call; that the budget bounds a
        // call at all is shown by the purge taking several calls (asserted below).
        assert!(
            took < budget + Duration::from_secs(10),
            "call {calls} took {took:?}"
        );
        deleted += p.result.instances_deleted;
        examined += p.examined;
        history_rows += p.result.history_rows_deleted;
        match p.continuation {
            Some(next) => {
                assert!(
                    p.result.instances_deleted > 0,
                    "call {calls} made no progress"
                );
                token = Some(next);
            }
            None => break,
        }
        assert!(calls < 1000, "the purge never ends");
    }
    assert!(
        calls >= 3,
        "a {budget:?} budget purged 300 instances in {calls} calls"
    );
    assert_eq!(
        deleted, 299,
        "each old instance deleted once, the restarted one kept"
    );
    assert_eq!(
        history_rows,
        299 * 5,
        "an instance's rows are the sentinel and 4 events"
    );
    assert_eq!(examined, 299, "no instance looked at twice");
    let mut expected: Vec<String> = ["old-000299".to_string()]
        .into_iter()
        .chain((0..10).map(|i| format!("oldlive-{i:06}")))
        .chain((0..10).map(|i| format!("young-{i:06}")))
        .collect();
    expected.sort();
    assert_eq!(ids(&client).await, expected);
    let left = hub
        .history()
        .table()
        .query(None, Some(&["PartitionKey"]), None)
        .await
        .unwrap();
    assert_eq!(
        left.len(),
        21 * 5,
        "only the kept instances' history is left"
    );

    // purge_where is the same purge, called until the end.
    let rest = client
        .purge_where(None, None, &[OrchestrationStatus::Completed])
        .await
        .unwrap();
    assert_eq!(rest.instances_deleted, 10, "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_older_than_stops_at_max_time_or_ctrl_c_with_a_token_and_resumes_from_it() {
    let hub = TestHub::create("PurgeCli").await;
    write_finished(&hub, "old-", 400, OrchestrationStatus::Completed, 10 * DAY).await;
    write_finished(&hub, "oldfailed-", 5, OrchestrationStatus::Failed, 10 * DAY).await;
    write_finished(&hub, "recent-", 10, OrchestrationStatus::Completed, DAY).await;
    let cli = Cli::for_hub(&hub).await;
    let client = Client::new(hub.clone());

    // Bad input: one line, nothing deleted.
    for (args, says) in [
        (
            vec!["--older-than", "7x"],
            "--older-than: \"7x\" is not a duration",
        ),
        (vec!["--older-than", "-1d"], "no sign"),
        (
            vec!["--older-than", "7d", "--created-to", "2024-01-01T00:00:00Z"],
            "give one",
        ),
        (vec!["--status", "Running"], "live and cannot be purged"),
        (vec!["--status", "Done"], "unknown status \"Done\""),
        (
            vec!["--budget", "0s", "--status", "Completed"],
            "--budget: must be above zero",
        ),
        (
            vec!["--max-time", "soon", "--status", "Completed"],
            "--max-time",
        ),
        (vec![], "give an instance id, or --created-from"),
        (
            vec!["--status", "Completed", "--continuation", "garbage!"],
            "the continuation token is not one a purge issued",
        ),
    ] {
        let all: Vec<&str> = ["purge"].into_iter().chain(args.iter().copied()).collect();
        let e = cli.fails(&all);
        assert!(e.contains(says), "{all:?}: {e}");
    }
    assert_eq!(ids(&client).await.len(), 415, "nothing was deleted");

    // Stopped by --max-time: JSON with the token, and the hint on stderr.
    let filter = [
        "purge",
        "--older-than",
        "7d",
        "--status",
        "Completed",
        "--budget",
        "100ms",
    ];
    let args = [&filter[..], &["--max-time", "300ms", "--json"]].concat();
    let first = cli.run(&args);
    assert_eq!(first.code, Some(0), "{}{}", first.stdout, first.stderr);
    let v: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    let done = v["instances_deleted"].as_u64().unwrap();
    assert!(done > 0 && done < 400, "{v}");
    let token = v["continuation"].as_str().expect("a token").to_string();
    assert!(
        first
            .stderr
            .contains("resume with the same filter and --continuation"),
        "{}",
        first.stderr
    );

    // Resumed: the rest, with progress lines on stderr between calls.
    let second = cli.run(&[&filter[..], &["--continuation", &token]].concat());
    assert_eq!(second.code, Some(0), "{}{}", second.stdout, second.stderr);
    let expected = format!("purged {} instances, ", 400 - done);
    assert!(second.stdout.starts_with(&expected), "{}", second.stdout);
    assert!(second.stderr.contains("so far"), "{}", second.stderr);
    assert!(!second.stderr.contains("resume with"), "{}", second.stderr);
    let left = ids(&client).await;
    assert_eq!(left.len(), 15, "{left:?}");
    assert!(left
        .iter()
        .all(|id| id.starts_with("oldfailed-") || id.starts_with("recent-")));

    // Ctrl-C between or during calls: what was done, the token, exit 1; the token resumes it.
    write_finished(&hub, "more-", 300, OrchestrationStatus::Completed, 10 * DAY).await;
    let mut child = cli
        .command(&filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("so far") {
        assert!(
            stderr.read_line(&mut seen).unwrap() > 0,
            "no progress: {seen}"
        );
    }
    // SAFETY: a signal to our own child process.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{seen}");
    assert!(seen.ends_with("error: interrupted\n"), "{seen}");
    let done: u64 = stdout
        .strip_prefix("purged ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    let token = seen
        .split("--continuation ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token: {seen}"));
    let rest = cli.json(&[&filter[..], &["--continuation", token, "--json"]].concat());
    assert_eq!(
        rest["instances_deleted"].as_u64().unwrap() + done,
        300,
        "{rest}"
    );
    assert_eq!(ids(&client).await.len(), 15);
}
