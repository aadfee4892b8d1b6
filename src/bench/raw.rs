//! The `azurite` scenario: the raw rate of the storage operations a turn uses, measured on the
//! same endpoint in the same run — the ceiling the other scenarios divide by.

use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{storage, BenchOptions, Error, Percentiles, Report};
use crate::storage::{EntityExt, Storage, TableEntity};

const SEQUENTIAL: usize = 200;
const CONCURRENT: usize = 2000;
const CONCURRENCY: usize = 16;

pub(super) async fn run(o: &BenchOptions) -> Result<Report, Error> {
    let s = storage(o)?;
    let stamp = format!(
        "{}x{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp() % 100_000
    );
    let queue = s.queue(&format!("benchraw{stamp}"));
    let table = s.table(&format!("benchraw{stamp}"));
    queue.create_if_missing().await?;
    table.create_if_missing().await?;
    let mut report = Report::new("azurite");
    let start = Instant::now();

    let samples = |name: &str, ms: Vec<f64>, report: &mut Report| {
        if let Some(p) = Percentiles::of(ms) {
            report
                .throughput
                .insert(format!("{name} sequential per second"), 1000.0 / p.mean_ms);
            report.latency.insert(name.to_string(), p);
        }
    };

    let mut ms = Vec::new();
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        queue
            .put(&format!("message {i}"), std::time::Duration::ZERO)
            .await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples("queue put", ms, &mut report);

    let mut ms = Vec::new();
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        let got = queue.get(1, std::time::Duration::from_secs(30)).await?;
        for m in got {
            queue.delete(&m.message_id, &m.pop_receipt).await?;
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples("queue get + delete", ms, &mut report);

    let mut ms = Vec::new();
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        table
            .upsert_merge("p", &format!("r{i:05}"), &row(i))
            .await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples("table upsert", ms, &mut report);

    let mut ms = Vec::new();
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        table.get("p", &format!("r{i:05}")).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples("table point read", ms, &mut report);

    let mut ms = Vec::new();
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        let mut batch = table.batch(&format!("b{i}"));
        for j in 0..4 {
            batch.upsert_replace(&format!("{j:016X}"), &row(j));
        }
        batch.insert("sentinel", &row(0));
        batch.execute().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples("table batch of 5 (history append)", ms, &mut report);

    let put = concurrent_puts(&s, queue.name()).await?;
    let drain = concurrent_drain(&s, queue.name()).await?;
    let t = &mut report.throughput;
    t.insert(
        format!("queue put, {CONCURRENCY} concurrent, per second"),
        put,
    );
    t.insert(
        format!("queue drain of {CONCURRENT} (get 32, delete {CONCURRENCY} at a time), per second"),
        drain,
    );
    // A fanned-out activity costs at least one put and one delete of its request message.
    t.insert(
        "message cycles (put + get + delete) per second".into(),
        1.0 / (1.0 / put + 1.0 / drain),
    );

    report.wall_seconds = start.elapsed().as_secs_f64();
    report.set_ops(&Default::default(), &s.counters().snapshot(), None);
    let _ = queue.delete_queue().await;
    let _ = table.delete_table().await;
    Ok(report)
}

/// Empties the queue the concurrent puts filled; returns messages per second. How fast
/// messages come off a queue that holds thousands (Azurite's queue operations slow down as a
/// queue fills).
async fn concurrent_drain(s: &Storage, queue: &str) -> Result<f64, Error> {
    let q = s.queue(queue);
    let t = Instant::now();
    let mut drained = 0usize;
    loop {
        let got = q.get(32, std::time::Duration::from_secs(60)).await?;
        if got.is_empty() {
            break;
        }
        drained += got.len();
        stream::iter(got)
            .map(|m| {
                let q = q.clone();
                async move { q.delete(&m.message_id, &m.pop_receipt).await }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
    }
    Ok(drained as f64 / t.elapsed().as_secs_f64())
}

fn row(i: usize) -> TableEntity {
    let mut e = TableEntity::new();
    e.put_str("EventType", "TaskCompleted");
    e.put_i32("EventId", -1);
    e.put_str("Result", format!("\"result {i}\""));
    e
}

/// Puts many messages, a few at a time; returns messages per second.
async fn concurrent_puts(s: &Storage, queue: &str) -> Result<f64, Error> {
    let q = s.queue(queue);
    let t = Instant::now();
    stream::iter(0..CONCURRENT)
        .map(|i| {
            let q = q.clone();
            async move { q.put(&format!("c{i}"), std::time::Duration::ZERO).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(CONCURRENT as f64 / t.elapsed().as_secs_f64())
}
