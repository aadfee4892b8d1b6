//! The queue sampler: every `WorkerOptions::queue_sample_interval`, one scale sample
//! (`OrchestrationService::scale_sample`) becomes the worker's queue gauges — the control
//! queues of the partitions it owns, so that summing over workers counts each queue once — and
//! the scale signal, `taskhub_target_workers`, which every worker computes alike from the
//! whole hub (a scaler takes the maximum).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backend::scale::{recommend, ScaleSettings};
use crate::backend::OrchestrationService;
use crate::telemetry;

use super::options::WorkerOptions;
use super::ownership::Ownership;

pub(crate) struct QueueSampler {
    pub service: Arc<dyn OrchestrationService>,
    pub ownership: Ownership,
    pub options: Arc<WorkerOptions>,
    pub every: Duration,
}

impl QueueSampler {
    /// Samples until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let settings = ScaleSettings::from(self.options.as_ref());
        loop {
            match self.service.scale_sample().await {
                Ok(sample) => {
                    let owned = self.ownership.partitions();
                    for q in sample
                        .control_queues
                        .iter()
                        .filter(|q| owned.contains(&q.name))
                    {
                        telemetry::control_queue(&q.name, q.length, q.oldest_age);
                    }
                    let w = &sample.work_items;
                    telemetry::workitem_queue(w.length, w.oldest_age);
                    telemetry::target_workers(recommend(&sample, &settings).target_workers);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "queue sample failed; the gauges keep their last values")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
