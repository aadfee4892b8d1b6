//! taskhub as a lean library: `tests/lean_crate` depends on it with `default-features = false`,
//! registers its own orchestration, activity and entity, runs a worker and a client against the
//! test Azurite and reads a typed output, in under 40 lines of its own — and compiles none of
//! the command line's, HTTP API's, samples' or identity credentials' dependencies.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    c.current_dir(root.join("tests/lean_crate"))
        // Its own build directory (inside ours, so it is ignored and reused between runs).
        .env("CARGO_TARGET_DIR", root.join("target/lean"))
        .env_remove("RUSTFLAGS");
    c
}

#[test]
fn the_lean_library_compiles_no_cli_http_or_sample_dependency() {
    let out = cargo()
        .args(["tree", "-e", "normal", "--prefix", "none", "--offline"])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("taskhub v"), "{tree}");
    for heavy in [
        "clap ",
        "axum ",
        "indicatif ",
        "fake ",
        "csv ",
        "tracing-subscriber ",
        "opentelemetry ",
        "opentelemetry-otlp ",
        "tracing-opentelemetry ",
        "azure_identity ",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(heavy)),
            "the lean build pulls in {heavy}"
        );
    }
    let own = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lean_crate/src/main.rs"),
    )
    .unwrap();
    assert!(
        own.lines().count() < 40,
        "the lean program is over 40 lines"
    );
}

#[tokio::test]
async fn a_lean_program_runs_its_own_workflow_against_azurite() {
    let conn = common::connection_string().await;
    let hub = common::unique_hub_name("Lean");
    let out = tokio::task::spawn_blocking(move || {
        cargo()
            .args(["run", "--quiet", "--offline"])
            .env("AzureWebJobsStorage", conn)
            .env("TASKHUB_HUB", hub)
            .env_remove("RUST_LOG")
            .output()
            .expect("cargo run runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42 42");
}
