//! Command-line front ends on top of the pipeline. They live in the library so tests and
//! benchmarks call exactly what the binary runs; `main.rs` only parses and dispatches.
//!
//! - [`process`]: `pmtwatch process` — one point (files or a point directory).
//! - [`watch`]: `pmtwatch process --watch` — follow a scan directory as points complete.
//! - [`simulate`]: `pmtwatch simulate` — write a realistic scan with known truth.

pub mod process;
pub mod simulate;
pub mod watch;
