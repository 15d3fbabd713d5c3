//! The last hour of each chart the System tab draws (GPU utilisation and memory, host
//! load, free disk), kept by the sampler. Samples arrive every 2 s; what is published is
//! averaged into [`BUCKET_SECS`] buckets (at most 180 points per chart), so a browser
//! receives a small change per update, not a new hour of points.

use std::collections::{BTreeMap, VecDeque};

use crate::model::ChartSeries;

/// How far back the charts go.
pub const WINDOW_SECS: i64 = 3600;
/// The width of one published point.
pub const BUCKET_SECS: i64 = 20;

struct Track {
    title: String,
    unit: String,
    max: Option<f64>,
    samples: VecDeque<(i64, f64)>,
}

/// Every chart's samples of the last hour.
#[derive(Default)]
pub(crate) struct History {
    tracks: BTreeMap<String, Track>,
}

impl History {
    /// Adds one sample (`t` in Unix seconds) to the chart `key`.
    pub fn record(&mut self, key: &str, title: &str, unit: &str, max: Option<f64>, t: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let track = self.tracks.entry(key.to_string()).or_insert_with(|| Track {
            title: title.to_string(),
            unit: unit.to_string(),
            max,
            samples: VecDeque::new(),
        });
        track.title = title.to_string();
        track.samples.push_back((t, v));
    }

    /// Drops samples older than the window (and charts left without any); the charts as
    /// published, bucket averages oldest first.
    pub fn charts(&mut self, now: i64) -> Vec<ChartSeries> {
        let oldest = now - WINDOW_SECS;
        self.tracks.retain(|_, tr| {
            while tr.samples.front().is_some_and(|(t, _)| *t < oldest) {
                tr.samples.pop_front();
            }
            !tr.samples.is_empty()
        });
        self.tracks
            .iter()
            .map(|(key, tr)| {
                let mut points: Vec<(i64, f64)> = Vec::new();
                let mut bucket: Option<(i64, f64, u32)> = None;
                for &(t, v) in &tr.samples {
                    let b = t.div_euclid(BUCKET_SECS) * BUCKET_SECS;
                    bucket = match bucket {
                        Some((bt, sum, n)) if bt == b => Some((bt, sum + v, n + 1)),
                        Some((bt, sum, n)) => {
                            points.push((bt, sum / f64::from(n)));
                            Some((b, v, 1))
                        }
                        None => Some((b, v, 1)),
                    };
                }
                if let Some((bt, sum, n)) = bucket {
                    points.push((bt, sum / f64::from(n)));
                }
                ChartSeries {
                    key: key.clone(),
                    title: tr.title.clone(),
                    unit: tr.unit.clone(),
                    max: tr.max,
                    points,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_averaged_per_bucket_and_forgotten_after_an_hour() {
        let mut h = History::default();
        for i in 0..30 {
            h.record("load-x", "load", "", None, 1000 + 2 * i, i as f64);
        }
        let c = h.charts(1060);
        assert_eq!(c.len(), 1);
        // 1000..1019 → one bucket (t 1000: samples 0..9), 1020..1039, 1040..1059.
        assert_eq!(c[0].points.len(), 3);
        assert_eq!(c[0].points[0], (1000, 4.5));
        assert!(h.charts(1060 + WINDOW_SECS).is_empty());
    }
}
