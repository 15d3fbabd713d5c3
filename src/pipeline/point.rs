//! One scan point, from its files to the result document (`result.json`): read the
//! channels (in parallel), align trigger and PMT by event number, extract per-event
//! features, select, histogram, fit, judge health.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::fit::{Model, Param, Status};
use super::histogram::Histogram;

/// Health of a point, as the live grid colours it (see [`judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Fit ok and gain inside the configured band.
    Healthy,
    /// Not sure either way: the gain is outside the band but within the configured
    /// confidence of its edge, or the fit does not describe the spectrum (χ²/ndf), or
    /// there is no gain at all.
    Warning,
    /// The band is excluded at the configured confidence (2σ by default).
    Poor,
}

impl Health {
    /// `healthy` / `warning` / `poor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Warning => "warning",
            Health::Poor => "poor",
        }
    }
}

/// The verdict on a point and why, from its status, gain ± error and χ²/ndf against the
/// configured band: *healthy* when the gain is inside the band (and the fit describes the
/// spectrum), *poor* only when the band is excluded at `confidence_sigma` standard
/// deviations, *warning* in between and whenever the fit is poor or gave no gain.
pub fn judge(
    status: Status,
    gain: Option<f64>,
    gain_err: Option<f64>,
    chi2_ndf: Option<f64>,
    h: &super::config::HealthRange,
) -> (Health, String) {
    let band = format!("{:.4e} … {:.4e}", h.gain_min, h.gain_max);
    let Some(g) = gain.filter(|_| status == Status::Ok) else {
        return (
            Health::Warning,
            format!("no gain ({status}): the tube cannot be judged from this point"),
        );
    };
    let k = h.confidence_sigma;
    let fit_note = chi2_ndf.filter(|c| *c > h.max_chi2_ndf).map(|c| {
        format!(
            "the fit does not describe the spectrum (χ²/ndf = {c:.1} > {})",
            h.max_chi2_ndf
        )
    });
    if h.contains(g) {
        return match fit_note {
            Some(n) => (
                Health::Warning,
                format!("gain {g:.4e} inside the band, but {n}"),
            ),
            None => (
                Health::Healthy,
                format!("gain {g:.4e} inside the band {band}"),
            ),
        };
    }
    let (side, edge) = if g < h.gain_min {
        ("below", h.gain_min)
    } else {
        ("above", h.gain_max)
    };
    let err = gain_err.filter(|e| e.is_finite() && *e > 0.0);
    let dist = (g - edge).abs();
    let pm = err.map_or(String::new(), |e| format!(" ± {e:.2e}"));
    match err.map(|e| dist / e) {
        Some(n) if n <= k => (
            Health::Warning,
            format!(
                "gain {g:.4e}{pm} is {side} the band {band} by {n:.1}σ: within {k}σ of its edge, \
                 not excluded{}",
                fit_note.map_or(String::new(), |f| format!("; {f}"))
            ),
        ),
        Some(n) if fit_note.is_none() => (
            Health::Poor,
            format!("gain {g:.4e}{pm} is {side} the band {band} by {n:.1}σ (> {k}σ)"),
        ),
        Some(n) => (
            Health::Warning,
            format!(
                "gain {g:.4e}{pm} is {side} the band {band} by {n:.1}σ, but {}",
                fit_note.unwrap_or_default()
            ),
        ),
        None => (
            Health::Warning,
            format!("gain {g:.4e} is {side} the band {band}, and has no error to judge by"),
        ),
    }
}

/// Wall-clock time spent per stage, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub read: f64,
    pub features: f64,
    pub fit: f64,
    pub total: f64,
}

/// The result document of one point: what `result.json` holds and `process --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// PMT serial number, when given.
    pub serial: Option<String>,
    /// Point label (`theta30_phi90`, `hv1500`, or the input's file stem).
    pub point: String,
    pub theta: Option<f64>,
    pub phi: Option<f64>,
    pub hv: Option<f64>,
    pub status: Status,
    pub model: Model,
    /// Gain = Q1 / e of the fully amplified SPE peak (`None` unless status is `ok`).
    pub gain: Option<f64>,
    pub gain_err: Option<f64>,
    /// Mean SPE charge / e, under-amplified photoelectrons included (what an LED-on/off
    /// or mean-charge method measures); below `gain` by the under-amplified part.
    #[serde(default)]
    pub mean_spe_gain: Option<f64>,
    #[serde(default)]
    pub mean_spe_gain_err: Option<f64>,
    /// Events read.
    pub events: u64,
    /// Events in the fitted histogram.
    pub selected: u64,
    /// Unit of the charge axis and of charge parameters.
    pub charge_unit: String,
    pub params: BTreeMap<String, Param>,
    pub chi2: Option<f64>,
    pub ndf: Option<u32>,
    pub health: Health,
    /// Why the point is healthy, warning or poor, for the operator.
    #[serde(default)]
    pub health_reason: String,
    /// Why the status is not `ok`, for the operator.
    pub message: Option<String>,
    pub warnings: Vec<String>,
    pub timings_ms: Timings,
    /// Fraction of events with a PMT pulse over threshold (waveform inputs only).
    pub pulse_fraction: Option<f64>,
    /// Charge window used, in samples `[start, end)` (waveform inputs only).
    pub window: Option<[i64; 2]>,
    /// Input files.
    pub sources: Vec<PathBuf>,
    /// When the result was made (RFC 3339, UTC).
    pub created: String,
    /// The fitted spectrum, so a viewer can redraw it without the raw data.
    pub histogram: Histogram,
    /// SPE resolution, peak-to-valley and (with an LED-off spectrum) the model-independent
    /// occupancy: the figures that qualify a tube beyond its gain.
    #[serde(default)]
    pub figures: Figures,
    /// Every criterion judged (gain, resolution, P/V, occupancy, dark rate, TTS, …): which
    /// one made the point a warning or poor, and its value against its band.
    #[serde(default)]
    pub checks: Vec<Check>,
}

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::E_PC;
use super::config::AnalysisConfig;
use super::data::Input;
use super::error::{Error, Result};
use super::figures::{self, Figures};
use super::fit::{self, FitResult};
use super::health::{self, Check};
use super::output;
use super::plot;
use super::readers::{self, ReadOptions};
use super::scan::PointLabel;
use super::serial::Serial;
use super::spectrum::{MIN_PULSES, Spectrum, charge_spectrum, waveform_spectrum};

/// Fewest events without a PMT pulse for the pedestal to be placed: with fewer, an
/// `unresolved` fit says that the occupancy is too high rather than that pedestal and SPE
/// overlap (μ 5 in 4,000 events leaves ~27; μ 4, ~75, is fitted).
const MIN_PEDESTAL_EVENTS: usize = 50;

/// What the caller knows about a point beyond its files.
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    pub serial: Option<Serial>,
    /// Point label; derived from the directory or file name when absent.
    pub point: Option<String>,
    pub read: ReadOptions,
    /// Skip the figures beyond the gain (transit time, dark rate, reference sensor): a
    /// gain-only look, and the benchmark's measure of what the figures cost.
    pub no_figures: bool,
}

/// A processed point: the result document plus the fit with its curve (for the plot).
#[derive(Debug, Clone)]
pub struct ProcessedPoint {
    pub result: PointResult,
    pub fit: FitResult,
}

/// How to write a point's outputs.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions<'a> {
    /// Draw `charge.png`.
    pub plot: bool,
    /// Reference spectrum overlaid on the plot.
    pub reference: Option<&'a Histogram>,
}

/// The waveform files of a point directory (`wave<ch>*.txt|dat`, also `TR_0_<ch>`),
/// sorted by channel. Hidden and temporary files are ignored.
pub fn point_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ext_ok = name.ends_with(".txt") || name.ends_with(".dat");
        if name.starts_with('.') || !ext_ok {
            continue;
        }
        if let Some(ch) = readers::channel_from_file_name(&name) {
            files.push((ch, entry.path()));
        }
    }
    if files.is_empty() {
        return Err(Error::Input(format!(
            "{}: no waveform files (wave<ch>*.txt or .dat) in this point directory",
            dir.display()
        )));
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// The point label for a directory or file name: `wavesave_theta30_phi90` → `theta30_phi90`.
fn label_of(path: &Path) -> String {
    let name = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    };
    let name = name
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match PointLabel::parse(&name) {
        Some(l) => l.label(),
        None => name,
    }
}

/// Processes one point: `inputs` are either one point directory or files.
pub fn process_inputs(
    inputs: &[PathBuf],
    cfg: &AnalysisConfig,
    opts: &ProcessOptions,
) -> Result<ProcessedPoint> {
    let t0 = Instant::now();
    let files = match inputs {
        [one] if one.is_dir() => point_files(one)?,
        [] => return Err(Error::Input("no input files given".into())),
        _ => inputs.to_vec(),
    };
    let point = opts
        .point
        .clone()
        .unwrap_or_else(|| inputs.first().map(|p| label_of(p)).unwrap_or_default());
    let mut read_opts = opts.read.clone();
    if read_opts.record_length.is_none() {
        read_opts.record_length = cfg.digitizer.record_length;
    }
    // Channels of a point are independent files: read them on all cores.
    let inputs_read: Vec<Input> = files
        .par_iter()
        .map(|f| readers::read(f, &read_opts))
        .collect::<Result<_>>()?;
    let mut p = process_loaded(inputs_read, files, point, cfg, opts)?;
    p.result.timings_ms.read = ms(t0) - p.result.timings_ms.total;
    p.result.timings_ms.total = ms(t0);
    Ok(p)
}

/// Processes one point from inputs already in memory (read from `files`, or simulated).
/// The `read` timing is left at zero; [`process_inputs`] fills it in.
pub fn process_loaded(
    inputs_read: Vec<Input>,
    files: Vec<PathBuf>,
    point: String,
    cfg: &AnalysisConfig,
    opts: &ProcessOptions,
) -> Result<ProcessedPoint> {
    let t0 = Instant::now();

    let mut warnings = Vec::new();
    let mut waves = Vec::new();
    let mut charges = Vec::new();
    for input in inputs_read {
        match input {
            Input::Waveforms(w) => {
                warnings.extend(w.warnings.iter().cloned());
                waves.push(w);
            }
            Input::Charges(c) => charges.push(c),
        }
    }
    if matches!(PointLabel::parse(&point), Some(PointLabel::Dark { .. })) {
        return dark_point(waves, files, point, cfg, opts, warnings, t0);
    }
    let t1 = Instant::now();
    let spectrum = match (waves.is_empty(), charges.len()) {
        (false, 0) => waveform_spectrum(&waves, cfg, !opts.no_figures, &mut warnings)?,
        (true, 1) => charge_spectrum(charges.remove(0), cfg, &mut warnings)?,
        _ => {
            return Err(Error::Input(format!(
                "{}: give either the waveform files of one point or one charge file",
                files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let features_ms = ms(t1);

    let t2 = Instant::now();
    let Spectrum {
        hist,
        events,
        selected,
        pulses,
        window,
        timing,
        dark,
        reference,
    } = spectrum;
    let mut fit = fit::fit_histogram_with(&hist, cfg.fit.model, cfg.fit.min_events);
    // Waveforms tell more than the spectrum: a point where (almost) no event has a PMT
    // pulse in the window is pedestal only, however many events it has.
    if let Some((in_window, total)) = pulses
        && in_window < MIN_PULSES
        && (in_window as f64) < 0.01 * total as f64
    {
        fit.status = fit::Status::NoSignal;
        fit.message = Some(format!(
            "only {in_window} of {total} events have a PMT pulse over {} mV in the charge window: \
             pedestal only",
            cfg.pmt.threshold_mv
        ));
    }
    // The other end: where nearly every event has a pulse, the events without one (the
    // pedestal) are too few to place it, and the fit reads the photoelectrons' hump as a
    // broad pedestal (μ 5–7: "pedestal and SPE overlap", σ₀ ~1 pC). Say so.
    if let Some((in_window, total)) = pulses
        && fit.status == fit::Status::Unresolved
        && total.saturating_sub(in_window) < MIN_PEDESTAL_EVENTS
    {
        let without = total.saturating_sub(in_window);
        let mu = -(without.max(1) as f64 / total.max(1) as f64).ln();
        fit.message = Some(format!(
            "only {without} of {total} events have no PMT pulse over {} mV in the charge \
             window (occupancy ≈ {mu:.1}): too few to place the pedestal, which Q1 is read \
             from; lower the light level (μ ≲ 3). The fit: {}",
            cfg.pmt.threshold_mv,
            fit.message.as_deref().unwrap_or("unresolved")
        ));
    }
    let fit_ms = ms(t2);
    if fit.excluded > 0 {
        warnings.push(format!(
            "{} more than {} pedestal widths below the pedestal and {} not fitted \
             (outliers; from waveforms typically a pulse in the baseline samples)",
            match fit.excluded {
                1 => "1 entry lies".to_string(),
                n => format!("{n} entries lie"),
            },
            super::fit::PEDESTAL_REACH,
            if fit.excluded == 1 { "is" } else { "are" }
        ));
    }

    warnings.extend(fit.notes.iter().cloned());
    if fit.error_scale > 1.0 + 1e-9 {
        warnings.push(format!(
            "errors scaled by √(χ²/⟨χ²⟩) = {:.2} (χ² {:.0}, where Poisson fluctuations alone \
             give {:.0} on average): the model describes the spectrum only to that precision",
            fit.error_scale,
            fit.chi2.unwrap_or(f64::NAN),
            fit.chi2_expected.unwrap_or(f64::NAN)
        ));
    }
    let (gain, gain_err) = match fit.q1() {
        Some(q1) => match to_pc(&hist.unit, cfg) {
            Some(k) => {
                if hist.unit != "pC" {
                    warnings.push(format!(
                        "gain converted from {} with the config's digitizer settings \
                         ({} bit, {} Vpp, {} ns, {} ohm, amplifier x{})",
                        hist.unit,
                        cfg.digitizer.bits,
                        cfg.digitizer.vpp,
                        cfg.digitizer.sample_ns,
                        cfg.digitizer.impedance_ohm,
                        cfg.digitizer.amplifier_gain
                    ));
                }
                (Some(q1.value * k / E_PC), q1.error.map(|e| e * k / E_PC))
            }
            None => (None, None),
        },
        None => (None, None),
    };
    let (mean_spe_gain, mean_spe_gain_err) = match (fit.mean_spe(), to_pc(&hist.unit, cfg)) {
        (Some(m), Some(k)) => (Some(m.value * k / E_PC), m.error.map(|e| e * k / E_PC)),
        _ => (None, None),
    };
    let chi2_ndf = match (fit.chi2, fit.ndf) {
        (Some(c), Some(n)) if n > 0 => Some(c / f64::from(n)),
        _ => None,
    };
    let label = PointLabel::parse(&point);
    let mut figures = figures::of_fit(&fit, &hist);
    figures.timing = timing;
    figures.occupancy_counted =
        pulses.and_then(|(with, n)| super::reference::counted_occupancy(with as u64, n as u64));
    figures.relative_efficiency = super::reference::relative_efficiency(
        figures.occupancy_counted.as_ref(),
        reference.as_ref(),
    );
    figures.reference = reference;
    if let Some(d) = dark
        && let Some(w) = waves.get(d.pmt)
    {
        let q1 = fit.q1().map(|q| (q.value, hist.unit.as_str()));
        figures.darkness = darkness(w, &d, q1, cfg);
    }
    let checks = health::assess(
        fit.status,
        gain,
        gain_err,
        chi2_ndf,
        fit.params.get("mu"),
        &figures,
        &cfg.health,
    );
    let (health, health_reason) = health::verdict(&checks);
    let result = PointResult {
        serial: opts.serial.as_ref().map(|s| s.to_string()),
        theta: label.and_then(|l| l.theta()),
        phi: label.and_then(|l| l.phi()),
        hv: label.and_then(|l| l.hv()),
        point,
        status: fit.status,
        model: fit.model,
        gain,
        gain_err,
        mean_spe_gain,
        mean_spe_gain_err,
        events,
        selected,
        charge_unit: hist.unit.clone(),
        params: fit.params.clone(),
        chi2: fit.chi2,
        ndf: fit.ndf,
        health,
        health_reason,
        message: fit.message.clone(),
        warnings,
        timings_ms: Timings {
            read: 0.0,
            features: features_ms,
            fit: fit_ms,
            total: ms(t0),
        },
        pulse_fraction: pulses.map(|(p, n)| p as f64 / (n.max(1)) as f64),
        window,
        sources: files,
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        histogram: hist,
        figures,
        checks,
    };
    Ok(ProcessedPoint { result, fit })
}

/// A darkness check's point: a dark run, counted into a dark rate (see
/// [`super::spectrum::dark_spectrum`]) at `darkness.threshold_mv` (else the PMT pulse
/// threshold), never below 5σ of the baseline noise. There is no light, so no SPE fit and
/// no gain: the point is judged by its dark rate alone.
fn dark_point(
    waves: Vec<super::data::Waveforms>,
    files: Vec<PathBuf>,
    point: String,
    cfg: &AnalysisConfig,
    opts: &ProcessOptions,
    mut warnings: Vec<String>,
    t0: Instant,
) -> Result<ProcessedPoint> {
    if waves.is_empty() {
        return Err(Error::Input(format!(
            "{point} is a dark run: it needs the waveform files of the PMT channel, not charges"
        )));
    }
    let t1 = Instant::now();
    let (hist, d) = super::spectrum::dark_spectrum(&waves, cfg, &mut warnings)?;
    let mut figures = Figures::default();
    if let Some(w) = waves.get(d.pmt) {
        figures.darkness = darkness(w, &d, None, cfg);
    }
    let features_ms = ms(t1);
    let message = match &figures.darkness {
        Some(dk) => format!(
            "dark run: {} pulses over {:.2} mV in {:.3} ms of records",
            dk.pulses,
            dk.threshold_mv,
            dk.live_s * 1e3
        ),
        None => "dark run: no records to count dark pulses in".to_string(),
    };
    let fit = FitResult::without_fit(fit::Status::Ok, cfg.fit.model, &hist, message);
    let checks = health::assess_dark(&figures, &cfg.health);
    let (health, health_reason) = health::verdict(&checks);
    let events = waves.get(d.pmt).map_or(0, |w| w.events() as u64);
    let result = PointResult {
        serial: opts.serial.as_ref().map(|s| s.to_string()),
        theta: None,
        phi: None,
        hv: None,
        point,
        status: fit.status,
        model: fit.model,
        gain: None,
        gain_err: None,
        mean_spe_gain: None,
        mean_spe_gain_err: None,
        events,
        selected: hist.total().round() as u64,
        charge_unit: hist.unit.clone(),
        params: BTreeMap::new(),
        chi2: None,
        ndf: None,
        health,
        health_reason,
        // The status is `ok`: the dark rate and its verdict are the health reason.
        message: None,
        warnings,
        timings_ms: Timings {
            read: 0.0,
            features: features_ms,
            fit: 0.0,
            total: ms(t0),
        },
        pulse_fraction: None,
        window: None,
        sources: files,
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        histogram: hist,
        figures,
        checks,
    };
    Ok(ProcessedPoint { result, fit })
}

/// Dark pulses in the pre-trigger part of the records, at `darkness.threshold_pe` of the
/// fitted SPE height; without an SPE fit (a dark run), at the configured threshold in mV.
/// `fit_q1`: the fitted SPE charge and its unit (`None` for a dark run).
fn darkness(
    w: &super::data::Waveforms,
    d: &super::timing::DarkInputs,
    fit_q1: Option<(f64, &str)>,
    cfg: &AnalysisConfig,
) -> Option<super::timing::Darkness> {
    let dk = &cfg.darkness;
    let spe_mv = match (fit_q1, d.mv_per_pc) {
        (Some((q1, "pC")), Some(k)) if q1 > 0.0 => Some(q1 * k),
        _ => None,
    };
    let noise =
        super::timing::noise_rms_mv(w, &d.baselines, cfg.pmt.baseline_samples, &cfg.digitizer);
    let floor = noise.map_or(0.0, |n| super::timing::NOISE_FLOOR_SIGMA * n);
    let (thr_mv, thr_pe) = match spe_mv {
        Some(a) => {
            let t = (dk.threshold_pe * a).max(floor);
            (t, Some(t / a))
        }
        None => (dk.threshold_mv.unwrap_or(cfg.pmt.threshold_mv), None),
    };
    if !(thr_mv.is_finite() && thr_mv > 0.0) {
        return None;
    }
    let (n, live) = super::timing::count_dark(w, d, thr_mv, &cfg.digitizer);
    let mut dark = super::timing::dark_rate(n, live, thr_mv, thr_pe)?;
    dark.noise_mv = noise;
    Some(dark)
}

/// Adds the model-independent occupancy of an LED-on point from its LED-off run (both
/// processed with one configuration) to its figures, with the same count made on the
/// point's fit beside it; what prevents it becomes a warning.
pub fn add_led_off(point: &mut ProcessedPoint, off: &PointResult) {
    let on = &mut point.result;
    if on.window != off.window {
        on.warnings.push(format!(
            "the LED-off run's charge window {:?} differs from this point's {:?}: fix the \
             window in the configuration so both integrate the same samples",
            off.window, on.window
        ));
    }
    match figures::model_independent_histograms(&on.histogram, &off.histogram, None) {
        Ok(mut mi) => {
            mi.fit_counted = figures::fit_counted(&point.fit, mi.threshold);
            on.figures.model_independent = Some(mi);
        }
        Err(why) => on
            .warnings
            .push(format!("no model-independent occupancy: {why}")),
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// pC per unit of `unit`, when the unit is one we can convert.
fn to_pc(unit: &str, cfg: &AnalysisConfig) -> Option<f64> {
    match unit {
        "pC" => Some(1.0),
        "ADC*samples" => Some(cfg.digitizer.pc_per_adc_sample()),
        // Q = ∫V dt / R
        "V*s" => Some(1e12 / cfg.digitizer.impedance_ohm / cfg.digitizer.amplifier_gain),
        "nV*s" => Some(1e3 / cfg.digitizer.impedance_ohm / cfg.digitizer.amplifier_gain),
        "mV*ns" => Some(1.0 / cfg.digitizer.impedance_ohm / cfg.digitizer.amplifier_gain),
        _ => None,
    }
}

/// Writes `result.json`, `charge.png` and `<prefix>_GAIN.txt` into `out_dir`, each
/// atomically; the prefix is `<serial>_<point>` (or the point alone).
pub fn write_outputs(p: &ProcessedPoint, out_dir: &Path, opts: &OutputOptions) -> Result<()> {
    let r = &p.result;
    if opts.plot {
        let png = plot::charge_png(&plot::ChargePlot {
            hist: &r.histogram,
            fit: &p.fit,
            title: plot_title(r),
            gain: r.gain.map(|g| (g, r.gain_err.unwrap_or(f64::NAN))),
            reference: opts.reference,
            reference_label: None,
        })?;
        output::write_atomic(&out_dir.join("charge.png"), &png)?;
    }
    let prefix = match &r.serial {
        Some(s) => format!("{s}_{}", r.point),
        None => r.point.clone(),
    };
    output::write_gain_txt(&out_dir.join(format!("{prefix}_GAIN.txt")), r.gain)?;
    // result.json last: its presence marks the point as done (`--watch` relies on it).
    let json = serde_json::to_vec_pretty(r)
        .map_err(|e| Error::Input(format!("cannot encode the result document: {e}")))?;
    output::write_atomic(&out_dir.join("result.json"), &json)?;
    Ok(())
}

/// The title line of a point's `charge.png`: serial, point and when it was made.
fn plot_title(r: &PointResult) -> String {
    format!(
        "{}  point {}  {}",
        r.serial.as_deref().unwrap_or("(no serial)"),
        r.point,
        r.created
    )
}

/// Draws a point's `charge.png` again from its result document alone, optionally with a
/// reference spectrum overlaid under the legend entry `reference_label`. The document
/// keeps the fitted histogram but not the model curve, so the histogram is fitted once
/// more with the same model (the fit is deterministic: the same curve comes out); the
/// stored verdict, parameters and χ² are what the plot states.
pub fn charge_png_from_result(
    r: &PointResult,
    min_events: usize,
    reference: Option<&Histogram>,
    reference_label: Option<&str>,
) -> Result<Vec<u8>> {
    let mut fit = fit::fit_histogram_with(&r.histogram, r.model, min_events);
    fit.status = r.status;
    fit.message = r.message.clone();
    fit.params = r.params.clone();
    fit.chi2 = r.chi2;
    fit.ndf = r.ndf;
    plot::charge_png(&plot::ChargePlot {
        hist: &r.histogram,
        fit: &fit,
        title: plot_title(r),
        gain: r.gain.map(|g| (g, r.gain_err.unwrap_or(f64::NAN))),
        reference,
        reference_label,
    })
}
