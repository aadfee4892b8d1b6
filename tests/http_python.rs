//! The real Python client, `azure-functions-durable` (pinned in `tests/python/requirements.txt`),
//! against the HTTP API: a venv made from PyPI under `target/tmp/` (kept between runs, remade
//! when the requirements change) runs `tests/python/durable_client_check.py` against an
//! in-process server and worker on the harness Azurite.
//!
//! Needs `python3` (or `TASKHUB_PYTHON`) with the venv module, and PyPI the first time. Without
//! them the test fails and says why; it never passes silently.

mod common;
mod http_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use http_common::TestServer;
use taskhub::http::HttpOptions;

const REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/requirements.txt");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/durable_client_check.py"
);
const KEY: &str = "py-test-key";
/// How long the script may take (it finishes in seconds; this is for a hung server).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

fn venv_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-durable-venv")
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Runs a setup command; panics with its output and `hint` when it fails.
async fn run(what: &str, cmd: &mut tokio::process::Command, hint: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: could not run it ({e}). {hint}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}). {hint}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The venv's python, made (or remade) when the requirements changed since the last run.
async fn python_with_client() -> PathBuf {
    let requirements = std::fs::read_to_string(REQUIREMENTS).expect("requirements file");
    let venv = venv_dir();
    let marker = venv.join(".taskhub-requirements");
    let python = venv_python(&venv);
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(&requirements) {
        return python;
    }
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(&venv);
    let base = std::env::var("TASKHUB_PYTHON").unwrap_or_else(|_| "python3".into());
    let hint = "The Python-client test needs Python 3.8+ with the venv module (set TASKHUB_PYTHON \
                to use another interpreter) and access to PyPI the first time";
    run(
        &format!("creating a venv with `{base} -m venv {}`", venv.display()),
        tokio::process::Command::new(&base)
            .arg("-m")
            .arg("venv")
            .arg(&venv),
        hint,
    )
    .await;
    run(
        &format!("installing {REQUIREMENTS} into the venv with pip"),
        tokio::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(REQUIREMENTS),
        hint,
    )
    .await;
    std::fs::write(&marker, &requirements).expect("venv marker written");
    eprintln!(
        "python client test: venv made in {:.1} s at {}",
        started.elapsed().as_secs_f64(),
        venv.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_durable_client_works_against_the_http_api() {
    let python = python_with_client().await;
    let s = TestServer::start("httppython").await;
    let keyed = s
        .serve_another(HttpOptions {
            key: Some(KEY.into()),
            ..HttpOptions::default()
        })
        .await;
    let hub = s.hub.hub.names().hub().as_str().to_string();

    let started = Instant::now();
    let mut child = tokio::process::Command::new(&python)
        .arg(SCRIPT)
        .args([&s.base, &hub, &keyed, KEY])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the venv's python runs");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read_all = |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s).await;
        s
    };
    let out = tokio::spawn(read_all(Box::new(stdout)));
    let err = tokio::spawn(read_all(Box::new(stderr)));
    let status = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await {
        Ok(s) => s.expect("script ran"),
        Err(_) => {
            let _ = child.kill().await;
            panic!("the Python client script did not finish in {SCRIPT_TIMEOUT:?}");
        }
    };
    let (out, err) = (out.await.unwrap(), err.await.unwrap());
    eprintln!(
        "python client test: script ran in {:.1} s\n{out}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success() && out.contains("all checks passed"),
        "the Python client script failed ({status})\n--- stdout\n{out}\n--- stderr\n{err}"
    );
}
