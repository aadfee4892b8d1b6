//! Failures users meet first: an unreachable endpoint is reported quickly and plainly, connection
//! strings (the docker-compose one included) parse or fail with a clear message, and the account
//! key never appears in Debug, Display or error messages.

use std::time::{Duration, Instant};
use taskhub::storage::{Storage, StorageAccount, StorageOptions, DEV_ACCOUNT_KEY};

const REAL_LOOKING_KEY: &str =
    "Zm9vYmFyYmF6cXV4LXNlY3JldC1rZXktZm9yLXRlc3RzLTAxMjM0NTY3ODlhYmNkZWY=";

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unreachable_connection_string(key: &str) -> String {
    let p = unused_port();
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};\
         BlobEndpoint=http://127.0.0.1:{p}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{p}/devstoreaccount1;\
         TableEndpoint=http://127.0.0.1:{p}/devstoreaccount1"
    )
}

#[tokio::test]
async fn unreachable_endpoint_is_reported_quickly_in_one_line_without_the_key() {
    let conn = unreachable_connection_string(REAL_LOOKING_KEY);
    let storage = Storage::connect(&conn).unwrap();
    let start = Instant::now();
    let err = storage
        .table("Anything")
        .create_if_missing()
        .await
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(err.is_transient());
    let msg = format!("{err}");
    let full = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.starts_with("table create Anything failed: storage at 127.0.0.1:"),
        "{msg}"
    );
    assert!(msg.contains("is unreachable"), "{msg}");
    assert!(full.contains("connection refused"), "{full}");
    assert!(
        !full.contains('\n') && !full.contains(REAL_LOOKING_KEY),
        "{full}"
    );
    assert!(storage.counters().total() >= 2, "it was retried");
}

#[tokio::test]
async fn retries_stop_within_the_budget() {
    let account = StorageAccount::parse(&unreachable_connection_string(DEV_ACCOUNT_KEY)).unwrap();
    let mut options = StorageOptions::default();
    options.retry.max_elapsed = Duration::from_millis(300);
    let storage = Storage::new(account, options).unwrap();
    let start = Instant::now();
    assert!(storage.queue("q").put("x", Duration::ZERO).await.is_err());
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn connection_strings_of_every_supported_form_parse() {
    let dev = StorageAccount::parse("UseDevelopmentStorage=true").unwrap();
    assert!(dev.is_development_default());
    let real = StorageAccount::parse(&format!(
        "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={REAL_LOOKING_KEY};EndpointSuffix=core.windows.net"
    ))
    .unwrap();
    assert_eq!(real.blob_endpoint(), "https://myacct.blob.core.windows.net");
    assert!(!real.is_development_default());
    for s in [
        format!("{real:?}"),
        format!(
            "{:?}",
            Storage::new(real.clone(), StorageOptions::default()).unwrap()
        ),
    ] {
        assert!(!s.contains(REAL_LOOKING_KEY), "{s}");
    }
}

#[test]
fn the_docker_compose_connection_string_is_accepted() {
    let compose =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
            .unwrap();
    let line = compose
        .lines()
        .find(|l| l.contains("AzureWebJobsStorage"))
        .expect("docker-compose.yml sets AzureWebJobsStorage");
    let value = line
        .split_once("AzureWebJobsStorage")
        .unwrap()
        .1
        .trim_start_matches([':', '=', ' '])
        .trim()
        .trim_matches('"');
    let account = StorageAccount::parse(value).unwrap_or_else(|e| panic!("{e}: {value}"));
    assert_eq!(
        account.blob_endpoint(),
        "http://azurite:10000/devstoreaccount1"
    );
    assert!(account
        .queue_endpoint()
        .starts_with("http://azurite:10001/"));
    assert!(account
        .table_endpoint()
        .starts_with("http://azurite:10002/"));
    assert!(compose.contains("--skipApiVersionCheck") && compose.contains("--disableTelemetry"));
}

#[test]
fn bad_connection_strings_fail_with_a_clear_message_and_no_key() {
    for (s, expect) in [
        (
            format!("AccountName=a;AccountKey={REAL_LOOKING_KEY};Endpoint=x"),
            "unknown key `Endpoint`",
        ),
        (
            format!("AccountKey={REAL_LOOKING_KEY}"),
            "`AccountName` is missing",
        ),
        (
            // No key: identity-based, and tokens go over https only.
            "AccountName=a;DefaultEndpointsProtocol=http".to_string(),
            "must be https for a connection without a key",
        ),
        (
            format!("AccountName=a;Credential=managedidentity;AccountKey={REAL_LOOKING_KEY}"),
            "are for a connection without `AccountKey`",
        ),
        (
            format!("AccountName=a;AccountKey={REAL_LOOKING_KEY};TableEndpoint=ftp://x"),
            "http or https",
        ),
        ("nonsense".to_string(), "no `=`"),
        (
            format!("AccountName=a;AccountKey=not base64!{REAL_LOOKING_KEY}"),
            "not valid base64",
        ),
    ] {
        let err = StorageAccount::parse(&s).unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
        assert!(
            !err.contains(REAL_LOOKING_KEY) && !err.contains("Zm9vYmFy"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
