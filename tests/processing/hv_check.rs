//! The HV check (issue 12): the power-law fit's stated uncertainty against a known truth
//! over many seeds (per-voltage gains drawn with realistic errors, so 800 fits take
//! milliseconds), exclusions with their reasons, the full path `simulate --hv-check` →
//! `hv-fit` on a few seeds, and the real DT5742 spectra against the manufacturer's voltages.

use std::path::Path;
use std::process::Command;

use pmtwatch::pipeline::hv::{ExclusionKind, HvFit, HvFitOptions, HvInput, fit_hv};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");

/// The simulated points follow the law exactly: no per-point model scatter.
fn exact(target: f64) -> HvFitOptions {
    HvFitOptions {
        target,
        point_syst: 0.0,
        ..Default::default()
    }
}

/// Five voltages 50 V apart around `nominal`, gains on `1e7·(V/v1e7)^slope`, each with a
/// relative error of 0.8–2 % (lower at high gain, as SPE fits give), drawn around the law
/// with that error and stated relative to the drawn value, as a fit states it.
fn draw_run(rng: &mut ChaCha8Rng, nominal: f64, slope: f64, v1e7: f64) -> Vec<HvInput> {
    (-2..=2)
        .map(|k| {
            let v = nominal + 50.0 * f64::from(k);
            let g = 1e7 * (v / v1e7).powf(slope);
            let rel = 0.008 + 0.012 * rng.random::<f64>();
            let z: f64 = StandardNormal.sample(rng);
            let drawn = g * (1.0 + rel * z);
            HvInput {
                volts: v,
                value: Some(drawn),
                error: Some(rel * drawn),
                problem: None,
                source: format!("hv{v}"),
            }
        })
        .collect()
}

#[test]
fn stated_uncertainty_covers_the_truth_in_simulated_runs() {
    // The acceptance counts 100 seeds per case; a binomial count of 100 at 68 % scatters
    // by ±4.7 %, so even exact errors leave the 58–78 % band in about one case of four
    // among eight. The band is asserted on 400 seeds per case (±2.3 %); the first 100
    // seeds' figures are printed next to them.
    let nominal = 1600.0;
    let (mut report, mut bad) = (Vec::new(), Vec::new());
    for slope in [6.0, 7.0, 8.0, 9.0] {
        for inside in [true, false] {
            let (mut in1, mut in2, mut worst_rel) = (0u32, 0u32, 0.0f64);
            let mut first100 = (0, 0);
            for seed in 0..400u64 {
                if seed == 100 {
                    first100 = (in1, in2);
                }
                let mut rng =
                    ChaCha8Rng::seed_from_u64(seed * 1000 + slope as u64 * 10 + inside as u64);
                // Inside: anywhere in the measured 1500–1700 V; outside: 40–100 V beyond.
                let v1e7 = if inside {
                    1510.0 + 180.0 * rng.random::<f64>()
                } else if rng.random::<bool>() {
                    1740.0 + 60.0 * rng.random::<f64>()
                } else {
                    1460.0 - 60.0 * rng.random::<f64>()
                };
                let f = fit_hv(&draw_run(&mut rng, nominal, slope, v1e7), &exact(1e7));
                let (v, e) = (
                    f.hv_at_target.expect("a voltage"),
                    f.hv_at_target_err.expect("an error"),
                );
                let pull = (v - v1e7).abs() / e;
                in1 += u32::from(pull <= 1.0);
                in2 += u32::from(pull <= 2.0);
                worst_rel = worst_rel.max((v - v1e7).abs() / v1e7);
                assert!(f.exclusions.is_empty(), "seed {seed}: {:?}", f.exclusions);
                assert_eq!(
                    f.warnings.iter().any(|w| w.contains("extrapolation")),
                    !inside,
                    "seed {seed}: {:?}",
                    f.warnings
                );
            }
            let range = if inside { "inside" } else { "outside" };
            let (p1, p2) = (f64::from(in1) / 4.0, f64::from(in2) / 4.0);
            report.push(format!(
                "slope {slope} target {range}: 400 seeds within 1σ {p1:.1} %, within 2σ {p2:.1} %; \
                 first 100 seeds {} %, {} %; worst {:.2} % off",
                first100.0,
                first100.1,
                worst_rel * 100.0
            ));
            if !((58.0..=78.0).contains(&p1) && p2 >= 90.0) {
                bad.push(format!(
                    "slope {slope}, target {range}: {p1} % within 1σ, {p2} % within 2σ"
                ));
            }
            if inside && worst_rel >= 0.01 {
                bad.push(format!("slope {slope}: off by {:.2} %", worst_rel * 100.0));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn a_point_without_signal_leaves_four_and_says_so() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut pts = draw_run(&mut rng, 1600.0, 7.5, 1620.0);
    pts[4].value = None;
    pts[4].error = None;
    pts[4].problem = Some((ExclusionKind::NoSignal, "no signal: pedestal only".into()));
    let f = fit_hv(&pts, &exact(1e7));
    assert_eq!(f.points.iter().filter(|p| p.used).count(), 4);
    assert_eq!(f.exclusions.len(), 1);
    assert_eq!(
        (f.exclusions[0].volts, f.exclusions[0].kind),
        (1700.0, ExclusionKind::NoSignal)
    );
    assert!(f.exclusions[0].reason.contains("no signal"));
    let v = f.hv_at_target.expect("voltage from four points");
    assert!(
        (v - 1620.0).abs() < 3.0 * f.hv_at_target_err.expect("error"),
        "{v}"
    );
}

#[test]
fn a_point_more_than_5_sigma_off_is_excluded_with_that_reason() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut pts = draw_run(&mut rng, 1600.0, 7.0, 1600.0);
    // 8 σ of its own error above the law (a wrong voltage, a gain jump). The middle
    // point: with five points a shifted second point can be told from a shifted first
    // one only as far as the errors allow (the fit then excludes the one whose removal
    // leaves the better law, see pipeline::hv), the middle one always.
    let e = pts[2].error.expect("error");
    pts[2].value = pts[2].value.map(|g| g + 8.0 * e);
    let f = fit_hv(&pts, &exact(1e7));
    assert_eq!(f.exclusions.len(), 1, "{:?}", f.exclusions);
    let x = &f.exclusions[0];
    assert_eq!(
        (x.volts, x.kind),
        (1600.0, ExclusionKind::Outlier),
        "{:?}",
        f.points
    );
    assert!(
        x.reason.contains("σ off the power law of the other points"),
        "{}",
        x.reason
    );
    assert!((f.hv_at_target.expect("voltage") - 1600.0).abs() < 10.0);
}

fn hv_fit_json(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(BIN)
        .arg("hv-fit")
        .args(args)
        .arg("--json")
        .output()
        .expect("run pmtwatch hv-fit");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("hv-fit printed no JSON ({e}): {stdout}\n{stderr}"));
    (doc, stderr)
}

fn simulate_hv(dir: &Path, seed: u64, extra: &[&str]) {
    let st = Command::new(BIN)
        .arg("simulate")
        .arg(dir)
        .args([
            "--serial",
            "EA0012",
            "--hv-check",
            "--nominal",
            "1600",
            "--events",
            "2000",
        ])
        .args(["--stamp", "20260101_120000", "--seed", &seed.to_string()])
        .args(extra)
        .status()
        .expect("run pmtwatch simulate");
    assert!(st.success(), "simulate --hv-check failed");
}

#[test]
fn simulated_bench_run_end_to_end() {
    for (seed, slope, v1e7, dark) in [(1u64, "7", "1620", None), (2, "8.5", "1735", Some("1550"))] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut extra = vec!["--slope", slope, "--hv-at-1e7", v1e7];
        if let Some(d) = dark {
            extra.extend(["--dark", d]);
        }
        simulate_hv(tmp.path(), seed, &extra);
        let layout = tmp
            .path()
            .join("WaveDumpSaves/wavedump_output_20260101_120000/EA0012/wavesave_HV_CHECK");
        assert!(layout.join("wave2save_HV_1500.txt").is_file());
        let out = tmp.path().join("fit");
        let out_s = out.to_string_lossy().into_owned();
        let root = tmp
            .path()
            .join("WaveDumpSaves")
            .to_string_lossy()
            .into_owned();
        let (doc, stderr) = hv_fit_json(&[&root, "--point-syst", "0", "--out", &out_s]);
        assert_eq!(doc["serial"], "EA0012", "{doc}");
        assert_eq!(
            doc["voltages"],
            serde_json::json!([1500.0, 1550.0, 1600.0, 1650.0, 1700.0])
        );
        let truth: f64 = v1e7.parse().expect("number");
        let v = doc["hv_at_target"]
            .as_f64()
            .unwrap_or_else(|| panic!("{doc}\n{stderr}"));
        let e = doc["hv_at_target_err"].as_f64().expect("error");
        let slope_fit = doc["slope"].as_f64().expect("slope");
        eprintln!(
            "seed {seed}: {v:.1} ± {e:.1} V (truth {truth}), slope {slope_fit:.2} (truth {slope})"
        );
        assert!((v - truth).abs() < (3.0 * e).max(0.01 * truth), "{doc}");
        let excl = doc["exclusions"].as_array().expect("exclusions");
        match dark {
            Some(d) => {
                // The dark voltage is excluded as no signal. The lowest voltage of this
                // run (gain ≈ 3e6, its SPE ~2 pedestal widths out) may also be excluded:
                // `unresolved`, or an outlier when the overlapping fit reads it low (issue 9
                // open), with its reason: never silently.
                let dark_v: Option<f64> = d.parse().ok();
                let dark_excl: Vec<_> = excl.iter().filter(|x| x["kind"] == "no_signal").collect();
                assert_eq!(dark_excl.len(), 1, "{doc}");
                assert_eq!(dark_excl[0]["volts"].as_f64(), dark_v, "{doc}");
                for x in excl.iter().filter(|x| x["kind"] != "no_signal") {
                    assert_eq!(x["volts"].as_f64(), Some(1500.0), "{doc}");
                    let unresolved = x["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("unresolved"));
                    assert!(x["kind"] == "outlier" || unresolved, "{doc}");
                }
                assert!(excl.len() <= 2, "{doc}");
            }
            None => assert!(excl.is_empty(), "{doc}"),
        }
        if truth > 1700.0 {
            assert!(
                doc["warnings"].to_string().contains("extrapolation"),
                "{doc}"
            );
        }
        assert!(out.join("EA0012_gain_vs_hv_loglog.png").is_file());
        let one = std::fs::read_to_string(out.join("EA0012_HV_at_gain_1.00e+07.txt")).expect("txt");
        assert!((one.trim().parse::<f64>().expect("a number") - v).abs() < 0.1);

        // The same voltages processed first (`process --out <run>/data_HV_<V>`, as a
        // cluster job leaves them): hv-fit over the result documents gives the same answer.
        let results = tmp.path().join("results");
        for volts in [1500, 1550, 1600, 1650, 1700] {
            let files: Vec<_> = (0..3)
                .map(|ch| layout.join(format!("wave{ch}save_HV_{volts}.txt")))
                .collect();
            let st = Command::new(BIN)
                .arg("process")
                .args(&files)
                .args(["--serial", "EA0012", "--no-plot", "--json", "--out"])
                .arg(results.join(format!("data_HV_{volts}")))
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run pmtwatch process");
            assert!(st.success(), "process {volts} V failed");
        }
        let res_s = results.to_string_lossy().into_owned();
        let (again, _) = hv_fit_json(&[&res_s, "--point-syst", "0"]);
        let v2 = again["hv_at_target"]
            .as_f64()
            .unwrap_or_else(|| panic!("{again}"));
        assert!((v2 - v).abs() < 0.01, "results {v2} V, raw {v} V");
        assert_eq!(again["exclusions"], doc["exclusions"], "{again}");
    }
}

/// NB0083 (its nearly empty 1500 V file excluded with its reason) and NB0169 (five good
/// points) land within 30 V of the manufacturer's voltage with `--target-q1 192`.
#[test]
fn real_dt5742_clean_tubes_match_the_manufacturer() {
    real_dt5742_tubes_match_the_manufacturer(&["PMT_NB0083", "PMT_NB0169"]);
}

/// Why NB0015 is not in the test above: its own spectra contradict the manufacturer's
/// voltage, without any fit. The left half of the pedestal (below its mode: no signal
/// there) gives P0, so μ = −ln P0, and the mean SPE charge is (mean − pedestal) / μ. At
/// 1600 and 1700 V that is 57 and 92 mV·ns — what the fit finds — while 1720 V at 1e7
/// needs Q1 ≈ 192 at 1720 V, i.e. ≥ 150 at 1700 V. The low-occupancy 1800 V file (μ ≈ 0.02,
/// its pedestal 13 mV·ns lower and 40 % wider: other settings) reads 281, which does agree
/// with 1720 V; the power law through 1500–1700 V gives ≈ 1857 V. Which run is right is a
/// question for the lab: pmtwatch reports 1800 V as an outlier of the other three, with
/// its reason, rather than trust one point over three.
#[test]
fn nb0015_high_occupancy_spectra_contradict_the_manufacturers_voltage() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hv-scan-dt5742");
    for (volts, q1_fit) in [(1600.0, 56.9), (1700.0, 92.3)] {
        let text = std::fs::read_to_string(dir.join(format!("PMT_NB0015_HV{volts}.csv")))
            .expect("spectrum");
        let bins: Vec<(f64, f64)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (x, c) = l.split_once(',')?;
                Some((x.trim().parse().ok()?, c.trim().parse().ok()?))
            })
            .collect();
        let total: f64 = bins.iter().map(|b| b.1).sum();
        let mean = bins.iter().map(|b| b.0 * b.1).sum::<f64>() / total;
        let mode = bins
            .iter()
            .filter(|b| b.0.abs() < 60.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a pedestal")
            .0;
        let left: f64 = bins.iter().filter(|b| b.0 < mode).map(|b| b.1).sum();
        let mu = -(2.0 * left / total).ln();
        let q1 = (mean - mode) / mu;
        eprintln!("NB0015 {volts} V: μ {mu:.2}, mean SPE charge {q1:.1} (fit {q1_fit})");
        assert!(
            (q1 - q1_fit).abs() < 0.1 * q1_fit,
            "{volts} V: {q1} vs {q1_fit}"
        );
    }
    let (doc, _) = hv_fit_json(&[
        &dir.to_string_lossy(),
        "--serial",
        "PMT_NB0015",
        "--target-q1",
        "192",
    ]);
    let v = doc["hv_at_target"].as_f64().expect("a voltage");
    assert!(v > 1800.0, "{doc}");
    let excl = doc["exclusions"].as_array().cloned().unwrap_or_default();
    assert!(
        excl.iter()
            .any(|e| e["volts"] == 1800.0 && e["kind"] == "outlier"),
        "{doc}"
    );
}

fn real_dt5742_tubes_match_the_manufacturer(tubes: &[&str]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hv-scan-dt5742");
    let manu: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manufacturer.json")).expect("manufacturer.json"),
    )
    .expect("manufacturer.json is JSON");
    let dir_s = dir.to_string_lossy().into_owned();
    let mut failures = Vec::new();
    for &tube in tubes {
        let (doc, _) = hv_fit_json(&[&dir_s, "--serial", tube, "--target-q1", "192"]);
        let want = manu[tube]["manufacturer_hv_at_1e7"]
            .as_f64()
            .expect("voltage");
        let got = doc["hv_at_target"].as_f64();
        eprintln!(
            "{tube}: {got:?} ± {} V (manufacturer {want}), statuses {}, exclusions {}",
            doc["hv_at_target_err"], doc["statuses"], doc["exclusions"]
        );
        if got.is_none_or(|v| (v - want).abs() > 30.0) {
            failures.push(format!("{tube}: {got:?} V, manufacturer {want} V"));
        }
        let excl = doc["exclusions"].as_array().cloned().unwrap_or_default();
        if tube == "PMT_NB0083" {
            // The nearly empty file (277 entries): excluded, with a reason.
            let e = excl.iter().find(|e| e["volts"] == 1500.0);
            assert!(
                e.is_some_and(|e| e["reason"].as_str().is_some_and(|r| !r.is_empty())),
                "{doc}"
            );
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// The fit is what the JSON reports: a sanity check of the document's fields.
#[test]
fn fit_document_fields_are_consistent() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let f: HvFit = fit_hv(&draw_run(&mut rng, 1500.0, 7.0, 1500.0), &exact(1e7));
    let total = f.hv_at_target_err_total.expect("total");
    let (s, y) = (
        f.hv_at_target_err.expect("stat"),
        f.hv_at_target_err_syst.expect("syst"),
    );
    assert!((total - s.hypot(y)).abs() < 1e-9);
    assert!((y - 1500.0 * 0.02 / 7.0).abs() < 0.5, "{y}");
}
