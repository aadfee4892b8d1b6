//! [`recommend`]: the target formula and the latency rules of the module docs, as one pure
//! function, and the tables of inputs that pin them down.

use super::{
    QueueSample, ScaleAction, ScaleBasis, ScaleRecommendation, ScaleSample, ScaleSettings,
};
use std::cmp::Ordering;
use std::time::Duration;

/// How many workers `sample` calls for, given what one worker takes on (`settings`). Pure and
/// total: zero limits count as 1, and counts saturate instead of overflowing.
pub fn recommend(sample: &ScaleSample, settings: &ScaleSettings) -> ScaleRecommendation {
    let basis = basis(sample, settings);
    let current = sample.current_workers;
    let formula = basis.activity_workers.max(basis.orchestration_workers);
    let one_more = if basis.work_items_late {
        current.saturating_add(1)
    } else {
        0
    };
    let target = formula.max(basis.late_partitions).max(one_more);
    let action = match target.cmp(&current) {
        Ordering::Greater => ScaleAction::ScaleOut,
        Ordering::Less => ScaleAction::ScaleIn,
        Ordering::Equal => ScaleAction::None,
    };
    let reason = if target == 0 {
        idle_reason(sample)
    } else if target > formula && target == one_more {
        format!(
            "the oldest work item waited {} (the poll interval is {}) with {current} {} running: one more",
            seconds(sample.work_items.oldest_age.unwrap_or_default()),
            seconds(settings.work_item_poll_interval),
            plural(current, "worker", "workers"),
        )
    } else if target > formula {
        format!(
            "{} {} messages older than the {} poll interval while {current} {} ran: one worker each",
            basis.late_partitions,
            plural(basis.late_partitions, "partition holds", "partitions hold"),
            seconds(settings.control_poll_interval),
            plural(current, "worker", "workers"),
        )
    } else if basis.activity_workers >= basis.orchestration_workers {
        format!(
            "{} waiting work items at {} per worker",
            basis.waiting_work_items,
            settings.max_activities.max(1),
        )
    } else {
        let uncapped = ceil_div(
            basis.waiting_orchestration_messages,
            settings.max_orchestrations,
        );
        let cap = if uncapped > basis.orchestration_workers {
            format!(
                ", capped at {} busy {}",
                basis.busy_partitions,
                plural(basis.busy_partitions, "partition", "partitions")
            )
        } else {
            String::new()
        };
        format!(
            "{} waiting orchestration messages at {} per worker{cap}",
            basis.waiting_orchestration_messages,
            settings.max_orchestrations.max(1),
        )
    };
    ScaleRecommendation {
        target_workers: target,
        current_workers: current,
        action,
        reason,
        basis,
    }
}

/// Every rule's number for `sample`.
fn basis(sample: &ScaleSample, settings: &ScaleSettings) -> ScaleBasis {
    let waiting_work_items = sample.work_items.waiting();
    let waiting_orchestration_messages = sample
        .control_queues
        .iter()
        .map(QueueSample::waiting)
        .fold(0u64, u64::saturating_add);
    let busy_partitions = count(&sample.control_queues, |q| q.waiting() > 0);
    let workers_running = sample.current_workers > 0;
    ScaleBasis {
        waiting_work_items,
        waiting_orchestration_messages,
        busy_partitions,
        activity_workers: ceil_div(waiting_work_items, settings.max_activities),
        orchestration_workers: ceil_div(
            waiting_orchestration_messages,
            settings.max_orchestrations,
        )
        .min(busy_partitions),
        late_partitions: if workers_running {
            count(&sample.control_queues, |q| {
                q.is_late(settings.control_poll_interval)
            })
        } else {
            0
        },
        work_items_late: workers_running
            && sample.work_items.is_late(settings.work_item_poll_interval),
    }
}

/// Why an idle hub wants no workers.
fn idle_reason(sample: &ScaleSample) -> String {
    let invisible = sample
        .control_queues
        .iter()
        .chain(std::iter::once(&sample.work_items))
        .map(|q| q.length)
        .fold(0u64, u64::saturating_add);
    if invisible == 0 {
        "idle: every queue is empty".into()
    } else {
        format!(
            "idle: no message is visible (the {invisible} counted are timers not yet due or held by a worker)"
        )
    }
}

/// `ceil(n / per)` as a worker count; `per` 0 counts as 1.
fn ceil_div(n: u64, per: u32) -> u32 {
    u32::try_from(n.div_ceil(u64::from(per.max(1)))).unwrap_or(u32::MAX)
}

fn count(queues: &[QueueSample], pred: impl Fn(&QueueSample) -> bool) -> u32 {
    u32::try_from(queues.iter().filter(|q| pred(q)).count()).unwrap_or(u32::MAX)
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn plural(n: u32, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The tables were checked against broken rules, each failing at least one of them: the
/// latency rules applied with no worker running, `>` for `>=` at the poll interval, a visible
/// message not counted when the approximate count says 0, the latency rules dropped (each of
/// the two), the partition cap dropped, and the two needs added instead of overlapping.
#[cfg(test)]
mod tests {
    use super::*;

    /// A queue: its approximate length and the age of its first visible message in ms (`None`:
    /// nothing visible).
    type Q = (u64, Option<u64>);

    /// One row: its name, the control queues, the work-item queue, the workers running, and the
    /// answer (target, action).
    type Row = (&'static str, &'static [Q], Q, u32, u32, ScaleAction);

    const FRESH: Option<u64> = Some(0);
    /// Older than the control poll interval (2 s) but not the work-item one (10 s).
    const OLD_CONTROL: Option<u64> = Some(5_000);
    /// Older than both poll intervals.
    const OLD: Option<u64> = Some(60_000);
    const EMPTY: Q = (0, None);

    fn queue(name: String, (length, age): Q) -> QueueSample {
        QueueSample {
            name,
            length,
            oldest_age: age.map(Duration::from_millis),
        }
    }

    fn sample(control: &[Q], work_items: Q, current: u32) -> ScaleSample {
        ScaleSample {
            control_queues: control
                .iter()
                .enumerate()
                .map(|(i, q)| queue(format!("hub-control-{i:02}"), *q))
                .collect(),
            work_items: queue("hub-workitems".into(), work_items),
            current_workers: current,
        }
    }

    fn settings(max_orchestrations: u32, max_activities: u32) -> ScaleSettings {
        ScaleSettings {
            max_orchestrations,
            max_activities,
            control_poll_interval: Duration::from_secs(2),
            work_item_poll_interval: Duration::from_secs(10),
        }
    }

    /// Checks every row with one worker's limits: (max orchestrations, max activities).
    fn check((max_orchestrations, max_activities): (u32, u32), rows: &[Row]) {
        for &(name, control, work_items, current, target, action) in rows {
            let got = recommend(
                &sample(control, work_items, current),
                &settings(max_orchestrations, max_activities),
            );
            assert_eq!(
                (got.target_workers, got.action),
                (target, action),
                "{name}: {got:?}"
            );
            assert_eq!(got.current_workers, current, "{name}");
            assert!(!got.reason.is_empty(), "{name}");
        }
    }

    use ScaleAction::{None as Keep, ScaleIn, ScaleOut};

    /// Durable Functions' own table (`DurableTaskTargetScalerTests.TestTargetScaler`: max
    /// activities, max orchestrators, work-item length, control-queue lengths → target), with
    /// fresh messages and no worker, where only the formula applies.
    #[test]
    fn durable_functions_target_scaler_table() {
        check(
            (10, 1),
            &[
                (
                    "10 work items, 1 per worker",
                    &[(1, FRESH); 4],
                    (10, FRESH),
                    0,
                    10,
                    ScaleOut,
                ),
                ("nothing anywhere", &[EMPTY; 4], EMPTY, 0, 0, Keep),
                (
                    "10 orchestration messages fit one worker",
                    &[(2, FRESH), (2, FRESH), (3, FRESH), (3, FRESH)],
                    EMPTY,
                    0,
                    1,
                    ScaleOut,
                ),
                (
                    "a deep backlog in one partition is one worker",
                    &[(9999, FRESH), EMPTY, EMPTY, EMPTY],
                    EMPTY,
                    0,
                    1,
                    ScaleOut,
                ),
                (
                    "two busy partitions are at most two workers",
                    &[(9999, FRESH), EMPTY, EMPTY, (1, FRESH)],
                    EMPTY,
                    0,
                    2,
                    ScaleOut,
                ),
            ],
        );
        check(
            (10, 10),
            &[
                (
                    "activities and orchestrations overlap",
                    &[(2, FRESH), (2, FRESH), (3, FRESH), (3, FRESH)],
                    (10, FRESH),
                    0,
                    1,
                    ScaleOut,
                ),
                (
                    "30 work items at 10 each beat 31 messages at 10 each",
                    &[(10, FRESH), (10, FRESH), (10, FRESH), (1, FRESH)],
                    (30, FRESH),
                    0,
                    4,
                    ScaleOut,
                ),
            ],
        );
    }

    #[test]
    fn idle_hubs_want_no_workers() {
        check(
            (100, 16),
            &[
                (
                    "idle with a worker: scale in to zero",
                    &[EMPTY; 4],
                    EMPTY,
                    1,
                    0,
                    ScaleIn,
                ),
                (
                    "only timers not yet due (counted, not visible)",
                    &[(3, None), EMPTY, (1, None), EMPTY],
                    EMPTY,
                    2,
                    0,
                    ScaleIn,
                ),
                (
                    "work items held by running activities",
                    &[EMPTY],
                    (16, None),
                    0,
                    0,
                    Keep,
                ),
            ],
        );
    }

    #[test]
    fn a_growing_backlog_wants_more_workers() {
        check(
            (10, 16),
            &[
                (
                    "one message: a first worker",
                    &[(1, FRESH), EMPTY],
                    EMPTY,
                    0,
                    1,
                    ScaleOut,
                ),
                (
                    "visible, not yet counted",
                    &[(0, FRESH), EMPTY],
                    EMPTY,
                    0,
                    1,
                    ScaleOut,
                ),
                (
                    "25 messages at 10 per worker",
                    &[(7, FRESH), (6, FRESH), (6, FRESH), (6, FRESH)],
                    EMPTY,
                    1,
                    3,
                    ScaleOut,
                ),
                (
                    "200 messages at 10 per worker, capped at 4 partitions",
                    &[(50, FRESH); 4],
                    EMPTY,
                    1,
                    4,
                    ScaleOut,
                ),
            ],
        );
        check(
            (100, 16),
            &[
                (
                    "activity heavy: 1000 work items at 16 per worker, no partition cap",
                    &[(1, FRESH), EMPTY, EMPTY, EMPTY],
                    (1000, FRESH),
                    4,
                    63,
                    ScaleOut,
                ),
                (
                    "the current count is right",
                    &[(30, FRESH), (30, FRESH), EMPTY, EMPTY],
                    (20, FRESH),
                    2,
                    2,
                    Keep,
                ),
                (
                    "a shrinking backlog: fewer workers",
                    &[(3, FRESH), EMPTY, EMPTY, EMPTY],
                    (5, FRESH),
                    4,
                    1,
                    ScaleIn,
                ),
            ],
        );
    }

    #[test]
    fn old_messages_add_workers_only_while_workers_run() {
        check(
            (100, 16),
            &[
                (
                    "old messages in three partitions, two workers: one per late partition",
                    &[(1, OLD_CONTROL), (1, OLD_CONTROL), (1, OLD_CONTROL), EMPTY],
                    EMPTY,
                    2,
                    3,
                    ScaleOut,
                ),
                (
                    "an old message in one partition: its one owner is enough",
                    &[(4, OLD), EMPTY, EMPTY, EMPTY],
                    EMPTY,
                    2,
                    1,
                    ScaleIn,
                ),
                (
                    "old messages and no worker: a first worker, not one per partition",
                    &[(2, OLD); 4],
                    (9, OLD),
                    0,
                    1,
                    ScaleOut,
                ),
                (
                    "old work items, three workers: one more",
                    &[EMPTY],
                    (5, OLD),
                    3,
                    4,
                    ScaleOut,
                ),
                (
                    "fresh work items, three workers: fewer",
                    &[EMPTY],
                    (5, FRESH),
                    3,
                    1,
                    ScaleIn,
                ),
                (
                    "work items past the control interval but not their own (10 s)",
                    &[EMPTY],
                    (5, OLD_CONTROL),
                    3,
                    1,
                    ScaleIn,
                ),
            ],
        );
        check(
            (100, 10),
            &[(
                "the backlog formula already asks for more than the latency rules",
                &[(1, OLD_CONTROL), EMPTY],
                (100, OLD),
                1,
                10,
                ScaleOut,
            )],
        );
    }

    #[test]
    fn the_poll_interval_is_the_latency_threshold() {
        let at = |ms: u64| {
            recommend(
                &sample(&[(1, Some(ms)), (1, Some(ms)), EMPTY, EMPTY], EMPTY, 1),
                &settings(100, 16),
            )
        };
        assert_eq!(at(1_999).target_workers, 1);
        assert_eq!(
            at(2_000).target_workers,
            2,
            "a message as old as the interval is late"
        );
        assert_eq!(at(2_000).basis.late_partitions, 2);
    }

    #[test]
    fn zero_limits_and_huge_counts_do_not_panic() {
        let r = recommend(
            &sample(
                &[(u64::MAX, FRESH), (u64::MAX, FRESH)],
                (u64::MAX, OLD),
                u32::MAX,
            ),
            &settings(0, 0),
        );
        assert_eq!(r.target_workers, u32::MAX);
        assert_eq!(r.basis.orchestration_workers, 2);
        assert_eq!(r.basis.waiting_orchestration_messages, u64::MAX);
        let r = recommend(&sample(&[], EMPTY, 0), &settings(1, 1));
        assert_eq!((r.target_workers, r.action), (0, ScaleAction::None));
    }

    #[test]
    fn reasons_name_the_deciding_rule() {
        let reason = |control: &[Q], work_items: Q, current: u32| {
            recommend(&sample(control, work_items, current), &settings(10, 16)).reason
        };
        assert_eq!(
            reason(&[EMPTY, EMPTY], EMPTY, 0),
            "idle: every queue is empty"
        );
        assert!(reason(&[(2, None)], EMPTY, 0).contains("the 2 counted are timers"));
        assert_eq!(
            reason(&[EMPTY], (40, FRESH), 0),
            "40 waiting work items at 16 per worker"
        );
        assert_eq!(
            reason(&[(100, FRESH), EMPTY], EMPTY, 0),
            "100 waiting orchestration messages at 10 per worker, capped at 1 busy partition"
        );
        assert!(reason(&[(1, OLD), (1, OLD)], EMPTY, 1)
            .starts_with("2 partitions hold messages older than the 2.0 s poll interval"),);
        assert!(reason(&[EMPTY], (3, OLD), 2)
            .starts_with("the oldest work item waited 60.0 s (the poll interval is 10.0 s)"));
    }
}
