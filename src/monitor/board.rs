//! What every browser sees, as one immutable snapshot ([`Board`]) that the monitor replaces
//! on every change and publishes through a `tokio::sync::watch` channel. Views only read
//! it. Runs are `Arc`s so that a point arriving in one slot copies only that run's view.
//!
//! Also the grid's geometry: the R12860 layout (the centre alone, then one row per θ with
//! its φ values) drawn from whatever θ/φ pattern a run has.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{Alarm, HvResult, PointFigures, Run, RunState};
use crate::pipeline::scan::PointLabel;
use crate::store::{Point, PointStatus, Slot};

use super::profile::Profile;

/// The background executor's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutorStatus {
    /// Dispatching queued runs (stopped: queued runs wait; running ones carry on).
    pub running: bool,
    /// Who last started or stopped it, and when (Unix seconds).
    pub changed_by: Option<String>,
    pub changed_at: Option<i64>,
}

/// The shared state of the bench.
#[derive(Debug, Clone, Default)]
pub struct Board {
    pub executor: ExecutorStatus,
    pub slots: Vec<SlotView>,
    /// The runs the slots show (each slot's newest run), by id.
    pub runs: BTreeMap<i64, Arc<RunView>>,
    pub profiles: Arc<Vec<Profile>>,
    /// The alarms not cleared (acknowledged and shelved ones too), oldest first.
    pub alarms: Arc<Vec<Alarm>>,
    /// Bumped on every change (views use it as a cheap "something changed" key).
    pub version: u64,
}

impl Board {
    /// The run a slot shows, if any.
    pub fn slot_run(&self, slot_id: i64) -> Option<&Arc<RunView>> {
        let slot = self.slots.iter().find(|s| s.slot.id == slot_id)?;
        self.runs.get(&slot.run_id?)
    }
}

/// A slot with the run it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotView {
    pub slot: Slot,
    pub run_id: Option<i64>,
    /// The voltage the slot's tube's next surface scan is offered: its newest unflagged
    /// HV check result with a voltage.
    pub hv_offer: Option<HvResult>,
}

/// The old lab script's own HV result, synced in command mode: the voltage it wrote
/// (`<SN>_HV_at_gain_1.00e+07.txt`) and whether its plot (`*_gain_vs_hv_loglog.png`) was
/// copied to `<data>/runs/<id>/hv_lab.png`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HvLab {
    /// The voltage the script wrote, when its file holds one number.
    pub volts: Option<f64>,
    /// The result file's name, as the script wrote it.
    pub file: String,
    pub plot: bool,
}

/// An HV check's live fit as the HV tab shows it (computed once three voltages are in).
#[derive(Debug, Clone, PartialEq)]
pub struct HvCheck {
    /// The stored result: voltage, error, points used, the summary line.
    pub result: HvResult,
    /// Voltages left out of the fit, by point label, with the reason in words.
    pub excluded: BTreeMap<String, String>,
    /// The fit's warnings (extrapolation, implausible slope, too few points).
    pub warnings: Vec<String>,
    /// The summary plot on this machine (`<data>/runs/<id>/hv_fit.png`), once drawn.
    pub plot: Option<std::path::PathBuf>,
}

/// One run with its points, as the grid draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub run: Run,
    /// The run's points in scan order (from its profile).
    pub pattern: Vec<PointLabel>,
    /// Finished points by label.
    pub points: BTreeMap<String, Point>,
    /// The last thing the monitor said about the job (`RUNNING`, `PENDING (Priority)`, …).
    pub job_status: String,
    /// An HV check's nominal voltage (the cells are labelled by their offset from it).
    pub hv_nominal: Option<f64>,
    /// An HV check's fit, once three voltages are done.
    pub hv: Option<HvCheck>,
    /// In command mode: the lab script's own HV result, when it wrote one.
    pub hv_lab: Option<HvLab>,
}

/// A cell's state as the grid shows it: a stored verdict, or not there yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellStatus {
    Done(PointStatus),
    /// The next point the scan is expected to deliver while the run is running.
    Processing,
    Pending,
}

impl CellStatus {
    /// The word shown in the cell (and its CSS class).
    pub fn word(self) -> &'static str {
        match self {
            CellStatus::Done(PointStatus::Healthy) => "healthy",
            CellStatus::Done(PointStatus::Warning) => "warning",
            CellStatus::Done(PointStatus::Poor) => "poor",
            CellStatus::Done(PointStatus::Unresolved) => "unresolved",
            CellStatus::Done(PointStatus::FitFailed) => "fit failed",
            CellStatus::Done(PointStatus::NoSignal) => "no signal",
            CellStatus::Done(PointStatus::Failed) => "failed",
            CellStatus::Processing => "processing",
            CellStatus::Pending => "pending",
        }
    }
}

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub label: String,
    pub point: PointLabel,
    pub status: CellStatus,
    pub gain: Option<f64>,
    pub gain_err: Option<f64>,
    /// Why the cell has its colour (the stored point's message), empty when not done.
    pub reason: String,
    /// The point's figures, for colouring the grid by one of them.
    pub figures: PointFigures,
}

/// Summary of a run's finished points.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub done: usize,
    pub total: usize,
    pub healthy: usize,
    /// Points that are not healthy (poor, fit failed, no signal, failed).
    pub poor: usize,
    pub mean_gain: Option<f64>,
    /// Relative spread of the gains: standard deviation / mean.
    pub spread: Option<f64>,
}

impl RunView {
    /// The grid's rows: for a surface scan one row per θ (ascending, the centre first)
    /// with its cells by φ; for an HV check one row of voltages.
    pub fn rows(&self) -> Vec<(String, Vec<Cell>)> {
        let next = self.next_expected();
        let cell = |p: &PointLabel| {
            let label = p.label();
            let stored = self.points.get(&label);
            let status = match stored {
                Some(pt) => CellStatus::Done(pt.status),
                None if next.as_deref() == Some(label.as_str()) => CellStatus::Processing,
                None => CellStatus::Pending,
            };
            Cell {
                label,
                point: *p,
                status,
                gain: stored.and_then(|s| s.gain),
                gain_err: stored.and_then(|s| s.gain_err),
                reason: stored.map(|s| s.message.clone()).unwrap_or_default(),
                figures: stored.map(|s| s.figures.clone()).unwrap_or_default(),
            }
        };
        let mut rows: Vec<(f64, String, Vec<Cell>)> = Vec::new();
        for p in &self.pattern {
            let (key, title) = match *p {
                PointLabel::Surface { theta, .. } => (theta, format!("θ {theta}°")),
                PointLabel::Hv { .. } => (0.0, "HV".to_string()),
                PointLabel::Dark { .. } => (0.0, "dark".to_string()),
            };
            match rows.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, cells)) => cells.push(cell(p)),
                None => rows.push((key, title, vec![cell(p)])),
            }
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, _, cells) in &mut rows {
            cells.sort_by(|a, b| a.point.cmp_key(&b.point));
        }
        rows.into_iter().map(|(_, t, c)| (t, c)).collect()
    }

    /// The first point in scan order not yet finished, while the run is running.
    pub fn next_expected(&self) -> Option<String> {
        if !matches!(self.run.state, RunState::Running) {
            return None;
        }
        self.pattern
            .iter()
            .map(PointLabel::label)
            .find(|l| !self.points.contains_key(l))
    }

    /// Counts, mean gain and spread of the finished points.
    pub fn summary(&self) -> Summary {
        let gains: Vec<f64> = self.points.values().filter_map(|p| p.gain).collect();
        let mean = (!gains.is_empty()).then(|| gains.iter().sum::<f64>() / gains.len() as f64);
        let spread = mean.filter(|m| *m != 0.0 && gains.len() > 1).map(|m| {
            let var = gains.iter().map(|g| (g - m).powi(2)).sum::<f64>() / (gains.len() - 1) as f64;
            var.sqrt() / m
        });
        let healthy = self
            .points
            .values()
            .filter(|p| p.status == PointStatus::Healthy)
            .count();
        Summary {
            done: self.points.len(),
            total: self.pattern.len(),
            healthy,
            poor: self.points.len() - healthy,
            mean_gain: mean,
            spread,
        }
    }

    /// Seconds since the run started (to `ended_at` once it has ended).
    pub fn elapsed(&self, now: i64) -> Option<i64> {
        let start = self.run.started_at?;
        Some(self.run.ended_at.unwrap_or(now) - start)
    }

    /// Seconds left, estimated from the pace so far.
    pub fn eta(&self, now: i64) -> Option<i64> {
        if self.run.state.is_final() {
            return None;
        }
        let done = self.points.len() as i64;
        let total = self.pattern.len() as i64;
        let elapsed = self.elapsed(now)?;
        (done > 0 && total > done).then(|| elapsed * (total - done) / done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Review, ScanKind};

    fn view(pattern: Vec<PointLabel>, done: &[(&str, PointStatus, f64)]) -> RunView {
        let run = Run {
            id: 1,
            slot_id: 1,
            serial: "KM1".into(),
            kind: ScanKind::Surface,
            profile_name: "p".into(),
            profile: "{}".into(),
            state: RunState::Running,
            message: String::new(),
            job: None,
            remote_out: String::new(),
            points_total: pattern.len() as i64,
            points_done: done.len() as i64,
            operator: "o".into(),
            review: Review::Unreviewed,
            review_reason: String::new(),
            reviewed_by: String::new(),
            reviewed_at: None,
            review_dest: String::new(),
            local_removed: false,
            created_at: 0,
            started_at: Some(0),
            ended_at: None,
            hv: None,
            hv_err: None,
            hv_from: None,
            gpu: None,
        };
        let points = done
            .iter()
            .map(|(l, s, g)| {
                (
                    l.to_string(),
                    Point {
                        run_id: 1,
                        label: l.to_string(),
                        theta: None,
                        phi: None,
                        hv: None,
                        status: *s,
                        gain: Some(*g),
                        gain_err: None,
                        message: String::new(),
                        figures: Default::default(),
                        at: 0,
                    },
                )
            })
            .collect();
        RunView {
            run,
            pattern,
            points,
            job_status: String::new(),
            hv_nominal: None,
            hv: None,
            hv_lab: None,
        }
    }

    #[test]
    fn the_r12860_grid_is_the_centre_then_five_rows_of_four() {
        let pattern: Vec<PointLabel> = super::super::profile::r12860_pattern()
            .into_iter()
            .map(|[theta, phi]| PointLabel::Surface { theta, phi })
            .collect();
        let v = view(
            pattern,
            &[
                ("theta0_phi0", PointStatus::Healthy, 1.0e7),
                ("theta10_phi0", PointStatus::Poor, 0.7e7),
            ],
        );
        let rows = v.rows();
        let shape: Vec<usize> = rows.iter().map(|(_, c)| c.len()).collect();
        assert_eq!(shape, [1, 4, 4, 4, 4, 4]);
        assert_eq!(rows[1].0, "θ 10°");
        assert_eq!(rows[1].1[0].status, CellStatus::Done(PointStatus::Poor));
        assert_eq!(rows[1].1[1].status, CellStatus::Processing);
        assert_eq!(rows[1].1[2].status, CellStatus::Pending);
        let s = v.summary();
        assert_eq!((s.done, s.total, s.healthy, s.poor), (2, 21, 1, 1));
        assert!((s.mean_gain.unwrap_or(0.0) - 0.85e7).abs() < 1.0);
        assert_eq!(v.eta(10), Some(95));
    }
}
