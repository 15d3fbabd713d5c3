//! `pmtwatch demo`: the dashboard on a simulated bench, with nothing else installed. It
//! prepares a data directory (a demo operator with a fresh printed password, a local
//! compute profile whose directories live in the data directory, slot PMT 1 with serial
//! DEMO0001), starts the executor and a run, and plays out a 21-point R12860 scan in real
//! time with one weak spot (θ 30°, φ 180° at 0.7 × the gain) and one marginal spot (θ 10°,
//! φ 0°, its gain just under the healthy band: within its error of the edge), so the grid
//! at http://127.0.0.1:8080 fills in point by point within a minute, one cell turns poor
//! and one shows a warning — each saying why.
//!
//! With `--hv-check` the slot runs an HV check instead: the bench writes the bench's HV
//! layout (`<SN>/wavesave_HV_CHECK/wave<ch>save_HV_<V>.txt`) one voltage at a time, five
//! voltages around `--nominal` on a tube whose gain is 1e7 at nominal + 12 V (slope 7), the
//! highest voltage without light; the HV tab fills its cells, fits, draws, excludes the dark
//! voltage with its reason, and the tube's next surface scan is offered the voltage.
//!
//! Decisions, and why:
//! - The same server as `serve` (same monitor, same local backend running this binary's
//!   `process --watch`): the demo exercises the real path, only the digitizer is simulated.
//! - Running the demo again reuses the data directory: the previous demo run is archived
//!   automatically (as the next scan in a slot does), the old simulated scan is removed
//!   first so the new run does not pick it up, and the password is reset and printed.
//! - The simulated bench runs on a blocking thread (the simulator is CPU work); the demo
//!   ends with Ctrl-C like `serve`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::demo::DemoArgs;
use super::serve;
use crate::model::{Role, ScanKind};
use crate::monitor::profile::r12860_pattern;
use crate::monitor::{Monitor, ProfileSpec};
use crate::pipeline::config::HealthRange;
use crate::pipeline::scan::HV_CHECK_DIR;
use crate::pipeline::scan::PointLabel;
use crate::pipeline::serial::Serial;
use crate::pipeline::simulate::{SimParams, simulate_scan};
use crate::pipeline::simulate_hv::{HvCheckSim, simulate_hv_check_in};
use crate::remote::backend::Kind;
use crate::store::Store;
use crate::web::WebConfig;

/// The demo's operator account.
pub const DEMO_USER: &str = "demo";
/// The simulated tube.
pub const DEMO_SERIAL: &str = "DEMO0001";
/// The weak spot of the simulated tube.
pub const WEAK_SPOT: &str = "theta30_phi180";
/// The light leak: this point is taken with 50 × the dark rate (the bench's lid not
/// closed), so it is poor for its dark rate while its gain is fine.
pub const LIGHT_LEAK: &str = "theta40_phi90";
/// The marginal spot: its gain lies just below the healthy band, within its statistical
/// error of the edge, so it is neither healthy nor provably poor (a warning).
pub const MARGINAL_SPOT: &str = "theta10_phi0";
/// The marginal spot's gain factor: 1.047e7 there × 0.79 ≈ 0.83e7, under the demo band's
/// lower edge 0.85e7 by about one error of a 1,500-event point.
const MARGINAL_FACTOR: f64 = 0.79;
const PROFILE_NAME: &str = "demo bench (this machine)";
/// The HV check's simulated tube: its gain is 1e7 this far above the nominal voltage.
pub const HV_AT_1E7_ABOVE_NOMINAL: f64 = 12.0;
/// The simulated tube's power law (gain ∝ V^slope).
pub const HV_SLOPE: f64 = 7.0;

/// A random password of 16 letters and digits.
fn password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// The demo's local profile: every directory inside the data directory.
fn demo_profile(data: &Path, points: usize) -> ProfileSpec {
    let bench = data.join("bench");
    let p = |rel: &str| bench.join(rel).display().to_string();
    let mut pattern = r12860_pattern();
    pattern.truncate(points.max(1));
    let mut spec = ProfileSpec {
        kind: Kind::Local,
        work_dir: p("work"),
        scan_root: p("scan"),
        archive_dir: p("archive"),
        flag_dir: p("flag"),
        settle_secs: 0.5,
        poll_secs: 0.5,
        pattern,
        ..ProfileSpec::default()
    };
    // The simulated tube's gain varies ±5 % over the photocathode around 1e7.
    spec.analysis.health = HealthRange {
        gain_min: 0.85e7,
        gain_max: 1.2e7,
        ..HealthRange::default()
    };
    spec
}

/// Runs `pmtwatch demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=21).contains(&args.points),
        "--points must be 1–21 (the R12860 pattern)"
    );
    anyhow::ensure!(
        args.interval.is_finite() && (0.0..=600.0).contains(&args.interval),
        "--interval must be 0–600 seconds"
    );
    let data = &args.data_dir;
    let store = Store::open_dir(data)?;
    let data = std::fs::canonicalize(data)
        .with_context(|| format!("cannot resolve {}", data.display()))?;
    let spec = demo_profile(&data, args.points);
    for d in [
        &spec.work_dir,
        &spec.scan_root,
        &spec.archive_dir,
        &spec.flag_dir,
    ] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {d}"))?;
    }
    // The previous demo's simulated scan must not be taken for this one.
    let old_scan = Path::new(&spec.scan_root).join(DEMO_SERIAL);
    if old_scan.exists() {
        std::fs::remove_dir_all(&old_scan)
            .with_context(|| format!("cannot remove the old demo scan {}", old_scan.display()))?;
    }
    let pw = password()?;
    match store.user_by_name(DEMO_USER)? {
        Some(_) => store.set_password(DEMO_USER, &pw)?,
        None => {
            store.add_user(DEMO_USER, Role::Operator, &pw)?;
        }
    }
    let json = serde_json::to_string(&spec).context("the demo profile")?;
    let existing = store
        .profiles()?
        .into_iter()
        .find(|p| p.name == PROFILE_NAME)
        .map(|p| p.id);
    let profile = store.save_profile(existing, PROFILE_NAME, &json)?;
    store.slots()?;
    let kind = if args.hv_check {
        ScanKind::Hv
    } else {
        ScanKind::Surface
    };
    store.set_slot(1, DEMO_SERIAL, Some(profile), kind)?;
    let nominal = args.hv_check.then_some(args.nominal);
    if let Some(n) = nominal {
        anyhow::ensure!(
            n.is_finite() && n > 0.0 && n - spec.hv_step * 2.0 > 0.0,
            "--nominal must be a voltage above {} V",
            spec.hv_step * 2.0
        );
    }
    store.set_slot_hv_nominal(1, nominal)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let interval = Duration::from_secs_f64(args.interval);
    let (events, seed) = (args.events, args.seed);
    let labels: Vec<PointLabel> = match nominal {
        Some(n) => crate::pipeline::scan::hv_points(n, spec.hv_points, spec.hv_step),
        None => spec
            .pattern
            .iter()
            .map(|&[theta, phi]| PointLabel::Surface { theta, phi })
            .collect(),
    };
    let scan_root = std::path::PathBuf::from(&spec.scan_root);
    let data_bench = data.join("bench");
    let what = match nominal {
        Some(n) => format!(
            "an HV check of PMT {DEMO_SERIAL} ({} voltages around {n} V, one every {:.1} s; \
             the tube's gain is 1e7 at {} V, the highest voltage is dark)",
            labels.len(),
            interval.as_secs_f64(),
            n + HV_AT_1E7_ABOVE_NOMINAL
        ),
        None => format!(
            "PMT {DEMO_SERIAL} ({} points, one every {:.1} s; the point {WEAK_SPOT} is weak, {LIGHT_LEAK} has a light leak)",
            labels.len(),
            interval.as_secs_f64()
        ),
    };
    runtime.block_on(async move {
        let monitor = serve::start_monitor(&store, &data).await?;
        start_demo_run(&monitor).await?;
        let banner = move |addr: std::net::SocketAddr| {
            eprintln!(
                "\npmtwatch demo: open http://{addr} and sign in as\n  user:     {DEMO_USER}\n  \
                 password: {pw}\nA simulated bench now scans {what}. Ctrl-C ends the demo.\n"
            );
            std::thread::spawn(move || match nominal {
                Some(n) => hv_bench(&scan_root, &data_bench, n, &labels, events, seed, interval),
                None => bench(&scan_root, &labels, events, seed, interval),
            });
        };
        serve::serve(
            args.bind,
            store,
            WebConfig::default(),
            &data,
            monitor,
            banner,
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the executor and a run in slot PMT 1 (archiving the last demo run).
async fn start_demo_run(monitor: &Monitor) -> anyhow::Result<()> {
    // A demo run left running by a killed demo is stopped first.
    if let Some(run) = monitor.snapshot().slot_run(1)
        && run.run.state.is_active()
    {
        let id = run.run.id;
        monitor.stop_run(id, true, DEMO_USER).await?;
        for _ in 0..100 {
            if !monitor.is_following(id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    monitor.set_executor(true, DEMO_USER).await?;
    let started = monitor
        .start_run(1, DEMO_USER)
        .await
        .context("starting the demo run")?;
    if let Some(old) = started.auto_archived {
        eprintln!("pmtwatch demo: the previous demo run {old} was archived");
    }
    Ok(())
}

/// The simulated digitizer: writes the scan point by point.
fn bench(scan_root: &Path, labels: &[PointLabel], events: usize, seed: u64, interval: Duration) {
    let Ok(serial) = Serial::parse(DEMO_SERIAL) else {
        return;
    };
    let mut params = SimParams {
        events,
        ..SimParams::default()
    };
    params.gain_factors.insert(WEAK_SPOT.to_string(), 0.7);
    params.dark_factors.insert(LIGHT_LEAK.to_string(), 50.0);
    params
        .gain_factors
        .insert(MARGINAL_SPOT.to_string(), MARGINAL_FACTOR);
    if let Err(e) = simulate_scan(
        scan_root,
        &serial,
        &params,
        labels,
        seed,
        Some(interval),
        |_| {},
    ) {
        eprintln!("pmtwatch demo: the simulated bench stopped: {e}");
    }
}

/// The simulated digitizer of an HV check: the bench's HV layout under the scan root, one
/// voltage at a time, with the demo tube's known power law; the highest voltage is dark.
fn hv_bench(
    scan_root: &Path,
    bench_dir: &Path,
    nominal: f64,
    labels: &[PointLabel],
    events: usize,
    seed: u64,
    interval: Duration,
) {
    let Ok(serial) = Serial::parse(DEMO_SERIAL) else {
        return;
    };
    let volts: Vec<f64> = labels.iter().filter_map(PointLabel::hv).collect();
    let sim = HvCheckSim {
        nominal,
        offsets: volts.iter().map(|v| v - nominal).collect(),
        slope: HV_SLOPE,
        hv_at_1e7: nominal + HV_AT_1E7_ABOVE_NOMINAL,
        dark: volts.iter().copied().reduce(f64::max).into_iter().collect(),
        stamp: "demo".into(),
    };
    let params = SimParams {
        events,
        ..SimParams::default()
    };
    let dir = scan_root.join(serial.as_str()).join(HV_CHECK_DIR);
    if let Err(e) = simulate_hv_check_in(
        &dir,
        &bench_dir.join("hv_truth.json"),
        &serial,
        &params,
        &sim,
        seed,
        Some(interval),
        |_| {},
    ) {
        eprintln!("pmtwatch demo: the simulated HV bench stopped: {e}");
    }
}
