//! The built `taskhub` binary driven as a user would: one-shot commands, and `taskhub worker`
//! processes whose log is captured.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{connection_string, unique_hub_name};

/// Runs `taskhub args…` with exactly the given settings in its environment: the ambient
/// connection string, log filter and sample settings are removed first.
pub fn taskhub_with_env(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskhub"));
    cmd.args(args).env_remove("RUST_LOG");
    without_ambient_connection(&mut cmd);
    for name in taskhub::samples::SETTING_NAMES {
        cmd.env_remove(name);
    }
    cmd.envs(envs.iter().copied());
    cmd.output().expect("taskhub runs")
}

/// Removes the ambient `AzureWebJobsStorage` and its identity-based `AzureWebJobsStorage__…`
/// settings from `cmd`'s environment.
fn without_ambient_connection(cmd: &mut Command) {
    cmd.env_remove("AzureWebJobsStorage");
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.to_ascii_lowercase().starts_with("azurewebjobsstorage__"))
        {
            cmd.env_remove(name);
        }
    }
}

/// A command's result: exit code, stdout, stderr.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `taskhub --connection <harness> --hub <hub> [--partitions N] …`.
pub struct Cli {
    pub conn: String,
    pub hub: String,
    pub partitions: Option<u32>,
    /// The program: the stock `taskhub`, or a binary of one's own (`with_program`).
    pub program: PathBuf,
    /// Extra environment for every command and worker.
    pub envs: Vec<(String, String)>,
}

impl Cli {
    /// A CLI on a new, unique hub name (nothing created yet).
    pub async fn new(prefix: &str) -> Cli {
        Cli {
            conn: connection_string().await,
            hub: unique_hub_name(prefix),
            partitions: None,
            program: PathBuf::from(env!("CARGO_BIN_EXE_taskhub")),
            envs: Vec::new(),
        }
    }

    /// A CLI on an existing hub.
    pub async fn for_hub(hub: &taskhub::backend::TaskHub) -> Cli {
        Cli {
            conn: connection_string().await,
            hub: hub.names().hub().to_string(),
            partitions: Some(hub.names().partition_count()),
            program: PathBuf::from(env!("CARGO_BIN_EXE_taskhub")),
            envs: Vec::new(),
        }
    }

    /// The same hub through another program (a binary built on `taskhub::cli::run`) with
    /// extra environment.
    pub fn with_program(&self, program: PathBuf, envs: &[(&str, &str)]) -> Cli {
        Cli {
            conn: self.conn.clone(),
            hub: self.hub.clone(),
            partitions: self.partitions,
            program,
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(["--connection", &self.conn, "--hub", &self.hub]);
        if let Some(p) = self.partitions {
            c.args(["--partitions", &p.to_string()]);
        }
        without_ambient_connection(&mut c);
        c.args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let o = self.command(args).output().expect("taskhub runs");
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.code,
            Some(0),
            "taskhub {args:?} failed:\n{}{}",
            o.stdout,
            o.stderr
        );
        o.stdout
    }

    /// Runs a command that must fail with one `error: …` line and exit 1; returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.code,
            Some(1),
            "taskhub {args:?} should fail:\n{}{}",
            o.stdout,
            o.stderr
        );
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("error: "), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
        o.stderr
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Instance ids `list --json` returns for these extra arguments (one page of up to 1000).
    pub fn list_ids(&self, extra: &[&str]) -> Vec<String> {
        let v = self.json(&[&["list", "--json", "--top", "1000"], extra].concat());
        v["instances"]
            .as_array()
            .expect("instances array")
            .iter()
            .map(|i| i["instance_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Polls `status --json` until `done` holds for it; returns that JSON.
    pub fn status_until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let v = self.json(&["status", id, "--json"]);
            if done(&v) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{id}: timed out waiting until {what}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn status_becomes(&self, id: &str, status: &str) -> Value {
        self.status_until(id, status, |v| v["runtime_status"] == status)
    }

    /// Starts `taskhub worker` with quick polling and a short lease plus `extra` arguments (which
    /// may override them); does not wait for anything. Its log filter: `RUST_LOG` in `envs`, else
    /// `TASKHUB_TEST_WORKER_LOG`, else `taskhub=info`.
    pub fn spawn_worker(&self, extra: &[&str]) -> WorkerProcess {
        let mut args = vec!["worker", "--max-poll-interval-ms", "100"];
        if !extra.contains(&"--lease-seconds") {
            args.extend(["--lease-seconds", "6"]);
        }
        if !extra.contains(&"--shutdown-grace-seconds") {
            args.extend(["--shutdown-grace-seconds", "5"]);
        }
        args.extend(extra);
        let mut command = self.command(&args);
        // A `RUST_LOG` in the Cli's own environment wins.
        if !self.envs.iter().any(|(k, _)| k == "RUST_LOG") {
            command.env(
                "RUST_LOG",
                std::env::var("TASKHUB_TEST_WORKER_LOG").unwrap_or_else(|_| "taskhub=info".into()),
            );
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskhub worker starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        WorkerProcess { child, log }
    }

    /// Starts `taskhub worker` and waits until it owns all `partitions` partitions.
    pub fn worker(&self, partitions: usize) -> WorkerProcess {
        let w = self.spawn_worker(&[]);
        w.wait_for_log("all partitions acquired", |log| {
            log.matches("partition acquired").count() >= partitions
        });
        w
    }
}

/// A `taskhub worker` child process; killed (SIGKILL) when dropped.
pub struct WorkerProcess {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl WorkerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn wait_for_log(&self, what: &str, done: impl Fn(&str) -> bool) {
        let start = Instant::now();
        while !done(&self.log()) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "worker: timed out waiting until {what}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`libc::SIGTERM`, `SIGINT`, `SIGKILL`).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: sending a signal to our own child process.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(r, 0, "kill failed");
    }

    /// Waits up to `within` for it to exit; returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends `signal`; returns how it exited, how long that took, and its log.
    pub fn stop(mut self, signal: libc::c_int) -> (ExitStatus, Duration, String) {
        let start = Instant::now();
        self.signal(signal);
        match self.wait_exit(Duration::from_secs(30)) {
            Some(status) => (status, start.elapsed(), self.log()),
            None => panic!(
                "worker did not stop within 30 s of signal {signal}; its log:\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Keep the log of a failed test for reading afterwards.
            let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("worker-{}.log", self.child.id()));
            if std::fs::write(&path, self.log()).is_ok() {
                eprintln!("worker log kept in {}", path.display());
            }
        }
    }
}
