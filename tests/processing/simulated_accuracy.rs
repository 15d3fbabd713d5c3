//! The default analysis against simulated R12860 points with a known truth.
//!
//! - The bench's real conventions: a scan simulated with positive trigger and pick-off
//!   pulses (as the bench's own configuration declares them) gives `ok` with a gain on
//!   every point under the default configuration; the same scan with a negative trigger
//!   gives the same gains and says that the polarity differs from the bench's; a
//!   configuration that insists on the wrong sign says what it found and still measures
//!   the gain (from the PMT-only window), instead of skipping every event.
//! - Accuracy on realistic SPE shapes: a few representative cells of the grid that
//!   `accuracy_grid` (a small grid here; the full one on demand, BENCHMARKS.md has its
//!   table) covers — under-amplified fraction 0–15 %, occupancy 0.03–3, dark rate 0–50 kHz,
//!   20,000 events. Each cell is one simulated point: its gain must be `ok`, within 3 % and
//!   3σ of the truth (a single draw: the bias and pull statistics are the grid's job).
//! - `seed-compatible` still applies the old selection.

use std::path::{Path, PathBuf};
use std::process::Command;

use pmtwatch::pipeline::config::{AnalysisConfig, PolaritySetting};
use pmtwatch::pipeline::data::Input;
use pmtwatch::pipeline::fit::Status;
use pmtwatch::pipeline::point::{PointResult, ProcessOptions, process_inputs, process_loaded};
use pmtwatch::pipeline::simulate::{PointTruth, SimParams, UnderampShape, simulate_point};

fn pmtwatch(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pmtwatch"))
        .args(args)
        .output()
        .expect("run pmtwatch");
    assert!(
        out.status.success(),
        "pmtwatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Simulates a 3-point scan with `extra` arguments; returns the point directories and
/// their true gains.
fn simulate_scan(dir: &Path, extra: &[&str]) -> Vec<(PathBuf, f64)> {
    let scan = dir.to_str().expect("utf8");
    let mut args = vec![
        "simulate", scan, "--serial", "SIMPOL", "--points", "3", "--events", "4000", "--seed", "11",
    ];
    args.extend_from_slice(extra);
    pmtwatch(&args);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).expect("truth.json"))
            .expect("truth json");
    truth["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            let label = p["label"].as_str().expect("label");
            (
                dir.join("SIMPOL").join(format!("wavesave_{label}")),
                p["gain"].as_f64().expect("gain"),
            )
        })
        .collect()
}

fn process_dir(dir: &Path, cfg: &AnalysisConfig) -> PointResult {
    process_inputs(&[dir.to_path_buf()], cfg, &ProcessOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .result
}

fn polarity_warnings(r: &PointResult) -> Vec<&String> {
    r.warnings
        .iter()
        .filter(|w| w.contains("polarity") || w.contains("expects"))
        .collect()
}

#[test]
fn the_bench_polarities_give_a_gain_on_every_point() {
    let pos = tempfile::tempdir().expect("tempdir");
    let neg = tempfile::tempdir().expect("tempdir");
    let positive = simulate_scan(pos.path(), &[]);
    let negative = simulate_scan(neg.path(), &["--trigger-polarity", "negative"]);
    let cfg = AnalysisConfig::default();
    let mut wrong = AnalysisConfig::default();
    wrong.trigger.polarity = PolaritySetting::Negative;
    for ((p_dir, truth), (n_dir, _)) in positive.iter().zip(&negative) {
        // The bench's own way: positive trigger and pick-off, default configuration.
        let p = process_dir(p_dir, &cfg);
        assert_eq!(p.status, Status::Ok, "{}: {:?}", p.point, p.message);
        let g = p.gain.expect("a gain");
        let e = p.gain_err.expect("an error");
        assert!(
            (g - truth).abs() < 4.0 * e,
            "{}: gain {g:e} ± {e:e}, truth {truth:e}",
            p.point
        );
        assert!(
            polarity_warnings(&p).is_empty(),
            "the bench's conventions need no warning: {:?}",
            p.warnings
        );
        assert!(
            !p.warnings.iter().any(|w| w.contains("skipped")),
            "{:?}",
            p.warnings
        );

        // A NIM-like negative trigger: found (auto), used, and said.
        let n = process_dir(n_dir, &cfg);
        assert_eq!(n.status, Status::Ok, "{}: {:?}", n.point, n.message);
        // The same PMT data, the same gain: the trigger's sign moves its leading edge by
        // less than a sample, so the window (and the gain) can differ only in the noise.
        let gn = n.gain.expect("a gain with a negative trigger");
        assert!(
            (gn - g).abs() <= 0.05 * e,
            "{}: the same PMT data, the same gain: {gn:e} vs {g:e} ± {e:e}",
            n.point
        );
        let w = polarity_warnings(&n);
        assert!(
            w.iter().any(|w| w.contains("ch0 (trigger)")
                && w.contains("negative pulses of ~800 mV in 4000 of 4000 events")
                && w.contains("convention is positive")),
            "{:?}",
            n.warnings
        );

        // A configuration that insists on the wrong sign: it says what it found, and the
        // PMT-only window still measures the gain.
        let x = process_dir(p_dir, &wrong);
        assert_eq!(x.status, Status::Ok, "{}: {:?}", x.point, x.message);
        assert!(
            x.warnings.iter().any(|w| w.contains(
                "ch0 (trigger) has positive pulses of ~800 mV in 4000 of 4000 events; the \
                 configuration expects negative: the charge window is placed from the PMT \
                 pulses alone"
            )),
            "{:?}",
            x.warnings
        );
        let gx = x.gain.expect("a gain from the PMT-only window");
        assert!((gx / g - 1.0).abs() < 0.03, "{}: {gx:e} vs {g:e}", x.point);
    }
}

/// One simulated point of a grid cell, processed in memory exactly as `process` does.
pub fn simulated_point(p: &SimParams, seed: u64) -> (PointResult, PointTruth) {
    simulated_point_with(p, seed, &AnalysisConfig::default())
}

/// [`simulated_point`] under the analysis configuration `cfg`.
fn simulated_point_with(
    p: &SimParams,
    seed: u64,
    cfg: &AnalysisConfig,
) -> (PointResult, PointTruth) {
    let label = pmtwatch::pipeline::scan::PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    };
    let truth = PointTruth::new(&label, p);
    let waves = simulate_point(p, seed);
    let r = process_loaded(
        waves.into_iter().map(Input::Waveforms).collect(),
        Vec::new(),
        label.label(),
        cfg,
        &ProcessOptions::default(),
    )
    .expect("process a simulated point")
    .result;
    (r, truth)
}

fn cell(underamp: f64, occupancy: f64, dark_hz: f64, seed: u64) {
    shaped_cell(UnderampShape::Uniform, underamp, occupancy, dark_hz, seed);
}

fn shaped_cell(shape: UnderampShape, underamp: f64, occupancy: f64, dark_hz: f64, seed: u64) {
    let p = SimParams {
        events: 20_000,
        underamp_shape: shape,
        underamp_fraction: underamp,
        occupancy,
        dark_rate_hz: dark_hz,
        ..SimParams::default()
    };
    let (r, truth) = simulated_point(&p, seed);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let g = r.gain.expect("gain");
    let e = r.gain_err.expect("gain_err");
    let rel = g / truth.gain - 1.0;
    let pull = (g - truth.gain) / e;
    eprintln!(
        "underamp {underamp} occupancy {occupancy} dark {dark_hz} Hz: gain {g:.4e} ± {e:.2e} \
         ({:+.2} %, {pull:+.2}σ), mean SPE {:.4e} (truth {:.4e}), χ²/ndf {:.1}/{}",
        rel * 100.0,
        r.mean_spe_gain.unwrap_or(f64::NAN),
        truth.mean_spe_gain,
        r.chi2.unwrap_or(f64::NAN),
        r.ndf.unwrap_or(0)
    );
    assert!(
        rel.abs() <= 0.03,
        "gain {:+.2} % off the truth",
        rel * 100.0
    );
    assert!(pull.abs() <= 3.0, "gain {pull:+.2}σ off the truth");
    if shape != UnderampShape::Uniform {
        // Photoelectrons of almost no charge cannot be told from the pedestal: μ and the
        // mean SPE charge are those of the visible ones, and only the gain is checked.
        return;
    }
    let m = r.mean_spe_gain.expect("mean SPE gain");
    assert!(
        (m / truth.mean_spe_gain - 1.0).abs() <= 0.03,
        "mean SPE {m:e} vs truth {:e}",
        truth.mean_spe_gain
    );
    let mu = r.params["mu"].value;
    // μ counts the dark pulses in the window too (≈ rate × 130 ns).
    let true_mu = occupancy + dark_hz * 130e-9;
    assert!(
        (mu / true_mu - 1.0).abs() < 0.1,
        "mu {mu} vs truth {true_mu}"
    );
}

#[test]
fn accuracy_gaussian_spe_half_occupancy() {
    cell(0.0, 0.5, 0.0, 1);
}

#[test]
fn accuracy_5_percent_underamplified_high_occupancy() {
    cell(0.05, 3.0, 6000.0, 4);
}

/// 15 % of the photoelectrons in a continuum down to zero charge (Bellamy's and PMTCalib's
/// shape, mean 0.3 Q1), which the model's Gamma (shape ≥ 2) does not hold exactly.
#[test]
fn accuracy_15_percent_exponential_underamplified() {
    shaped_cell(UnderampShape::Exponential, 0.15, 1.0, 6000.0, 6);
}

/// 10 % in a broad hump (a Gamma of shape 2, mean 0.3 Q1) at a 20 kHz dark rate.
#[test]
fn accuracy_10_percent_hump_underamplified() {
    shaped_cell(UnderampShape::Hump, 0.10, 0.5, 20_000.0, 7);
}

/// μ = 0.03 with 600 photoelectrons in 20,000 events: a normal SPE-calibration condition,
/// fitted, not `no_signal`. Five seeds: a single point's error there is 2–20 % (the
/// under-amplified component is barely determined by ~60 such photoelectrons, and the
/// error says so), so each point is held to its own error and their mean to 5 %.
#[test]
fn low_occupancy_is_fitted_not_no_signal() {
    let p = SimParams {
        events: 20_000,
        underamp_fraction: 0.10,
        occupancy: 0.03,
        ..SimParams::default()
    };
    let mut rel = Vec::new();
    for seed in 5..10 {
        let (r, truth) = simulated_point(&p, seed);
        assert_eq!(r.status, Status::Ok, "seed {seed}: {:?}", r.message);
        let g = r.gain.expect("gain");
        let e = r.gain_err.expect("gain_err");
        assert!(
            (g - truth.gain).abs() < 4.0 * e && e < 0.25 * truth.gain,
            "seed {seed}: gain {g:e} ± {e:e}, truth {:e}",
            truth.gain
        );
        rel.push(g / truth.gain - 1.0);
    }
    let mean = rel.iter().sum::<f64>() / rel.len() as f64;
    assert!(mean.abs() < 0.05, "mean bias {mean}: {rel:?}");
}

/// A sparse point (μ 0.1, 15 % under-amplified, 20,000 events) whose pedestal count reads
/// μ as 0.01: poisson-gauss started from Q1 = mean / μ, six times too high, and ran away
/// to μ ≈ 33 with Q1 beyond the histogram from all three of its starts; the default model,
/// started from that, fell back to a pedestal with its own weight and read the gain 8.5 %
/// high. The SPE bump seen in the data is now a start of its own.
#[test]
fn a_sparse_point_whose_pedestal_count_misleads_the_start_is_fitted() {
    use pmtwatch::pipeline::fit::{Model, fit_histogram};
    let p = SimParams {
        events: 20_000,
        underamp_fraction: 0.15,
        occupancy: 0.1,
        dark_rate_hz: 0.0,
        ..SimParams::default()
    };
    // The grid's seed for this cell, seed index 3 (`accuracy_grid`).
    let seed = grid_seed(&p, 3);
    let (r, truth) = simulated_point(&p, seed);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let g = r.gain.expect("gain");
    assert!(
        (g / truth.gain - 1.0).abs() < 0.05,
        "default model: gain {g:e} vs truth {:e}",
        truth.gain
    );
    let pg = fit_histogram(&r.histogram, Model::PoissonGauss);
    assert_eq!(pg.status, Status::Ok, "{:?}", pg.message);
    let (mu, q1) = (pg.params["mu"].value, pg.params["q1"].value);
    assert!((0.05..0.2).contains(&mu), "poisson-gauss μ {mu}");
    assert!(
        (q1 / r.params["q1"].value - 1.0).abs() < 0.15,
        "poisson-gauss Q1 {q1} vs the default model's {}",
        r.params["q1"].value
    );
}

/// A sparse point (μ 0.1, 15 % of the photoelectrons in a narrow hump at 0.2–0.4 Q1, 6 kHz
/// dark rate, 20,000 events: ~300 under-amplified photoelectrons) on which the likelihood
/// alone preferred, by 0.3 in 2·ln L, a broad component of 40 % at mean 0.6 Q1 with Gamma
/// shape 2 — all three at their limits — that took the fully amplified peak's low side
/// and read the gain +6.2 %. A quarter of the grid's points in this cell did so (+1.3 %
/// on average). The prior on the fraction (`UA_FRACTION_PRIOR`) costs that corner 3.4 in
/// 2·ln L more than a component of 16 %: the fit keeps one like the simulated one and the
/// gain within 2 % (+1.0 %). Of the grid's seeds that went to the corner this is the one
/// the prior turns by the widest margin (1.5 in −ln L), so the test does not hang on a
/// rounding.
#[test]
fn a_broad_component_at_its_limits_does_not_take_the_spe_peak() {
    let p = SimParams {
        events: 20_000,
        underamp_fraction: 0.15,
        occupancy: 0.1,
        dark_rate_hz: 6000.0,
        ..SimParams::default()
    };
    // The grid's seed index 164 of this cell (`accuracy_grid`).
    let seed = grid_seed(&p, 164);
    let (r, truth) = simulated_point(&p, seed);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let w = r.params["ua_fraction"].value;
    let mean = r.params["ua_mean"].value;
    assert!(
        (0.05..0.3).contains(&w) && mean < 0.5,
        "under-amplified component {w} at mean {mean} Q1: {:?}",
        r.warnings
    );
    let g = r.gain.expect("gain");
    assert!(
        (g / truth.gain - 1.0).abs() < 0.02,
        "gain {g:e} vs truth {:e}",
        truth.gain
    );
}

/// 4,000 events, 15 % under-amplified, occupancy 0.1 (~60 under-amplified
/// photoelectrons): too few for the free component to pay its three parameters (it
/// improves 2·ln L by 5.5 < 6 on this point), and poisson-gauss, kept there before,
/// read the gain −5.7 % (10–15 % cells at occupancy 0.1: −1.4 … −2.3 % on average over
/// 100 points). The component of typical shape, only its fraction free, pays its one
/// parameter (4.7 > 2) and is kept: the gain within 2 % (−0.8 %).
#[test]
fn too_few_underamplified_photoelectrons_for_a_shape_keep_the_typical_one() {
    let p = SimParams {
        events: 4_000,
        underamp_fraction: 0.15,
        occupancy: 0.1,
        dark_rate_hz: 6000.0,
        ..SimParams::default()
    };
    // The grid's seed index 29 of this cell (`accuracy_grid`).
    let seed = grid_seed(&p, 29);
    let (r, truth) = simulated_point(&p, seed);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("under-amplified component of typical shape")),
        "{:?}",
        r.warnings
    );
    // Held at the typical shape: no error on its mean and Gamma shape.
    assert!(r.params["ua_mean"].error.is_none() && r.params["ua_shape"].error.is_none());
    let g = r.gain.expect("gain");
    assert!(
        (g / truth.gain - 1.0).abs() < 0.02,
        "gain {g:e} vs truth {:e}",
        truth.gain
    );
    // Poisson-gauss alone on the same point reads it low.
    let mut cfg = AnalysisConfig::default();
    cfg.fit.model = pmtwatch::pipeline::fit::Model::PoissonGauss;
    let (pg, _) = simulated_point_with(&p, seed, &cfg);
    let g_pg = pg.gain.expect("poisson-gauss gain");
    assert!(
        g_pg / truth.gain - 1.0 < -0.03,
        "poisson-gauss alone {g_pg:e} vs truth {:e}",
        truth.gain
    );
}

/// The seed of point `index` in the accuracy grid's cell of `p` (its under-amplified
/// fraction, occupancy and dark rate), so a test can replay one point of the grid.
fn grid_seed(p: &SimParams, index: u64) -> u64 {
    pmtwatch::pipeline::simulate::derive_seed(
        (p.underamp_fraction * 1000.0) as u64 * 1_000_003
            + (p.occupancy * 1000.0) as u64 * 101
            + p.dark_rate_hz as u64,
        index,
    )
}

/// The accuracy grid of BENCHMARKS.md: under-amplified fraction × occupancy × dark rate,
/// several seeds per cell, mean bias and pull RMS of the gain per cell. In CI a small grid
/// (one seed, 4,000 events, 4 cells) checks that every point gives a gain; the table of
/// BENCHMARKS.md ("Accuracy") comes from the full grid (~15 min on two cores):
/// `PMTWATCH_GRID_SEEDS=5 PMTWATCH_GRID_EVENTS=20000 PMTWATCH_GRID_UA=0,0.05,0.1,0.15
/// PMTWATCH_GRID_OCC=0.03,0.1,0.3,1,3 PMTWATCH_GRID_DARK=0,6000,50000 cargo test
/// --workspace --all-targets --locked -- accuracy_grid --nocapture --test-threads 1`;
/// `PMTWATCH_GRID_FIRST_SEED=N` starts at seed N (seeds are numbered per cell).
#[test]
fn accuracy_grid() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let seeds = env("PMTWATCH_GRID_SEEDS", 1);
    // Seeds `first..first + seeds`: a cell is extended (or split over processes) without
    // re-running the seeds it already has.
    let first = env("PMTWATCH_GRID_FIRST_SEED", 0);
    let events = env("PMTWATCH_GRID_EVENTS", 4_000);
    let list = |k: &str, d: &[f64]| -> Vec<f64> {
        std::env::var(k)
            .ok()
            .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| d.to_vec())
    };
    let uas = list("PMTWATCH_GRID_UA", &[0.0, 0.10]);
    let occs = list("PMTWATCH_GRID_OCC", &[0.3, 1.0]);
    let darks = list("PMTWATCH_GRID_DARK", &[6000.0]);
    let shape: UnderampShape = std::env::var("PMTWATCH_GRID_SHAPE")
        .ok()
        .map(|v| {
            v.parse()
                .expect("PMTWATCH_GRID_SHAPE: uniform, exponential or hump")
        })
        .unwrap_or_default();
    // `PMTWATCH_GRID_RANGE=lo,hi`: the under-amplified charges' range in Q1 (default
    // 0.2–0.4), to see how the fit fares on components other than the default's.
    let range = list("PMTWATCH_GRID_RANGE", &SimParams::default().underamp_range);
    let underamp_range = match range[..] {
        [lo, hi] => [lo, hi],
        _ => panic!("PMTWATCH_GRID_RANGE: two numbers lo,hi (in units of Q1)"),
    };
    let mut without_gain = Vec::new();
    println!(
        "| under-amplified | occupancy | dark rate | ok | mean bias | bias spread (σ of mean) | pull RMS | mean SPE bias | fit ms (median) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &ua in &uas {
        for &occ in &occs {
            for &dark in &darks {
                let p = SimParams {
                    events,
                    underamp_fraction: ua,
                    underamp_shape: shape,
                    underamp_range,
                    occupancy: occ,
                    dark_rate_hz: dark,
                    ..SimParams::default()
                };
                let mut rel = Vec::new();
                let mut pulls = Vec::new();
                let mut mean_rel = Vec::new();
                let mut fit_ms = Vec::new();
                let mut ok = 0;
                for s in first..first + seeds {
                    let seed = grid_seed(&p, s as u64);
                    let (r, truth) = simulated_point(&p, seed);
                    if std::env::var_os("PMTWATCH_GRID_VERBOSE").is_some() {
                        eprintln!(
                            "  seed {s}: {:?} gain {:+.2} % ± {:.2} %, χ²/ndf {:.1}/{} {:?}",
                            r.status,
                            (r.gain.unwrap_or(f64::NAN) / truth.gain - 1.0) * 100.0,
                            r.gain_err.unwrap_or(f64::NAN) / truth.gain * 100.0,
                            r.chi2.unwrap_or(f64::NAN),
                            r.ndf.unwrap_or(0),
                            r.warnings
                        );
                    }
                    fit_ms.push(r.timings_ms.fit);
                    if let (Status::Ok, Some(g), Some(e)) = (r.status, r.gain, r.gain_err) {
                        ok += 1;
                        rel.push(g / truth.gain - 1.0);
                        pulls.push((g - truth.gain) / e);
                        if let Some(m) = r.mean_spe_gain {
                            mean_rel.push(m / truth.mean_spe_gain - 1.0);
                        }
                    }
                }
                if ok < seeds {
                    without_gain.push(format!(
                        "ua {ua} occupancy {occ} dark {dark} Hz: {ok}/{seeds}"
                    ));
                }
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let sd_mean = |v: &[f64]| {
                    let m = mean(v);
                    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                        / (v.len().max(2) - 1) as f64
                        / v.len().max(1) as f64)
                        .sqrt()
                };
                let rms =
                    (pulls.iter().map(|x| x * x).sum::<f64>() / pulls.len().max(1) as f64).sqrt();
                fit_ms.sort_by(f64::total_cmp);
                println!(
                    "| {:.0} % | {occ} | {} kHz | {ok}/{seeds} | {:+.2} % | {:.2} % | {rms:.2} | {:+.2} % | {:.0} |",
                    ua * 100.0,
                    dark / 1000.0,
                    mean(&rel) * 100.0,
                    sd_mean(&rel) * 100.0,
                    mean(&mean_rel) * 100.0,
                    fit_ms[fit_ms.len() / 2]
                );
            }
        }
    }
    assert!(
        without_gain.is_empty(),
        "points without a gain: {without_gain:?}"
    );
}

/// At μ 7 nearly every event has a pulse: ~4 of 4,000 are pedestal, too few to place it.
/// The point is `unresolved` with that reason and what to do, not "pedestal and SPE
/// overlap" (the fit reads the hump as a broad pedestal there).
#[test]
fn too_high_an_occupancy_is_named_as_such() {
    let r = simulate_and_process(&["--events", "4000", "--occupancy", "7"], &[]);
    assert_eq!(r["status"], "unresolved", "{r}");
    let msg = r["message"].as_str().expect("a message");
    assert!(
        msg.contains("events have no PMT pulse") && msg.contains("lower the light level"),
        "{msg}"
    );
    assert!(r["gain"].is_null(), "{r}");
}

/// One point simulated with `pmtwatch simulate … sim_args` and processed with
/// `pmtwatch process <point> --json process_args`: its result document.
fn simulate_and_process(sim_args: &[&str], process_args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let scan = dir.path().to_str().expect("utf8");
    let mut sim = vec!["simulate", scan, "--serial", "SIM", "--points", "1"];
    sim.extend_from_slice(sim_args);
    pmtwatch(&sim);
    let point_dir = dir.path().join("SIM/wavesave_theta0_phi0");
    let mut process = vec!["process", point_dir.to_str().expect("utf8"), "--json"];
    process.extend_from_slice(process_args);
    let out = pmtwatch(&process);
    serde_json::from_slice(&out.stdout).expect("result json")
}

#[test]
fn seed_compatible_applies_the_old_selection() {
    let r = simulate_and_process(
        &["--events", "8000", "--underamp", "0"],
        &["--model", "seed-compatible"],
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["model"], "seed-compatible");
    let (events, selected) = (r["events"].as_u64(), r["selected"].as_u64());
    assert!(
        selected < events,
        "the cuts select a subset: {selected:?} of {events:?}"
    );
    let h = &r["histogram"];
    let lo = h["lo"].as_f64().expect("lo");
    let hi = lo
        + h["width"].as_f64().expect("width")
            * h["counts"].as_array().expect("counts").len() as f64;
    assert!(
        (lo - 0.5).abs() < 1e-9 && (hi - 4.5).abs() < 1e-9,
        "histogram [{lo}, {hi}] is the cut window"
    );
    for name in ["q0", "sigma0", "q1", "sigma1", "sigma2", "mu"] {
        assert!(r["params"][name]["value"].is_f64(), "{name} missing: {r}");
    }
    assert!(
        r["params"]["q0"]["error"].is_null(),
        "q0 is fixed in the old model"
    );
    // The legacy model is biased (it cuts into the SPE below 0.5 pC); it is kept for
    // comparison with a lab's history, so only a loose agreement is expected.
    let g = r["gain"].as_f64().expect("gain");
    assert!(
        (g / 1.05e7 - 1.0).abs() < 0.06,
        "seed-compatible gain {g:e}"
    );
}
