//! `pmtwatch hv-fit`: the HV check's power-law fit over one tube's voltages — processed
//! points, raw waveform files or charge spectra (see [`super::hv_inputs`]) — with the
//! voltage at the target gain (or target Q1 for spectra in a unit with no known conversion
//! to charge), its uncertainty, exclusions and warnings; optionally the plot and the old
//! script's one-number file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use rayon::prelude::*;

use super::hv_inputs::{Source, gather, serial_from_paths};
use super::process::{ProcessArgs, load_config, process_options};
use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::fit::{Model, Status};
use crate::pipeline::hv::{
    DEFAULT_GAIN_SYST, DEFAULT_POINT_SYST, ExclusionKind, HvFit, HvFitOptions, HvInput, fit_hv,
};
use crate::pipeline::output::write_atomic;
use crate::pipeline::plot::{HvPlot, hv_png};
use crate::pipeline::point::{self, PointResult};

/// Arguments of `pmtwatch hv-fit`.
#[derive(Debug, Clone, clap::Args)]
pub struct HvFitArgs {
    /// One tube's HV check: a directory (searched for result.json files, waveform files
    /// and spectra) or files, each voltage read from the result or the name (HV_1500,
    /// HV1500, 1500V, data_HV_1500).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Target gain (Q1 / e).
    #[arg(long, value_name = "GAIN", conflicts_with = "target_q1")]
    pub target: Option<f64>,
    /// Target Q1 in the spectra's own charge unit (e.g. mV*ns), for charges with no known
    /// conversion to pC; the fit then runs on Q1 instead of the gain.
    #[arg(long, value_name = "Q1")]
    pub target_q1: Option<f64>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Directory for `<SN>_gain_vs_hv_loglog.png`, `<SN>_HV_at_…txt` and `hv_fit.json`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only this tube's inputs (paths or results naming it), for directories of several.
    #[arg(long, value_name = "SN")]
    pub serial: Option<String>,
    /// Relative gain-model systematic, stated separately from the statistical error.
    #[arg(long, value_name = "FRACTION", default_value_t = DEFAULT_GAIN_SYST)]
    pub gain_syst: f64,
    /// Per-point relative uncertainty added in quadrature to each point's error (the
    /// points' scatter about a pure power law); 0 for simulated data.
    #[arg(long, value_name = "FRACTION", default_value_t = DEFAULT_POINT_SYST)]
    pub point_syst: f64,
    /// Analysis configuration (TOML) for raw points and spectra.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fit model for raw points and spectra.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<Model>,
    /// Unit of charge inputs (default: from the column name, else guessed).
    #[arg(long, value_name = "UNIT")]
    pub charge_unit: Option<String>,
}

/// One voltage after processing: what the fit gets, plus what the report names.
struct Point {
    volts: f64,
    status: String,
    result: Option<PointResult>,
    error: Option<String>,
    source: PathBuf,
}

/// Runs `pmtwatch hv-fit`.
pub fn run(args: &HvFitArgs) -> anyhow::Result<ExitCode> {
    for (name, v) in [("--target", args.target), ("--target-q1", args.target_q1)] {
        if let Some(v) = v {
            anyhow::ensure!(
                v.is_finite() && v > 0.0,
                "{name} must be a positive number, got {v}"
            );
        }
    }
    anyhow::ensure!(
        args.point_syst.is_finite() && (0.0..1.0).contains(&args.point_syst),
        "--point-syst must be a fraction between 0 and 1, got {}",
        args.point_syst
    );
    anyhow::ensure!(
        args.gain_syst.is_finite() && (0.0..1.0).contains(&args.gain_syst),
        "--gain-syst must be a fraction between 0 and 1, got {}",
        args.gain_syst
    );
    let pargs = ProcessArgs {
        config: args.config.clone(),
        model: args.model,
        charge_unit: args.charge_unit.clone(),
        ..Default::default()
    };
    let cfg = load_config(&pargs)?;
    let sources = gather(&args.inputs, args.serial.as_deref())?;
    let points: Vec<Point> = sources
        .into_par_iter()
        .map(|(key, src)| process(key as f64 / 1000.0, src, &cfg, &pargs))
        .collect();
    let serial = args
        .serial
        .clone()
        .or_else(|| {
            points
                .iter()
                .find_map(|p| p.result.as_ref()?.serial.clone())
        })
        .or_else(|| {
            serial_from_paths(&points.iter().map(|p| p.source.clone()).collect::<Vec<_>>())
        });
    let q1_mode = args.target_q1.is_some();
    let unit = common_unit(&points)?;
    let inputs = points
        .iter()
        .map(|p| fit_input(p, q1_mode, &unit))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = HvFitOptions {
        target: args.target_q1.or(args.target).unwrap_or(1e7),
        gain_syst: args.gain_syst,
        point_syst: args.point_syst,
        ..Default::default()
    };
    let fit = fit_hv(&inputs, &opts);
    let doc = document(&fit, &points, serial.as_deref(), q1_mode, &unit);
    if let Some(out) = &args.out {
        write_outputs(out, &fit, &doc, serial.as_deref(), q1_mode, &unit)
            .with_context(|| format!("cannot write the HV fit's outputs to {}", out.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        print_summary(&fit, &points, serial.as_deref(), q1_mode, &unit);
    }
    Ok(if fit.hv_at_target.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Processes one voltage's source the way `pmtwatch process` does; a failure becomes a
/// point with its reason, not an abort of the whole fit.
fn process(volts: f64, src: Source, cfg: &AnalysisConfig, pargs: &ProcessArgs) -> Point {
    let source = src.path();
    let label = crate::pipeline::scan::PointLabel::Hv { volts }.label();
    let mut opts = process_options(pargs);
    opts.point = Some(label);
    let files = match src {
        Source::Result(r, _) => {
            return Point {
                volts,
                status: r.status.to_string(),
                result: Some(*r),
                error: None,
                source,
            };
        }
        Source::Waveforms(files) => files,
        Source::PointDir(dir) => vec![dir],
        Source::Spectrum(file) => vec![file],
    };
    match point::process_inputs(&files, cfg, &opts) {
        Ok(mut p) => {
            p.result.hv = Some(volts);
            Point {
                volts,
                status: p.result.status.to_string(),
                result: Some(p.result),
                error: None,
                source,
            }
        }
        Err(e) => Point {
            volts,
            status: "unreadable".into(),
            result: None,
            error: Some(e.to_string()),
            source,
        },
    }
}

/// The charge unit shared by all processed points (Q1 mode needs one).
fn common_unit(points: &[Point]) -> anyhow::Result<String> {
    let mut units: Vec<&str> = points
        .iter()
        .filter_map(|p| p.result.as_ref().map(|r| r.charge_unit.as_str()))
        .collect();
    units.sort_unstable();
    units.dedup();
    match units.as_slice() {
        [] => Ok(String::new()),
        [one] => Ok((*one).to_string()),
        many => anyhow::bail!(
            "the points' charges are in different units ({}): one HV check must use one",
            many.join(", ")
        ),
    }
}

/// The fit's view of a point: value and error, or the reason it has none.
fn fit_input(p: &Point, q1_mode: bool, unit: &str) -> anyhow::Result<HvInput> {
    let mut input = HvInput {
        volts: p.volts,
        value: None,
        error: None,
        problem: None,
        source: p.source.display().to_string(),
    };
    let Some(r) = &p.result else {
        input.problem = Some((
            ExclusionKind::Failed,
            format!(
                "unreadable: {}",
                p.error.as_deref().unwrap_or("unknown error")
            ),
        ));
        return Ok(input);
    };
    if r.status != Status::Ok {
        let kind = match r.status {
            Status::NoSignal => ExclusionKind::NoSignal,
            _ => ExclusionKind::Failed,
        };
        let why = r.message.as_deref().unwrap_or("").trim();
        let text = r.status.as_str().replace('_', " ");
        input.problem = Some((
            kind,
            if why.is_empty() {
                text
            } else {
                format!("{text}: {why}")
            },
        ));
        return Ok(input);
    }
    if q1_mode {
        let q1 = r.params.get("q1");
        input.value = q1.map(|q| q.value);
        input.error = q1.and_then(|q| q.error);
    } else {
        anyhow::ensure!(
            r.gain.is_some(),
            "{}: the charges are in {unit}, which has no known conversion to charge: give the \
             target as --target-q1 Q in {unit}",
            p.source.display()
        );
        input.value = r.gain;
        input.error = r.gain_err;
    }
    Ok(input)
}

/// The JSON document: per-point columns, exclusions, the fit and the verdict.
fn document(
    fit: &HvFit,
    points: &[Point],
    serial: Option<&str>,
    q1_mode: bool,
    unit: &str,
) -> serde_json::Value {
    let values: Vec<Option<f64>> = fit.points.iter().map(|p| p.value).collect();
    let (key, quantity) = if q1_mode {
        ("q1s", "q1")
    } else {
        ("gains", "gain")
    };
    let mut doc = serde_json::json!({
        "serial": serial,
        "quantity": quantity,
        "unit": if q1_mode { unit } else { "" },
        "target": fit.target,
        "voltages": fit.points.iter().map(|p| p.volts).collect::<Vec<_>>(),
        "errors": fit.points.iter().map(|p| p.error).collect::<Vec<_>>(),
        "statuses": points.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(),
        "used": fit.points.iter().map(|p| p.used).collect::<Vec<_>>(),
        "sources": fit.points.iter().map(|p| p.source.as_str()).collect::<Vec<_>>(),
        "exclusions": fit.exclusions,
        "slope": fit.slope,
        "slope_err": fit.slope_err,
        "a": fit.fit.as_ref().map(|f| f.a),
        "cov_ab": fit.fit.as_ref().map(|f| f.cov),
        "chi2": fit.fit.as_ref().map(|f| f.chi2),
        "ndf": fit.fit.as_ref().map(|f| f.ndf),
        "scale_factor": fit.fit.as_ref().map(|f| f.scale_factor),
        "hv_at_target": fit.hv_at_target,
        "hv_at_target_err": fit.hv_at_target_err,
        "hv_at_target_err_syst": fit.hv_at_target_err_syst,
        "hv_at_target_err_total": fit.hv_at_target_err_total,
        "gain_syst": fit.gain_syst,
        "point_syst": fit.point_syst,
        "warnings": fit.warnings,
    });
    doc[key] = serde_json::json!(values);
    doc
}

/// `<SN>_gain_vs_hv_loglog.png`, the old one-number `<SN>_HV_at_gain_1.00e+07.txt` (or
/// `_HV_at_q1_<Q>.txt`) and `hv_fit.json`, each written atomically.
fn write_outputs(
    out: &Path,
    fit: &HvFit,
    doc: &serde_json::Value,
    serial: Option<&str>,
    q1_mode: bool,
    unit: &str,
) -> anyhow::Result<()> {
    let prefix = serial.map(|s| format!("{s}_")).unwrap_or_default();
    let quantity = if q1_mode {
        format!("Q1 [{unit}]")
    } else {
        "gain".to_string()
    };
    let png = hv_png(&HvPlot {
        fit,
        title: format!(
            "{}{} vs HV",
            serial.map(|s| format!("{s}  ")).unwrap_or_default(),
            quantity
        ),
        quantity,
    })?;
    write_atomic(&out.join(format!("{prefix}gain_vs_hv_loglog.png")), &png)?;
    let name = if q1_mode {
        format!("{prefix}HV_at_q1_{}.txt", fit.target)
    } else {
        format!("{prefix}HV_at_gain_{}.txt", c_sci(fit.target))
    };
    let text = match fit.hv_at_target {
        Some(v) => format!("{v:.1}\n"),
        None => "nan\n".to_string(),
    };
    write_atomic(&out.join(name), text.as_bytes())?;
    write_atomic(&out.join("hv_fit.json"), &serde_json::to_vec_pretty(doc)?)?;
    Ok(())
}

/// `1e7` as C's `%.2e` writes it (`1.00e+07`), as the old script named its file.
fn c_sci(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        None => s,
    }
}

/// The human-readable result.
fn print_summary(fit: &HvFit, points: &[Point], serial: Option<&str>, q1_mode: bool, unit: &str) {
    let what = if q1_mode {
        format!("Q1 [{unit}]")
    } else {
        "gain".into()
    };
    println!(
        "{}HV check, {what} against voltage",
        serial.map(|s| format!("{s}: ")).unwrap_or_default()
    );
    for (p, pt) in fit.points.iter().zip(points) {
        let value = match (p.value, p.error) {
            (Some(v), Some(e)) => format!("{v:.4e} ± {e:.2e}"),
            (Some(v), None) => format!("{v:.4e}"),
            _ => "—".into(),
        };
        let note = match &p.excluded {
            Some(e) => format!("excluded: {}", e.reason),
            None => String::new(),
        };
        println!("  {:>7.1} V  {value:<24} {:<12} {note}", p.volts, pt.status);
    }
    if let (Some(b), Some(law)) = (fit.slope, &fit.fit) {
        println!(
            "slope {b:.3} ± {:.3}, χ²/ndf {:.2}/{}{}",
            fit.slope_err.unwrap_or(f64::NAN),
            law.chi2,
            law.ndf,
            if law.scale_factor > 1.0 {
                format!(" (errors scaled ×{:.2})", law.scale_factor)
            } else {
                String::new()
            }
        );
    }
    let used = fit.points.iter().filter(|p| p.used).count();
    let excl: Vec<String> = fit
        .exclusions
        .iter()
        .map(|e| format!("{:.0} V excluded: {}", e.volts, e.kind.words()))
        .collect();
    let tail = if excl.is_empty() {
        String::new()
    } else {
        format!("; {}", excl.join("; "))
    };
    match (fit.hv_at_target, fit.hv_at_target_err) {
        (Some(v), Some(e)) => println!(
            "HV for {}: {v:.0} ± {e:.0} V (stat) ± {:.0} V (syst) ({used} of {} points{tail})",
            if q1_mode {
                format!("Q1 = {} {unit}", fit.target)
            } else {
                format!("{:.2e}", fit.target)
            },
            fit.hv_at_target_err_syst.unwrap_or(0.0),
            fit.points.len()
        ),
        _ => println!(
            "no voltage for the target ({used} of {} points{tail})",
            fit.points.len()
        ),
    }
    for w in &fit.warnings {
        println!("warning: {w}");
    }
}
