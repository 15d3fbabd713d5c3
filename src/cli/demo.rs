//! `pmtwatch demo`: the dashboard on a simulated bench ([`super::demo_live`]), or with
//! `--offline` the whole chain on embedded defaults with no other input — simulate a
//! surface scan with known truth, process every point exactly as `process --watch` does,
//! write the scan outputs, and print how the measured gains compare with the truth (the
//! smallest end-to-end check of a build, without a browser).
//!
//! The rest of this documentation is about `--offline`.
//!
//! Layout under `--dir` (default `./pmtwatch-demo`):
//! - `scan/truth.json`, `scan/<SN>/wavesave_<label>/` — the simulated bench scan;
//! - `results/<label>/{result.json,charge.png,<SN>_<label>_GAIN.txt}` — per point, the
//!   files a watch writes;
//! - `results/<SN>_scan.csv|parquet`, `results/<SN>_gainmap.png` — the scan outputs.
//!
//! Decisions, and why:
//! - Points are processed one after another: each already uses every core (channels read
//!   in parallel, features per event in parallel), and the order matches a real scan.
//! - Only the points simulated in this run are processed and tabulated, so a run with
//!   fewer `--points` than an earlier one in the same directory does not pick up the
//!   earlier run's leftovers. Running twice overwrites (every file is written atomically).
//! - A point whose fit is not `ok` is a result (shown in the table, exit 0); a point that
//!   cannot be processed at all means the build is broken, so the demo exits 1 after
//!   printing everything else.
//! - The flags stay few on purpose: `demo` will grow into the dashboard on a simulated
//!   bench, and the simulator's details belong to `pmtwatch simulate`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::scan_outputs::{ScanSummary, write_scan_outputs};
use super::watch::process_point;
use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::point::{OutputOptions, PointResult, ProcessOptions};
use crate::pipeline::scan::{PointLabel, point_dir_name, points_root, standard_surface_points};
use crate::pipeline::serial::Serial;
use crate::pipeline::simulate::{PointTruth, SimParams, simulate_scan};

/// Arguments of `pmtwatch demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Address the dashboard listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// The dashboard's data directory (created with a demo operator and profile).
    #[arg(long, value_name = "DIR", default_value = "pmtwatch-demo-data")]
    pub data_dir: PathBuf,
    /// Seconds between the simulated bench's points.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.5)]
    pub interval: f64,
    /// No server: simulate, process and compare with the truth on the terminal.
    #[arg(long)]
    pub offline: bool,
    /// With --offline: the simulated scan goes to DIR/scan, the results to DIR/results.
    #[arg(long, value_name = "DIR", default_value = "pmtwatch-demo")]
    pub dir: PathBuf,
    /// Scan points (21 is the standard scan).
    #[arg(long, value_name = "N", default_value_t = 21)]
    pub points: usize,
    /// Events per point.
    #[arg(long, value_name = "N", default_value_t = 4000)]
    pub events: usize,
    /// PMT serial number of the simulated tube.
    #[arg(long, value_name = "SN", default_value = "DEMO0001")]
    pub serial: Serial,
    /// Random seed; the same seed gives the same scan.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Run an HV check instead of a surface scan: five voltages around --nominal on a
    /// simulated tube with gain 1e7 at nominal + 12 V (slope 7), the highest voltage
    /// without light. Its voltage is then offered to the tube's next surface scan.
    #[arg(long, conflicts_with = "offline")]
    pub hv_check: bool,
    /// With --hv-check: the nominal voltage the check is centred on.
    #[arg(
        long,
        value_name = "VOLTS",
        default_value_t = 1700.0,
        requires = "hv_check"
    )]
    pub nominal: f64,
}

/// One point of the demo: what it really is and what the pipeline made of it.
struct Row {
    label: PointLabel,
    truth: PointTruth,
    outcome: Result<PointResult, String>,
}

/// Runs `pmtwatch demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if args.offline {
        run_offline(args)
    } else {
        super::demo_live::run(args)
    }
}

/// Runs `pmtwatch demo --offline`.
fn run_offline(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.points >= 1, "--points must be at least 1");
    anyhow::ensure!(args.events >= 1, "--events must be at least 1");
    let serial = &args.serial;
    let scan_dir = args.dir.join("scan");
    let results_dir = args.dir.join("results");
    let labels = standard_surface_points(args.points);
    let params = SimParams {
        events: args.events,
        ..SimParams::default()
    };
    params.validate().context("simulation parameters")?;
    let mut cfg = AnalysisConfig::default();
    cfg.scan.points = labels.len();
    cfg.validate()
        .context("the embedded analysis configuration")?;

    let n = labels.len() as u64;
    let bar = progress_bar(2 * n);
    bar.set_message(format!("simulating {serial}"));
    let truth = simulate_scan(
        &scan_dir,
        serial,
        &params,
        &labels,
        args.seed,
        None,
        |done| bar.set_position(done as u64),
    )
    .with_context(|| format!("simulating the scan into {}", scan_dir.display()))?;
    anyhow::ensure!(
        truth.len() == labels.len(),
        "the simulator returned {} truths for {} points",
        truth.len(),
        labels.len()
    );

    let root = points_root(&scan_dir, Some(serial));
    let opts = ProcessOptions {
        serial: Some(serial.clone()),
        ..ProcessOptions::default()
    };
    let out_opts = OutputOptions {
        plot: true,
        reference: None,
    };
    let mut rows = Vec::with_capacity(labels.len());
    for (label, truth) in labels.iter().zip(truth) {
        let key = label.label();
        bar.set_message(format!("processing {key}"));
        let res_dir = results_dir.join(&key);
        clear_stale(&res_dir)?;
        let pdir = root.join(point_dir_name(label));
        let outcome = process_point(label, &pdir, &res_dir, &cfg, &opts, &out_opts)
            .map(|p| p.result)
            .map_err(|e| e.to_string());
        bar.inc(1);
        rows.push(Row {
            label: *label,
            truth,
            outcome,
        });
    }
    bar.set_message("writing the scan outputs");
    let results: Vec<PointResult> = rows
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().cloned())
        .collect();
    let summary = if results.is_empty() {
        None
    } else {
        Some(
            write_scan_outputs(&results, &results_dir, Some(serial.as_str()), &cfg).with_context(
                || format!("writing the scan outputs into {}", results_dir.display()),
            )?,
        )
    };
    bar.finish_and_clear();

    let failed = rows.iter().filter(|r| r.outcome.is_err()).count();
    print_report(&rows, summary.as_ref(), &scan_dir, &results_dir, serial)?;
    if failed > 0 {
        eprintln!("error: {failed} of {n} points could not be processed (see the table)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar on stderr when it is a terminal; hidden otherwise, so logs and tests stay clean.
fn progress_bar(len: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) =
        ProgressStyle::default_bar().template("{msg:<28} [{bar:30}] {pos}/{len} steps ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Removes an earlier run's `result.json` / `failed.json` of a point before it is
/// processed again, so a point that fails this time is not shown with last time's result
/// to a watch or dashboard reading the directory.
fn clear_stale(res_dir: &Path) -> anyhow::Result<()> {
    for name in ["result.json", "failed.json"] {
        let path = res_dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing the old {}", path.display()));
            }
        }
    }
    Ok(())
}

/// The comparison table, the scan summary and the paths written, on stdout.
fn print_report(
    rows: &[Row],
    summary: Option<&ScanSummary>,
    scan_dir: &Path,
    results_dir: &Path,
    serial: &Serial,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    text.push_str(&format!(
        "{:<16} {:<17} {:>18} {:>10} {:>7}  {}\n",
        "point", "status", "gain ± err", "truth", "dev", "health"
    ));
    for row in rows {
        text.push_str(&table_line(row));
        text.push('\n');
    }
    text.push('\n');
    if let Some(s) = summary {
        let gains = match (s.gain_mean, s.gain_min, s.gain_max) {
            (Some(m), Some(lo), Some(hi)) => {
                format!("; gain mean {m:.4e} (min {lo:.4e}, max {hi:.4e})")
            }
            _ => String::new(),
        };
        text.push_str(&format!(
            "{} points: {} ok, {} not ok; {} healthy, {} poor{gains}\n",
            s.points, s.ok, s.failed, s.healthy, s.poor
        ));
    }
    text.push_str("\nwritten:\n");
    let mut line = |what: &str, path: &Path| {
        text.push_str(&format!("  {what:<12} {}\n", path.display()));
    };
    line("scan", &scan_dir.join(serial.as_str()));
    line("truth", &scan_dir.join("truth.json"));
    line(
        "points",
        &results_dir.join(format!(
            "<label>/{{result.json,charge.png,{serial}_<label>_GAIN.txt}}"
        )),
    );
    if let Some(s) = summary {
        line("table", &s.csv);
        line("table", &s.parquet);
        if let Some(map) = &s.gain_map {
            line("gain map", map);
        }
    }
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(())
}

/// One row of the table: label, status, gain ± error, truth, deviation in σ, health.
fn table_line(row: &Row) -> String {
    let label = row.label.label();
    let truth = format!("{:.4e}", row.truth.gain);
    match &row.outcome {
        Err(e) => format!(
            "{label:<16} {:<17} {:>18} {truth:>10} {:>7}  — {e}",
            "FAILED", "—", "—"
        ),
        Ok(r) => {
            let gain = match (r.gain, r.gain_err) {
                (Some(g), Some(e)) => format!("{g:.4e} ± {e:.1e}"),
                (Some(g), None) => format!("{g:.4e}"),
                _ => "—".to_string(),
            };
            let dev = match (r.gain, r.gain_err) {
                (Some(g), Some(e)) if e > 0.0 && e.is_finite() => {
                    format!("{:+.1}σ", (g - row.truth.gain) / e)
                }
                _ => "—".to_string(),
            };
            let health = r.health.as_str();
            let status = r.status.as_str();
            format!("{label:<16} {status:<17} {gain:>18} {truth:>10} {dev:>7}  {health}")
        }
    }
}
