//! The built `taskhub` binary as a user drives it from two terminals, against the harness
//! Azurite: `taskhub worker` in one, `start` / `wait` / `status` / `history` / `list` / `purge` /
//! `terminate` in the other; bad input refused in one line with nothing written; odd instance
//! ids round-tripping; `list` paging; `wait` exit codes; the worker stopping on SIGTERM.
//!
//! Termination, suspension and resumption are shown on the eternal sample (a long-running
//! instance). Not here: terminating a Pending instance before a worker picks it up — the worker
//! defers a terminate that arrives with the start, by which time HelloCities has finished.

mod common;

use common::cli::Cli;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const GREETINGS: &str = r#"["Hello Tokyo!","Hello Seattle!","Hello London!"]"#;

#[tokio::test]
async fn a_worker_runs_what_a_second_terminal_starts_and_stops_on_sigterm() {
    let cli = Cli::new("CliWorker").await;
    let worker = cli.worker(4);

    // start, wait, history, status: the README's walk-through.
    assert_eq!(cli.ok(&["start", "HelloCities", "--id", "x"]), "x\n");
    let waited = cli.ok(&["wait", "x", "--timeout", "60"]);
    assert!(waited.contains("Completed"), "{waited}");
    assert!(waited.contains(GREETINGS), "{waited}");

    let history = cli.ok(&["history", "x"]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(
        lines[0].starts_with("#  ") && lines[0].contains("DURATION"),
        "{history}"
    );
    let scheduled: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("TaskScheduled"))
        .collect();
    let completed: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("TaskCompleted"))
        .collect();
    assert_eq!(scheduled.len(), 3, "{history}");
    assert_eq!(completed.len(), 3, "{history}");
    for (city, line) in ["Tokyo", "Seattle", "London"].iter().zip(&completed) {
        // The completion names what it completes, shows how long it took, and its result.
        assert!(line.contains("SayHello"), "{line}");
        assert!(line.contains(" ms") || line.contains(" s "), "{line}");
        assert!(
            line.contains(&format!("result: \"Hello {city}!\"")),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ExecutionCompleted") && l.contains("Completed, output: [")),
        "{history}"
    );

    let status = cli.json(&["status", "x", "--json"]);
    assert_eq!(status["instance_id"], "x");
    assert_eq!(status["name"], "HelloCities");
    assert_eq!(status["runtime_status"], "Completed");
    assert_eq!(
        status["output"],
        serde_json::from_str::<Value>(GREETINGS).unwrap()
    );
    let with_history = cli.json(&["status", "x", "--json", "--show-history", "--show-input"]);
    let events = with_history["history"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["EventType"] == "ExecutionCompleted" && e["Result"] == GREETINGS));
    let events = cli.json(&["history", "x", "--json"]);
    assert_eq!(
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["EventType"] == "TaskScheduled" && e["Name"] == "SayHello")
            .count(),
        3
    );

    // An id with / \ # ? a quote and a newline comes back exactly.
    let odd = "a/b\\c#d?e'f\"g\nh";
    assert_eq!(
        cli.ok(&["start", "HelloCities", "--id", odd]),
        format!("{odd}\n")
    );
    cli.ok(&["wait", odd]);
    let status = cli.json(&["status", odd, "--json"]);
    assert_eq!(status["instance_id"], odd);
    assert_eq!(status["runtime_status"], "Completed");
    let human = cli.ok(&["status", odd]);
    assert!(
        human
            .lines()
            .next()
            .unwrap()
            .ends_with("a/b\\c#d?e'f\"g\\nh"),
        "{human}"
    );
    assert!(cli.ok(&["history", odd]).contains("ExecutionCompleted"));
    assert_eq!(cli.list_ids(&["--prefix", "a/b\\c#"]), [odd]);

    // A failed instance: wait exits 2 and still prints the status.
    cli.ok(&[
        "start",
        "message_orchestrator",
        "--id",
        "f",
        "--input",
        "42",
    ]);
    let failed = cli.run(&["wait", "f", "--json"]);
    assert_eq!(failed.code, Some(2), "{}{}", failed.stdout, failed.stderr);
    let failed: Value = serde_json::from_str(&failed.stdout).unwrap();
    assert_eq!(failed["runtime_status"], "Failed");

    // restart under a new id; suspend of a finished instance explains why not.
    let new_id = cli.ok(&["restart", "x", "--new-id"]).trim().to_string();
    assert!(!new_id.is_empty() && new_id != "x");
    assert!(cli.ok(&["wait", &new_id]).contains(GREETINGS));
    let err = cli.fails(&["suspend", "x"]);
    assert!(err.contains("'x' is Completed"), "{err}");

    // A long-running instance (the eternal sample sleeping on a 60 s timer): suspend, resume,
    // raise an event, terminate; wait exits 2 with the reason as output.
    cli.ok(&[
        "start",
        "eternal_orchestrator",
        "--id",
        "forever",
        "--input",
        r#"{"idleSeconds":60}"#,
    ]);
    // Its custom status (set once its first activity returned) comes back as JSON.
    cli.status_until("forever", "its custom status is set", |v| {
        v["runtime_status"] == "Running" && v["custom_status"]["iteration"] == 1
    });
    let s = cli.run(&["suspend", "forever", "--reason", "maintenance"]);
    assert_eq!(s.code, Some(0), "{}", s.stderr);
    assert!(
        s.stderr.contains("suspension of 'forever' requested"),
        "{}",
        s.stderr
    );
    cli.status_becomes("forever", "Suspended");
    cli.ok(&["resume", "forever", "--reason", "done"]);
    cli.status_becomes("forever", "Running");
    cli.ok(&["raise", "forever", "nudge", r#"{"n":1}"#]);
    cli.ok(&["terminate", "forever", "--reason", "enough"]);
    let ended = cli.run(&["wait", "forever", "--timeout", "30"]);
    assert_eq!(ended.code, Some(2), "{}{}", ended.stdout, ended.stderr);
    assert!(ended.stdout.contains("Terminated"), "{}", ended.stdout);
    assert!(ended.stdout.contains("enough"), "{}", ended.stdout);
    let history = cli.ok(&["history", "forever"]);
    for expected in [
        "ExecutionSuspended",
        "reason: maintenance",
        "ExecutionResumed",
        "EventRaised",
        "nudge",
        "input: {\"n\":1}",
        "ExecutionTerminated",
        "TimerCreated",
    ] {
        assert!(history.contains(expected), "{expected} not in\n{history}");
    }

    // hub info: per-partition depth and the poison count; the poison queue is empty.
    let info = cli.ok(&["hub", "info"]);
    assert!(
        info.contains("CONTROL QUEUE") && info.contains("MESSAGES"),
        "{info}"
    );
    assert!(info.contains("Poison messages: 0"), "{info}");
    assert_eq!(cli.json(&["poison", "--json"]), json!([]));

    // An unreadable control message ends in the poison queue, where `poison` and `hub info`
    // show it.
    let control = common::put_unreadable_message(&cli.hub).await;
    let start = Instant::now();
    let records = loop {
        let records = cli.json(&["poison", "--json"]);
        if !records.as_array().unwrap().is_empty() {
            break records;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no poison record"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(records[0]["Message"], "this is not a task message");
    assert_eq!(records[0]["SourceQueue"], control.as_str());
    let table = cli.ok(&["poison"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("INSERTED") && lines[0].ends_with("REASON"),
        "{table}"
    );
    assert!(
        lines[1].contains(&control) && lines[1].contains("unreadable"),
        "{table}"
    );
    let info = cli.ok(&["hub", "info"]);
    assert!(info.contains("Poison messages: 1 in "), "{info}");

    let (exit, took, log) = worker.stop(libc::SIGTERM);
    assert!(exit.success(), "worker exited with {exit}; log:\n{log}");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("worker stopped"), "{log}");
}

#[tokio::test]
async fn bad_input_gets_one_line_and_writes_nothing() {
    let cli = Cli::new("CliBad").await;

    // A hub that does not exist yet is named as the problem.
    let err = cli.fails(&["status", "x"]);
    assert!(err.contains("does not exist"), "{err}");

    cli.ok(&["hub", "create"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["start", "HelloCities", "--id", "b2", "--input", "{oops"],
            "--input is not valid JSON",
        ),
        (
            &["start", "HelloCities", "--id", ""],
            "instance id is empty",
        ),
        (&["start", "HelloCities", "--id", "@counter@k"], "@"),
        (
            &["start", "HelloCities", "--start-at", "next tuesday"],
            "--start-at: \"next tuesday\" is not an RFC 3339 time",
        ),
        (
            &[
                "start",
                "HelloCities",
                "--input-file",
                "/nonexistent/input.json",
            ],
            "cannot read input file",
        ),
        (
            &["start", "HelloCities", "--input", "1", "--input-file", "x"],
            "cannot be used with",
        ),
        (
            &["raise", "nobody", "approval", "\"yes\""],
            "no instance 'nobody'",
        ),
        (
            &["raise", "nobody", "approval", "{oops"],
            "the event data is not valid JSON",
        ),
        (&["status", ""], "instance id is empty"),
        (&["status", "no\nbody"], "no instance 'no\\nbody'"),
        (
            &["wait", "nobody", "--timeout", "1"],
            "no instance 'nobody'",
        ),
        (&["history", "nobody"], "no instance 'nobody'"),
        (&["terminate", "nobody"], "no instance 'nobody'"),
        (&["purge", "nobody"], "no instance 'nobody'"),
        (&["purge"], "give an instance id"),
        (&["purge", "--status", "Running"], "live"),
        (&["list", "--status", "Done"], "unknown status \"Done\""),
        (&["list", "--created-from", "yesterday"], "--created-from"),
        (&["list", "--continuation", "garbage"], "continuation token"),
        (&["list", "--entities", "some"], "invalid value 'some'"),
        (&["wait", "x", "--timout", "1"], "'--timeout'"),
        (&["worker", "--max-activities", "0"], "--max-activities"),
    ];
    for (args, expected) in cases {
        let err = cli.fails(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // Nothing was written.
    assert!(cli.list_ids(&["--entities", "include"]).is_empty());
    let human = cli.run(&["list"]);
    assert_eq!(human.code, Some(0));
    assert!(human.stdout.is_empty(), "{}", human.stdout);
    assert!(
        human.stderr.contains("no instances match"),
        "{}",
        human.stderr
    );

    // Any orchestrator name is started, as Durable Functions clients do (a worker that knows it
    // runs it); the binary warns when its own worker does not register it.
    let other = cli.run(&["start", "NoSuchOrchestrator", "--id", "b1"]);
    assert_eq!(other.code, Some(0), "{}", other.stderr);
    assert_eq!(other.stdout.trim(), "b1");
    assert!(
        other.stderr.starts_with("warning: ") && other.stderr.contains("NoSuchOrchestrator"),
        "{}",
        other.stderr
    );
    assert_eq!(
        cli.json(&["status", "b1", "--json"])["runtime_status"],
        "Pending"
    );
    cli.ok(&["terminate", "b1"]);

    // An oversized input is no error: it travels in a blob and comes back whole.
    let big = Value::String("x".repeat(1 << 20)).to_string();
    let path = std::env::temp_dir().join(format!("{}-big-input.json", cli.hub));
    std::fs::write(&path, &big).unwrap();
    let started = cli.run(&[
        "start",
        "HelloCities",
        "--id",
        "big",
        "--input-file",
        path.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(started.code, Some(0), "{}", started.stderr);
    let status = cli.json(&["status", "big", "--show-input", "--json"]);
    assert_eq!(status["input"].as_str().map(str::len), Some(1 << 20));
    let human = cli.ok(&["status", "big", "--show-input"]);
    assert!(
        human.contains("xxx… (1048578 characters; --json shows all)"),
        "{}",
        &human[..human.len().min(2000)]
    );
}

#[tokio::test]
async fn list_pages_and_filters_then_wait_and_purge() {
    let cli = Cli::new("CliList").await;
    cli.ok(&["hub", "create"]);
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let before = rfc(time::OffsetDateTime::now_utc() - time::Duration::minutes(5));
    let later = rfc(time::OffsetDateTime::now_utc() + time::Duration::hours(1));

    // Without a worker, started instances stay Pending.
    let pages: Vec<String> = (0..5).map(|i| format!("page-{i}")).collect();
    for id in &pages {
        assert_eq!(
            cli.ok(&["start", "HelloCities", "--id", id]),
            format!("{id}\n")
        );
    }
    cli.ok(&["start", "HelloCities", "--id", "other"]);
    let err = cli.fails(&["start", "HelloCities", "--id", "page-0"]);
    assert!(err.contains("already Pending"), "{err}");

    // Paging with --top 2 and the continuation token, through --json.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut args = vec![
            "list", "--json", "--status", "pending", "--prefix", "page-", "--top", "2",
        ];
        if let Some(t) = &token {
            args.extend(["--continuation", t.as_str()]);
        }
        let v = cli.json(&args);
        let ids = v["instances"].as_array().unwrap();
        assert!(ids.len() <= 2, "{v}");
        seen.extend(
            ids.iter()
                .map(|i| i["instance_id"].as_str().unwrap().to_string()),
        );
        match v["continuation"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, pages);

    // The table form: a header and two rows on stdout, the token on stderr.
    let page = cli.run(&["list", "--prefix", "page-", "--top", "2"]);
    assert_eq!(page.code, Some(0));
    let rows: Vec<&str> = page.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{}", page.stdout);
    assert!(
        rows[0].starts_with("ID") && rows[0].contains("LAST UPDATED"),
        "{}",
        page.stdout
    );
    assert!(
        rows[1].starts_with("page-0") && rows[1].contains("HelloCities  Pending"),
        "{}",
        page.stdout
    );
    let hint = page
        .stderr
        .split("--continuation ")
        .nth(1)
        .expect("continuation hint");
    let token = hint.split_whitespace().next().unwrap();
    let next = cli.ok(&[
        "list",
        "--prefix",
        "page-",
        "--top",
        "2",
        "--continuation",
        token,
    ]);
    assert!(next.lines().nth(1).unwrap().starts_with("page-2"), "{next}");

    // Filters.
    assert_eq!(cli.list_ids(&["--created-from", &before]).len(), 6);
    assert!(cli.list_ids(&["--created-from", &later]).is_empty());
    assert!(cli.list_ids(&["--created-to", &before]).is_empty());
    assert!(cli.list_ids(&["--status", "Completed,Failed"]).is_empty());
    assert_eq!(cli.list_ids(&["--prefix", "oth"]), ["other"]);
    assert!(cli.list_ids(&["--entities", "only"]).is_empty());

    // Live instances cannot be purged; wait times out (exit 3) while nothing runs them.
    let err = cli.fails(&["purge", "page-0"]);
    assert!(
        err.contains("'page-0' is Pending; purging needs a finished instance"),
        "{err}"
    );
    let timed_out = cli.run(&["wait", "page-2", "--timeout", "1"]);
    assert_eq!(timed_out.code, Some(3), "{}", timed_out.stderr);
    assert!(
        timed_out
            .stderr
            .contains("timed out: instance 'page-2' is still Pending"),
        "{}",
        timed_out.stderr
    );

    // A worker runs them all; terminating a finished one explains why not.
    let worker = cli.worker(4);
    for id in pages.iter().chain(["other".to_string()].iter()) {
        assert!(cli.ok(&["wait", id]).contains(GREETINGS));
    }
    let err = cli.fails(&["terminate", "page-1", "--reason", "not needed"]);
    assert!(
        err.contains("'page-1' is Completed; terminating needs a running instance"),
        "{err}"
    );
    assert_eq!(cli.list_ids(&["--status", "Completed"]).len(), 6);

    // Purge one, then by filter.
    let purged = cli.ok(&["purge", "page-0"]);
    assert!(purged.starts_with("purged 1 instance, "), "{purged}");
    assert!(cli
        .fails(&["status", "page-0"])
        .contains("no instance 'page-0'"));
    let none = cli.json(&[
        "purge",
        "--status",
        "Completed",
        "--created-to",
        &before,
        "--json",
    ]);
    assert_eq!(none["instances_deleted"], 0);
    let rest = cli.json(&[
        "purge",
        "--status",
        "Completed,Failed",
        "--created-from",
        &before,
        "--json",
    ]);
    assert_eq!(rest["instances_deleted"], 5, "{rest}");
    assert!(rest["history_rows_deleted"].as_u64().unwrap() > 5, "{rest}");
    assert!(cli.list_ids(&[]).is_empty());

    // Ctrl-C stops it as gracefully as SIGTERM.
    let (exit, took, log) = worker.stop(libc::SIGINT);
    assert!(exit.success(), "worker exited with {exit}; log:\n{log}");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    assert!(log.contains("SIGINT received"), "{log}");
}
