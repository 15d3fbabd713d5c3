//! Integration tests of the processing side, as one test binary: readers on the labs'
//! real files, reference fits, robustness of every reader against broken input, the
//! `process`/`simulate`/`demo` command lines, watch mode, the plots and the HV check.
//!
//! One binary instead of one per file: every test binary links the whole dependency
//! tree (polars, plotters, tokio …), so a binary per file multiplied link time and disk
//! use (CI ran out of disk with one per file).

#[path = "../common/mod.rs"]
mod common;

mod asymptotic;
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
