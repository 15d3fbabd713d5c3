//! `pmtwatch process`: one scan point from files or a point directory to its result
//! document and output files; with `--watch`, hands over to [`super::watch`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::data::{ChargeInput, Input};
use crate::pipeline::fit::Model;
use crate::pipeline::histogram::Histogram;
use crate::pipeline::point::{self, OutputOptions, PointResult, ProcessOptions};
use crate::pipeline::readers::{self, ReadOptions};
use crate::pipeline::serial::Serial;

/// Arguments of `pmtwatch process`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProcessArgs {
    /// A point directory (holding waveN*.txt|dat) or input files: WaveDump ASCII or
    /// binary, ROOT, .npy, CSV or Parquet.
    pub inputs: Vec<PathBuf>,
    /// Follow a scan directory: process each point once its files are complete.
    #[arg(long, value_name = "SCAN_DIR", conflicts_with = "inputs")]
    pub watch: Option<PathBuf>,
    /// Analysis configuration (TOML); bench defaults where absent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fit model: poisson-gauss-ua (default), poisson-gauss, bellamy or seed-compatible.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<Model>,
    /// PMT serial number (1–32 letters, digits, '_', '-').
    #[arg(long, value_name = "SN")]
    pub serial: Option<Serial>,
    /// Directory for result.json, charge.png and SN_POINT_GAIN.txt (per point with --watch).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the result document as JSON on stdout (one line per point with --watch).
    #[arg(long)]
    pub json: bool,
    /// With --watch: number of points the scan has (default from the config: 21).
    #[arg(long, value_name = "N")]
    pub points: Option<usize>,
    /// With --watch: only points of this kind belong to the scan, `surface` (θ/φ) or
    /// `hv` (an HV check); default from the config, else every point found.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<crate::pipeline::scan::PointKind>,
    /// With --watch: seconds a point's files must keep their size before processing.
    #[arg(long, value_name = "SECONDS")]
    pub settle: Option<f64>,
    /// Unit of charge inputs (default: from the column name, else guessed).
    #[arg(long, value_name = "UNIT")]
    pub charge_unit: Option<String>,
    /// Record length for WaveDump ASCII files written without headers.
    #[arg(long, value_name = "SAMPLES")]
    pub record_length: Option<usize>,
    /// A reference spectrum (any charge input) overlaid on charge.png.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Do not draw charge.png.
    #[arg(long)]
    pub no_plot: bool,
    /// Only the gain: skip the transit time, dark rate and reference-sensor figures.
    #[arg(long)]
    pub no_figures: bool,
    /// An LED-off (pedestal-only) run of the same channel — a point directory or files,
    /// processed with the same configuration — for the model-independent occupancy, mean
    /// SPE charge and SPE resolution (Saldanha et al., NIM A 863 (2017) 35).
    #[arg(long, value_name = "FILE_OR_DIR", num_args = 1.., conflicts_with = "watch")]
    pub led_off: Vec<PathBuf>,
}

/// Loads the analysis config and applies command-line overrides.
pub fn load_config(args: &ProcessArgs) -> anyhow::Result<AnalysisConfig> {
    let mut cfg = match &args.config {
        Some(p) => AnalysisConfig::load(p)?,
        None => AnalysisConfig::default(),
    };
    if let Some(m) = args.model {
        cfg.fit.model = m;
    }
    if let Some(n) = args.points {
        cfg.scan.points = n;
    }
    if let Some(k) = args.kind {
        cfg.scan.kind = Some(k);
    }
    if let Some(s) = args.settle {
        anyhow::ensure!(
            s.is_finite() && s >= 0.0,
            "--settle must be a number of seconds ≥ 0"
        );
        cfg.scan.settle_secs = s;
    }
    if let Some(r) = args.record_length {
        cfg.digitizer.record_length = Some(r);
    }
    cfg.validate().context("invalid configuration")?;
    Ok(cfg)
}

/// Runs `pmtwatch process`.
pub fn run(args: &ProcessArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(args)?;
    if let Some(dir) = &args.watch {
        return super::watch::run(args, &cfg, dir);
    }
    anyhow::ensure!(
        !args.inputs.is_empty(),
        "give a point directory or input files, or --watch SCAN_DIR (see pmtwatch process --help)"
    );
    let opts = process_options(args);
    let reference = args
        .reference
        .as_deref()
        .map(reference_histogram)
        .transpose()?;
    let spinner = (!args.json).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(format!("processing {}", display_inputs(&args.inputs)));
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let mut processed = point::process_inputs(&args.inputs, &cfg, &opts)
        .with_context(|| format!("cannot process {}", display_inputs(&args.inputs)))?;
    if !args.led_off.is_empty() {
        let off = point::process_inputs(&args.led_off, &cfg, &opts).with_context(|| {
            format!(
                "cannot process the LED-off run {}",
                display_inputs(&args.led_off)
            )
        })?;
        point::add_led_off(&mut processed, &off.result);
    }
    if let Some(out) = &args.out {
        let oo = OutputOptions {
            plot: !args.no_plot,
            reference: reference.as_ref(),
        };
        point::write_outputs(&processed, out, &oo)
            .with_context(|| format!("cannot write results to {}", out.display()))?;
    }
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let r = &processed.result;
    if args.json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        print_summary(r);
    }
    Ok(ExitCode::SUCCESS)
}

/// Per-point options from the command line.
pub fn process_options(args: &ProcessArgs) -> ProcessOptions {
    ProcessOptions {
        serial: args.serial.clone(),
        point: None,
        read: ReadOptions {
            record_length: args.record_length,
            charge_unit: args.charge_unit.clone(),
            ..Default::default()
        },
        no_figures: args.no_figures,
    }
}

/// Reads a reference spectrum (any charge or waveform-free input) as a histogram.
pub fn reference_histogram(path: &Path) -> anyhow::Result<Histogram> {
    let input = readers::read(path, &ReadOptions::default())?;
    let hist = match input {
        Input::Charges(ChargeInput::Values { values, unit }) => {
            Histogram::auto(&values, None, None, &unit)
        }
        Input::Charges(ChargeInput::Histogram {
            centers,
            counts,
            unit,
        }) => Histogram::from_centers(&centers, &counts, &unit),
        Input::Waveforms(_) => anyhow::bail!(
            "{}: a reference spectrum must be charges or a histogram, not waveforms",
            path.display()
        ),
    };
    hist.with_context(|| format!("{}: the reference holds no finite charges", path.display()))
}

fn fmt_param(p: &crate::pipeline::fit::Param) -> String {
    match p.error {
        Some(e) => format!("{:.4} ± {e:.4}", p.value),
        None => format!("{:.4}", p.value),
    }
}

fn display_inputs(inputs: &[PathBuf]) -> String {
    match inputs {
        [one] => one.display().to_string(),
        _ => format!("{} files", inputs.len()),
    }
}

/// The human-readable result of one point.
fn print_summary(r: &PointResult) {
    println!("point      {}", r.point);
    println!("status     {}", r.status);
    println!("model      {}", r.model);
    match (r.gain, r.gain_err) {
        (Some(g), Some(e)) => println!("gain       {g:.4e} ± {e:.2e}   ({:?})", r.health),
        (Some(g), None) => println!("gain       {g:.4e}   ({:?})", r.health),
        _ => println!("gain       —"),
    }
    for (name, p) in &r.params {
        let unit = crate::pipeline::fit::param_unit(name, &r.charge_unit);
        match p.error {
            Some(e) => println!("{name:<10} {:.6e} ± {e:.2e} {unit}", p.value),
            None => println!("{name:<10} {:.6e} {unit}", p.value),
        }
    }
    if let (Some(c), Some(n)) = (r.chi2, r.ndf) {
        println!("chi2/ndf   {c:.1}/{n}");
    }
    println!("events     {} read, {} in the fit", r.events, r.selected);
    let f = &r.figures;
    if let Some(p) = &f.spe_resolution {
        println!("σ1/Q1      {}", fmt_param(p));
    }
    match (f.peak_to_valley_model, &f.peak_to_valley_hist) {
        (Some(m), Some(h)) => println!("P/V        {m:.2} (model), {} (histogram)", fmt_param(h)),
        (Some(m), None) => println!("P/V        {m:.2} (model)"),
        (None, Some(h)) => println!("P/V        {} (histogram)", fmt_param(h)),
        (None, None) => {}
    }
    if let Some(mi) = &f.model_independent {
        println!(
            "LED on/off λ = {}, mean SPE = {} {}, σ/mean = {}  (threshold {:.4})",
            fmt_param(&mi.occupancy),
            fmt_param(&mi.mean_spe),
            r.charge_unit,
            mi.spe_resolution.as_ref().map_or("—".into(), fmt_param),
            mi.threshold
        );
        if let Some(c) = &mi.fit_counted {
            println!(
                "  the fit counted alike: λ = {:.4}, mean SPE = {:.4} {}  (μ counts also \
                 the photoelectrons inside the pedestal)",
                c.occupancy, c.mean_spe, r.charge_unit
            );
        }
    }
    if let Some(m) = &r.message {
        println!("note       {m}");
    }
    for w in &r.warnings {
        println!("warning    {w}");
    }
    println!("time       {:.1} ms", r.timings_ms.total);
}
