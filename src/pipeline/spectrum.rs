//! From a point's inputs to the histogram that is fitted: which channel plays which role,
//! PMT and trigger events paired by event number, the charge window placed per event,
//! per-event charges, and the old analysis's cuts for `seed-compatible`. Split from
//! [`super::point`], which turns the fitted spectrum into the result document.

use super::config::{
    AnalysisConfig, PMT_CONVENTION, Polarity, PolaritySetting, TRIGGER_CONVENTION, WindowMode,
};
use super::data::{ChargeInput, Waveforms};
use super::error::{Error, Result};
use super::fit;
use super::histogram::Histogram;
use super::reference::{self, Reference};
use super::timing::{self, DarkInputs, Timing};
use super::waveform::{self, Features, PolarityScan};

/// Fewest PMT pulses inside the charge window for a point to count as having signal.
pub const MIN_PULSES: usize = 10;

/// Largest share of events left out for a pulse among their baseline samples. Beyond it
/// the baseline region is not quiet (noise over the threshold, or the light arrives that
/// early), and leaving them out would cost the point its statistics: they are kept.
pub const MAX_BASELINE_VETO: f64 = 0.1;

/// A histogram ready to fit and what it was made of.
pub struct Spectrum {
    pub hist: Histogram,
    pub events: u64,
    pub selected: u64,
    /// (PMT pulses in the charge window, events) for waveform inputs.
    pub pulses: Option<(usize, usize)>,
    pub window: Option<[i64; 2]>,
    /// The transit-time distribution, where a trigger channel was paired.
    pub timing: Option<Timing>,
    /// What the dark-pulse count needs after the fit (waveform inputs only).
    pub dark: Option<DarkInputs>,
    /// The reference sensor, where the channel map names one and its file is there.
    pub reference: Option<Reference>,
}

/// The spectrum of a charge input (values or an already binned histogram).
pub fn charge_spectrum(
    input: ChargeInput,
    cfg: &AnalysisConfig,
    warnings: &mut Vec<String>,
) -> Result<Spectrum> {
    let events = input.events();
    let seed = cfg.fit.model == fit::Model::SeedCompatible;
    let hist = match input {
        ChargeInput::Values { values, unit } => {
            let range = if seed && unit == "pC" {
                Some([cfg.seed.q_min_pc, cfg.seed.q_max_pc])
            } else {
                cfg.fit.range
            };
            let values: Vec<f64> = match range {
                Some([lo, hi]) => values.into_iter().filter(|v| *v >= lo && *v < hi).collect(),
                None => values,
            };
            Histogram::auto(&values, cfg.fit.bins, range, &unit)
        }
        ChargeInput::Histogram {
            centers,
            counts,
            unit,
        } => Histogram::from_centers(&centers, &counts, &unit).map(|h| match cfg.fit.range {
            Some([lo, hi]) => h.slice(lo, hi),
            None => h,
        }),
    }
    .ok_or_else(|| Error::Input("the charge input holds no finite values".into()))?;
    if seed && hist.unit != "pC" {
        warnings.push(format!(
            "seed-compatible cuts are in pC; the input is in {}, so the whole spectrum is fitted",
            hist.unit
        ));
    }
    let selected = hist.total().round() as u64;
    Ok(Spectrum {
        hist,
        events,
        selected,
        pulses: None,
        window: None,
        timing: None,
        dark: None,
        reference: None,
    })
}

/// Pairs PMT events with trigger events by event number (by position when numbers repeat).
fn align(pmt: &Waveforms, trig: &Waveforms, warnings: &mut Vec<String>) -> Vec<Option<usize>> {
    let unique = |w: &Waveforms| {
        let mut v = w.event_numbers.clone();
        v.sort_unstable();
        v.windows(2).all(|p| p[0] != p[1])
    };
    let map: Vec<Option<usize>> = if unique(pmt) && unique(trig) {
        let index: std::collections::HashMap<u64, usize> = trig
            .event_numbers
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, i))
            .collect();
        pmt.event_numbers
            .iter()
            .map(|n| index.get(n).copied())
            .collect()
    } else {
        (0..pmt.events())
            .map(|i| (i < trig.events()).then_some(i))
            .collect()
    };
    let missing = map.iter().filter(|m| m.is_none()).count();
    if missing > 0 {
        warnings.push(format!(
            "{missing} PMT events have no trigger event with the same event number; they are skipped"
        ));
    }
    map
}

/// Features, window placement, charges and selection for waveform inputs.
pub fn waveform_spectrum(
    waves: &[Waveforms],
    cfg: &AnalysisConfig,
    figures: bool,
    warnings: &mut Vec<String>,
) -> Result<Spectrum> {
    let ch = &cfg.channels;
    let (pmt, trig, pickoff) = channels_of(waves, cfg)?;
    let dig = &cfg.digitizer;
    let scan = |w: &Waveforms, thr: f64| {
        waveform::scan_polarity(w, cfg.pmt.baseline, cfg.pmt.baseline_samples, thr, dig)
    };
    // Each channel's polarity: configured, or from the data (`auto`).
    let pmt_scan = scan(pmt, cfg.pmt.threshold_mv);
    let pmt_pol = pmt_polarity(
        cfg.pmt.polarity,
        &pmt_scan,
        &channel_name(pmt, "PMT"),
        warnings,
    );
    let trig_pol = trig.and_then(|t| {
        let s = scan(t, cfg.trigger.threshold_mv);
        trigger_polarity(
            cfg.trigger.polarity,
            &s,
            &channel_name(t, "trigger"),
            true,
            warnings,
        )
    });
    if let Some(p) = pickoff {
        let s = scan(p, cfg.pickoff.threshold_mv);
        trigger_polarity(
            cfg.pickoff.polarity,
            &s,
            &channel_name(p, "pick-off"),
            false,
            warnings,
        );
    }
    let reference = match ch.reference.filter(|&c| c != ch.pmt && figures) {
        Some(c) => match waves.iter().find(|w| w.channel == Some(c)) {
            Some(r) => reference::measure(r, cfg, warnings),
            None => {
                warnings.push(format!(
                    "no file of the reference channel {c} in this point; relative efficiency \
                     not computed"
                ));
                None
            }
        },
        None => None,
    };
    let trig = trig.filter(|_| trig_pol.is_some());
    let (fp, ft) = rayon::join(
        || waveform::features(pmt, &cfg.pmt, pmt_pol, dig),
        || {
            trig.zip(trig_pol)
                .map(|(t, p)| waveform::features(t, &cfg.trigger_pulse(), p, dig))
        },
    );
    let pair = match (trig, &ft) {
        (Some(t), Some(ft)) => Some((align(pmt, t, warnings), ft)),
        _ => None,
    };
    // Trigger pulse start per PMT event (NaN when missing).
    let trig_start: Vec<f32> = match &pair {
        Some((map, ft)) => map
            .iter()
            .map(|m| m.map_or(f32::NAN, |j| ft.start[j]))
            .collect(),
        None => vec![f32::NAN; pmt.events()],
    };
    let w = &cfg.window;
    let pre = w.pre as i64;
    let seed = cfg.fit.model == fit::Model::SeedCompatible;
    let mode = if seed { WindowMode::Pulse } else { w.mode };
    let anchors = anchors(
        mode,
        cfg,
        &fp,
        &trig_start,
        pair.is_some(),
        pmt.record_len,
        warnings,
    );
    let starts: Vec<Option<i64>> = anchors.iter().map(|a| a.map(|a| a - pre)).collect();
    let (mut q, clipped) = waveform::integrate(pmt, &fp.baseline, pmt_pol, &starts, w.length, dig);
    let timing = pair.as_ref().filter(|_| figures).and_then(|_| {
        let cfd = timing::cfd_times(pmt, &fp, pmt_pol, timing::CFD_FRACTION, dig);
        let dt: Vec<f64> = cfd
            .iter()
            .zip(&trig_start)
            .map(|(p, t)| f64::from(p - t) * dig.sample_ns)
            .collect();
        timing::transit_time(
            &dt,
            "constant fraction 30 % of the PMT pulse height, after the trigger's leading edge",
            0.5 * dig.sample_ns,
        )
    });
    if clipped > 0 {
        warnings.push(format!(
            "{clipped} events had the charge window partly outside the record (clipped)"
        ));
    }
    if !seed {
        veto_baseline_pulses(pmt, &fp, pmt_pol, &starts, cfg, &mut q, warnings);
    }
    let in_window = fp
        .start
        .iter()
        .zip(&starts)
        .filter(|(s, a)| match a {
            Some(a) => s.is_finite() && (**s as i64) >= *a && (**s as i64) < a + w.length as i64,
            None => false,
        })
        .count();
    let dark = figures.then(|| {
        // Pulse height per charge of the in-window pulses: scales the fitted SPE charge to
        // the SPE height the dark-pulse threshold is given in.
        let mut ratios: Vec<f64> = fp
            .start
            .iter()
            .zip(&starts)
            .zip(q.iter().zip(&fp.amplitude_mv))
            .filter(|((s, a), (qi, _))| {
                a.is_some_and(|a| {
                    s.is_finite() && (**s as i64) >= a && (**s as i64) < a + w.length as i64
                }) && qi.is_finite()
                    && **qi > 0.0
            })
            .map(|(_, (qi, amp))| f64::from(*amp) / qi)
            .collect();
        let mv_per_pc = (ratios.len() >= MIN_PULSES).then(|| {
            let k = ratios.len() / 2;
            *ratios.select_nth_unstable_by(k, f64::total_cmp).1
        });
        DarkInputs {
            pmt: waves.iter().position(|x| std::ptr::eq(x, pmt)).unwrap_or(0),
            polarity: pmt_pol,
            baselines: fp.baseline.clone(),
            region_end: starts.clone(),
            mv_per_pc,
        }
    });
    let window = starts
        .iter()
        .flatten()
        .copied()
        .min()
        .zip(starts.iter().flatten().copied().max())
        .map(|(lo, hi)| [lo, hi + w.length as i64]);

    if seed {
        let s = &cfg.seed;
        let dt_ok = |i: usize| {
            if pair.is_none() {
                return true;
            }
            let dt = f64::from(fp.start[i] - trig_start[i]) * dig.sample_ns;
            dt > s.dt_min_ns && dt < s.dt_max_ns
        };
        if pair.is_none() {
            warnings
                .push("no trigger channel: the seed-compatible timing cut is not applied".into());
        }
        for (i, qi) in q.iter_mut().enumerate() {
            if !(*qi > s.q_min_pc && *qi < s.q_max_pc && dt_ok(i)) {
                *qi = f64::NAN;
            }
        }
    }
    let values: Vec<f64> = q.into_iter().filter(|v| v.is_finite()).collect();
    let range = if seed {
        Some([cfg.seed.q_min_pc, cfg.seed.q_max_pc])
    } else {
        cfg.fit.range
    };
    let hist = Histogram::auto(&values, cfg.fit.bins, range, "pC").unwrap_or_else(no_charges);
    Ok(Spectrum {
        selected: hist.total().round() as u64,
        hist,
        events: pmt.events() as u64,
        pulses: Some((in_window, pmt.events())),
        window,
        timing,
        dark,
        reference,
    })
}

/// Leaves out (charge NaN) the events with a pulse among their baseline samples. A dark
/// pulse there shifts the baseline, and so the event's charge by ~1.5 photoelectrons'
/// worth (40 baseline samples, a 60-sample window): at a 50 kHz dark rate 0.4 % of the
/// events, spread below every photoelectron peak, which a broad Gaussian SPE describes
/// better than the true shape. Dark pulses are independent of the light, so the events
/// that remain are an unbiased sample of the same occupancy.
fn veto_baseline_pulses(
    pmt: &Waveforms,
    fp: &Features,
    polarity: Polarity,
    starts: &[Option<i64>],
    cfg: &AnalysisConfig,
    q: &mut [f64],
    warnings: &mut Vec<String>,
) {
    let p = &cfg.pmt;
    let hit = waveform::pulse_in_baseline(
        pmt,
        &fp.baseline,
        polarity,
        p.baseline_samples,
        starts,
        p.threshold_mv,
        &cfg.digitizer,
    );
    let n = hit.iter().filter(|&&h| h).count();
    if n == 0 {
        return;
    }
    let events = pmt.events().max(1);
    let share = n as f64 / events as f64;
    if share > MAX_BASELINE_VETO {
        warnings.push(format!(
            "{n} of {events} events have a pulse over {} mV among the {} baseline samples: \
             the baseline region is not quiet (noise over the threshold, or the light arrives \
             that early); they are kept, and their charges may be shifted",
            p.threshold_mv, p.baseline_samples
        ));
        return;
    }
    for (qi, _) in q.iter_mut().zip(&hit).filter(|(_, h)| **h) {
        *qi = f64::NAN;
    }
    warnings.push(format!(
        "{n} {} ({:.2} %) {} a pulse over {} mV among the {} baseline samples (a dark \
         pulse, which shifts the baseline and the charge) and {} left out",
        if n == 1 { "event" } else { "events" },
        100.0 * share,
        if n == 1 { "has" } else { "have" },
        p.threshold_mv,
        p.baseline_samples,
        if n == 1 { "is" } else { "are" }
    ));
}

/// The PMT, trigger and pick-off channels among a point's waveforms (one file: the PMT
/// alone); an error naming the files when the PMT channel is not among them, or has no
/// events.
fn channels_of<'a>(
    waves: &'a [Waveforms],
    cfg: &AnalysisConfig,
) -> Result<(&'a Waveforms, Option<&'a Waveforms>, Option<&'a Waveforms>)> {
    let ch = &cfg.channels;
    let (pmt, trig, pickoff) = if let [one] = waves {
        (one, None, None)
    } else {
        let find = |c: u32| waves.iter().find(|w| w.channel == Some(c));
        let pmt = find(ch.pmt).ok_or_else(|| {
            let found: Vec<String> = waves
                .iter()
                .map(|w| match w.channel {
                    Some(c) => format!("{} (channel {c})", w.source.display()),
                    None => format!("{} (channel unknown)", w.source.display()),
                })
                .collect();
            Error::Input(format!(
                "no file of the PMT channel {} among {}; set channels.pmt in the analysis config",
                ch.pmt,
                found.join(", ")
            ))
        })?;
        (
            pmt,
            ch.trigger.and_then(find),
            ch.pickoff.filter(|&c| c != ch.pmt).and_then(find),
        )
    };
    if pmt.events() == 0 {
        return Err(Error::Empty {
            path: pmt.source.clone(),
            what: "no events in the PMT channel".into(),
        });
    }
    Ok((pmt, trig, pickoff))
}

/// A dark run (a darkness check's point: no light, a random or self trigger): every
/// record after its baseline samples is searched for dark pulses, no trigger pulse is
/// needed, and the spectrum shown is the charge in the window right after the baseline
/// samples of every record — the pedestal, with the dark pulses that fall in it. There is
/// no SPE to fit.
pub fn dark_spectrum(
    waves: &[Waveforms],
    cfg: &AnalysisConfig,
    warnings: &mut Vec<String>,
) -> Result<(Histogram, DarkInputs)> {
    let (pmt, _, _) = channels_of(waves, cfg)?;
    let dig = &cfg.digitizer;
    let pmt_scan = waveform::scan_polarity(
        pmt,
        cfg.pmt.baseline,
        cfg.pmt.baseline_samples,
        cfg.pmt.threshold_mv,
        dig,
    );
    let pol = pmt_polarity(
        cfg.pmt.polarity,
        &pmt_scan,
        &channel_name(pmt, "PMT"),
        warnings,
    );
    let fp = waveform::features(pmt, &cfg.pmt, pol, dig);
    let start = cfg.pmt.baseline_samples as i64;
    let starts = vec![Some(start); pmt.events()];
    let (q, _) = waveform::integrate(pmt, &fp.baseline, pol, &starts, cfg.window.length, dig);
    let values: Vec<f64> = q.into_iter().filter(|v| v.is_finite()).collect();
    let hist =
        Histogram::auto(&values, cfg.fit.bins, cfg.fit.range, "pC").unwrap_or_else(no_charges);
    let dark = DarkInputs {
        pmt: waves.iter().position(|x| std::ptr::eq(x, pmt)).unwrap_or(0),
        polarity: pol,
        baselines: fp.baseline,
        region_end: vec![Some(pmt.record_len as i64); pmt.events()],
        mv_per_pc: None,
    };
    Ok((hist, dark))
}

/// The histogram of a point without a finite charge: one empty bin (the fit says why).
fn no_charges() -> Histogram {
    Histogram {
        lo: 0.0,
        width: 1.0,
        counts: vec![0.0],
        unit: "pC".into(),
        outside: 0,
    }
}

/// "ch0 (trigger)" for messages.
fn channel_name(w: &Waveforms, role: &str) -> String {
    match w.channel {
        Some(c) => format!("ch{c} ({role})"),
        None => format!("the {role} channel"),
    }
}

/// The PMT channel's polarity: the configured sign, or under `auto` the sign of the
/// pulses over threshold when one sign clearly dominates (at least [`MIN_PULSES`] events
/// and three times the other sign), else the bench's convention (negative). A warning
/// when the data disagree with the configuration or the convention.
fn pmt_polarity(
    setting: PolaritySetting,
    scan: &PolarityScan,
    name: &str,
    warnings: &mut Vec<String>,
) -> Polarity {
    let d = scan.dominant();
    let clear = |p: Polarity| scan.count(p) >= MIN_PULSES.max(3 * scan.count(p.flip()));
    match setting.fixed() {
        Some(p) => {
            if clear(p.flip()) {
                warnings.push(format!(
                    "{name} has {}; the configuration expects {p} ({})",
                    scan.describe(p.flip()),
                    scan.describe(p)
                ));
            }
            p
        }
        None if clear(d) => {
            if d != PMT_CONVENTION {
                warnings.push(format!(
                    "{name} has {}, the bench's convention is {PMT_CONVENTION}: using {d} \
                     (polarity = auto)",
                    scan.describe(d)
                ));
            }
            d
        }
        None => PMT_CONVENTION,
    }
}

/// A trigger (or pick-off) channel's polarity: it has one large pulse per event, so the
/// sign is the one found in at least half of the events. `None` when the channel shows
/// no such pulses with the sign used — then, for the trigger, the message says what was
/// found instead and the charge window is placed from the PMT pulses alone.
fn trigger_polarity(
    setting: PolaritySetting,
    scan: &PolarityScan,
    name: &str,
    is_trigger: bool,
    warnings: &mut Vec<String>,
) -> Option<Polarity> {
    let found = |p: Polarity| {
        let n = scan.count(p);
        n >= MIN_PULSES.min(scan.events).max(1) && 2 * n >= scan.events
    };
    let fallback = if is_trigger {
        ": the charge window is placed from the PMT pulses alone"
    } else {
        ""
    };
    let d = scan.dominant();
    match setting.fixed() {
        Some(p) if found(p) => Some(p),
        Some(p) if found(p.flip()) => {
            warnings.push(format!(
                "{name} has {}; the configuration expects {p}{fallback} (set its polarity \
                 to auto or {})",
                scan.describe(p.flip()),
                p.flip()
            ));
            None
        }
        None if found(d) => {
            if d != TRIGGER_CONVENTION {
                warnings.push(format!(
                    "{name} has {}, the bench's convention is {TRIGGER_CONVENTION}: using {d} \
                     (polarity = auto)",
                    scan.describe(d)
                ));
            }
            Some(d)
        }
        _ => {
            warnings.push(format!(
                "{name} has no pulse over {} mV in most events ({}; {}){fallback}",
                scan.threshold_mv,
                scan.describe(Polarity::Positive),
                scan.describe(Polarity::Negative)
            ));
            None
        }
    }
}

/// The window anchor (sample) of every PMT event for the window mode.
fn anchors(
    mode: WindowMode,
    cfg: &AnalysisConfig,
    fp: &Features,
    trig_start: &[f32],
    have_trigger: bool,
    record_len: usize,
    warnings: &mut Vec<String>,
) -> Vec<Option<i64>> {
    let n = fp.start.len();
    let delay = (cfg.window.delay_ns / cfg.digitizer.sample_ns).round() as i64;
    let from_trigger = |d: i64| -> Vec<Option<i64>> {
        trig_start
            .iter()
            .map(|t| t.is_finite().then(|| t.round() as i64 + d))
            .collect()
    };
    match mode {
        WindowMode::Fixed => vec![Some(cfg.window.start as i64); n],
        WindowMode::Pulse => fp
            .start
            .iter()
            .map(|s| s.is_finite().then(|| s.round() as i64))
            .collect(),
        WindowMode::Trigger if have_trigger => from_trigger(delay),
        WindowMode::Trigger => {
            warnings.push(
                "window.mode = trigger but there is no usable trigger channel: the window is \
                 placed from the PMT pulses instead"
                    .into(),
            );
            anchors(
                WindowMode::Auto,
                cfg,
                fp,
                trig_start,
                false,
                record_len,
                warnings,
            )
        }
        WindowMode::Auto if have_trigger => {
            // Transit time from the data: the most frequent PMT − trigger delay.
            let dts = fp
                .start
                .iter()
                .zip(trig_start)
                .map(|(p, t)| p - t)
                .filter(|d| d.is_finite());
            let d = if fp.pulses() >= MIN_PULSES {
                waveform::mode(dts)
            } else {
                None
            };
            let missing = trig_start.iter().filter(|t| !t.is_finite()).count();
            if missing > 0 {
                warnings.push(format!(
                    "{missing} events have no trigger pulse over {} mV and are skipped",
                    cfg.trigger.threshold_mv
                ));
            }
            from_trigger(d.unwrap_or(delay))
        }
        WindowMode::Auto => {
            let pulses = fp.pulses();
            let a = if pulses >= MIN_PULSES {
                waveform::mode(fp.start.iter().copied())
            } else {
                None
            }
            .unwrap_or(if cfg.window.start > 0 {
                cfg.window.start as i64
            } else {
                record_len as i64 / 2
            });
            vec![Some(a); n]
        }
    }
}
