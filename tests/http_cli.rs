//! `taskhub worker --http` and `taskhub serve` as built binaries on the harness Azurite: the
//! seed's curl command (`POST /api/orchestrators/OrchestratorFunc` with `rawDataPath`,
//! `numFiles`, `numRows`) starts the pipeline that the worker runs and its `statusQueryGetUri`
//! reports it Completed with the output; the key is required and never printed; SIGTERM stops
//! the process with exit code 0.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connection_string, free_port, unique_hub_name};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

struct Process {
    child: Child,
}

impl Process {
    async fn spawn(hub: &str, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut c = Command::new(env!("CARGO_BIN_EXE_taskhub"));
        c.args(["--connection", &connection_string().await, "--hub", hub])
            .args(args)
            .env_remove("AzureWebJobsStorage")
            .env_remove("RUST_LOG")
            .env_remove("TASKHUB_HTTP_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        Process {
            child: c.spawn().expect("taskhub runs"),
        }
    }

    /// SIGTERM, then the exit code and everything printed.
    fn stop(mut self) -> (Option<i32>, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "taskhub did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status.code(), out)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends until the server answers (it may still be starting), then returns status and JSON.
async fn send(req: impl Fn() -> reqwest::RequestBuilder) -> (u16, Value) {
    let start = Instant::now();
    loop {
        match req().send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                let json = if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap()
                };
                return (status, json);
            }
            Err(e) if e.is_connect() && start.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("request failed: {e}"),
        }
    }
}

async fn wait_completed(http: &reqwest::Client, url: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = send(|| http.get(url)).await;
        if status == 200 && body["runtimeStatus"] == "Completed" {
            return body;
        }
        assert!(start.elapsed() < WAIT, "not completed: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn worker_with_http_runs_what_the_starter_route_starts() {
    let hub = unique_hub_name("httpcliworker");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let worker = Process::spawn(&hub, &["worker", "--http", &addr], &[]).await;
    let http = reqwest::Client::new();

    let (status, body) = send(|| {
        http.post(format!("http://{addr}/api/orchestrators/HelloCities"))
            .header("content-type", "application/json")
            .body(r#"{"unused": true}"#)
    })
    .await;
    assert_eq!(status, 202, "{body}");
    let url = body["statusQueryGetUri"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!(
        "http://{addr}/runtime/webhooks/durabletask/instances/"
    )));
    let done = wait_completed(&http, &url).await;
    assert_eq!(
        done["output"],
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    // Any name is started (another worker may register it); this one leaves it Pending.
    let (status, body) = send(|| http.post(format!("http://{addr}/api/orchestrators/Nope"))).await;
    assert_eq!(status, 202, "{body}");

    // The seed's curl command: the pipeline, its numbers as strings.
    let (status, body) = send(|| {
        http.post(format!("http://{addr}/api/orchestrators/OrchestratorFunc"))
            .header("content-type", "application/json")
            .body(r#"{"rawDataPath": "raw", "numFiles": "1", "numRows": "5"}"#)
    })
    .await;
    assert_eq!(status, 202, "{body}");
    let url = body["statusQueryGetUri"].as_str().unwrap().to_string();
    let done = wait_completed(&http, &url).await;
    let files = done["output"].as_array().expect("one result per file");
    assert_eq!(files.len(), 1, "{done}");
    let steps = files[0].as_array().expect("four step results");
    assert_eq!(steps.len(), 4, "{done}");
    assert_eq!(
        steps[0]["row_count"], 5,
        "step1 read the 5 raw rows: {done}"
    );
    assert_eq!(
        steps[3]["step4_output_filename"], "step4/final_0.csv",
        "{done}"
    );

    let (code, out) = worker.stop();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("without a key (loopback only)"), "{out}");
}

#[tokio::test]
async fn serve_requires_the_key_from_the_environment_and_never_prints_it() {
    let hub = unique_hub_name("httpcliserve");
    let key = "k3y-from-env";
    let port = free_port();
    // Asked for every interface: with a key it may.
    let listen = format!("0.0.0.0:{port}");
    let serve = Process::spawn(
        &hub,
        &["serve", "--http", &listen],
        &[("TASKHUB_HTTP_KEY", key)],
    )
    .await;
    let worker = Process::spawn(&hub, &["worker"], &[]).await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");

    let (status, _) = send(|| http.post(format!("{base}/api/orchestrators/HelloCities"))).await;
    assert_eq!(status, 401);
    let (status, body) = send(|| {
        http.post(format!("{base}/api/orchestrators/HelloCities/cli-1"))
            .header("x-functions-key", key)
    })
    .await;
    assert_eq!(status, 202, "{body}");
    let url = body["statusQueryGetUri"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("&code={key}")), "{url}");
    let done = wait_completed(&http, &url).await;
    assert_eq!(done["instanceId"], "cli-1");

    let (code, out) = serve.stop();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("requests need the key"), "{out}");
    assert!(!out.contains(key), "the key was printed: {out}");
    let (code, out) = worker.stop();
    assert_eq!(code, Some(0), "{out}");
}
