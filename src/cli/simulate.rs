//! `pmtwatch simulate`: writes a realistic R12860 scan (surface scan or HV check) in the
//! bench's directory layout with its `truth.json`, optionally one point per interval so a
//! `process --watch` can be tried against a scan that plays out in real time.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::scan::{dark_points, hv_points, standard_surface_points};
use crate::pipeline::serial::Serial;
use crate::pipeline::simulate::{SimParams, simulate_scan};

/// Arguments of `pmtwatch simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Scan directory to write: `<OUT_DIR>/truth.json` and `<OUT_DIR>/<SN>/wavesave_<label>/`.
    #[arg(value_name = "OUT_DIR")]
    pub out_dir: PathBuf,
    /// PMT serial number (1–32 letters, digits, '_', '-').
    #[arg(long, value_name = "SN")]
    pub serial: String,
    /// Surface-scan points (21 is the standard scan). Ignored with --hv unless given.
    #[arg(long, value_name = "N")]
    pub points: Option<usize>,
    /// Events per point.
    #[arg(long, value_name = "N", default_value_t = 4000)]
    pub events: usize,
    /// Gain (Q1 / e) at the pole and nominal HV.
    #[arg(long, value_name = "G", default_value_t = 1e7)]
    pub gain: f64,
    /// Mean photoelectrons per event (λ).
    #[arg(long, value_name = "LAMBDA", default_value_t = 1.0)]
    pub occupancy: f64,
    /// Fraction of photoelectrons that are under-amplified (charge 0.2–0.4 Q1; default
    /// from the simulator: 0.04). 0 gives a purely Gaussian SPE response.
    #[arg(long, value_name = "FRACTION")]
    pub underamp: Option<f64>,
    /// Charge range of the under-amplified photoelectrons in units of Q1 (uniform),
    /// `LO,HI` (default 0.2,0.4).
    #[arg(long, value_name = "LO,HI")]
    pub underamp_range: Option<String>,
    /// Distribution of the under-amplified charges: `uniform` over the range (default),
    /// `exponential` (a continuum down to zero charge) or `hump` (a Gamma of shape 2), the
    /// last two with the range's middle as their mean.
    #[arg(long, value_name = "SHAPE")]
    pub underamp_shape: Option<crate::pipeline::simulate::UnderampShape>,
    /// SPE resolution σ1/Q1 of the fully amplified peak (default 0.3).
    #[arg(long, value_name = "RATIO")]
    pub spe_resolution: Option<f64>,
    /// Dark-count rate in Hz: pulses anywhere in the record (default 6000).
    #[arg(long, value_name = "HZ")]
    pub dark_rate: Option<f64>,
    /// Transit-time spread σ in ns (default 1.3).
    #[arg(long, value_name = "NS")]
    pub tts: Option<f64>,
    /// Fraction of photoelectrons arriving late (20–80 ns after the transit; default 0).
    #[arg(long, value_name = "FRACTION")]
    pub late_pulses: Option<f64>,
    /// Electronics noise σ in mV (default 0.4).
    #[arg(long, value_name = "MV")]
    pub noise: Option<f64>,
    /// Sign of the trigger (ch0) and pick-off (ch1) pulses: positive, as on the bench
    /// (default), or negative (a NIM level).
    #[arg(long, value_name = "SIGN", default_value = "positive", value_parser = ["positive", "negative"])]
    pub trigger_polarity: String,
    /// Random seed; the same seed gives the same files.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Seconds between points (a real-time scan); as fast as possible without it.
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<f64>,
    /// HV check around this nominal voltage (5 points, --hv-step apart) instead of a
    /// surface scan.
    #[arg(long, value_name = "VOLTS")]
    pub hv: Option<f64>,
    /// Volts between HV-check points.
    #[arg(long, value_name = "VOLTS", default_value_t = 50.0, requires = "hv")]
    pub hv_step: f64,
    /// A darkness check instead of a surface scan: dark runs `dark1 … dark<N>` (N from
    /// --points, 3 when absent) with no light, only the tube's dark pulses (--dark-rate).
    #[arg(long, conflicts_with_all = ["hv", "pattern"])]
    pub dark_check: bool,
    /// The surface scan's points as θ/φ pairs (`0/0 10/0 10/90 …`, as a compute profile
    /// lists them) instead of the standard scan.
    #[arg(long, value_name = "PATTERN", conflicts_with_all = ["hv", "points"])]
    pub pattern: Option<String>,
    /// A weak spot: the point LABEL (`theta10_phi90`) gets FACTOR × the gain (0.7 when not
    /// given), so the pipeline calls it poor. Repeatable.
    #[arg(long, value_name = "LABEL[=FACTOR]")]
    pub poor: Vec<String>,
    /// A light leak: the point LABEL gets FACTOR × the dark rate (50 when not given), so
    /// the pipeline calls it poor for its dark rate. Repeatable.
    #[arg(long, value_name = "LABEL[=FACTOR]")]
    pub light_leak: Vec<String>,
    /// A reference sensor (SiPM) on ch1 instead of the pick-off, seeing this mean number of
    /// photoelectrons per trigger; process with `channels.reference = 1`.
    #[arg(long, value_name = "LAMBDA")]
    pub reference_occupancy: Option<f64>,
    /// The light source drifts: its intensity falls by this fraction (0.2 = 20 %) from the
    /// first point of the scan to the last, for PMT and reference alike.
    #[arg(long, value_name = "FRACTION")]
    pub drift: Option<f64>,
    /// HV check in the bench's layout with a known power law (`--hv-check --nominal V`).
    #[command(flatten)]
    pub hv_check: super::simulate_hv::HvCheckArgs,
}

/// The simulation parameters the arguments ask for (the simulator's defaults elsewhere).
pub fn sim_params(args: &SimulateArgs) -> anyhow::Result<SimParams> {
    let d = SimParams::default();
    let underamp_range = match &args.underamp_range {
        None => d.underamp_range,
        Some(text) => {
            let (lo, hi) = text
                .split_once(',')
                .ok_or_else(|| anyhow::anyhow!("--underamp-range: expected LO,HI, got {text:?}"))?;
            let num = |v: &str| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| anyhow::anyhow!("--underamp-range: {v:?} is not a number"))
            };
            [num(lo)?, num(hi)?]
        }
    };
    let sign = if args.trigger_polarity == "negative" {
        -1.0
    } else {
        1.0
    };
    let p = SimParams {
        gain: args.gain,
        occupancy: args.occupancy,
        events: args.events,
        underamp_fraction: args.underamp.unwrap_or(d.underamp_fraction),
        underamp_range,
        underamp_shape: args.underamp_shape.unwrap_or(d.underamp_shape),
        spe_resolution: args.spe_resolution.unwrap_or(d.spe_resolution),
        dark_rate_hz: args.dark_rate.unwrap_or(d.dark_rate_hz),
        tts_ns: args.tts.unwrap_or(d.tts_ns),
        late_fraction: args.late_pulses.unwrap_or(d.late_fraction),
        noise_mv: args.noise.unwrap_or(d.noise_mv),
        trigger_mv: sign * d.trigger_mv.abs(),
        pickoff_mv: sign * d.pickoff_mv.abs(),
        reference_occupancy: args.reference_occupancy,
        intensity_drift: args.drift.unwrap_or(d.intensity_drift),
        ..d
    };
    p.validate()?;
    Ok(p)
}

/// Runs `pmtwatch simulate`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.hv_check.hv_check {
        return super::simulate_hv::run(args);
    }
    let serial = Serial::parse(&args.serial).map_err(|e| anyhow::anyhow!("--serial: {e}"))?;
    let interval = match args.interval {
        None => None,
        Some(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {
            Some(Duration::from_secs_f64(s))
        }
        Some(s) => anyhow::bail!("--interval must be between 0 and 86400 seconds, got {s}"),
    };
    let mut params = sim_params(args)?;
    let points = match args.hv {
        Some(nominal) => {
            anyhow::ensure!(
                nominal.is_finite() && nominal > 0.0,
                "--hv must be a positive voltage, got {nominal}"
            );
            anyhow::ensure!(
                args.hv_step.is_finite() && args.hv_step > 0.0,
                "--hv-step must be a positive voltage"
            );
            params.hv_nominal = nominal;
            let pts = hv_points(nominal, args.points.unwrap_or(5), args.hv_step);
            anyhow::ensure!(
                pts.iter().all(|p| p.hv().is_some_and(|v| v > 0.0)),
                "HV points must stay above 0 V"
            );
            pts
        }
        None if args.dark_check => dark_points(args.points.unwrap_or(3)),
        None => match &args.pattern {
            Some(text) => crate::monitor::profile::parse_pattern(text)
                .map_err(|e| anyhow::anyhow!("--pattern: {e}"))?
                .into_iter()
                .map(|[theta, phi]| crate::pipeline::scan::PointLabel::Surface { theta, phi })
                .collect(),
            None => standard_surface_points(args.points.unwrap_or(21)),
        },
    };
    let point_factor = |flag: &str, spec: &str, default: f64| {
        let (label, factor) = match spec.split_once('=') {
            Some((l, f)) => (
                l,
                f.parse::<f64>()
                    .map_err(|_| anyhow::anyhow!("--{flag} {spec}: {f:?} is not a number"))?,
            ),
            None => (spec, default),
        };
        anyhow::ensure!(
            points.iter().any(|p| p.label() == label),
            "--{flag} {spec}: the scan has no point {label:?}"
        );
        Ok((label.to_string(), factor))
    };
    for spec in &args.poor {
        let (label, factor) = point_factor("poor", spec, 0.7)?;
        params.gain_factors.insert(label, factor);
    }
    for spec in &args.light_leak {
        let (label, factor) = point_factor("light-leak", spec, 50.0)?;
        params.dark_factors.insert(label, factor);
    }
    anyhow::ensure!(!points.is_empty(), "--points must be at least 1");
    params.validate()?;

    let bar = ProgressBar::with_draw_target(
        Some(points.len() as u64),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::default_bar().template("{msg} [{bar:30}] {pos}/{len} points ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("simulating {serial}"));
    let truth = simulate_scan(
        &args.out_dir,
        &serial,
        &params,
        &points,
        args.seed,
        interval,
        |done| bar.set_position(done as u64),
    )
    .with_context(|| format!("simulating into {}", args.out_dir.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} points of {serial} to {} (truth in {})",
        truth.len(),
        args.out_dir.join(serial.as_str()).display(),
        args.out_dir.join("truth.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
