//! Command-line front ends on top of the pipeline. They live in the library so tests and
//! benchmarks call exactly what the binary runs; `main.rs` only parses and dispatches.
//!
//! - [`process`]: `pmtwatch process` — one point (files or a point directory).
//! - [`watch`]: `pmtwatch process --watch` — follow a scan directory as points complete.
//! - [`simulate`]: `pmtwatch simulate` — write a realistic scan with known truth.
//! - [`simulate_hv`]: `pmtwatch simulate --hv-check` — an HV check in the bench's layout.
//! - [`hv_fit`]: `pmtwatch hv-fit` — gain against HV and the voltage at the target gain.
//! - [`hv_inputs`]: what `hv-fit` is given, sorted into one source per voltage.
//! - [`demo`]: `pmtwatch demo --offline` — simulate a scan, process it and compare with the truth.
//! - [`demo_live`]: `pmtwatch demo` — the dashboard on a simulated bench.
//! - [`remote`]: `pmtwatch remote test` — the connection test of a remote profile.
//! - [`serve`]: `pmtwatch serve` — the operator web app (axum + Dioxus LiveView).
//! - [`user`]: `pmtwatch user …` — lab accounts in the server's database.
//! - [`token`]: `pmtwatch token …` — API tokens for scripts (JSON API, run files).
//! - [`scan_outputs`]: scan table, gain map and summary at the end of a scan (watch, demo).

pub mod demo;
pub mod demo_live;
pub mod hv_fit;
pub mod hv_inputs;
pub mod process;
pub mod remote;
pub mod scan_outputs;
pub mod serve;
pub mod simulate;
pub mod simulate_hv;
pub mod token;
pub mod user;
pub mod watch;
