//! The reference sensor and health with reasons, against simulated truth through the same
//! path `process` takes: a SiPM on ch1 with a known occupancy, a light source that drifts
//! by 20 % across a scan (the relative efficiency must stay flat to 2 % while the PMT's own
//! occupancy falls), a light leak (dark rate × 50) called poor for its dark rate, a weak
//! spot (0.7 × gain) called poor for its gain, and every other point healthy.

use pmtwatch::pipeline::config::AnalysisConfig;
use pmtwatch::pipeline::data::Input;
use pmtwatch::pipeline::fit::Status;
use pmtwatch::pipeline::health::Criterion;
use pmtwatch::pipeline::point::{Health, PointResult, ProcessOptions, process_loaded};
use pmtwatch::pipeline::scan::PointLabel;
use pmtwatch::pipeline::simulate::{SimParams, simulate_point};

fn run(p: &SimParams, label: &PointLabel, seed: u64, cfg: &AnalysisConfig) -> PointResult {
    let waves = simulate_point(p, seed);
    process_loaded(
        waves.into_iter().map(Input::Waveforms).collect(),
        Vec::new(),
        label.label(),
        cfg,
        &ProcessOptions::default(),
    )
    .expect("process a simulated point")
    .result
}

fn with_reference() -> AnalysisConfig {
    let mut cfg = AnalysisConfig::default();
    cfg.channels.reference = Some(1);
    cfg
}

/// Least-squares slope and intercept of `y` against 0, 1, 2, …, weighted by 1/σ².
fn line(y: &[(f64, f64)]) -> (f64, f64) {
    let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, (v, e)) in y.iter().enumerate() {
        let (x, w) = (i as f64, 1.0 / (e * e));
        sw += w;
        sx += w * x;
        sy += w * v;
        sxx += w * x * x;
        sxy += w * x * v;
    }
    let slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
    (slope, (sy - slope * sx) / sw)
}

#[test]
fn relative_efficiency_removes_a_twenty_percent_source_drift() {
    let cfg = with_reference();
    let base = SimParams {
        events: 40_000,
        occupancy: 1.0,
        reference_occupancy: Some(1.0),
        intensity_drift: 0.2,
        ..SimParams::default()
    };
    // One spot on the photocathode measured again and again while the laser fades.
    let label = PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    };
    let n = 13;
    let mut mu = Vec::new();
    let mut rel = Vec::new();
    for i in 0..n {
        let p = base.for_scan_point(&label, i, n);
        let r = run(&p, &label, 500 + i as u64, &cfg);
        assert_eq!(r.status, Status::Ok, "point {i}: {:?}", r.message);
        let reference = r
            .figures
            .reference
            .as_ref()
            .expect("the reference is measured");
        assert_eq!(reference.channel, 1);
        let occ = reference.occupancy.as_ref().expect("a counted occupancy");
        let truth = p.reference_occupancy.expect("simulated");
        let e = occ.error.expect("binomial error");
        assert!(
            (occ.value - truth).abs() < 4.0 * e,
            "point {i}: reference occupancy {} ± {e} against the true {truth}",
            occ.value
        );
        let m = r
            .figures
            .occupancy_counted
            .as_ref()
            .expect("counted PMT occupancy");
        mu.push((m.value, m.error.expect("its error")));
        let re = r
            .figures
            .relative_efficiency
            .as_ref()
            .expect("relative efficiency");
        rel.push((re.value, re.error.expect("its error")));
    }
    let span = (n - 1) as f64;
    let (mu_slope, mu0) = line(&mu);
    let mu_change = mu_slope * span / mu0;
    assert!(
        (mu_change + 0.2).abs() < 0.03,
        "the PMT's occupancy follows the source: {mu_change:+.3} over the scan, {mu:?}"
    );
    let (rel_slope, rel0) = line(&rel);
    let rel_change = rel_slope * span / rel0;
    assert!(
        rel_change.abs() < 0.02,
        "the relative efficiency is flat to 2 %: {rel_change:+.4} over the scan, {rel:?}"
    );
}

#[test]
fn a_reference_channel_that_is_missing_or_dark_is_said_not_guessed() {
    let label = PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    };
    // The bench's pick-off (a large pulse every shot) named as the reference: every event
    // has a pulse, so no occupancy can be counted — said, and no relative efficiency.
    let r = run(&SimParams::default(), &label, 3, &with_reference());
    let reference = r.figures.reference.as_ref().expect("measured");
    assert!(reference.occupancy.is_none(), "{reference:?}");
    assert!(reference.mean_charge_pc.value > 0.0, "{reference:?}");
    assert!(r.figures.relative_efficiency.is_none());
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("too few to count its occupancy")),
        "{:?}",
        r.warnings
    );
    // A channel map naming a channel the point has no file of.
    let mut cfg = AnalysisConfig::default();
    cfg.channels.reference = Some(5);
    let r = run(&SimParams::default(), &label, 3, &cfg);
    assert!(r.figures.reference.is_none());
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("no file of the reference channel 5")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_light_leak_and_a_weak_spot_are_poor_each_for_its_own_reason() {
    let cfg = AnalysisConfig::default();
    let mut base = SimParams {
        events: 4000,
        ..SimParams::default()
    };
    let leak = PointLabel::Surface {
        theta: 15.0,
        phi: 90.0,
    };
    let weak = PointLabel::Surface {
        theta: 15.0,
        phi: 180.0,
    };
    base.dark_factors.insert(leak.label(), 50.0);
    base.gain_factors.insert(weak.label(), 0.7);
    let normal = [
        PointLabel::Surface {
            theta: 0.0,
            phi: 0.0,
        },
        PointLabel::Surface {
            theta: 15.0,
            phi: 0.0,
        },
        PointLabel::Surface {
            theta: 15.0,
            phi: 270.0,
        },
    ];
    for (i, label) in normal.iter().enumerate() {
        let r = run(&base.for_point(label), label, 40 + i as u64, &cfg);
        assert_eq!(
            r.health,
            Health::Healthy,
            "{}: {}",
            r.point,
            r.health_reason
        );
        let criteria: Vec<Criterion> = r.checks.iter().map(|c| c.criterion).collect();
        for c in [
            Criterion::Gain,
            Criterion::Resolution,
            Criterion::PeakToValley,
            Criterion::Occupancy,
            Criterion::DarkRate,
            Criterion::Tts,
        ] {
            assert!(
                criteria.contains(&c),
                "{}: no {c:?} check in {criteria:?}",
                r.point
            );
        }
    }
    let r = run(&base.for_point(&leak), &leak, 50, &cfg);
    assert_eq!(r.health, Health::Poor, "{}", r.health_reason);
    assert!(
        r.health_reason.starts_with("dark rate"),
        "{}",
        r.health_reason
    );
    let dark = r
        .checks
        .iter()
        .find(|c| c.criterion == Criterion::DarkRate)
        .expect("a dark-rate check");
    assert_eq!(dark.verdict, Health::Poor);
    // The gain of a leaking point is still right: only the dark rate is blamed.
    let gain = r
        .checks
        .iter()
        .find(|c| c.criterion == Criterion::Gain)
        .expect("gain");
    assert_eq!(gain.verdict, Health::Healthy, "{}", gain.text);

    let r = run(&base.for_point(&weak), &weak, 51, &cfg);
    assert_eq!(r.health, Health::Poor, "{}", r.health_reason);
    assert!(r.health_reason.starts_with("gain"), "{}", r.health_reason);
}

/// `process --no-figures` (the benchmark's baseline): the same gain, without the figures
/// beyond it.
#[test]
fn without_figures_the_gain_is_the_same_and_the_figures_are_absent() {
    let p = SimParams {
        reference_occupancy: Some(1.0),
        ..SimParams::default()
    };
    let label = PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    };
    let cfg = with_reference();
    let go = |no_figures: bool| {
        process_loaded(
            simulate_point(&p, 7)
                .into_iter()
                .map(Input::Waveforms)
                .collect(),
            Vec::new(),
            label.label(),
            &cfg,
            &ProcessOptions {
                no_figures,
                ..Default::default()
            },
        )
        .expect("process a simulated point")
        .result
    };
    let (all, gain_only) = (go(false), go(true));
    assert!(all.figures.timing.is_some() && all.figures.darkness.is_some());
    assert!(all.figures.reference.is_some());
    assert!(
        gain_only.figures.timing.is_none(),
        "{:?}",
        gain_only.figures
    );
    assert!(gain_only.figures.darkness.is_none());
    assert!(gain_only.figures.reference.is_none());
    assert_eq!(all.gain, gain_only.gain);
    assert_eq!(all.status, Status::Ok);
}
