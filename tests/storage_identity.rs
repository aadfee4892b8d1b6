//! Identity-based storage access end to end, with no account key anywhere: an Azurite of its own
//! serving HTTPS with a self-signed certificate made here and checking bearer tokens
//! (`--oauth basic`: `aud`, `iss`, `nbf`, `exp`, not the signature), and a managed-identity token
//! endpoint served by this test on loopback in the App Service protocol (`IDENTITY_ENDPOINT`,
//! `IDENTITY_HEADER`), minting such tokens. The CLI creates the hub and starts `HelloCities` and the pipeline, a
//! `taskhub worker` process runs it to completion, the library connects the same way (and with a
//! workload identity exchanging a federated token at the same loopback server), and a wrong
//! token, a refused token request and a missing certificate each fail with one clear line that
//! carries neither the token nor the identity header.
//!
//! How we know the test can fail (each broken on purpose once): with the token credential
//! swapped for `StorageCredentials::anonymous()` in `azure/mod.rs`, `hub create` failed with
//! Azurite's 403 AuthorizationFailure; with the managed identity's `client_id` query left out, the
//! client-id check failed; with the CLI's log filter letting `azure_core::policies::transport`
//! log at trace, the worker's log showed the token and the log check failed; with workload
//! identity keeping the token file's first content, the second exchange sent the old token and
//! the re-read check failed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::cli::{taskhub_with_env, Cli};
use taskhub::azurite::{Azurite, AzuriteData, AzuriteOptions, AzuriteTls};
use taskhub::storage::{IdentityConnection, Storage, StorageAccount, StorageOptions};

const IDENTITY_HEADER: &str = "identity-header-9f2c-must-not-leak";
const CLIENT_ID: &str = "0b9e2a7c-user-assigned";
const TENANT_ID: &str = "72f988bf-0000-0000-0000-000000000000";

/// What the token endpoint mints.
#[derive(Clone, Copy, PartialEq)]
enum Minting {
    /// A token Azurite accepts for storage.
    Storage,
    /// A well-formed token for another audience (Key Vault's): Azurite must refuse it.
    WrongAudience,
}

#[derive(Default)]
struct Seen {
    /// Every token handed out.
    tokens: Vec<String>,
    /// The `client_id` of each request with the right header.
    client_ids: Vec<Option<String>>,
    /// Requests refused for a wrong or missing `X-IDENTITY-HEADER`.
    refused: usize,
    /// The federated tokens workload identity exchanged.
    assertions: Vec<String>,
}

/// A managed-identity endpoint on 127.0.0.1 (App Service protocol, api-version 2019-08-01).
struct TokenEndpoint {
    url: String,
    minting: Arc<Mutex<Minting>>,
    seen: Arc<Mutex<Seen>>,
}

impl TokenEndpoint {
    fn start() -> TokenEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token endpoint");
        let url = format!("http://{}/msi/token", listener.local_addr().unwrap());
        let minting = Arc::new(Mutex::new(Minting::Storage));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (m, s) = (minting.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (m, s) = (m.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &m, &s));
            }
        });
        TokenEndpoint { url, minting, seen }
    }

    fn mint(&self, what: Minting) {
        *self.minting.lock().unwrap() = what;
    }
}

/// One request per connection: `GET /msi/token?api-version=…&resource=…[&client_id=…]`.
fn serve(stream: TcpStream, minting: &Mutex<Minting>, seen: &Mutex<Seen>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut header_ok = false;
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            header_ok |= name.trim().eq_ignore_ascii_case("x-identity-header")
                && value.trim() == IDENTITY_HEADER;
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut form = vec![0u8; content_length];
    if std::io::Read::read_exact(&mut reader, &mut form).is_err() {
        return;
    }
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let url = reqwest::Url::parse(&format!("http://x{target}")).expect("a request target");
    let query = |k: &str| {
        url.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    let (status, body) = if url.path() == format!("/{TENANT_ID}/oauth2/v2.0/token") {
        // Entra ID's token endpoint, as workload identity's client-assertion exchange calls it.
        let field = |k: &str| {
            reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(&form)))
                .ok()?
                .query_pairs()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.into_owned())
        };
        let (token, _) = jwt("https://storage.azure.com");
        let mut s = seen.lock().unwrap();
        s.tokens.push(token.clone());
        s.client_ids.push(field("client_id"));
        s.assertions
            .push(field("client_assertion").unwrap_or_default());
        (
            "200 OK",
            // Valid for a minute: inside the refresh margin, so every request asks anew.
            serde_json::json!({
                "token_type": "Bearer",
                "expires_in": 60,
                "ext_expires_in": 60,
                "access_token": token,
            })
            .to_string(),
        )
    } else if !header_ok {
        seen.lock().unwrap().refused += 1;
        (
            "401 Unauthorized",
            r#"{"error":"the identity header is wrong"}"#.to_string(),
        )
    } else {
        let resource = query("resource").unwrap_or_default();
        assert_eq!(query("api-version").as_deref(), Some("2019-08-01"));
        let aud = match *minting.lock().unwrap() {
            Minting::Storage => resource.clone(),
            Minting::WrongAudience => "https://vault.azure.net".to_string(),
        };
        let (token, expires_on) = jwt(&aud);
        let mut s = seen.lock().unwrap();
        s.tokens.push(token.clone());
        s.client_ids.push(query("client_id"));
        (
            "200 OK",
            serde_json::json!({
                "access_token": token,
                "expires_on": expires_on.to_string(),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": query("client_id"),
            })
            .to_string(),
        )
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// An unsigned JWT with the claims Azurite's basic OAuth check reads, valid for an hour.
fn jwt(aud: &str) -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(serde_json::json!({"alg": "RS256", "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "aud": aud,
        "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "oid": uuid::Uuid::new_v4().to_string(),
        "appid": CLIENT_ID,
    }));
    (format!("{header}.{claims}.c2lnbmF0dXJl"), now + 3600)
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert.pem, key.pem).
fn certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("a self-signed certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// The same output with tokens and the identity header checked absent.
fn assert_no_secrets(what: &str, text: &str, tokens: &[String]) {
    assert!(
        !text.contains(IDENTITY_HEADER),
        "{what} shows the identity header:\n{text}"
    );
    for t in tokens {
        // The signature-less middle part is the token's substance.
        let claims = t.split('.').nth(1).unwrap_or(t);
        assert!(!text.contains(claims), "{what} shows a token:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_and_the_cli_run_hello_and_the_pipeline_on_tokens_from_a_managed_identity_endpoint(
) {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = certificate(&dir);
    let azurite = Azurite::start(AzuriteOptions {
        ports: None,
        data: AzuriteData::InMemory,
        watch_parent: true,
        tls: Some(AzuriteTls {
            cert: cert.clone(),
            key,
            oauth: true,
        }),
    })
    .await
    .expect("an HTTPS Azurite with OAuth starts");
    let [blob, queue, table] = azurite.https_endpoints().expect("https endpoints");
    let endpoint = TokenEndpoint::start();
    let cert_str = cert.to_str().unwrap().to_string();

    // The connection string form: no key, a user-assigned managed identity.
    let conn = format!(
        "AccountName=devstoreaccount1;BlobEndpoint={blob};QueueEndpoint={queue};\
         TableEndpoint={table};Credential=managedidentity;ClientId={CLIENT_ID}"
    );
    let envs = |header: &str| {
        vec![
            ("IDENTITY_ENDPOINT".to_string(), endpoint.url.clone()),
            ("IDENTITY_HEADER".to_string(), header.to_string()),
            ("TASKHUB_STORAGE_CA_CERT".to_string(), cert_str.clone()),
        ]
    };
    let cli = Cli {
        conn: conn.clone(),
        hub: common::unique_hub_name("ident"),
        partitions: Some(2),
        program: PathBuf::from(env!("CARGO_BIN_EXE_taskhub")),
        envs: envs(IDENTITY_HEADER),
    };

    cli.ok(&["hub", "create"]);
    // Trace-level logs of everything, to show no token reaches them.
    let mut logging = envs(IDENTITY_HEADER);
    logging.push(("RUST_LOG".into(), "trace".into()));
    let worker = cli_clone_with_envs(&cli, logging).worker(2);
    assert_eq!(
        cli.ok(&["start", "HelloCities", "--id", "hello-1"]),
        "hello-1\n"
    );
    let done = cli.status_becomes("hello-1", "Completed");
    assert_eq!(
        done["output"],
        serde_json::json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"]),
        "{done}"
    );
    {
        let seen = endpoint.seen.lock().unwrap();
        assert!(seen.tokens.len() >= 3, "each process asked for a token");
        assert!(
            seen.client_ids
                .iter()
                .all(|c| c.as_deref() == Some(CLIENT_ID)),
            "the user-assigned identity's client id is sent: {:?}",
            seen.client_ids
        );
        assert_eq!(seen.refused, 0);
    }
    // The main job too: the pipeline (its data blobs on the same key-less account), started by
    // the CLI and run by the worker.
    let out = cli.ok(&[
        "pipeline",
        "--no-worker",
        "--files",
        "2",
        "--rows",
        "3",
        "--json",
    ]);
    let results: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(results.as_array().map(Vec::len), Some(2), "{out}");
    let tokens = endpoint.seen.lock().unwrap().tokens.clone();
    assert_no_secrets("the worker's trace log", &worker.log(), &tokens);

    // Durable Functions' settings, from the environment: the same hub, the same instance.
    let df = |header: &str| -> Vec<(String, String)> {
        let mut v = vec![
            (
                "AzureWebJobsStorage__blobServiceUri".to_string(),
                blob.clone(),
            ),
            (
                "AzureWebJobsStorage__queueServiceUri".to_string(),
                queue.clone(),
            ),
            (
                "AzureWebJobsStorage__tableServiceUri".to_string(),
                table.clone(),
            ),
            (
                "AzureWebJobsStorage__credential".to_string(),
                "managedidentity".to_string(),
            ),
            (
                "AzureWebJobsStorage__clientId".to_string(),
                CLIENT_ID.to_string(),
            ),
        ];
        v.extend(envs(header));
        v
    };
    let run_df = |header: &str, args: &[&str]| {
        let owned = df(header);
        let pairs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut full = vec!["--hub", cli.hub.as_str(), "--partitions", "2"];
        full.extend(args);
        taskhub_with_env(&full, &pairs)
    };
    let o = run_df(IDENTITY_HEADER, &["status", "hello-1", "--json"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("\"Completed\""), "{stdout}");

    // A token Azurite refuses (another audience): one line naming the refusal, no token in it.
    endpoint.mint(Minting::WrongAudience);
    let o = run_df(
        IDENTITY_HEADER,
        &["start", "HelloCities", "--id", "hello-2"],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("403"), "{err}");
    let tokens = endpoint.seen.lock().unwrap().tokens.clone();
    assert_no_secrets("the refused token's error", &err, &tokens);
    endpoint.mint(Minting::Storage);

    // No token at all (the endpoint refuses a wrong identity header): one clear line.
    let err = cli_clone_with_envs(&cli, envs("wrong-header")).fails(&["status", "hello-1"]);
    assert!(
        err.contains("no storage token") && err.contains("answered 401"),
        "{err}"
    );
    assert!(endpoint.seen.lock().unwrap().refused >= 1);
    assert_no_secrets("the refused token request's error", &err, &tokens);

    // Without trusting the certificate, nothing is sent in clear or to an unverified server.
    let mut untrusting = envs(IDENTITY_HEADER);
    untrusting.retain(|(k, _)| k != "TASKHUB_STORAGE_CA_CERT");
    let err = cli_clone_with_envs(&cli, untrusting).fails(&["status", "hello-1"]);
    assert!(
        err.contains("certificate") && err.contains("--storage-ca-cert"),
        "{err}"
    );

    // The library: the public constructor, the same endpoint (this is the only test here that
    // sets environment variables, and no child runs while it does).
    std::env::set_var("IDENTITY_ENDPOINT", &endpoint.url);
    std::env::set_var("IDENTITY_HEADER", IDENTITY_HEADER);
    let account = StorageAccount::identity(&IdentityConnection {
        blob_service_uri: Some(blob.clone()),
        queue_service_uri: Some(queue.clone()),
        table_service_uri: Some(table.clone()),
        credential: Some("managedidentity".into()),
        ..Default::default()
    })
    .unwrap();
    let storage = Storage::new(
        account,
        StorageOptions {
            root_certificates: vec![std::fs::read(&cert).unwrap()],
            ..StorageOptions::default()
        },
    )
    .unwrap();
    let hub = taskhub::backend::TaskHub::new(
        storage,
        taskhub::backend::HubNames::new(&cli.hub, 2).unwrap(),
    );
    let client = taskhub::client::Client::new(hub);
    let state = client
        .status("hello-1", false)
        .await
        .unwrap()
        .expect("hello-1 exists");
    assert_eq!(format!("{:?}", state.runtime_status), "Completed");
    // A system-assigned identity this time: no client id sent.
    assert_eq!(endpoint.seen.lock().unwrap().client_ids.last(), Some(&None));

    // Workload identity, in the library: the federated token file is read again for each
    // exchange (the kubelet rotates it), so a rewritten file is what the next exchange sends.
    let token_file = dir.join("federated-token");
    std::fs::write(&token_file, "federated-token-1").unwrap();
    std::env::set_var("AZURE_TENANT_ID", TENANT_ID);
    std::env::set_var("AZURE_FEDERATED_TOKEN_FILE", &token_file);
    let authority = endpoint.url.trim_end_matches("/msi/token").to_string();
    std::env::set_var("AZURE_AUTHORITY_HOST", &authority);
    let account = StorageAccount::parse(&format!(
        "BlobEndpoint={blob};QueueEndpoint={queue};TableEndpoint={table};\
         Credential=workloadidentity;ClientId=workload-app"
    ))
    .unwrap();
    let options = StorageOptions {
        root_certificates: vec![std::fs::read(&cert).unwrap()],
        ..StorageOptions::default()
    };
    let hub = taskhub::backend::TaskHub::new(
        Storage::new(account, options).unwrap(),
        taskhub::backend::HubNames::new(&cli.hub, 2).unwrap(),
    );
    let client = taskhub::client::Client::new(hub);
    assert!(client.status("hello-1", false).await.unwrap().is_some());
    std::fs::write(&token_file, "federated-token-2").unwrap();
    assert!(client.status("hello-1", false).await.unwrap().is_some());
    {
        let seen = endpoint.seen.lock().unwrap();
        assert_eq!(
            seen.assertions.first().map(String::as_str),
            Some("federated-token-1")
        );
        assert_eq!(
            seen.assertions.last().map(String::as_str),
            Some("federated-token-2"),
            "{:?}",
            seen.assertions
        );
        assert_eq!(
            seen.client_ids.last(),
            Some(&Some("workload-app".to_string()))
        );
    }

    drop(worker);
    azurite.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn cli_clone_with_envs(cli: &Cli, envs: Vec<(String, String)>) -> Cli {
    Cli {
        conn: cli.conn.clone(),
        hub: cli.hub.clone(),
        partitions: cli.partitions,
        program: cli.program.clone(),
        envs,
    }
}

/// Bad identity settings fail before anything is sent: one line naming the setting, exit 1.
#[test]
fn bad_identity_settings_are_one_clear_line() {
    for (envs, expected) in [
        (
            vec![
                ("AzureWebJobsStorage__accountName", "acct"),
                ("AzureWebJobsStorage__credential", "magic"),
            ],
            "`AzureWebJobsStorage__credential` names an unknown credential `magic`",
        ),
        (
            vec![("AzureWebJobsStorage__credential", "managedidentity")],
            "`AzureWebJobsStorage__accountName` is missing",
        ),
        (
            vec![("AzureWebJobsStorage__queueServiceUri", "queue.example")],
            "`AzureWebJobsStorage__queueServiceUri` is not a URL",
        ),
        (
            vec![
                ("AzureWebJobsStorage__accountName", "acct"),
                ("AzureWebJobsStorage__clientSecret", "s3cr3t-value"),
            ],
            "`AzureWebJobsStorage__clientSecret` is not a setting taskhub knows",
        ),
    ] {
        let o = taskhub_with_env(&["hub", "info"], &envs);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{err}"
        );
        assert!(!err.contains("s3cr3t-value"), "{err}");
    }
}
