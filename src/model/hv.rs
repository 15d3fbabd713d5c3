//! An HV check's result as stored and shown ([`HvResult`]): the voltage for the target
//! gain with its error, how many voltages the fit used, and the one-line summary the HV
//! tab prints. `store::hv` keeps one per HV run; the newest unflagged one of a serial is
//! what that tube's next surface scan is offered.

use serde::Serialize;

/// The outcome of one HV check (one run), as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HvResult {
    pub run_id: i64,
    pub serial: String,
    /// The voltage for the target gain and its total 1σ error; `None` while (or when) the
    /// fit gives none (fewer than three usable voltages).
    pub volts: Option<f64>,
    pub volts_err: Option<f64>,
    /// The target gain.
    pub target: f64,
    /// Voltages in the fit, and voltages the run has.
    pub points_used: i64,
    pub points_total: i64,
    /// "HV for 1.00e7: 1712 ± 6 V (4 of 5 points; 1800 V excluded: no signal)".
    pub summary: String,
    /// When it was computed (Unix seconds).
    pub at: i64,
}
