//! `taskhub entity` and `taskhub partitions` from a second terminal, with `taskhub worker`
//! running the samples (the `session_handler` counter entity).

mod common;

use common::cli::Cli;
use std::time::{Duration, Instant};

#[tokio::test]
async fn entities_and_partitions_from_the_command_line() {
    let cli = Cli::new("client").await;
    let _worker = cli.worker(4);

    cli.ok(&["entity", "signal", "session_handler", "user-1", "add", "2"]);
    cli.ok(&["entity", "signal", "Session_Handler", "user-1", "add", "3"]);
    let start = Instant::now();
    let state = loop {
        let o = cli.run(&["entity", "get", "session_handler", "user-1", "--json"]);
        if o.code == Some(0) {
            let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
            if v["state"]["count"] == 5 {
                break v;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "state never reached 5: {}{}",
            o.stdout,
            o.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(state["name"], "session_handler");
    assert_eq!(state["key"], "user-1");

    let list = cli.json(&["entity", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Bad input: one line, nothing sent.
    let e = cli.fails(&["entity", "get", "session_handler", "nobody"]);
    assert!(e.contains("no such entity: @session_handler@nobody"), "{e}");
    // A name this binary's worker does not host is sent anyway (another worker on the hub may
    // host it), with a warning on stderr.
    let o = cli.run(&["entity", "signal", "no_such_entity", "k", "add", "1"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("signalled @no_such_entity@k"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("does not register entity \"no_such_entity\""),
        "{}",
        o.stderr
    );
    let e = cli.fails(&["entity", "signal", "session_handler", "k", "add", "{oops"]);
    assert!(e.contains("not valid JSON"), "{e}");
    let e = cli.fails(&["entity", "signal", "session_handler", "", "add", "1"]);
    assert!(e.contains("entity key is empty"), "{e}");

    // Partitions: all four owned by the worker, with a lease in the future.
    let parts = cli.json(&["partitions", "--json"]);
    let parts = parts.as_array().unwrap();
    assert_eq!(parts.len(), 4);
    for p in parts {
        assert!(p["owner"].is_string(), "{p}");
        assert_eq!(p["expired"], false);
        assert_eq!(p["draining"], false);
        assert!(p["queue_length"].is_u64());
    }
    let table = cli.ok(&["partitions"]);
    assert!(
        table.contains("PARTITION") && table.contains("-control-03"),
        "{table}"
    );
}
