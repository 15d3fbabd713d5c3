//! Integration tests of the processing side, as one test binary: readers on the labs'
//! real files, reference fits, robustness of every reader against broken input, the
//! `process`/`simulate`/`demo` command lines, watch mode, the plots and the HV check.
//!
//! One binary instead of one per file: every test binary links the whole dependency
//! tree (polars, plotters, tokio …), so a binary per file multiplied link time and disk
//! use (CI ran out of disk with one per file).

mod cli_process;
mod demo;
mod figures;
mod fit_status;
mod health_reasons;
mod hv_check;
mod hv_scan;
mod plots;
mod readers;
mod readers_robustness;
mod reference_fits;
mod simulate_watch;
mod simulated_accuracy;
mod timing;

/// The package root: cargo's run-time `CARGO_MANIFEST_DIR` first, because a target
/// directory shared between checkouts at different paths can keep a binary whose
/// compile-time value names a checkout that is gone.
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
