//! A real headless Chromium for the dashboard tests: Debian's `chromium` driven through its
//! `chromedriver` (both from `apt-get install chromium chromium-driver`, which `.ci/run` does
//! when they are missing) with the fantoccini WebDriver client. No browser is a failure that says
//! how to install one, never a skipped test. `TASKHUB_CHROMIUM` and `TASKHUB_CHROMEDRIVER` name
//! other binaries.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::free_port;

/// The flags Chromium needs on this closed network (without the background-networking ones it
/// hangs trying to reach its services) and in a container (no sandbox, no GPU).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
];

/// How long a page may take to show what a test waits for (wide: a loaded 2-core machine).
pub const PAGE_WAIT: Duration = Duration::from_secs(60);

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session with a fresh profile.
    /// Panics, saying what to install, when either binary is missing.
    pub async fn start() -> Browser {
        let chromium = find("TASKHUB_CHROMIUM", &["chromium", "chromium-browser"]).unwrap_or_else(|| {
            panic!("no Chromium found: the dashboard tests need a real browser; install Debian's packages with `apt-get update && apt-get install -y chromium chromium-driver` (.ci/run does when they are missing), or set TASKHUB_CHROMIUM")
        });
        let chromedriver = find("TASKHUB_CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| {
            panic!("no chromedriver found: install Debian's `chromium-driver` (`apt-get install -y chromium-driver`; .ci/run does when it is missing), or set TASKHUB_CHROMEDRIVER")
        });
        let port = free_port();
        // Its own process group, which Chromium joins: a test that panics ends them all.
        let driver = Command::new(&chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", chromedriver.display()));
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chromium-profile-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        // chromedriver needs a moment to listen; the session a few more to start Chromium.
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if start.elapsed() < Duration::from_secs(60) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session through {}: {e}", chromedriver.display()),
            }
        };
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Waits until `css` matches an element.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Runs `script` (a function body returning a value) in the page until it returns
    /// something other than `null` / `false`; returns that.
    pub async fn wait_js(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or_else(|e| panic!("{what}: script failed: {e}"));
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            assert!(
                start.elapsed() < PAGE_WAIT,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The text of the first element matching `css`, once it holds `wanted`.
    pub async fn wait_text(&self, css: &str, wanted: &str) -> String {
        let start = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            assert!(
                start.elapsed() < PAGE_WAIT,
                "{css} never showed {wanted:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Accepts the confirm() dialog an action opens.
    pub async fn accept_dialog(&self) {
        let start = Instant::now();
        while let Err(e) = self.client.accept_alert().await {
            assert!(start.elapsed() < PAGE_WAIT, "no dialog to accept: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG screenshot of the page.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Ends the session (closing Chromium), then chromedriver (on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: signals the process group this harness created for chromedriver (its pid),
        // which holds chromedriver and the Chromium it started, and nothing else.
        unsafe { libc::kill(-(self.driver.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
