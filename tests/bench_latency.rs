//! `taskhub bench --added-rtt`: a scenario run by the built binary through the latency proxy
//! against the harness Azurite, and the refusal of what the proxy cannot carry (https).
//! Kept short: four sequential activities.

mod common;

use common::cli::Cli;

/// 100 ms added per round trip: far above what a sequential activity takes on the harness
/// Azurite without it (a few ms, tens on a loaded machine), so the lower bound below shows the
/// requests crossed the proxy. Broken on purpose once (`through_proxies` returning the options
/// unchanged): the test failed with a p50 of 18 ms.
#[tokio::test]
async fn a_sequence_runs_through_the_latency_proxy() {
    let cli = Cli::new("BenchRtt").await;
    let out =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.json", cli.hub));
    let text = cli.ok(&[
        "bench",
        "sequence",
        "--size",
        "4",
        "--added-rtt",
        "100ms",
        // A turn that waits for its local activities runs the four in one commit: without the
        // wait each step's turn pays the round trip, which the bound below needs.
        "--local-activity-wait-ms",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("latency proxy adding 100 ms"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(report["added_rtt_ms"], 100.0, "{report}");
    let per_activity = &report["latency"]["per_activity"];
    assert_eq!(per_activity["samples"], 4, "{report}");
    // Each activity's turn needs at least one storage round trip (two, in fact): only a lower
    // bound, never an upper one.
    let p50 = per_activity["p50_ms"].as_f64().unwrap();
    assert!(
        p50 >= 100.0,
        "p50 {p50} ms per activity: not through the proxy"
    );
    assert!(
        report["storage_ops_total"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[tokio::test]
async fn https_endpoints_are_refused_in_one_line_without_the_key() {
    const KEY: &str = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWstMDEyMzQ1Njc4OWFiY2RlZg==";
    let mut cli = Cli::new("BenchRttHttps").await;
    cli.conn = format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY}");
    let line = cli.fails(&["bench", "azurite", "--added-rtt", "5ms"]);
    assert!(
        line.contains("--added-rtt needs http storage endpoints"),
        "{line}"
    );
    assert!(!line.contains(KEY), "{line}");
}
