//! End-to-end benchmarks against Azurite: `cargo bench --bench scenarios [scenario] [size]`.
//! Starts a private in-memory Azurite (installed by the project) unless `TASKHUB_BENCH_CONNECTION`
//! names an account, runs the scenario(s) and prints each report as text and JSON. The same
//! scenarios run from `taskhub bench`. `TASKHUB_BENCH_ADDED_RTT=5ms` runs them through the
//! latency proxy (`taskhub bench --added-rtt`); `TASKHUB_BENCH_LOCAL_ACTIVITIES=0` turns local
//! activities off.

use taskhub::azurite::{Azurite, AzuriteData, AzuriteOptions};
use taskhub::bench::{run, BenchOptions, ChaosOptions, Scenario};
use taskhub::worker::WorkerOptions;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let scenarios: Vec<Scenario> = match args.first() {
        Some(name) => match Scenario::parse(name) {
            Some(s) => vec![s],
            None => {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                eprintln!("unknown scenario {name}; one of {}", names.join(", "));
                std::process::exit(2);
            }
        },
        None => vec![
            Scenario::Azurite,
            Scenario::Sequence,
            Scenario::Fanout,
            Scenario::Hello,
        ],
    };
    let size = args.get(1).and_then(|s| s.parse().ok());
    let given = std::env::var("TASKHUB_BENCH_CONNECTION").ok();
    // TASKHUB_BENCH_ADDED_RTT=5ms: every scenario through the latency proxy.
    let added_rtt = match std::env::var("TASKHUB_BENCH_ADDED_RTT") {
        Ok(text) => match taskhub::durations::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("TASKHUB_BENCH_ADDED_RTT: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => None,
    };
    // TASKHUB_BENCH_LOCAL_ACTIVITIES=0: the worker's room for local activities (0: every
    // request through the work-item queue, the control for the second round's figures).
    let mut worker = WorkerOptions::default();
    if let Ok(text) = std::env::var("TASKHUB_BENCH_LOCAL_ACTIVITIES") {
        match text.parse() {
            Ok(n) => worker.local_activity_backlog = n,
            Err(_) => {
                eprintln!("TASKHUB_BENCH_LOCAL_ACTIVITIES: not a number: {text}");
                std::process::exit(2);
            }
        }
    }
    // TASKHUB_BENCH_LOCAL_ACTIVITY_WAIT=20ms: how long a turn waits for its local activities.
    if let Ok(text) = std::env::var("TASKHUB_BENCH_LOCAL_ACTIVITY_WAIT") {
        match taskhub::durations::parse_duration(&text) {
            Ok(d) => worker.local_activity_wait = d,
            Err(e) => {
                eprintln!("TASKHUB_BENCH_LOCAL_ACTIVITY_WAIT: {e}");
                std::process::exit(2);
            }
        }
    }
    for s in scenarios {
        // A fresh Azurite per scenario unless an account is given: Azurite's queue garbage
        // collection (every 60 s, scanning every message) stalls it for seconds once many
        // messages have passed through, which would make later scenarios pay for earlier ones.
        let (azurite, connection_string) = match &given {
            // chaos-azurite starts (and crashes) an Azurite of its own.
            _ if s.own_azurite() => (None, String::new()),
            Some(c) => (None, c.clone()),
            None => {
                // On disk by default: in-memory Azurite deletes each garbage message extent with
                // a scan of all extents, stalling for tens of seconds once thousands of messages
                // have passed (its queue GC runs every 60 s). TASKHUB_BENCH_AZURITE=memory for
                // the in-memory store.
                let data = match std::env::var("TASKHUB_BENCH_AZURITE").as_deref() {
                    Ok("memory") => AzuriteData::InMemory,
                    _ => {
                        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                            .join(format!("bench-azurite-{}", std::process::id()));
                        let _ = std::fs::remove_dir_all(&dir);
                        AzuriteData::Dir(dir)
                    }
                };
                let a = Azurite::start(AzuriteOptions {
                    ports: None,
                    data,
                    watch_parent: true,
                    tls: None,
                })
                .await
                .expect("Azurite starts");
                let c = a.connection_string();
                (Some(a), c)
            }
        };
        let options = BenchOptions {
            connection_string,
            partitions: 4,
            worker: worker.clone(),
            size,
            taskhub_exe: Some(env!("CARGO_BIN_EXE_taskhub").into()),
            chaos: ChaosOptions::default(),
            added_rtt,
        };
        match run(s, &options).await {
            Ok(r) => {
                print!("{}", r.to_text());
                let json = serde_json::to_string_pretty(&r).unwrap_or_default();
                let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../bench");
                let path = dir.join(format!("{}.json", s.name()));
                match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, &json)) {
                    Ok(()) => println!("report: {}", path.display()),
                    Err(e) => eprintln!("cannot write {}: {e}", path.display()),
                }
            }
            Err(e) => {
                if let Some(r) = e.report() {
                    print!("{}", r.to_text());
                }
                // The whole chain: the storage layer keeps causes out of its one-line messages.
                let mut line = format!("{}: {e}", s.name());
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    line.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                eprintln!("{line}");
            }
        }
        if let Some(a) = azurite {
            a.stop().await;
        }
    }
}
