//! A simulated HV check in the bench's own layout,
//! `WaveDumpSaves/wavedump_output_<stamp>/<SN>/wavesave_HV_CHECK/wave<ch>save_HV_<V>.txt`,
//! with a known power law `G(V) = 1e7·(V / V₁ₑ₇)^slope` written to `hv_truth.json`, so the
//! HV fit can be tested end to end against the voltage it must find. Each voltage is one
//! point of the ordinary simulator ([`super::simulate`]) with that gain.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::output::write_atomic;
use super::serial::Serial;
use super::simulate::{SimParams, derive_seed, simulate_point, write_wavedump_ascii};

/// Name of the directory the bench writes an HV check into (under the serial's).
pub use super::scan::HV_CHECK_DIR;

/// The HV check to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct HvCheckSim {
    /// Nominal voltage; the points are nominal + each offset.
    pub nominal: f64,
    /// Offsets from the nominal voltage (the bench: −100, −50, 0, +50, +100 V).
    pub offsets: Vec<f64>,
    /// The power law's exponent (gain ∝ V^slope).
    pub slope: f64,
    /// The voltage at which the gain is 1e7.
    pub hv_at_1e7: f64,
    /// Voltages written without light (pedestal only): a point with no signal.
    pub dark: Vec<f64>,
    /// The `<stamp>` of `wavedump_output_<stamp>`.
    pub stamp: String,
}

/// The bench's default voltage offsets around the nominal one.
pub const DEFAULT_OFFSETS: [f64; 5] = [-100.0, -50.0, 0.0, 50.0, 100.0];

/// One simulated voltage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HvPointTruth {
    pub hv: f64,
    /// Gain (Q1 of the Gaussian SPE / e) at this voltage.
    pub gain: f64,
    /// Mean photoelectrons per event (0 for a dark point).
    pub occupancy: f64,
    pub files: Vec<PathBuf>,
}

/// The content of `hv_truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HvTruth {
    pub serial: String,
    pub seed: u64,
    pub created: String,
    pub nominal: f64,
    pub slope: f64,
    /// The voltage for a gain of 1e7 that a fit must find.
    pub hv_at_1e7: f64,
    /// The directory holding the waveform files.
    pub dir: PathBuf,
    pub points: Vec<HvPointTruth>,
}

/// A voltage as the bench writes it in names: `1500`, or `1512.5`.
pub fn volts_name(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A stamp for `wavedump_output_<stamp>` from the clock: `20260105_143012` (UTC).
pub fn stamp_now() -> String {
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    t.chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect::<String>()
        .replace('T', "_")
}

impl HvCheckSim {
    /// The voltages, in the order of the offsets.
    pub fn voltages(&self) -> Vec<f64> {
        self.offsets.iter().map(|o| self.nominal + o).collect()
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Input(format!("HV check simulation: {m}")));
        if !(self.slope.is_finite() && self.slope > 0.0) {
            return bad(format!("the slope must be positive, got {}", self.slope));
        }
        if !(self.hv_at_1e7.is_finite() && self.hv_at_1e7 > 0.0) {
            return bad(format!(
                "the voltage at 1e7 must be positive, got {}",
                self.hv_at_1e7
            ));
        }
        if self.offsets.is_empty() {
            return bad("no voltages: give at least one offset".into());
        }
        if let Some(v) = self
            .voltages()
            .iter()
            .find(|v| !(v.is_finite() && **v > 0.0))
        {
            return bad(format!("voltage {v} V: every voltage must be above 0 V"));
        }
        let ok_stamp = !self.stamp.is_empty()
            && self
                .stamp
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_stamp {
            return bad(format!(
                "stamp {:?}: use letters, digits, '_' and '-'",
                self.stamp
            ));
        }
        Ok(())
    }
}

/// Writes the HV check under `out_dir` (which receives `WaveDumpSaves/…` and
/// `hv_truth.json`). `base` gives everything but gain and occupancy per voltage; voltage
/// `i` uses the seed `derive_seed(seed, i)`. Each file is written under a hidden temporary
/// name and renamed into place, so a watcher never sees half a file. `progress(k)` is
/// called after the k-th voltage.
pub fn simulate_hv_check(
    out_dir: &Path,
    serial: &Serial,
    base: &SimParams,
    hv: &HvCheckSim,
    seed: u64,
    progress: impl FnMut(usize),
) -> Result<HvTruth> {
    let dir = out_dir
        .join("WaveDumpSaves")
        .join(format!("wavedump_output_{}", hv.stamp))
        .join(serial.as_str())
        .join(HV_CHECK_DIR);
    simulate_hv_check_in(
        &dir,
        &out_dir.join("hv_truth.json"),
        serial,
        base,
        hv,
        seed,
        None,
        progress,
    )
}

/// [`simulate_hv_check`] into the HV-check directory `dir` itself (`<scan
/// root>/<SN>/wavesave_HV_CHECK`, as a bench writes it under a profile's scan root), the
/// truth to `truth_file`, waiting `interval` after each voltage but the last (a bench in
/// real time, for the demo); `hv.stamp` is not used.
#[allow(clippy::too_many_arguments)]
pub fn simulate_hv_check_in(
    dir: &Path,
    truth_file: &Path,
    serial: &Serial,
    base: &SimParams,
    hv: &HvCheckSim,
    seed: u64,
    interval: Option<Duration>,
    mut progress: impl FnMut(usize),
) -> Result<HvTruth> {
    hv.validate()?;
    base.validate()?;
    let dir = dir.to_path_buf();
    let mut truth = HvTruth {
        serial: serial.to_string(),
        seed,
        created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        nominal: hv.nominal,
        slope: hv.slope,
        hv_at_1e7: hv.hv_at_1e7,
        dir: dir.clone(),
        points: Vec::new(),
    };
    let voltages = hv.voltages();
    for (i, &v) in voltages.iter().enumerate() {
        let mut p = base.clone();
        p.gain = 1e7 * (v / hv.hv_at_1e7).powf(hv.slope);
        if hv.dark.iter().any(|d| (d - v).abs() < 1e-6) {
            p.occupancy = 0.0;
        }
        p.validate()?;
        let files: Vec<PathBuf> = (0..3)
            .map(|ch| dir.join(format!("wave{ch}save_HV_{}.txt", volts_name(v))))
            .collect();
        truth.points.push(HvPointTruth {
            hv: v,
            gain: p.gain,
            occupancy: p.occupancy,
            files: files.clone(),
        });
        // The truth first, so a watcher never sees a voltage without it.
        let json = serde_json::to_vec_pretty(&truth)
            .map_err(|e| Error::Input(format!("hv_truth.json: {e}")))?;
        write_atomic(truth_file, &json)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let waves = simulate_point(&p, derive_seed(seed, i as u64));
        for (w, path) in waves.iter().zip(&files) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.tmp"));
            write_wavedump_ascii(&tmp, w)?;
            std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        }
        progress(i + 1);
        if let Some(pause) = interval
            && i + 1 < voltages.len()
        {
            std::thread::sleep(pause);
        }
    }
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_validation() {
        assert_eq!(volts_name(1500.0), "1500");
        assert_eq!(volts_name(1512.5), "1512.5");
        let s = stamp_now();
        assert!(s.len() == 15 && s.as_bytes()[8] == b'_', "{s}");
        let mut hv = HvCheckSim {
            nominal: 1500.0,
            offsets: DEFAULT_OFFSETS.to_vec(),
            slope: 7.0,
            hv_at_1e7: 1500.0,
            dark: Vec::new(),
            stamp: s,
        };
        assert!(hv.validate().is_ok());
        hv.offsets = vec![-1600.0];
        assert!(hv.validate().is_err());
        hv.offsets = vec![0.0];
        hv.stamp = "../x".into();
        assert!(hv.validate().is_err());
    }

    #[test]
    fn writes_the_bench_layout_with_the_power_law() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let serial = Serial::parse("EA0042").expect("serial");
        let base = SimParams {
            events: 20,
            ..SimParams::default()
        };
        let hv = HvCheckSim {
            nominal: 1600.0,
            offsets: vec![-50.0, 0.0],
            slope: 8.0,
            hv_at_1e7: 1600.0,
            dark: vec![1550.0],
            stamp: "20260101_000000".into(),
        };
        let t = simulate_hv_check(tmp.path(), &serial, &base, &hv, 3, |_| {}).expect("simulate");
        let d = tmp
            .path()
            .join("WaveDumpSaves/wavedump_output_20260101_000000/EA0042/wavesave_HV_CHECK");
        assert_eq!(t.dir, d);
        for ch in 0..3 {
            assert!(d.join(format!("wave{ch}save_HV_1550.txt")).is_file());
        }
        assert!((t.points[0].gain - 1e7 * (1550.0f64 / 1600.0).powf(8.0)).abs() < 1.0);
        assert_eq!((t.points[0].occupancy, t.points[1].gain), (0.0, 1e7));
        assert!(tmp.path().join("hv_truth.json").is_file());
    }
}
