//! Shared test harness: one private Azurite per test binary (in memory, free ports, started
//! lazily on first use and stopped by its launcher when the test binary exits), a fresh storage
//! client per test, unique hub names so tests run in parallel, and polling with a deadline
//! instead of sleeps.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod browser;
pub mod cli;
pub mod flaky;
pub mod hub;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use taskhub::azurite::{Azurite, AzuriteData, AzuriteOptions};
use taskhub::storage::{Storage, StorageAccount, StorageOptions};
use tokio::sync::OnceCell;

static AZURITE: OnceCell<Azurite> = OnceCell::const_new();

/// The test binary's Azurite, started on first use.
pub async fn azurite() -> &'static Azurite {
    AZURITE
        .get_or_init(|| async {
            let options = AzuriteOptions {
                ports: None,
                data: AzuriteData::InMemory,
                watch_parent: true,
                tls: None,
            };
            match Azurite::start(options).await {
                Ok(a) => a,
                Err(e) => panic!("test harness could not start Azurite: {e}"),
            }
        })
        .await
}

/// The connection string of the test binary's Azurite.
pub async fn connection_string() -> String {
    azurite().await.connection_string()
}

/// Which storage a test runs on (see [`on_both_stores`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Azurite,
    Memory,
}

tokio::task_local! {
    /// Set by [`on_both_stores`]: the store [`test_storage`] hands out in this test.
    pub static STORE: Store;
}

/// A new storage client on the test binary's Azurite (or, inside a test that
/// [`on_both_stores`] runs on the in-memory store, on that store). Each test gets its own: a
/// pooled HTTP client must not outlive the tokio runtime of the test that created it.
pub async fn test_storage() -> Storage {
    if STORE.try_with(|s| *s) == Ok(Store::Memory) {
        return memory_storage();
    }
    let account = StorageAccount::parse(&connection_string().await)
        .expect("harness connection string parses");
    Storage::new(account, StorageOptions::default()).expect("storage client builds")
}

/// A client of the test binary's in-memory storage account (system clock, no latency, the
/// service's page sizes).
pub fn memory_storage() -> Storage {
    use taskhub::storage::memory::{MemoryOptions, MemoryStorage};
    static MEMORY: std::sync::OnceLock<std::sync::Arc<MemoryStorage>> = std::sync::OnceLock::new();
    let store = MEMORY.get_or_init(|| {
        MemoryStorage::new(taskhub::clock::Clock::system(), MemoryOptions::default())
    });
    Storage::from_service(
        MemoryStorage::account(),
        store.clone(),
        StorageOptions::default(),
    )
}

/// Runs each named `async fn` test twice: on the harness Azurite and on the in-memory store, so
/// the store the simulation uses is held to the service's behaviour.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_azurite {
            $(#[tokio::test]
            async fn $name() {
                $crate::common::STORE.scope($crate::common::Store::Azurite, super::$name()).await
            })*
        }
        mod on_memory {
            $(#[tokio::test]
            async fn $name() {
                $crate::common::STORE.scope($crate::common::Store::Memory, super::$name()).await
            })*
        }
    };
}

/// A valid hub name unique in this test binary run: `{prefix}{pid}x{n}` (letters and digits only).
pub fn unique_hub_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let prefix: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    let prefix = if prefix.starts_with(|c: char| c.is_ascii_alphabetic()) {
        prefix
    } else {
        format!("t{prefix}")
    };
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A free loopback port (bound, then released for a child process or server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A lowercase resource name (queue or container) unique in this run.
pub fn unique_name(prefix: &str) -> String {
    unique_hub_name(prefix).to_ascii_lowercase()
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `deadline` naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A built example binary (`cargo test` builds the examples beside the tests).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = debug.join("examples").join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// Puts a message no worker can read on the hub's control queue 01, which a worker moves to
/// `{hub}-poison`; returns the queue's name.
pub async fn put_unreadable_message(hub: &str) -> String {
    let control = format!("{}-control-01", hub.to_ascii_lowercase());
    test_storage()
        .await
        .queue(&control)
        .put("this is not a task message", Duration::ZERO)
        .await
        .expect("message put");
    control
}
