//! `pmtwatch simulate --hv-check --nominal V`: an HV check in the bench's layout
//! (`WaveDumpSaves/wavedump_output_<stamp>/<SN>/wavesave_HV_CHECK/`) with a known power
//! law, written by [`crate::pipeline::simulate_hv`]. Its options join `simulate`'s own
//! (serial, events, occupancy, seed) through `#[command(flatten)]`.

use std::process::ExitCode;

use anyhow::Context;

use super::simulate::SimulateArgs;
use crate::pipeline::serial::Serial;
use crate::pipeline::simulate::SimParams;
use crate::pipeline::simulate_hv::{DEFAULT_OFFSETS, HvCheckSim, simulate_hv_check, stamp_now};

/// The HV-check options of `pmtwatch simulate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HvCheckArgs {
    /// Write an HV check in the bench's layout (nominal −100 … +100 V in 50 V steps)
    /// with a known power law, its truth in `<OUT_DIR>/hv_truth.json`.
    #[arg(long, requires = "nominal", conflicts_with_all = ["hv", "pattern", "poor"])]
    pub hv_check: bool,
    /// The nominal voltage of the HV check.
    #[arg(long, value_name = "VOLTS", requires = "hv_check")]
    pub nominal: Option<f64>,
    /// Offsets from the nominal voltage, comma-separated (default -100,-50,0,50,100).
    #[arg(
        long,
        value_name = "VOLTS,…",
        value_delimiter = ',',
        allow_hyphen_values = true,
        requires = "hv_check"
    )]
    pub offsets: Vec<f64>,
    /// Exponent of the power law (gain ∝ V^slope).
    #[arg(long, value_name = "B", default_value_t = 7.0)]
    pub slope: f64,
    /// The voltage at which the gain is 1e7 (default: the nominal voltage).
    #[arg(long, value_name = "VOLTS", requires = "hv_check")]
    pub hv_at_1e7: Option<f64>,
    /// A voltage written without light (no signal). Repeatable.
    #[arg(long, value_name = "VOLTS", requires = "hv_check")]
    pub dark: Vec<f64>,
    /// The `<stamp>` of `wavedump_output_<stamp>` (default: now, UTC).
    #[arg(long, value_name = "STAMP", requires = "hv_check")]
    pub stamp: Option<String>,
}

/// Runs `pmtwatch simulate --hv-check`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let hv = &args.hv_check;
    let serial = Serial::parse(&args.serial).map_err(|e| anyhow::anyhow!("--serial: {e}"))?;
    let nominal = hv.nominal.context("--hv-check needs --nominal VOLTS")?;
    anyhow::ensure!(
        nominal.is_finite() && nominal > 0.0,
        "--nominal must be a positive voltage, got {nominal}"
    );
    let defaults = SimParams::default();
    let base = SimParams {
        occupancy: args.occupancy,
        events: args.events,
        underamp_fraction: args.underamp.unwrap_or(defaults.underamp_fraction),
        ..defaults
    };
    let sim = HvCheckSim {
        nominal,
        offsets: if hv.offsets.is_empty() {
            DEFAULT_OFFSETS.to_vec()
        } else {
            hv.offsets.clone()
        },
        slope: hv.slope,
        hv_at_1e7: hv.hv_at_1e7.unwrap_or(nominal),
        dark: hv.dark.clone(),
        stamp: hv.stamp.clone().unwrap_or_else(stamp_now),
    };
    let truth = simulate_hv_check(&args.out_dir, &serial, &base, &sim, args.seed, |_| {})
        .with_context(|| format!("simulating an HV check into {}", args.out_dir.display()))?;
    eprintln!(
        "wrote {} voltages of {serial} to {} (truth in {})",
        truth.points.len(),
        truth.dir.display(),
        args.out_dir.join("hv_truth.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
