//! The built `taskhub` binary against the harness Azurite: hub create, info --json, delete; and a
//! bad connection string fails fast with one line and a non-zero exit.

mod common;

use common::{connection_string, unique_hub_name};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn taskhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskhub"))
        .args(args)
        .env_remove("AzureWebJobsStorage")
        .env_remove("RUST_LOG")
        .output()
        .expect("taskhub runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn hub_create_info_delete_through_the_cli() {
    let conn = connection_string().await;
    let hub = unique_hub_name("Cli");
    let base = ["--connection", conn.as_str(), "--hub", hub.as_str()];
    let run = |extra: &[&str]| taskhub(&[&base[..], extra].concat());

    let created = run(&["hub", "create"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stderr(&created).contains("is ready"),
        "{}",
        stderr(&created)
    );

    let info = run(&["hub", "info", "--json"]);
    assert!(info.status.success(), "{}", stderr(&info));
    let json: serde_json::Value =
        serde_json::from_slice(&info.stdout).expect("info --json prints JSON");
    assert_eq!(json["complete"], true);
    let lower = hub.to_ascii_lowercase();
    let queues: Vec<&str> = json["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    let controls = queues
        .iter()
        .filter(|q| q.starts_with(&format!("{lower}-control-")))
        .count();
    assert_eq!(controls, 4, "{queues:?}");
    assert!(queues.contains(&format!("{lower}-workitems").as_str()));
    let tables: Vec<&str> = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        [
            format!("{hub}History"),
            format!("{hub}Instances"),
            format!("{hub}Partitions")
        ]
    );
    assert_eq!(
        json["containers"][0]["name"],
        format!("{lower}-largemessages")
    );
    assert_eq!(json["containers"][0]["exists"], true);

    let text = run(&["hub", "info"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("complete") && out.contains(&format!("{lower}-control-03")),
        "{out}"
    );

    let deleted = run(&["hub", "delete"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let after = run(&["hub", "info", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(json["absent"], true, "{json}");
}

#[test]
fn unreachable_storage_fails_fast_with_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWstMDEyMzQ1Njc4OWFiY2RlZg==";
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};\
         BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;\
         TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1"
    );
    let start = Instant::now();
    let out = taskhub(&["--connection", &conn, "hub", "info"]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: reading task hub TestHubName: "),
        "{err}"
    );
    assert!(
        err.contains(&format!("127.0.0.1:{port} is unreachable")),
        "{err}"
    );
    assert!(!err.contains(key));
}

#[test]
fn malformed_connection_string_and_bad_hub_name_fail_with_one_line() {
    for args in [
        vec![
            "--connection",
            "AccountName=x;AccountKey=c2VjcmV0;Bogus=1",
            "hub",
            "info",
        ],
        vec![
            "--connection",
            "UseDevelopmentStorage=true",
            "--hub",
            "no-dashes",
            "hub",
            "info",
        ],
    ] {
        let start = Instant::now();
        let out = taskhub(&args);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }
}

#[test]
fn settings_file_supplies_the_connection_string() {
    let dir = std::env::temp_dir().join(format!("taskhub-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("local.settings.json");
    std::fs::write(
        &path,
        r#"{"IsEncrypted": false, "Values": {"AzureWebJobsStorage": "AccountName=x;Bogus=1"}}"#,
    )
    .unwrap();
    let out = taskhub(&["--settings", path.to_str().unwrap(), "hub", "info"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown key `Bogus`"),
        "the settings' connection string was used: {}",
        stderr(&out)
    );
    let missing = taskhub(&[
        "--settings",
        "/nonexistent/local.settings.json",
        "hub",
        "info",
    ]);
    assert!(
        stderr(&missing).starts_with("error: cannot read settings file"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn help_documents_every_global_option() {
    let out = taskhub(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--connection",
        "--settings",
        "--hub",
        "--partitions",
        "--keep-azurite",
        "hub",
        "azurite",
    ] {
        assert!(help.contains(opt), "{opt} missing from --help:\n{help}");
    }
}
