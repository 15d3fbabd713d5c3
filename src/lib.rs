//! pmtwatch — live monitoring and processing of photomultiplier-tube calibration scans.
//!
//! # Layout
//! - [`pipeline`]: pure science. Readers for CAEN WaveDump (ASCII/binary), ROOT, NumPy,
//!   CSV/Parquet; per-event waveform features; charge spectra; SPE fits and gain; plots
//!   (plotters) and tables (polars); the scan simulator. No tokio, no database, no UI.
//! - [`cli`]: the command-line front ends built on the pipeline (`process`, `watch`,
//!   `simulate`, `demo`, and the scan-level outputs), kept in the library so tests and
//!   benchmarks drive exactly what the binary runs. `src/main.rs` only parses arguments
//!   and calls into here. `ARCHITECTURE.md` draws the data flow.
//! - [`remote`]: running work on another machine (SSH, SLURM): run, stream, submit, poll,
//!   sync, move.
//! - [`store`]: the SQLite database (WAL, numbered migrations): users, sessions, audit log.
//! - [`monitor`]: the executor: one supervised task per run (persisted state machine),
//!   profiles, slots, review and cleanup, and the board every browser renders.
//! - [`control`]: who may do what and what is audited: every action ([`control::Commands`])
//!   with its role check and audit entry, and the live state every browser renders
//!   ([`control::Hub`]). `web` and `views` both sit on it and never import each other
//!   (except `web` launching the root component); `layers` tests that imports point down.
//! - [`web`]: the operator web app's HTTP side (axum): login, sessions, the authenticated
//!   LiveView socket, file and API routes, embedded assets.
//! - [`views`]: the Dioxus LiveView components of the operator screen; they render shared
//!   state and send commands, nothing else.
//!
//! Data flow from a WaveDump file to a number: `pipeline::readers` → `pipeline::waveform`
//! (baseline, threshold, charge per event) → `pipeline::histogram` → `pipeline::fit`
//! (SPE model, gain) → `pipeline::point` (one scan point's result document) →
//! `pipeline::output` / `pipeline::plot` (files written atomically).

pub mod cli;
pub mod control;
mod layers;
pub mod model;
pub mod monitor;
pub mod pipeline;
pub mod remote;
pub mod store;
pub mod views;
pub mod web;
