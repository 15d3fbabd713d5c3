//! The reference sensor: a SiPM or reference PMT on its own channel (ch1 on the bench, or
//! whichever channel the profile names) seeing the same light source as the PMT. Per point
//! it gives its occupancy — counted, −ln(fraction of events without a pulse), which needs
//! no SPE model — and its mean charge; the PMT's fitted occupancy divided by the
//! reference's is the *relative efficiency*, in which a drift of the source's intensity
//! across a scan cancels. The first step towards cross-calibrating tubes on one bench.
//!
//! Why counting and not a fit: a reference sensor is chosen to be simple (a SiPM at low
//! occupancy, a well-known PMT), and a pulse/no-pulse count is robust against its exact
//! pulse shape and gain; the fraction without a pulse is binomial, so its error is exact.

use serde::{Deserialize, Serialize};

use super::config::{AnalysisConfig, Polarity, PulseConfig};
use super::data::Waveforms;
use super::fit::Param;
use super::waveform::{self, mode};

/// Fewest events without a pulse for the occupancy to be counted (−ln of a handful is
/// meaningless).
const MIN_EMPTY: u64 = 10;

/// The reference sensor of a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Its channel number.
    pub channel: u32,
    /// Mean photoelectrons per trigger, −ln(fraction of events without a pulse in the
    /// window), with its binomial error; `None` when (nearly) every event has a pulse —
    /// then only the mean charge tracks the intensity.
    pub occupancy: Option<Param>,
    /// Mean charge per event in the window, pulses or not, in pC, with its error.
    pub mean_charge_pc: Param,
    /// Events looked at, and those with a pulse over threshold in the window.
    pub events: u64,
    pub with_pulse: u64,
    /// The window around the light's arrival, in samples `[start, end)`.
    pub window: [i64; 2],
}

/// Counts and integrates the reference channel `w`: pulses over `[reference]
/// threshold_mv` starting within the window of `window_ns` around the most common pulse
/// start (the light's arrival). `None` when no event has a pulse at all (with a warning:
/// the channel is named but dark).
pub fn measure(
    w: &Waveforms,
    cfg: &AnalysisConfig,
    warnings: &mut Vec<String>,
) -> Option<Reference> {
    let channel = w.channel?;
    let dig = &cfg.digitizer;
    let r = &cfg.reference;
    let polarity = r.polarity.fixed().unwrap_or_else(|| {
        let scan = waveform::scan_polarity(
            w,
            cfg.pmt.baseline,
            cfg.pmt.baseline_samples,
            r.threshold_mv,
            dig,
        );
        if scan.count(Polarity::Negative) > scan.count(Polarity::Positive) {
            Polarity::Negative
        } else {
            Polarity::Positive
        }
    });
    let pulse = PulseConfig {
        polarity: r.polarity,
        threshold_mv: r.threshold_mv,
        ..cfg.pmt.clone()
    };
    let f = waveform::features(w, &pulse, polarity, dig);
    let Some(at) = mode(f.start.iter().copied()) else {
        warnings.push(format!(
            "reference sensor ch{channel}: no pulse over {} mV in any event; check the \
             channel map (channels.reference) and [reference] threshold_mv",
            r.threshold_mv
        ));
        return None;
    };
    let half = (0.5 * r.window_ns / dig.sample_ns).ceil() as i64;
    let (lo, hi) = (at - half, at + half.max(1));
    let events = w.events() as u64;
    let with_pulse = f
        .start
        .iter()
        .filter(|s| s.is_finite() && (lo..hi).contains(&(s.floor() as i64)))
        .count() as u64;
    let starts: Vec<Option<i64>> = vec![Some(lo); w.events()];
    let (q, _) = waveform::integrate(w, &f.baseline, polarity, &starts, (hi - lo) as usize, dig);
    let q: Vec<f64> = q.into_iter().filter(|v| v.is_finite()).collect();
    let n = q.len() as f64;
    let mean = q.iter().sum::<f64>() / n.max(1.0);
    let var = q.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let empty = events - with_pulse;
    let occupancy = counted_occupancy(with_pulse, events);
    if occupancy.is_none() {
        warnings.push(format!(
            "reference sensor ch{channel}: {empty} of {events} events without a pulse, too \
             few to count its occupancy; its mean charge still tracks the light"
        ));
    }
    Some(Reference {
        channel,
        occupancy,
        mean_charge_pc: Param {
            value: mean,
            error: Some((var / n.max(1.0)).sqrt()),
        },
        events,
        with_pulse,
        window: [lo, hi],
    })
}

/// Mean pulses per event from the fraction of events without one, −ln(1 − with/events),
/// with its binomial error; `None` with fewer than [`MIN_EMPTY`] empty events.
pub fn counted_occupancy(with_pulse: u64, events: u64) -> Option<Param> {
    let empty = events.checked_sub(with_pulse)?;
    (empty >= MIN_EMPTY).then(|| {
        let p0 = empty as f64 / events as f64;
        Param {
            value: -p0.ln(),
            // Var(−ln p̂) = (1 − p) / (N p) for a binomial fraction p.
            error: Some(((1.0 - p0) / (events as f64 * p0)).sqrt()),
        }
    })
}

/// PMT occupancy / reference occupancy, errors added in quadrature (the two channels'
/// counts are independent); `None` without both. The PMT's occupancy is best counted the
/// same way as the reference's (pulses in its charge window), so that neither side
/// depends on an SPE model whose bias could change with the light level.
pub fn relative_efficiency(pmt_mu: Option<&Param>, r: Option<&Reference>) -> Option<Param> {
    let a = pmt_mu.filter(|p| p.value.is_finite() && p.value > 0.0)?;
    let b = r?.occupancy.as_ref().filter(|p| p.value > 0.0)?;
    let ratio = a.value / b.value;
    let rel = |p: &Param| p.error.map_or(0.0, |e| e / p.value);
    Some(Param {
        value: ratio,
        error: Some(ratio * rel(a).hypot(rel(b))),
    })
}
