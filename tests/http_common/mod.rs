//! A hub with a worker and the HTTP API in front of it, and a small HTTP client for the tests of
//! `tests/http_*.rs`.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use serde_json::Value;
use taskhub::client::Client;
use taskhub::core::{Failure, OrchestrationContext, Registry};
use taskhub::http::{HttpOptions, HttpServer};
use taskhub::samples::SamplesConfig;
use tokio_util::sync::CancellationToken;

use crate::common::hub::TestHub;
use crate::common::{test_storage, unique_name, wait_until};

pub const WAIT: Duration = Duration::from_secs(60);
pub const WEBHOOK: &str = "/runtime/webhooks/durabletask";

/// The samples (hello, hello with the `session_handler` entity, the pipeline on `config`'s
/// storage, …) and a few test orchestrations:
/// `Echo` returns its input; `WaitForGo` sets a custom status and waits for the `Go` event,
/// returning `{"input", "event"}`; `Fails` fails with `Broken: it broke`; `Typed` reads its
/// input as `{"a": int}` and the `Go` event as `{"ok": bool}` and returns `{"a", "ok"}`;
/// pipelines whose id starts with `flaky` fail in step2 of `1.csv` (`common::flaky`);
/// `Tree` starts two `WaitForGo` sub-orchestrations, `{id}-a` and `{id}-b`, and returns theirs.
pub fn registry(config: &SamplesConfig) -> Registry {
    #[derive(serde::Deserialize)]
    struct TypedInput {
        a: i64,
    }
    #[derive(serde::Deserialize)]
    struct Go {
        ok: bool,
    }
    let mut r = taskhub::samples::registry(config);
    crate::common::flaky::make_step2_flaky(&mut r, config);
    r.add_orchestrator("Typed", |ctx: OrchestrationContext| async move {
        let input: TypedInput = ctx.input()?;
        let go: Go = ctx.wait_for_external_event("Go").await?;
        Ok::<_, Failure>(serde_json::json!({"a": input.a, "ok": go.ok}))
    });
    r.add_orchestrator("Echo", |ctx: OrchestrationContext| async move {
        let input: Value = ctx.input()?;
        Ok::<_, Failure>(input)
    });
    r.add_orchestrator("WaitForGo", |ctx: OrchestrationContext| async move {
        let input: Value = ctx.input()?;
        ctx.set_custom_status(&serde_json::json!({"waiting": "Go"}));
        let event: Value = ctx.wait_for_external_event("Go").await?;
        Ok::<_, Failure>(serde_json::json!({"input": input, "event": event}))
    });
    r.add_orchestrator("Tree", |ctx: OrchestrationContext| async move {
        let id = ctx.instance_id().to_string();
        let children = ["a", "b"].map(|c| {
            ctx.call_sub_orchestrator_with_id::<Value>("WaitForGo", &format!("{id}-{c}"), c)
        });
        let mut out = Vec::new();
        for r in ctx.all_of(children).await {
            out.push(r?);
        }
        Ok::<_, Failure>(out)
    });
    r.add_orchestrator("Fails", |_ctx: OrchestrationContext| async move {
        Err::<(), _>(Failure::new("Broken", "it broke"))
    });
    r
}

/// A hub, its worker and an HTTP server on a free loopback port.
pub struct TestServer {
    pub hub: TestHub,
    /// A client that knows the registry (as the server's does).
    pub client: Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
}

impl TestServer {
    pub async fn start(prefix: &str) -> TestServer {
        Self::start_with(prefix, HttpOptions::default()).await
    }

    pub async fn start_with(prefix: &str, options: HttpOptions) -> TestServer {
        // The data-handling samples get a container of their own on the harness Azurite.
        let mut config = SamplesConfig::new(test_storage().await);
        config.data_container = unique_name("data");
        let hub = TestHub::start(prefix, registry(&config)).await;
        let client = Client::new(hub.hub.clone());
        let stop = CancellationToken::new();
        let base = serve(&client, options, &stop).await;
        TestServer {
            hub,
            client,
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            stop,
        }
    }

    /// Another HTTP server on the same hub (stopped with this one); returns its base URL.
    pub async fn serve_another(&self, options: HttpOptions) -> String {
        serve(&self.client, options, &self.stop).await
    }

    /// `base + path` (path starting with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `base + webhook path + rest` (rest starting with `/`).
    pub fn api(&self, rest: &str) -> String {
        format!("{}{WEBHOOK}{rest}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        Reply::of(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.send(self.http.get(url)).await
    }

    pub async fn delete(&self, url: &str) -> Reply {
        self.send(self.http.delete(url)).await
    }

    /// POST with no body.
    pub async fn post(&self, url: &str) -> Reply {
        self.send(self.http.post(url)).await
    }

    /// POST with a JSON body (`application/json`).
    pub async fn post_json(&self, url: &str, body: &str) -> Reply {
        self.send(
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// Polls the instance's status URL until its `runtimeStatus` is `status`.
    pub async fn wait_status(&self, id: &str, status: &str) -> Reply {
        let url = self.api(&format!("/instances/{id}"));
        wait_until(&format!("{id} is {status}"), WAIT, || async {
            let r = self.get(&url).await;
            (r.json["runtimeStatus"] == status).then_some(r)
        })
        .await
    }
}

/// Starts an HTTP server for `client` on a free loopback port; returns `http://127.0.0.1:PORT`.
async fn serve(client: &Client, mut options: HttpOptions, stop: &CancellationToken) -> String {
    options.listen = "127.0.0.1:0".parse().unwrap();
    let server = HttpServer::bind(client.clone(), options)
        .await
        .expect("HTTP server binds");
    let base = format!("http://{}", server.local_addr());
    let token = stop.clone();
    tokio::spawn(async move { server.run(token).await.expect("HTTP server runs") });
    base
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A response read whole: status, headers, body, and the body as JSON (`Null` when empty). Panics
/// when a non-empty body is not JSON: every body the API sends must be empty or JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn of(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body read");
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"))
        };
        if !text.trim().is_empty() {
            let ct = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                ct.starts_with("application/json"),
                "status {status}: JSON body with content type {ct:?}"
            );
        }
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an empty body.
    #[track_caller]
    pub fn expect_empty(&self, status: u16) -> &Self {
        self.expect(status);
        assert!(self.text.is_empty(), "expected no body, got {}", self.text);
        self
    }
}

/// Polls `url` until `done` holds for the reply.
pub async fn wait_until_reply(s: &TestServer, url: &str, done: impl Fn(&Reply) -> bool) -> Reply {
    wait_until(&format!("GET {url} answers as expected"), WAIT, || async {
        let r = s.get(url).await;
        done(&r).then_some(r)
    })
    .await
}

/// Polls `url` until its `runtimeStatus` is `status`.
pub async fn wait_until_status(s: &TestServer, url: &str, status: &str) -> Reply {
    wait_until_reply(s, url, |r| r.json["runtimeStatus"] == status).await
}

/// Polls `url` until `done` holds for its JSON body; returns the body.
pub async fn wait_until_json(s: &TestServer, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_until_reply(s, url, |r| matches!(r.status, 200 | 202) && done(&r.json))
        .await
        .json
}

/// Percent-encodes a path segment as the server does in the URLs it hands out.
pub fn encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SET).to_string()
}

/// Sends raw bytes over a new connection and returns the status and the body (for requests
/// reqwest will not make: chunked bodies, no Host header).
pub async fn raw(base: &str, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
