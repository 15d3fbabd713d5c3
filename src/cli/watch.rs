//! `pmtwatch process --watch SCAN_DIR`: follows a scan as the bench writes it and processes
//! each point once its files are complete, printing one line per finished point. This is
//! what runs on the cluster or over SSH, so the monitor's grid fills while the scan runs.
//!
//! Decisions, and why:
//! - A point is *ready* when every configured channel (trigger, pick-off, PMT — those set
//!   in `[channels]`) has its file and all their sizes stayed the same for
//!   `scan.settle_secs`: the bench writes files in place, so size stability is the only
//!   sign that WaveDump has finished.
//! - Results go to `<out>/<label>/` (`result.json`, `charge.png`, `<SN>_<label>_GAIN.txt`);
//!   the default `<out>` is `<scan-dir>/<SN>-results` (`<scan-dir>/results` without a
//!   serial). Result directories carry the bare label, so they are never taken for points.
//! - A point whose `<out>/<label>/result.json` exists is done: after a restart it is
//!   neither processed nor printed again. `write_outputs` writes `result.json` last.
//! - A point that fails (unreadable or corrupt file) is reported — a JSON line with
//!   `"status": "failed"` and `"error"` under `--json`, a line on stderr otherwise — and
//!   recorded in `<out>/<label>/failed.json`, so it is not retried forever (also not after
//!   a restart; delete that file to retry). It counts towards the scan's points.
//! - With `scan.kind` (`--kind surface|hv`; the monitor always sets it) only points of
//!   that kind are the scan's: a tube's HV check and its surface scan share `<SN>/`, and a
//!   surface watch that also took the HV voltages would count them and stop early.
//! - The watch exits 0 once `scan.points` points are done (processed or failed), after
//!   writing the scan outputs (`<out>/<SN>_scan.csv|parquet` and `<out>/<SN>_gainmap.png`,
//!   see [`super::scan_outputs`]) over all its points, earlier runs' included, best effort;
//!   Ctrl-C stops between points with exit code 130.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use super::process::{ProcessArgs, process_options, reference_histogram};
use super::scan_outputs::{ScanSummary, load_results, write_scan_outputs};
use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::output::write_atomic;
use crate::pipeline::point::{
    OutputOptions, PointResult, ProcessOptions, ProcessedPoint, process_inputs, write_outputs,
};
use crate::pipeline::scan::{PointLabel, find_point_dirs, point_input_files, point_sizes};
use crate::pipeline::serial::Serial;

/// How often the scan directory is looked at.
const POLL: Duration = Duration::from_millis(200);

/// Consecutive failures to list the scan directory before the watch gives up (~10 s).
const MAX_LIST_FAILURES: u32 = 50;

/// Set by the Ctrl-C handler; checked between points.
static STOP: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// Installs the Ctrl-C handler once per process (ctrlc allows only one).
fn install_ctrlc() {
    HANDLER.call_once(|| {
        if let Err(e) = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst)) {
            // Another handler owns the signal (embedding program): Ctrl-C then does what
            // that handler does; the watch still works.
            tracing::warn!("cannot install the Ctrl-C handler: {e}");
        }
    });
}

/// The default output directory for a scan's results.
pub fn default_out_dir(scan_dir: &Path, serial: Option<&Serial>) -> PathBuf {
    match serial {
        Some(sn) => scan_dir.join(format!("{sn}-results")),
        None => scan_dir.join("results"),
    }
}

/// A point seen but not yet ready: the sizes last seen and since when they held.
struct Pending {
    sizes: Vec<u64>,
    since: Instant,
}

/// What the watcher does with each finished point.
struct Reporter {
    json: bool,
}

impl Reporter {
    fn done(&self, r: &PointResult) -> anyhow::Result<()> {
        let line = if self.json {
            serde_json::to_string(r).context("encoding the result")?
        } else {
            let gain = match (r.gain, r.gain_err) {
                (Some(g), Some(e)) => format!("gain {g:.4e} ± {e:.1e}"),
                (Some(g), None) => format!("gain {g:.4e}"),
                _ => "no gain".to_string(),
            };
            format!(
                "{}: {gain}, {} ({:?}), {} events, {:.0} ms{}",
                r.point,
                r.status.as_str(),
                r.health,
                r.events,
                r.timings_ms.total,
                r.message
                    .as_deref()
                    .map(|m| format!(" — {m}"))
                    .unwrap_or_default()
            )
        };
        print_line(&line)
    }

    fn failed(&self, doc: &serde_json::Value, label: &str, err: &str) -> anyhow::Result<()> {
        if self.json {
            print_line(&doc.to_string())
        } else {
            eprintln!("{label}: FAILED: {err}");
            Ok(())
        }
    }
}

/// One line on stdout, flushed at once so a reader over SSH sees it immediately.
fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(())
}

/// Runs `pmtwatch process --watch DIR`.
pub fn run(args: &ProcessArgs, cfg: &AnalysisConfig, dir: &Path) -> anyhow::Result<ExitCode> {
    install_ctrlc();
    let serial = args.serial.as_ref();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(dir, serial));
    let channels: Vec<u32> = [
        cfg.channels.trigger,
        cfg.channels.pickoff,
        Some(cfg.channels.pmt),
    ]
    .into_iter()
    .flatten()
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    let settle = Duration::from_secs_f64(cfg.scan.settle_secs.clamp(0.0, 86_400.0));
    let total = cfg.scan.points;
    let reporter = Reporter { json: args.json };
    let reference = args
        .reference
        .as_deref()
        .map(reference_histogram)
        .transpose()?;
    let out_opts = OutputOptions {
        plot: !args.no_plot,
        reference: reference.as_ref(),
    };
    tracing::info!(scan = %dir.display(), out = %out.display(), total, "watching");
    // The result directory is made here, once; afterwards nothing may recreate it (a
    // review may have moved it into the archive: writing on would split the run's data).
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    crate::pipeline::output::never_create_run_dirs();

    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
    let mut list_failures = 0u32;
    let mut told_foreign = false;
    loop {
        if STOP.load(Ordering::SeqCst) {
            eprintln!("interrupted: {} of {total} points done", done.len());
            return Ok(ExitCode::from(130));
        }
        if done.len() >= total {
            break;
        }
        let points = match find_point_dirs(dir, serial) {
            Ok(mut p) => {
                list_failures = 0;
                if let Some(kind) = cfg.scan.kind {
                    let before = p.len();
                    p.retain(|(label, _)| label.kind() == kind);
                    if p.len() < before && !told_foreign {
                        told_foreign = true;
                        tracing::info!(
                            "{} point(s) of another kind of scan are in {} and are not part of \
                             this {kind} scan: left alone",
                            before - p.len(),
                            dir.display()
                        );
                    }
                }
                p
            }
            // A network file system may hiccup: give up only when listing keeps failing.
            Err(e) if list_failures < MAX_LIST_FAILURES => {
                list_failures += 1;
                tracing::warn!("cannot list {}: {e}; retrying", dir.display());
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("looking for scan points in {}", dir.display()));
            }
        };
        for (label, pdir) in points {
            let key = label.label();
            if done.contains(&key) {
                continue;
            }
            let res_dir = out.join(&key);
            if res_dir.join("result.json").is_file() || res_dir.join("failed.json").is_file() {
                // Finished by an earlier run: neither redo nor reprint it.
                done.insert(key);
                continue;
            }
            // A directory that vanished or cannot be listed right now is looked at again
            // on the next round.
            let Ok(Some(sizes)) = point_sizes(&pdir, &label, &channels) else {
                pending.remove(&key);
                continue;
            };
            let now = Instant::now();
            let p = pending.entry(key.clone()).or_insert_with(|| Pending {
                sizes: sizes.clone(),
                since: now,
            });
            if p.sizes != sizes {
                p.sizes = sizes;
                p.since = now;
            }
            if now.duration_since(p.since) < settle {
                continue;
            }
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            pending.remove(&key);
            process_one(&label, &pdir, &res_dir, args, cfg, &out_opts, &reporter)?;
            done.insert(key);
        }
        if done.len() < total && !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
        }
    }
    let summary = write_scan_level(&out, &done, serial, cfg);
    if !args.json {
        let counts = summary
            .map(|s| format!(" ({} ok, {} healthy, {} poor)", s.ok, s.healthy, s.poor))
            .unwrap_or_default();
        eprintln!(
            "all {total} points done{counts}; results in {}",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Processes one point directory the way the watch does and writes its outputs
/// (`result.json` last) into `res_dir`. `opts.point` is replaced by the label; the label
/// also fills in coordinates the processing could not derive. Shared with `demo`, so the
/// demo's results are exactly what a watch would have written.
pub(crate) fn process_point(
    label: &PointLabel,
    pdir: &Path,
    res_dir: &Path,
    cfg: &AnalysisConfig,
    opts: &ProcessOptions,
    out_opts: &OutputOptions,
) -> crate::pipeline::error::Result<ProcessedPoint> {
    let opts = ProcessOptions {
        point: Some(label.label()),
        ..opts.clone()
    };
    let files = point_input_files(pdir, label)?;
    let mut p = process_inputs(&files, cfg, &opts)?;
    // The label knows the point's coordinates even where the processing did not.
    p.result.theta = p.result.theta.or(label.theta());
    p.result.phi = p.result.phi.or(label.phi());
    p.result.hv = p.result.hv.or(label.hv());
    write_outputs(&p, res_dir, out_opts)?;
    Ok(p)
}

/// Processes one ready point and reports it; a processing failure is recorded and
/// reported, only a failure to report (stdout gone) ends the watch.
fn process_one(
    label: &PointLabel,
    pdir: &Path,
    res_dir: &Path,
    args: &ProcessArgs,
    cfg: &AnalysisConfig,
    out_opts: &OutputOptions,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    let key = label.label();
    let opts = process_options(args);
    match process_point(label, pdir, res_dir, cfg, &opts, out_opts) {
        Ok(p) => reporter.done(&p.result),
        // The result directory was moved away (archived or flagged): stop loudly rather
        // than report results that exist nowhere.
        Err(_) if res_dir.parent().is_some_and(|out| !out.is_dir()) => Err(anyhow::anyhow!(
            "the result directory {} is gone (moved by a review?); the watch stops and \
             writes nothing outside it",
            res_dir.parent().unwrap_or(res_dir).display()
        )),
        // Not the point's fault: stop rather than mark every following point failed. The
        // point stays unprocessed, so a restarted watch does it.
        Err(e) if e.is_disk_full() => Err(anyhow::anyhow!(
            "disk full: {e}. No space left for results in {}: free space there and start \
             the watch again (finished points are kept and not redone)",
            res_dir.display()
        )),
        Err(e) => {
            let err = e.to_string();
            let doc = serde_json::json!({
                "serial": args.serial.as_ref().map(Serial::as_str),
                "point": key,
                "theta": label.theta(),
                "phi": label.phi(),
                "hv": label.hv(),
                "status": "failed",
                "error": err,
                "sources": [pdir],
                "created": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            });
            let bytes = serde_json::to_vec_pretty(&doc).context("encoding failed.json")?;
            if let Err(w) = write_atomic(&res_dir.join("failed.json"), &bytes) {
                // Not recorded: the point will not be retried in this run (it is marked
                // done in memory) but would be after a restart.
                eprintln!("{key}: cannot record the failure: {w}");
            }
            reporter.failed(&doc, &key, &err)
        }
    }
}

/// Scan-level outputs (tables and gain map) over every processed point, this run's and
/// earlier runs' (read back from their `result.json`). Best effort: the per-point results
/// are what matters, so a failure here only warns. Returns the summary when written.
fn write_scan_level(
    out: &Path,
    done: &BTreeSet<String>,
    serial: Option<&Serial>,
    cfg: &AnalysisConfig,
) -> Option<ScanSummary> {
    let results = load_results(out, done.iter().map(String::as_str));
    if results.is_empty() {
        return None;
    }
    match write_scan_outputs(&results, out, serial.map(Serial::as_str), cfg) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("warning: scan outputs not written: {e:#}");
            None
        }
    }
}
