//! A benchmark's result: printed as a short table, written as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

/// p50/p95/p99/max of a set of samples, in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    /// How many samples there were.
    pub samples: usize,
    /// The median, in milliseconds.
    pub p50_ms: f64,
    /// The 95th percentile, in milliseconds.
    pub p95_ms: f64,
    /// The 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// The largest sample, in milliseconds.
    pub max_ms: f64,
    /// The mean, in milliseconds.
    pub mean_ms: f64,
}

impl Percentiles {
    /// Percentiles of samples in milliseconds; `None` for no samples.
    pub fn of(mut ms: Vec<f64>) -> Option<Self> {
        if ms.is_empty() {
            return None;
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        Some(Percentiles {
            samples: ms.len(),
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: ms[ms.len() - 1],
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        })
    }
}

/// What one scenario measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Wall time of the measured part, in seconds.
    pub wall_seconds: f64,
    /// Named rates: `activities_per_second`, `events_per_second`, ...
    pub throughput: BTreeMap<String, f64>,
    /// Named latency distributions.
    pub latency: BTreeMap<String, Percentiles>,
    /// Storage operations of the worker during the measured part, by kind.
    pub storage_ops: BTreeMap<String, u64>,
    /// The sum of `storage_ops`.
    pub storage_ops_total: u64,
    /// `storage_ops_total` divided by the activities run, for scenarios that run activities.
    pub storage_ops_per_activity: Option<f64>,
    /// Peak RSS of the process (worker and driver), MiB.
    pub peak_rss_mib: Option<f64>,
    /// Named counts: orchestrations completed, lost, duplicated history events, ... (the chaos
    /// scenarios).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// One line per repetition, for scenarios that repeat a run (chaos-workers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunSummary>,
    /// Round-trip time the latency proxy added to every storage request, in milliseconds
    /// (`None`: storage reached directly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_rtt_ms: Option<f64>,
    /// Remarks printed with the report (settings used, what a figure means).
    pub notes: Vec<String>,
}

/// One repetition of a scenario that runs several times.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunSummary {
    /// The repetition's number, from 1.
    pub run: u32,
    /// Wall time of the repetition, in seconds.
    pub wall_seconds: f64,
    /// Named counts of the repetition (completed, lost, ...).
    pub counts: BTreeMap<String, u64>,
    /// Named figures (seconds, fractions).
    pub figures: BTreeMap<String, f64>,
    /// What happened, in a few words.
    pub what: String,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &str) -> Self {
        Report {
            scenario: scenario.to_string(),
            ..Default::default()
        }
    }

    /// Sets the operation counts from the difference of two counter snapshots.
    pub fn set_ops(
        &mut self,
        before: &BTreeMap<&'static str, u64>,
        after: &BTreeMap<&'static str, u64>,
        activities: Option<u64>,
    ) {
        self.storage_ops = after
            .iter()
            .map(|(k, v)| (k.to_string(), v - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        self.storage_ops_total = self.storage_ops.values().sum();
        self.storage_ops_per_activity = activities
            .filter(|a| *a > 0)
            .map(|a| self.storage_ops_total as f64 / a as f64);
    }

    /// A few human lines.
    pub fn to_text(&self) -> String {
        let mut out = format!("{:<10} wall {:.2} s\n", self.scenario, self.wall_seconds);
        for (k, v) in &self.throughput {
            out.push_str(&format!("  {k:<32} {v:>10.1}\n"));
        }
        for (k, p) in &self.latency {
            out.push_str(&format!(
                "  {k:<32} p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples)\n",
                p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms, p.samples
            ));
        }
        if self.storage_ops_total > 0 {
            out.push_str(&format!("  storage ops {:>22}\n", self.storage_ops_total));
            if let Some(per) = self.storage_ops_per_activity {
                out.push_str(&format!("  storage ops per activity {per:>9.2}\n"));
            }
            let by_kind: Vec<String> = self
                .storage_ops
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            out.push_str(&format!("    {}\n", by_kind.join(", ")));
        }
        for (k, v) in &self.counts {
            out.push_str(&format!("  {k:<32} {v:>10}\n"));
        }
        for r in &self.runs {
            // Zero counts (nothing lost, nothing duplicated) would drown the ones that matter.
            let counts: Vec<String> = r
                .counts
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            out.push_str(&format!(
                "  run {:>3}  {:>7.1} s  {}; {}\n",
                r.run,
                r.wall_seconds,
                counts.join(", "),
                r.what
            ));
        }
        if let Some(rss) = self.peak_rss_mib {
            out.push_str(&format!("  peak RSS {rss:>25.1} MiB\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}
