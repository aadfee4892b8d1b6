//! The local Azurite storage emulator: installing it from the project's own `azurite/` directory
//! and running it as a child process, for the CLI (development default) and for the tests.
//!
//! Owns [`ensure_installed`], [`Azurite`], [`AzuriteOptions`] and [`dev_ports_in_use`]. Azurite runs
//! under `azurite/launch.js` in a process group of its own, so stopping it signals exactly the
//! launcher and Azurite and nothing else. With `watch_parent` the launcher also stops Azurite when
//! this process dies without running destructors (a killed CLI, a finished test binary whose
//! statics are never dropped).
//!
//! Knows nothing about storage clients beyond the connection string it hands out.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Azurite dev ports: blob, queue, table.
pub const DEV_PORTS: (u16, u16, u16) = (10000, 10001, 10002);

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const STDERR_TAIL_LINES: usize = 20;
const NODE_HINT: &str = "install Node.js 20 or newer (with npm), e.g. from https://nodejs.org or your package manager (apt-get install nodejs npm)";

/// Why Azurite could not be installed or started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A program Azurite needs (`node` or `npm`) is not on `PATH`.
    #[error("`{0}` was not found on PATH; Azurite needs it: {NODE_HINT}")]
    ToolMissing(&'static str),
    /// Node.js is older than version 20.
    #[error("Node.js {found} is too old for Azurite; {NODE_HINT}")]
    NodeTooOld {
        /// The version `node --version` printed.
        found: String,
    },
    /// `npm ci` failed.
    #[error("`npm ci` in {dir} failed ({status}); see npm's output above")]
    InstallFailed {
        /// The Azurite directory it ran in.
        dir: PathBuf,
        /// Its exit status.
        status: String,
    },
    /// `npm ci` did not finish in time.
    #[error("`npm ci` in {dir} did not finish within {secs} s")]
    InstallTimedOut {
        /// The Azurite directory it ran in.
        dir: PathBuf,
        /// The time allowed, in seconds (600).
        secs: u64,
    },
    /// The Azurite directory (given) has no `package.json`.
    #[error("the Azurite directory {0} has no package.json (set TASKHUB_AZURITE_DIR to the project's azurite/ directory)")]
    NoPackage(PathBuf),
    /// An I/O failure while installing or starting Azurite.
    #[error("could not {what}: {source}")]
    Io {
        /// What could not be done, e.g. "run `npm ci`".
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Azurite process ended before it answered.
    #[error("Azurite exited during startup ({status}){}", tail_suffix(stderr_tail))]
    ExitedEarly {
        /// Its exit status.
        status: String,
        /// The last lines (up to 20) it wrote to stderr.
        stderr_tail: String,
    },
    /// Azurite did not answer on all three ports in time.
    #[error("Azurite did not answer on ports {blob}, {queue}, {table} within {secs} s")]
    NotReady {
        /// The blob port.
        blob: u16,
        /// The queue port.
        queue: u16,
        /// The table port.
        table: u16,
        /// The time allowed, in seconds (30).
        secs: u64,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {}", tail.lines().last().unwrap_or_default().trim())
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// The `azurite/` directory: `$TASKHUB_AZURITE_DIR`, else the one in this crate's source tree.
pub fn azurite_dir() -> PathBuf {
    match std::env::var_os("TASKHUB_AZURITE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/azurite")),
    }
}

fn is_installed(dir: &Path) -> bool {
    // npm writes node_modules/.package-lock.json last; with it, the tree is complete.
    dir.join("node_modules/azurite/dist/src/azurite.js")
        .is_file()
        && dir.join("node_modules/.package-lock.json").is_file()
}

/// Makes sure Azurite's npm packages are installed, running `npm ci` in the Azurite directory if
/// `node_modules` is missing (one line of ours, and npm's errors, on stderr). Safe to call from several processes
/// at once: a lock file serialises the install. Blocking; returns the directory.
pub fn ensure_installed() -> Result<PathBuf, Error> {
    let dir = azurite_dir();
    if is_installed(&dir) {
        return Ok(dir);
    }
    if !dir.join("package.json").is_file() {
        return Err(Error::NoPackage(dir));
    }
    check_node()?;
    let lock_path = dir.join(".install.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(format!("open {}", lock_path.display())))?;
    let _guard =
        FileLock::acquire(&lock).map_err(io_err(format!("lock {}", lock_path.display())))?;
    if is_installed(&dir) {
        return Ok(dir); // another process installed it while we waited
    }
    // Straight to fd 2 (not eprintln!, which the test harness captures): whoever waits for the
    // first test or command should see why it takes half a minute.
    let _ = writeln!(
        std::io::stderr(),
        "taskhub: installing Azurite with `npm ci` in {} (once; about 30 s)",
        dir.display()
    );
    // Only npm's errors: its summary, notices, funding and update messages are not the user's
    // business on a first run.
    let mut child = Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--loglevel=error",
        ])
        .env("NPM_CONFIG_UPDATE_NOTIFIER", "false")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(io_err("run `npm ci`"))?;
    let status =
        wait_with_deadline(&mut child, INSTALL_TIMEOUT).map_err(io_err("wait for `npm ci`"))?;
    match status {
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(Error::InstallTimedOut {
                dir,
                secs: INSTALL_TIMEOUT.as_secs(),
            })
        }
        Some(s) if s.success() && is_installed(&dir) => Ok(dir),
        Some(s) => Err(Error::InstallFailed {
            dir,
            status: s.to_string(),
        }),
    }
}

fn check_node() -> Result<(), Error> {
    let out = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|_| Error::ToolMissing("node"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Err(Error::NodeTooOld {
            found: if version.is_empty() {
                "(unknown version)".into()
            } else {
                version
            },
        });
    }
    Command::new("npm")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|_| Error::ToolMissing("npm"))?;
    Ok(())
}

/// An exclusive `flock` on a file, released on drop (and by the kernel if we die).
struct FileLock<'a>(&'a std::fs::File);

impl<'a> FileLock<'a> {
    /// On Unix an `flock`; elsewhere no lock (two first installs at once may then race).
    fn acquire(file: &'a std::fs::File) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a file descriptor we own for the lifetime of the guard.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: as above.
            unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

/// How to stop a process.
#[derive(Clone, Copy)]
enum Signal {
    /// Ask it to stop (SIGTERM).
    Terminate,
    /// Stop it at once (SIGKILL).
    Kill,
}

/// Sends `signal` to the process `pid` (`group`: to its whole process group). Unix only; the
/// caller falls back to killing its child handle elsewhere.
#[cfg(unix)]
fn send(pid: u32, signal: Signal, group: bool) {
    let Ok(id) = i32::try_from(pid) else { return };
    let sig = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: signals a process (group) we created ourselves; no memory involved. ESRCH when it
    // is already gone is fine.
    unsafe { libc::kill(if group { -id } else { id }, sig) };
}

#[cfg(not(unix))]
fn send(_pid: u32, _signal: Signal, _group: bool) {}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where Azurite keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzuriteData {
    /// Nothing on disk; everything is lost when it stops.
    InMemory,
    /// Persist in this directory (created if missing).
    Dir(PathBuf),
}

/// How to run Azurite.
#[derive(Debug, Clone)]
pub struct AzuriteOptions {
    /// (blob, queue, table) ports; `None` picks free ports.
    pub ports: Option<(u16, u16, u16)>,
    /// Where Azurite keeps its data (default: in memory).
    pub data: AzuriteData,
    /// Stop Azurite when this process is gone, even if it dies without cleaning up.
    pub watch_parent: bool,
    /// Serve HTTPS with this certificate (and accept bearer tokens); `None` for plain HTTP.
    pub tls: Option<AzuriteTls>,
}

/// HTTPS for Azurite: a PEM certificate and key (e.g. self-signed for 127.0.0.1), optionally
/// with Azurite's basic OAuth check, so identity-based connections can be tried locally: it
/// takes a bearer token whose `aud` is storage's, whose `iss` is an Entra ID issuer and whose
/// `nbf`/`exp` hold now, without checking its signature.
#[derive(Debug, Clone)]
pub struct AzuriteTls {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// Also accept bearer tokens (`--oauth basic`).
    pub oauth: bool,
}

impl Default for AzuriteOptions {
    /// Free ports, in memory, watching this process.
    fn default() -> Self {
        AzuriteOptions {
            ports: None,
            data: AzuriteData::InMemory,
            watch_parent: true,
            tls: None,
        }
    }
}

/// A running Azurite that this process started. Dropping it stops it (unless [`Azurite::detach`]ed).
#[derive(Debug)]
pub struct Azurite {
    child: Option<Child>,
    pid: u32,
    ports: (u16, u16, u16),
    tls: bool,
}

impl Azurite {
    /// Installs Azurite if needed, starts it and waits until all three ports answer HTTP.
    pub async fn start(options: AzuriteOptions) -> Result<Azurite, Error> {
        let dir = tokio::task::spawn_blocking(ensure_installed)
            .await
            .map_err(|e| Error::Io {
                what: "install Azurite".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
        // Free ports can be taken between our probe and Azurite's bind: try a few times.
        let attempts = if options.ports.is_none() { 3 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let ports = match options.ports {
                Some(p) => p,
                None => free_ports().map_err(io_err("find free ports"))?,
            };
            match Self::start_on(&dir, ports, &options).await {
                Ok(a) => return Ok(a),
                Err(e @ Error::ExitedEarly { .. }) if options.ports.is_none() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::NotReady {
            blob: 0,
            queue: 0,
            table: 0,
            secs: 0,
        }))
    }

    async fn start_on(
        dir: &Path,
        ports: (u16, u16, u16),
        options: &AzuriteOptions,
    ) -> Result<Azurite, Error> {
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("launch.js"))
            .args(["--blob-port", &ports.0.to_string()])
            .args(["--queue-port", &ports.1.to_string()])
            .args(["--table-port", &ports.2.to_string()]);
        match &options.data {
            AzuriteData::InMemory => {
                cmd.arg("--in-memory");
            }
            AzuriteData::Dir(d) => {
                std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
                cmd.arg("--location").arg(d);
            }
        }
        if options.watch_parent {
            cmd.args(["--parent-pid", &std::process::id().to_string()]);
        }
        if let Some(tls) = &options.tls {
            cmd.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
            if tls.oauth {
                cmd.args(["--oauth", "basic"]);
            }
        }
        let tls = options.tls.is_some();
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Own process group: Ctrl-C in a terminal does not reach it directly, and stopping it
            // can signal the launcher and Azurite together.
            cmd.process_group(0);
        }
        let mut child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::ToolMissing("node"),
                _ => Error::Io {
                    what: "start Azurite".into(),
                    source: e,
                },
            })?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            spawn_stderr_reader(stderr, tail.clone());
        }
        let pid = child.id();
        let mut az = Azurite {
            child: Some(child),
            pid,
            ports,
            tls,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = az.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    az.child = None;
                    // Give the reader a moment to collect the last lines.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let stderr_tail = tail
                        .lock()
                        .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                        .unwrap_or_default();
                    return Err(Error::ExitedEarly {
                        status: status.to_string(),
                        stderr_tail,
                    });
                }
            }
            // Over TLS a plain-HTTP probe gets no answer: a port that accepts is Azurite
            // listening (it binds once the service is up).
            let ready = tokio::task::spawn_blocking(move || {
                [ports.0, ports.1, ports.2].iter().all(|p| {
                    if tls {
                        accepts(*p)
                    } else {
                        answers_http(*p)
                    }
                })
            })
            .await
            .unwrap_or(false);
            if ready {
                tracing::debug!(pid, ?ports, "Azurite is ready");
                return Ok(az);
            }
            if Instant::now() >= deadline {
                az.kill_group();
                return Err(Error::NotReady {
                    blob: ports.0,
                    queue: ports.1,
                    table: ports.2,
                    secs: READY_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The explicit connection string for this instance (127.0.0.1, the well-known dev account;
    /// https endpoints when it serves TLS).
    pub fn connection_string(&self) -> String {
        let s = crate::storage::StorageAccount::emulator_connection_string(
            self.ports.0,
            self.ports.1,
            self.ports.2,
        );
        if self.tls {
            s.replace("=http", "=https")
        } else {
            s
        }
    }

    /// `https://127.0.0.1:{port}/devstoreaccount1` for (blob, queue, table), when it serves TLS.
    pub fn https_endpoints(&self) -> Option<[String; 3]> {
        let ep = |port: u16| {
            format!(
                "https://127.0.0.1:{port}/{}",
                crate::storage::DEV_ACCOUNT_NAME
            )
        };
        self.tls
            .then(|| [ep(self.ports.0), ep(self.ports.1), ep(self.ports.2)])
    }

    /// (blob, queue, table) ports.
    pub fn ports(&self) -> (u16, u16, u16) {
        self.ports
    }

    /// The launcher's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Waits until Azurite exits on its own (for the foreground `taskhub azurite` command).
    pub async fn wait(&mut self) -> Option<ExitStatus> {
        loop {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(None)) => tokio::time::sleep(Duration::from_millis(200)).await,
                Some(Ok(Some(s))) => {
                    self.child = None;
                    return Some(s);
                }
                _ => return None,
            }
        }
    }

    /// Stops Azurite gracefully (SIGTERM, up to 5 s), then forcibly.
    pub async fn stop(mut self) {
        let child = self.child.take();
        let pid = self.pid;
        if child.is_some() {
            let _ = tokio::task::spawn_blocking(move || stop_child(pid, child)).await;
        }
    }

    /// Kills Azurite and its launcher with SIGKILL, as a crash would: nothing is saved, so its
    /// disk store forgets what it had not written out yet (for the chaos benchmarks).
    pub async fn kill(mut self) {
        let _ = tokio::task::spawn_blocking(move || self.kill_group()).await;
    }

    /// Leaves Azurite running after this handle is dropped (`--keep-azurite`). Only meaningful
    /// when it was started without `watch_parent`.
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }

    /// SIGKILLs the launcher's process group (Azurite with it).
    fn kill_group(&mut self) {
        send(self.pid, Signal::Kill, true);
        if let Some(mut c) = self.child.take() {
            if !cfg!(unix) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

fn stop_child(pid: u32, child: Option<Child>) {
    let Some(mut child) = child else { return };
    // SIGTERM to the launcher only: it forwards exactly one SIGTERM to Azurite, which handles
    // only the first (a second one would kill it before it saves its data).
    send(pid, Signal::Terminate, false);
    if !cfg!(unix)
        || !matches!(
            wait_with_deadline(&mut child, Duration::from_secs(5)),
            Ok(Some(_))
        )
    {
        send(pid, Signal::Kill, true);
        if !cfg!(unix) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
    // The launcher exits after Azurite; make sure no straggler of the group survives.
    send(pid, Signal::Kill, true);
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let child = self.child.take();
        stop_child(self.pid, child);
    }
}

fn spawn_stderr_reader(stderr: impl Read + Send + 'static, tail: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tracing::debug!(target: "taskhub::azurite", "azurite: {line}");
            if let Ok(mut t) = tail.lock() {
                if t.len() == STDERR_TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    });
}

/// Three distinct free TCP ports on 127.0.0.1.
fn free_ports() -> std::io::Result<(u16, u16, u16)> {
    let l1 = TcpListener::bind("127.0.0.1:0")?;
    let l2 = TcpListener::bind("127.0.0.1:0")?;
    let l3 = TcpListener::bind("127.0.0.1:0")?;
    Ok((
        l1.local_addr()?.port(),
        l2.local_addr()?.port(),
        l3.local_addr()?.port(),
    ))
}

/// Whether an HTTP server answers on 127.0.0.1:`port` (any status will do).
pub fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    let _ = s.set_write_timeout(Some(Duration::from_millis(300)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/"
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// Which of the dev ports 10000–10002 accept connections on 127.0.0.1.
pub fn dev_ports_in_use() -> Vec<u16> {
    [DEV_PORTS.0, DEV_PORTS.1, DEV_PORTS.2]
        .into_iter()
        .filter(|p| accepts(*p))
        .collect()
}
