//! The monitor's read queries: History, a run with its points (from the board when it is
//! live, otherwise from the store), the comparison with the previous run of the same serial,
//! and a point's result document from the local copy. Nothing here changes state.

use std::collections::BTreeMap;

use super::{Error, Monitor, Result, RunView, refused, run_view};
use crate::model::{Run, RunFilter};
use crate::pipeline::label::Label;
use crate::pipeline::point::PointResult;

/// A run opened for review or from History: the run, its points, its pattern.
pub type RunDetail = RunView;

/// Per-point gain difference against the previous run of the same serial.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub previous: Run,
    /// label → (this gain, previous gain, relative difference this/previous − 1).
    pub diffs: BTreeMap<String, GainDiff>,
}

/// One point of a [`Comparison`]: (this gain, previous gain, this/previous − 1).
pub type GainDiff = (Option<f64>, Option<f64>, Option<f64>);

impl Monitor {
    /// Runs for the History tab.
    pub async fn history(&self, filter: RunFilter) -> Result<Vec<Run>> {
        self.db(move |s| s.runs(&filter)).await
    }

    /// A run with its points, as the grid draws it (also runs no slot shows any more).
    pub async fn run_detail(&self, run_id: i64) -> Result<Option<RunDetail>> {
        if let Some(v) = self.snapshot().runs.get(&run_id) {
            return Ok(Some(v.as_ref().clone()));
        }
        let found = self
            .db(move |s| {
                let Some(run) = s.get_run(run_id)? else {
                    return Ok(None);
                };
                let points = s.points(run_id)?;
                Ok(Some((run, points)))
            })
            .await?;
        Ok(found.map(|(run, points)| run_view(run, points, String::new())))
    }

    /// The per-point gain difference against the previous run of the same serial.
    pub async fn compare(&self, run_id: i64) -> Result<Option<Comparison>> {
        let found = self
            .db(move |s| {
                let Some(prev) = s.previous_run_of_serial(run_id)? else {
                    return Ok(None);
                };
                let now = s.points(run_id)?;
                let before = s.points(prev.id)?;
                Ok(Some((prev, now, before)))
            })
            .await?;
        let Some((previous, now, before)) = found else {
            return Ok(None);
        };
        let mut diffs = BTreeMap::new();
        for p in &now {
            let old = before
                .iter()
                .find(|b| b.label == p.label)
                .and_then(|b| b.gain);
            let rel = match (p.gain, old) {
                (Some(a), Some(b)) if b != 0.0 => Some(a / b - 1.0),
                _ => None,
            };
            diffs.insert(p.label.clone(), (p.gain, old, rel));
        }
        Ok(Some(Comparison { previous, diffs }))
    }

    /// A point's full result document (pipeline mode), read from the local copy.
    pub async fn point_result(&self, run_id: i64, label: &str) -> Result<Option<PointResult>> {
        if !Label::is_valid(label) {
            return Err(refused(format!("{label:?} is not a point label")));
        }
        let path = self.run_dir(run_id).join(label).join("result.json");
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    what: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| refused(format!("{} is not a result document: {e}", path.display())))
    }
}
