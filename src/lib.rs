//! pmtwatch — live monitoring and processing of photomultiplier-tube calibration scans.
//!
//! # Layout
//! Layers, top to bottom; imports point down only (`layers` tests it, `ARCHITECTURE.md`
//! draws it, `scripts/layer-map.sh` measures it):
//! - [`cli`]: the command-line front ends (`serve`, `process`, `watch`, `simulate`, `demo`,
//!   `user`, `token`, `remote`, the scan-level outputs), kept in the library so tests and
//!   benchmarks drive exactly what the binary runs. `src/main.rs` only parses arguments.
//! - [`web`] | [`views`] (siblings): the operator web app's HTTP side (axum: login,
//!   sessions, the authenticated LiveView socket, file and API routes behind the
//!   `SignedIn`/`Reader` extractors, one `AppError`, embedded assets) | the Dioxus LiveView
//!   components of the operator screen (they render shared state and send commands, nothing
//!   else). Neither imports the other, except `web` launching the root component.
//! - [`control`]: who may do what and what is audited: every action
//!   ([`control::Commands`]) with its role check and audit entry, the read side
//!   ([`control::Reads`]), and the live state every browser renders ([`control::Hub`]).
//! - [`monitor`]: the executor: one supervised task per run whose transitions are one pure
//!   function (`monitor::engine::machine`), profiles, slots, review and cleanup, the read
//!   queries, and the board every browser renders.
//! - [`remote`]: running work elsewhere (this machine, SSH, SLURM): run, stream, submit,
//!   poll, cancel, follow a scan, sync, move; command mode.
//! - [`store`]: the SQLite database (WAL, numbered migrations), one file per table family;
//!   the only place with SQL.
//! - [`pipeline`]: pure science. Readers for CAEN WaveDump (ASCII/binary), ROOT, NumPy,
//!   CSV/Parquet; per-event waveform features; charge spectra; SPE fits and gain; plots
//!   (plotters) and tables (polars); the scan simulator; validated serials and point labels.
//!   No tokio, no database, no UI.
//! - [`model`]: the shared vocabulary, no I/O — run states, reviews, scan kinds, `Run`,
//!   roles, themes, users, where work runs, the connection report, a command spec, the
//!   clock — usable by every layer (this is what lets `views` name them).
//!
//! Data flow from a WaveDump file to a number: `pipeline::readers` → `pipeline::spectrum`
//! (channel roles, alignment, window, cuts) with `pipeline::waveform` (baseline, threshold,
//! charge per event) → `pipeline::histogram` → `pipeline::fit`
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
