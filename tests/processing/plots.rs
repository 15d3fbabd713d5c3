//! Plots and tables: `charge.png` and the gain map render to valid, non-blank PNGs of the
//! right size (also for odd inputs), and the scan table round-trips through CSV and
//! Parquet. One example of each picture is kept in `target/plot-examples/` for a human.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use pmtwatch::pipeline::fit::{FitCurve, FitResult, Model, Param, Status};
use pmtwatch::pipeline::histogram::Histogram;
use pmtwatch::pipeline::plot::{ChargePlot, MapPoint, charge_png, gain_map_png};
use pmtwatch::pipeline::point::{Health, PointResult, Timings};
use pmtwatch::pipeline::table::{scan_table, write_scan_tables};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
const FIT_RED: [u8; 3] = [220, 30, 30];

fn examples_dir() -> PathBuf {
    let dir = crate::common::manifest_dir().join("target/plot-examples");
    std::fs::create_dir_all(&dir).expect("create examples dir");
    dir
}

fn gauss(x: f64, mean: f64, sigma: f64) -> f64 {
    let z = (x - mean) / sigma;
    (-0.5 * z * z).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
}

/// Small deterministic normal generator (xorshift + Box–Muller), enough for noise.
struct Noise(u64);
impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Pedestal + 1 PE + 2 PE model (Poisson weights), as counts per bin of `width`.
struct Truth {
    n: f64,
    q0: f64,
    s0: f64,
    q1: f64,
    s1: f64,
    mu: f64,
}

impl Truth {
    fn components(&self, x: f64, width: f64) -> [f64; 3] {
        let p = |k: i32| {
            let fact = [1.0, 1.0, 2.0][k as usize];
            (-self.mu).exp() * self.mu.powi(k) / fact
        };
        let s = |k: f64| (self.s0 * self.s0 + k * self.s1 * self.s1).sqrt();
        let scale = self.n * width;
        [
            scale * p(0) * gauss(x, self.q0, s(0.0)),
            scale * p(1) * gauss(x, self.q0 + self.q1, s(1.0)),
            scale * p(2) * gauss(x, self.q0 + 2.0 * self.q1, s(2.0)),
        ]
    }
}

/// A spectrum and an `ok` fit whose curve is the truth, in `unit` with charges scaled by `scale`.
fn synthetic(unit: &str, scale: f64) -> (Histogram, FitResult) {
    let t = Truth {
        n: 50_000.0,
        q0: 0.0,
        s0: 0.08 * scale,
        q1: 1.6 * scale,
        s1: 0.5 * scale,
        mu: 0.4,
    };
    let (lo, width, bins) = (-0.6 * scale, 0.05 * scale, 170);
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut counts = Vec::with_capacity(bins);
    let mut per_bin = Vec::with_capacity(bins);
    for i in 0..bins {
        let x = lo + (i as f64 + 0.5) * width;
        let nu: f64 = t.components(x, width).iter().sum();
        per_bin.push(nu);
        counts.push((nu + nu.sqrt() * noise.normal()).round().max(0.0));
    }
    let hist = Histogram {
        lo,
        width,
        counts,
        unit: unit.to_string(),
        outside: 12,
    };
    let xs: Vec<f64> = (0..600)
        .map(|i| lo + (i as f64 / 599.0) * width * bins as f64)
        .collect();
    let comps: Vec<[f64; 3]> = xs.iter().map(|&x| t.components(x, width)).collect();
    let curve = FitCurve {
        total: comps.iter().map(|c| c.iter().sum()).collect(),
        components: ["pedestal", "1 PE", "2 PE"]
            .iter()
            .enumerate()
            .map(|(k, name)| (name.to_string(), comps.iter().map(|c| c[k]).collect()))
            .collect(),
        x: xs,
        per_bin,
    };
    let par = |v: f64, e: f64| Param {
        value: v,
        error: Some(e),
    };
    let params = BTreeMap::from([
        ("q0".to_string(), par(t.q0 + 0.0003 * scale, 0.0011 * scale)),
        ("sigma0".to_string(), par(t.s0, 0.0009 * scale)),
        ("q1".to_string(), par(t.q1, 0.021 * scale)),
        ("sigma1".to_string(), par(t.s1, 0.012 * scale)),
        ("mu".to_string(), par(t.mu, 0.0043)),
    ]);
    let fit = FitResult {
        status: Status::Ok,
        model: Model::PoissonGauss,
        params,
        chi2: Some(171.3),
        ndf: Some(165),
        chi2_expected: Some(170.2),
        message: None,
        range: [hist.lo, hist.hi()],
        iterations: 120,
        excluded: 0,
        error_scale: 1.0,
        notes: Vec::new(),
        curve: Some(curve),
    };
    (hist, fit)
}

/// Decodes a PNG, checking signature and size; returns the RGB pixels.
fn decode(bytes: &[u8], w: u32, h: u32) -> image::RgbImage {
    assert!(bytes.len() > 8, "PNG too short");
    assert_eq!(bytes[..8], PNG_SIGNATURE, "not a PNG");
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .expect("decode PNG")
        .to_rgb8();
    assert_eq!(img.dimensions(), (w, h));
    img
}

fn count_pixels(img: &image::RgbImage, f: impl Fn(&[u8; 3]) -> bool) -> usize {
    img.pixels().filter(|p| f(&p.0)).count()
}

#[test]
fn charge_plot_renders_fit_and_residuals() {
    let (hist, fit) = synthetic("pC", 1.0);
    let reference = {
        // An older measurement: twice the events, SPE region 0.2 pC lower.
        let mut r = hist.clone();
        r.counts.iter_mut().for_each(|c| *c *= 2.0);
        let n = r.counts.len();
        for i in 20..n {
            r.counts[i] = if i + 4 < n {
                2.0 * hist.counts[i + 4]
            } else {
                0.0
            };
        }
        r
    };
    let plot = ChargePlot {
        hist: &hist,
        fit: &fit,
        title: "SN KM12345 · theta30_phi90 · 2024-05-01 12:00:00 UTC".to_string(),
        gain: Some((0.9987e7, 1.3e5)),
        reference: Some(&reference),
        reference_label: None,
    };
    let t = Instant::now();
    let bytes = charge_png(&plot).expect("render");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "charge_png: {ms:.1} ms (test profile), {} bytes",
        bytes.len()
    );
    std::fs::write(examples_dir().join("charge.png"), &bytes).expect("save example");

    let img = decode(&bytes, 1000, 750);
    // The plot area (left 3/4 below the title) has plenty of ink.
    let ink = img
        .enumerate_pixels()
        .filter(|(x, y, p)| *x < 700 && *y > 40 && p.0 != [255, 255, 255])
        .count();
    assert!(
        ink > 10_000,
        "plot area nearly blank: {ink} non-white pixels"
    );
    let red = count_pixels(&img, |p| *p == FIT_RED);
    assert!(red > 300, "fit curve colour barely present: {red} pixels");
}

#[test]
fn charge_plot_in_volt_seconds_and_adc_units() {
    for (unit, scale, name) in [("V*s", 1e-11, "charge_vs.png"), ("ADC*samples", 600.0, "")] {
        let (hist, fit) = synthetic(unit, scale);
        let plot = ChargePlot {
            hist: &hist,
            fit: &fit,
            title: format!("unit {unit}"),
            gain: None,
            reference: None,
            reference_label: None,
        };
        let bytes = charge_png(&plot).expect("render");
        if !name.is_empty() {
            std::fs::write(examples_dir().join(name), &bytes).expect("save example");
        }
        let img = decode(&bytes, 1000, 750);
        assert!(count_pixels(&img, |p| *p == FIT_RED) > 300);
    }
}

#[test]
fn charge_plot_without_fit_says_so() {
    let (hist, fit) = synthetic("pC", 1.0);
    let no_fit = FitResult::without_fit(
        Status::NoSignal,
        Model::PoissonGauss,
        &hist,
        "pedestal only: no SPE signal above the pedestal".to_string(),
    );
    let plot = ChargePlot {
        hist: &hist,
        fit: &no_fit,
        title: "no signal".to_string(),
        gain: None,
        reference: None,
        reference_label: None,
    };
    let bytes = charge_png(&plot).expect("render");
    std::fs::write(examples_dir().join("charge_no_fit.png"), &bytes).expect("save example");
    let img = decode(&bytes, 1000, 750);
    // The message is written in the fit colour; the spectrum is still drawn.
    assert!(count_pixels(&img, |p| *p == FIT_RED) > 50);
    assert!(count_pixels(&img, |p| *p == [0, 0, 0]) > 500);
    drop(fit);
}

#[test]
fn charge_plot_survives_odd_input() {
    let (good, fit) = synthetic("pC", 1.0);
    let empty = Histogram {
        lo: 0.0,
        width: 0.1,
        counts: vec![],
        unit: "pC".into(),
        outside: 0,
    };
    let zeros = Histogram {
        counts: vec![0.0; 50],
        ..empty.clone()
    };
    let one_bin = Histogram {
        counts: vec![42.0],
        ..empty.clone()
    };
    let mut nans = good.clone();
    nans.counts[3] = f64::NAN;
    nans.counts[10] = f64::INFINITY;
    nans.counts[11] = -5.0;
    let broken = Histogram {
        lo: f64::NAN,
        width: f64::INFINITY,
        counts: vec![1.0, 2.0],
        unit: String::new(),
        outside: 0,
    };
    let negative_width = Histogram {
        lo: 1.0,
        width: -0.1,
        counts: vec![5.0; 10],
        ..empty.clone()
    };

    let mut bad_curve = fit.clone();
    if let Some(c) = bad_curve.curve.as_mut() {
        c.per_bin.truncate(7);
        c.total[5] = f64::NAN;
        c.total[6] = f64::INFINITY;
        c.total[7] = -1.0;
        c.components[0].1.truncate(3);
        c.x[100] = f64::NAN;
    }
    let mut nan_params = fit.clone();
    nan_params.params.insert(
        "q1".into(),
        Param {
            value: f64::NAN,
            error: Some(f64::INFINITY),
        },
    );
    nan_params.chi2 = Some(f64::NAN);
    let failed = FitResult::without_fit(Status::FitFailed, Model::Bellamy, &empty, "x".repeat(300));
    let insufficient = FitResult::without_fit(
        Status::InsufficientData,
        Model::SeedCompatible,
        &empty,
        String::new(),
    );
    let weird_ref = Histogram {
        lo: -100.0,
        width: 1.0,
        counts: vec![1e9, 0.0, f64::NAN, 3.0],
        ..empty.clone()
    };

    let cases: Vec<(&Histogram, &FitResult, Option<&Histogram>)> = vec![
        (&empty, &failed, None),
        (&empty, &fit, None),
        (&zeros, &insufficient, Some(&good)),
        (&zeros, &fit, None),
        (&one_bin, &failed, None),
        (&one_bin, &fit, Some(&empty)),
        (&nans, &fit, Some(&weird_ref)),
        (&good, &bad_curve, Some(&nans)),
        (&good, &nan_params, Some(&zeros)),
        (&broken, &fit, None),
        (&broken, &failed, Some(&broken)),
        (&negative_width, &bad_curve, None),
    ];
    for (i, (hist, fit, reference)) in cases.into_iter().enumerate() {
        let plot = ChargePlot {
            hist,
            fit,
            title: String::new(),
            gain: Some((f64::NAN, f64::INFINITY)),
            reference,
            reference_label: None,
        };
        let bytes = charge_png(&plot).unwrap_or_else(|e| panic!("case {i}: {e}"));
        decode(&bytes, 1000, 750);
        let name = match i {
            0 => "charge_empty.png",
            7 => "charge_odd.png",
            _ => continue,
        };
        std::fs::write(examples_dir().join(name), &bytes).expect("save");
    }
}

fn scan_points() -> Vec<MapPoint> {
    let mut pts = vec![MapPoint {
        label: "theta0_phi0".into(),
        theta: 0.0,
        phi: 0.0,
        gain: Some(1.05e7),
        healthy: true,
    }];
    for theta in [15.0, 30.0, 45.0, 60.0, 75.0] {
        for phi in [0.0, 90.0, 180.0, 270.0] {
            let gain = 1.1e7 - 4e4 * theta + 1.5e4 * (phi / 90.0);
            pts.push(MapPoint {
                label: format!("theta{theta}_phi{phi}"),
                theta,
                phi,
                gain: Some(gain),
                healthy: true,
            });
        }
    }
    pts[7].healthy = false;
    pts[7].gain = Some(2.5e6);
    pts[12].gain = None;
    pts[12].healthy = false;
    pts
}

#[test]
fn gain_map_renders_21_points() {
    let pts = scan_points();
    assert_eq!(pts.len(), 21);
    let t = Instant::now();
    let bytes =
        gain_map_png(&pts, "SN KM12345 · gain map · HV 1500 V", (5e6, 2e7)).expect("render");
    eprintln!(
        "gain_map_png: {:.1} ms (test profile)",
        t.elapsed().as_secs_f64() * 1e3
    );
    std::fs::write(examples_dir().join("gain_map.png"), &bytes).expect("save example");
    let img = decode(&bytes, 1000, 800);
    let ink = count_pixels(&img, |p| *p != [255, 255, 255]);
    assert!(ink > 20_000, "map nearly blank: {ink}");
    // The poor point's red ring.
    assert!(count_pixels(&img, |p| *p == FIT_RED) > 100);
}

#[test]
fn gain_map_survives_odd_input() {
    let odd = [
        MapPoint {
            label: "nan".into(),
            theta: f64::NAN,
            phi: 0.0,
            gain: Some(1e7),
            healthy: true,
        },
        MapPoint {
            label: "far".into(),
            theta: 400.0,
            phi: -30.0,
            gain: Some(f64::INFINITY),
            healthy: false,
        },
        MapPoint {
            label: "dup".into(),
            theta: 30.0,
            phi: 30.0,
            gain: Some(1e7),
            healthy: true,
        },
        MapPoint {
            label: "dup2".into(),
            theta: 30.0,
            phi: 30.0,
            gain: None,
            healthy: false,
        },
    ];
    for (pts, health) in [
        (&odd[..], (f64::NAN, f64::INFINITY)),
        (&[][..], (5e6, 2e7)),
        (&odd[2..3], (5e6, 2e7)),
        (&odd[3..], (5e6, 2e7)),
    ] {
        let bytes = gain_map_png(pts, "", health).expect("render");
        decode(&bytes, 1000, 800);
        if pts.len() == odd.len() {
            std::fs::write(examples_dir().join("gain_map_odd.png"), &bytes).expect("save");
        }
    }
}

fn point_result(name: &str, theta: Option<f64>, gain: Option<f64>, status: Status) -> PointResult {
    let par = |v: f64, e: f64| Param {
        value: v,
        error: Some(e),
    };
    let params = if status == Status::Ok {
        BTreeMap::from([
            ("q1".to_string(), par(1.6, 0.02)),
            ("mu".to_string(), par(0.4, 0.004)),
            ("sigma1".to_string(), par(0.5, 0.01)),
        ])
    } else {
        BTreeMap::new()
    };
    PointResult {
        serial: Some("KM12345".into()),
        point: name.into(),
        theta,
        phi: theta.map(|_| 90.0),
        hv: if theta.is_none() { Some(1500.0) } else { None },
        status,
        model: Model::PoissonGauss,
        gain,
        gain_err: gain.map(|g| g * 0.01),
        mean_spe_gain: None,
        mean_spe_gain_err: None,
        figures: Default::default(),
        checks: vec![],
        events: 50_000,
        selected: 49_000,
        charge_unit: "pC".into(),
        params,
        chi2: (status == Status::Ok).then_some(171.3),
        ndf: (status == Status::Ok).then_some(165),
        health: if gain.is_some() {
            Health::Healthy
        } else {
            Health::Warning
        },
        health_reason: String::new(),
        message: None,
        warnings: vec![],
        timings_ms: Timings::default(),
        pulse_fraction: None,
        window: None,
        sources: vec![],
        created: "2024-05-01T12:00:00Z".into(),
        histogram: Histogram {
            lo: 0.0,
            width: 1.0,
            counts: vec![1.0, 2.0, 3.0],
            unit: "pC".into(),
            outside: 0,
        },
    }
}

#[test]
fn scan_tables_round_trip() {
    let points = vec![
        point_result("theta0_phi0", Some(0.0), Some(0.9987e7), Status::Ok),
        point_result("theta30_phi90", Some(30.0), None, Status::NoSignal),
        point_result("hv1500", None, Some(1.2345e7), Status::Ok),
    ];
    let df = scan_table(&points).expect("table");
    assert_eq!(df.height(), 3);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "point",
            "theta",
            "phi",
            "hv",
            "status",
            "model",
            "gain",
            "gain_err",
            "q1",
            "q1_err",
            "mu",
            "mu_err",
            "sigma1",
            "chi2",
            "ndf",
            "events",
            "selected",
            "health",
            "charge_unit"
        ]
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let (csv, parquet) = write_scan_tables(&points, dir.path(), "scan").expect("write");
    assert_eq!(csv, dir.path().join("scan.csv"));
    assert_eq!(parquet, dir.path().join("scan.parquet"));

    let text = std::fs::read_to_string(&csv).expect("read csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header, names);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    assert_eq!(rows[0][col("point")], "theta0_phi0");
    let gain: f64 = rows[0][col("gain")].parse().expect("gain number");
    assert!((gain - 0.9987e7).abs() < 1.0, "gain {gain}");
    assert_eq!(rows[1][col("gain")], "", "missing gain is null");
    assert_eq!(rows[1][col("status")], "no_signal");
    assert_eq!(rows[2][col("theta")], "");
    assert_eq!(rows[2][col("hv")].parse::<f64>().expect("hv"), 1500.0);
    assert_eq!(rows[0][col("health")], "healthy");

    let bytes = std::fs::read(&parquet).expect("read parquet");
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
    // No temp files left behind.
    let entries = std::fs::read_dir(dir.path()).expect("list").count();
    assert_eq!(entries, 2);
}
