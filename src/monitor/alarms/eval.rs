//! The alarm rules as pure functions, so every rule and the hysteresis are unit-tested
//! without a clock, a store or a task: [`evaluate`] turns the facts of one moment
//! ([`Facts`]: the board's runs, the disks' free space) into the conditions that hold, and
//! [`Tracker`] turns conditions over time into "raise" and "clear" (a condition must hold
//! for its grace period before it raises, and be gone for `clear_after_secs` before it
//! clears: one alarm per condition while it holds, no flapping).

use std::collections::{BTreeSet, HashMap};

use crate::model::{AlarmConfig, AlarmKind, RunState};
use crate::store::PointStatus;

/// What the rules need to know about one run a slot shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    pub run_id: i64,
    pub slot_id: i64,
    pub serial: String,
    pub profile: String,
    pub state: RunState,
    /// Reviewed (flagged or archived): its problems have been looked at.
    pub reviewed: bool,
    pub message: String,
    pub started_at: Option<i64>,
    /// When each point arrived (Unix seconds), any order.
    pub point_times: Vec<i64>,
    pub points_done: usize,
    pub points_total: usize,
    /// Points that are poor or failed: label, status, why.
    pub bad_points: Vec<(String, PointStatus, String)>,
    /// The job waits in the batch queue (`PENDING …`).
    pub job_pending: bool,
    pub job_status: String,
}

/// Free space of one watched directory.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFact {
    pub path: String,
    pub free_bytes: u64,
}

/// Everything one evaluation looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub runs: Vec<RunFacts>,
    pub disks: Vec<DiskFact>,
}

/// A condition that holds now; it becomes an alarm once it has held for `hold_secs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: String,
    pub kind: AlarmKind,
    pub message: String,
    pub run_id: Option<i64>,
    pub slot_id: Option<i64>,
    pub subject: String,
    pub hold_secs: i64,
}

/// The median of the intervals between consecutive point times, if there are two points.
pub fn median_interval(times: &[i64]) -> Option<f64> {
    let mut t = times.to_vec();
    t.sort_unstable();
    let mut d: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    let n = d.len();
    Some(if n % 2 == 1 {
        d[n / 2] as f64
    } else {
        (d[n / 2 - 1] + d[n / 2]) as f64 / 2.0
    })
}

/// The stall limit of a run: max(factor × median interval, floor), in seconds.
pub fn stall_limit(times: &[i64], factor: f64, floor_secs: i64) -> f64 {
    let floor = floor_secs.max(0) as f64;
    median_interval(times).map_or(floor, |m| (factor * m).max(floor))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

/// The conditions that hold at `now`. `active` holds the keys of alarms raised and not yet
/// cleared: a disk alarm already raised holds until the free space is back above the
/// threshold plus the margin (hysteresis on a noisy value).
pub fn evaluate(
    facts: &Facts,
    cfg: &AlarmConfig,
    active: &BTreeSet<String>,
    now: i64,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for r in &facts.runs {
        let about = format!("run {} ({})", r.run_id, r.serial);
        let cond =
            |kind: AlarmKind, key: String, subject: String, message: String, hold| Condition {
                key,
                kind,
                message,
                run_id: Some(r.run_id),
                slot_id: Some(r.slot_id),
                subject,
                hold_secs: hold,
            };
        if r.state == RunState::Running && !r.job_pending && r.points_done < r.points_total {
            let rule = cfg.stall_for(&r.profile);
            let limit = stall_limit(&r.point_times, rule.factor, rule.floor_secs);
            let last = r.point_times.iter().copied().max().or(r.started_at);
            if let Some(last) = last
                && (now - last) as f64 > limit
            {
                out.push(cond(
                    AlarmKind::Stalled,
                    format!("stalled:run={}", r.run_id),
                    String::new(),
                    format!(
                        "{about}: no new point for {} s (limit {limit:.0} s) after {} of {} \
                         points. Check that the digitizer is still writing and the job is \
                         alive (job log), or stop the run.",
                        now - last,
                        r.points_done,
                        r.points_total
                    ),
                    0,
                ));
            }
        }
        if !r.reviewed {
            for (label, status, why) in &r.bad_points {
                let (kind, what) = match status {
                    PointStatus::Poor => (AlarmKind::PoorPoint, "is poor"),
                    PointStatus::Failed | PointStatus::FitFailed => {
                        (AlarmKind::FailedPoint, "failed")
                    }
                    _ => continue,
                };
                out.push(cond(
                    kind,
                    format!("{}:run={}:{label}", kind.as_str(), r.run_id),
                    label.clone(),
                    format!(
                        "{about}: point {label} {what} ({why}). Look at its spectrum; \
                         repeat the point or flag the run with a reason."
                    ),
                    0,
                ));
            }
            if r.state == RunState::Failed {
                out.push(cond(
                    AlarmKind::RunFailed,
                    format!("run_failed:run={}", r.run_id),
                    String::new(),
                    format!(
                        "{about} failed: {}. Read the job log, then flag the run or start it \
                         again.",
                        r.message
                    ),
                    0,
                ));
            }
        }
        if r.state == RunState::ClusterUnreachable {
            out.push(cond(
                AlarmKind::ClusterUnreachable,
                format!("cluster_unreachable:run={}", r.run_id),
                String::new(),
                format!(
                    "{about}: the cluster does not answer ({}). pmtwatch keeps retrying; \
                     check the host, the network and the SLURM controller.",
                    r.message
                ),
                cfg.unreachable_grace_secs,
            ));
        }
        if r.job_pending && r.state.is_active() {
            out.push(cond(
                AlarmKind::JobPending,
                format!("job_pending:run={}", r.run_id),
                String::new(),
                format!(
                    "{about}: the job has been waiting in the queue ({}). Check the \
                     partition's load or its limits.",
                    r.job_status
                ),
                cfg.pending_limit_secs,
            ));
        }
    }
    for d in &facts.disks {
        let key = format!("disk_low:{}", d.path);
        let threshold = if active.contains(&key) {
            cfg.disk_min_free_bytes
                .saturating_add(cfg.disk_clear_margin_bytes)
        } else {
            cfg.disk_min_free_bytes
        };
        if d.free_bytes < threshold {
            out.push(Condition {
                message: format!(
                    "{}: only {} free (threshold {}). Free space (cleanup of archived runs, \
                     step 3) before the next scan fills it.",
                    d.path,
                    gib(d.free_bytes),
                    gib(cfg.disk_min_free_bytes)
                ),
                key,
                kind: AlarmKind::DiskLow,
                run_id: None,
                slot_id: None,
                subject: d.path.clone(),
                hold_secs: 0,
            });
        }
    }
    out
}

/// Conditions over time: when each began to hold, when each stopped holding.
#[derive(Debug, Default)]
pub struct Tracker {
    /// When the condition's current episode began.
    since: HashMap<String, i64>,
    /// When a tracked or active condition stopped holding (it may come back).
    gone_since: HashMap<String, i64>,
}

/// What one evaluation changes.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub raise: Vec<Condition>,
    pub clear: Vec<String>,
}

impl Tracker {
    /// `conditions`: what holds now; `active`: the keys with a raised, uncleared alarm
    /// (only those this evaluator owns). A condition raises once its episode has lasted
    /// `hold_secs` and it has no active alarm. An episode ends — and an active alarm
    /// clears — only after the condition has been gone for `clear_after_secs`: a value that
    /// blinks (a run that goes `running` for a moment between retries while its cluster
    /// stays unreachable) neither restarts the grace period nor clears and raises again.
    pub fn step(
        &mut self,
        conditions: Vec<Condition>,
        active: &BTreeSet<String>,
        now: i64,
        clear_after_secs: i64,
    ) -> Changes {
        let holding: BTreeSet<String> = conditions.iter().map(|c| c.key.clone()).collect();
        let mut changes = Changes::default();
        for c in conditions {
            let since = *self.since.entry(c.key.clone()).or_insert(now);
            self.gone_since.remove(&c.key);
            if !active.contains(&c.key) && now - since >= c.hold_secs {
                changes.raise.push(c);
            }
        }
        let tracked: BTreeSet<String> = self.since.keys().chain(active.iter()).cloned().collect();
        for key in tracked {
            if holding.contains(&key) {
                continue;
            }
            let gone = *self.gone_since.entry(key.clone()).or_insert(now);
            if now - gone >= clear_after_secs {
                self.since.remove(&key);
                self.gone_since.remove(&key);
                if active.contains(&key) {
                    changes.clear.push(key);
                }
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: RunState, times: Vec<i64>) -> RunFacts {
        RunFacts {
            run_id: 7,
            slot_id: 1,
            serial: "KM1".into(),
            profile: "p".into(),
            state,
            reviewed: false,
            message: "m".into(),
            started_at: Some(0),
            points_done: times.len(),
            point_times: times,
            points_total: 21,
            bad_points: vec![],
            job_pending: false,
            job_status: String::new(),
        }
    }

    fn cfg() -> AlarmConfig {
        let mut c = AlarmConfig::default();
        c.stall.factor = 5.0;
        c.stall.floor_secs = 10;
        c.unreachable_grace_secs = 60;
        c.disk_min_free_bytes = 100;
        c.disk_clear_margin_bytes = 50;
        c
    }

    fn keys(v: &[Condition]) -> Vec<&str> {
        v.iter().map(|c| c.key.as_str()).collect()
    }

    #[test]
    fn median_and_limit() {
        assert_eq!(median_interval(&[0, 10, 20, 50]), Some(10.0));
        assert_eq!(median_interval(&[5]), None);
        assert_eq!(stall_limit(&[0, 10, 20], 5.0, 10), 50.0);
        assert_eq!(stall_limit(&[0, 1, 2], 5.0, 10), 10.0);
        assert_eq!(stall_limit(&[], 5.0, 10), 10.0);
    }

    #[test]
    fn a_running_scan_stalls_after_n_median_intervals_only() {
        let f = |_now: i64, state| Facts {
            runs: vec![run(state, vec![100, 110, 120, 130, 140])],
            disks: vec![],
        };
        let none = BTreeSet::new();
        assert!(evaluate(&f(0, RunState::Running), &cfg(), &none, 190).is_empty());
        let c = evaluate(&f(0, RunState::Running), &cfg(), &none, 191);
        assert_eq!(keys(&c), ["stalled:run=7"]);
        assert!(c[0].message.contains("5 of 21"), "{}", c[0].message);
        // Not while the job waits in the queue, not once the run ended.
        let mut pending = f(0, RunState::Running);
        pending.runs[0].job_pending = true;
        pending.runs[0].job_status = "PENDING (Priority)".into();
        assert_eq!(
            keys(&evaluate(&pending, &cfg(), &none, 191)),
            ["job_pending:run=7"]
        );
        assert!(evaluate(&f(0, RunState::Complete), &cfg(), &none, 500).is_empty());
        // Per profile.
        let mut c2 = cfg();
        c2.stall_by_profile.insert(
            "p".into(),
            crate::model::StallRule {
                factor: 20.0,
                floor_secs: 0,
            },
        );
        assert!(evaluate(&f(0, RunState::Running), &c2, &none, 191).is_empty());
        assert_eq!(evaluate(&f(0, RunState::Running), &c2, &none, 341).len(), 1);
    }

    #[test]
    fn points_failures_unreachable_and_disk() {
        let mut r = run(RunState::Failed, vec![1, 2]);
        r.bad_points = vec![
            ("theta10_phi90".into(), PointStatus::Poor, "gain low".into()),
            ("theta10_phi0".into(), PointStatus::Failed, "no file".into()),
            ("theta0_phi0".into(), PointStatus::Warning, "meh".into()),
        ];
        let facts = Facts {
            runs: vec![r.clone()],
            disks: vec![DiskFact {
                path: "/data".into(),
                free_bytes: 120,
            }],
        };
        let none = BTreeSet::new();
        let c = evaluate(&facts, &cfg(), &none, 10);
        assert_eq!(
            keys(&c),
            [
                "poor_point:run=7:theta10_phi90",
                "failed_point:run=7:theta10_phi0",
                "run_failed:run=7"
            ]
        );
        // Reviewed: looked at, no alarms.
        let mut reviewed = facts.clone();
        reviewed.runs[0].reviewed = true;
        assert!(evaluate(&reviewed, &cfg(), &none, 10).is_empty());
        // Disk: raised below 100, held until above 150.
        let mut low = facts.clone();
        low.runs.clear();
        low.disks[0].free_bytes = 90;
        assert_eq!(keys(&evaluate(&low, &cfg(), &none, 1)), ["disk_low:/data"]);
        low.disks[0].free_bytes = 120;
        assert!(evaluate(&low, &cfg(), &none, 1).is_empty());
        let active: BTreeSet<String> = ["disk_low:/data".to_string()].into();
        assert_eq!(evaluate(&low, &cfg(), &active, 1).len(), 1);
        low.disks[0].free_bytes = 151;
        assert!(evaluate(&low, &cfg(), &active, 1).is_empty());
        // Unreachable: a condition at once, held for the grace period by the tracker.
        let u = Facts {
            runs: vec![run(RunState::ClusterUnreachable, vec![])],
            disks: vec![],
        };
        let c = evaluate(&u, &cfg(), &none, 5);
        assert_eq!(c[0].hold_secs, 60);
    }

    #[test]
    fn the_tracker_raises_after_the_grace_once_and_clears_without_flapping() {
        let cond = |hold| Condition {
            key: "k".into(),
            kind: AlarmKind::ClusterUnreachable,
            message: String::new(),
            run_id: None,
            slot_id: None,
            subject: String::new(),
            hold_secs: hold,
        };
        let mut t = Tracker::default();
        let mut active = BTreeSet::new();
        assert!(t.step(vec![cond(60)], &active, 0, 30).raise.is_empty());
        assert!(t.step(vec![cond(60)], &active, 59, 30).raise.is_empty());
        // A blink shorter than the clear time does not restart the grace period.
        assert!(t.step(vec![], &active, 59, 30).raise.is_empty());
        let ch = t.step(vec![cond(60)], &active, 60, 30);
        assert_eq!(ch.raise.len(), 1);
        active.insert("k".to_string());
        // Raised: no second alarm while it holds.
        assert!(t.step(vec![cond(60)], &active, 200, 30).raise.is_empty());
        // Gone briefly, back again: nothing cleared, nothing raised (no flapping).
        assert_eq!(t.step(vec![], &active, 210, 30), Changes::default());
        assert_eq!(t.step(vec![cond(60)], &active, 220, 30), Changes::default());
        // Gone for the clear time: cleared once.
        assert_eq!(t.step(vec![], &active, 230, 30), Changes::default());
        let ch = t.step(vec![], &active, 260, 30);
        assert_eq!(ch.clear, ["k"]);
        active.clear();
        assert_eq!(t.step(vec![], &active, 300, 30), Changes::default());
        // A new episode waits for the whole grace period again; one gone for longer than
        // the clear time starts over.
        assert!(t.step(vec![cond(60)], &active, 400, 30).raise.is_empty());
        assert!(t.step(vec![], &active, 420, 30).raise.is_empty());
        assert!(t.step(vec![], &active, 450, 30).raise.is_empty());
        assert!(t.step(vec![cond(60)], &active, 461, 30).raise.is_empty());
        assert_eq!(t.step(vec![cond(60)], &active, 521, 30).raise.len(), 1);
        // An alarm active from before a restart (the tracker never saw it) clears too.
        let mut fresh = Tracker::default();
        let old: BTreeSet<String> = ["old".to_string()].into();
        assert!(fresh.step(vec![], &old, 0, 5).clear.is_empty());
        assert_eq!(fresh.step(vec![], &old, 5, 5).clear, ["old"]);
    }
}
