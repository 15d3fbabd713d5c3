//! Timing and darkness against simulated truth: the simulator writes dark pulses at a known
//! rate, a known transit-time spread and a known late-pulse fraction; the pipeline must
//! find them through the same path `process` takes (waveforms → features → figures).

use pmtwatch::pipeline::config::AnalysisConfig;
use pmtwatch::pipeline::data::Input;
use pmtwatch::pipeline::fit::Status;
use pmtwatch::pipeline::point::{Health, PointResult, ProcessOptions, process_loaded};
use pmtwatch::pipeline::simulate::{SimParams, simulate_point};

fn run(p: &SimParams, seed: u64) -> PointResult {
    let waves = simulate_point(p, seed);
    process_loaded(
        waves.into_iter().map(Input::Waveforms).collect(),
        Vec::new(),
        "theta0_phi0".into(),
        &AnalysisConfig::default(),
        &ProcessOptions::default(),
    )
    .expect("process a simulated point")
    .result
}

#[test]
fn dark_rate_within_three_sigma_of_the_truth_from_100_hz_to_100_khz() {
    for (i, rate) in [100.0, 1e3, 1e4, 1e5].into_iter().enumerate() {
        let p = SimParams {
            events: 20_000,
            occupancy: 0.5,
            dark_rate_hz: rate,
            ..SimParams::default()
        };
        let r = run(&p, 100 + i as u64);
        assert_eq!(r.status, Status::Ok, "{rate} Hz: {:?}", r.message);
        let d = r.figures.darkness.as_ref().expect("a dark rate");
        assert_eq!(d.threshold_pe, Some(0.25));
        let (v, e) = (d.rate_hz.value, d.rate_hz.error.expect("error"));
        assert!(
            (v - rate).abs() <= 3.0 * e,
            "{rate} Hz: measured {v:.1} ± {e:.1} Hz ({} pulses in {:.4} s at {:.2} mV)",
            d.pulses,
            d.live_s,
            d.threshold_mv
        );
    }
}

#[test]
fn tts_within_five_percent_and_late_pulses_found() {
    for (i, tts) in [1.3, 2.7].into_iter().enumerate() {
        let p = SimParams {
            events: 40_000,
            occupancy: 0.2,
            tts_ns: tts,
            late_fraction: 0.05,
            ..SimParams::default()
        };
        let r = run(&p, 7 + i as u64);
        let t = r.figures.timing.as_ref().expect("timing");
        let s = t.tts_sigma_ns.value;
        assert!(
            (s / tts - 1.0).abs() <= 0.05,
            "TTS {tts} ns: measured {t:?}"
        );
        // The transit time of the simulation: trigger edge to photoelectron arrival.
        assert!((t.transit_ns.value - p.transit_ns).abs() < 3.0, "{t:?}");
        let fwhm = t.tts_fwhm_ns.expect("FWHM");
        assert!((fwhm / (2.3548 * tts) - 1.0).abs() < 0.15, "{t:?}");
        // 5 % of the photoelectrons are late; at λ = 0.2 nearly every timed event has one
        // photoelectron, so the late fraction of timed events is close to 5 %.
        let late = t.late_fraction.value;
        assert!(
            (0.035..0.065).contains(&late),
            "late fraction {late}: {t:?}"
        );
        assert!(t.pre_fraction.value < 0.01, "{t:?}");
    }
    // Without late pulses, none are reported.
    let p = SimParams {
        events: 20_000,
        occupancy: 0.2,
        ..SimParams::default()
    };
    let t = run(&p, 3).figures.timing.expect("timing");
    assert!(t.late_fraction.value < 0.01, "{t:?}");
}

/// Issue 15, the darkness check: a dark run (no light; random trigger, so no trigger
/// channel at all) is counted over whole records into a rate, at the 0.25 PE threshold a
/// lit point of the same tube reports, within 3σ of the truth from 100 Hz to 100 kHz; a
/// light leak makes the point poor with the reason "dark rate", and there is no gain.
#[test]
fn a_dark_run_is_counted_into_a_rate_without_light_or_trigger() {
    let lit = run(
        &SimParams {
            events: 4000,
            ..SimParams::default()
        },
        5,
    );
    let thr = lit
        .figures
        .darkness
        .as_ref()
        .expect("a lit point's dark count")
        .threshold_mv;
    let mut cfg = AnalysisConfig::default();
    cfg.darkness.threshold_mv = Some(thr);
    for (i, rate) in [100.0, 1e3, 1e4, 1e5].into_iter().enumerate() {
        let p = SimParams {
            events: 20_000,
            occupancy: 0.0,
            dark_rate_hz: rate,
            ..SimParams::default()
        };
        let waves: Vec<Input> = simulate_point(&p, 300 + i as u64)
            .into_iter()
            .filter(|w| w.channel != Some(0))
            .map(Input::Waveforms)
            .collect();
        let r = process_loaded(waves, Vec::new(), "dark1".into(), &cfg, &Default::default())
            .expect("a dark run is processed")
            .result;
        assert_eq!(r.status, Status::Ok, "{rate} Hz: {:?}", r.message);
        assert_eq!((r.gain, r.theta, r.hv), (None, None, None));
        let d = r.figures.darkness.as_ref().expect("a dark rate");
        let (v, e) = (d.rate_hz.value, d.rate_hz.error.expect("error"));
        assert!(
            (v - rate).abs() <= 3.0 * e,
            "{rate} Hz: measured {v:.1} ± {e:.1} Hz ({} pulses in {:.4} s at {:.2} mV)",
            d.pulses,
            d.live_s,
            d.threshold_mv
        );
        // A whole record is searched: ~20,000 µs-long records, not their pre-trigger parts.
        assert!(d.live_s > 0.015, "{d:?}");
        let verdict = if rate >= 1e5 {
            Health::Poor
        } else {
            Health::Healthy
        };
        assert_eq!(r.health, verdict, "{rate} Hz: {}", r.health_reason);
        if verdict == Health::Poor {
            assert!(
                r.health_reason.starts_with("dark rate"),
                "{}",
                r.health_reason
            );
        }
    }
}

/// A dark pulse among the 40 baseline samples shifts the baseline, and with it the event's
/// charge by ~1.5 photoelectrons' worth: such events are left out and counted (at 50 kHz,
/// 20,000 events hold ~120 dark pulses over the 3 mV threshold among their baseline
/// samples: 80 ns of baseline, plus the ~40 ns a pulse that starts before a sample stays
/// over the threshold; the simulator also starts pulses before the record, whose tails
/// reach into it). Without dark pulses nothing is left out. Where more than 10 % of the
/// events have one (here a 2 MHz dark rate), they are kept, and the warning says why.
#[test]
fn events_with_a_dark_pulse_in_their_baseline_are_left_out_and_counted() {
    let left_out = |r: &PointResult| -> Option<u64> {
        r.warnings
            .iter()
            .find(|w| w.contains("among the 40 baseline samples") && w.contains("left out"))
            .and_then(|w| w.split_whitespace().next()?.parse().ok())
    };
    let p = SimParams {
        events: 20_000,
        occupancy: 1.0,
        dark_rate_hz: 50_000.0,
        ..SimParams::default()
    };
    let r = run(&p, 41);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let n = left_out(&r).unwrap_or_else(|| panic!("no veto warning: {:?}", r.warnings));
    // Poisson mean ~120 (50 kHz × ~120 ns × 20,000); 80 ns alone would give 80.
    assert!((80..=170).contains(&n), "{n} events left out");
    // Every other event stays (a stray one may fall outside the histogram's range).
    assert!(
        r.selected <= r.events - n && r.events - n - r.selected < 5,
        "{} of {} events selected: {:?}",
        r.selected,
        r.events,
        r.warnings
    );

    let quiet = run(
        &SimParams {
            dark_rate_hz: 0.0,
            ..p.clone()
        },
        41,
    );
    assert_eq!(left_out(&quiet), None, "{:?}", quiet.warnings);
    assert!(quiet.events - quiet.selected < 5, "{}", quiet.selected);

    // At 2 MHz a quarter of the events have one: the baseline region is not quiet, and
    // leaving them out would cost the point its statistics.
    let noisy = run(
        &SimParams {
            events: 4000,
            dark_rate_hz: 2e6,
            ..p.clone()
        },
        41,
    );
    assert_eq!(left_out(&noisy), None, "{:?}", noisy.warnings);
    assert!(
        noisy
            .warnings
            .iter()
            .any(|w| w.contains("baseline region is not quiet") && w.contains("kept")),
        "{:?}",
        noisy.warnings
    );
}
