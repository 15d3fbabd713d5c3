//! The processing pipeline: everything that turns digitizer files into gains.
//!
//! This module is pure: it reads and writes files but has no async runtime, database or
//! UI, so the CLI, the monitor and the cluster side (the same binary) all call it alike.
//!
//! # Layout
//! - [`error`]: the one error type of the pipeline, naming file, offset and expectation.
//! - [`data`]: in-memory waveforms (one contiguous buffer per channel) and charge inputs.
//! - [`readers`]: format detection and readers (WaveDump ASCII/binary, ROOT, NPY, CSV/Parquet).
//! - [`config`]: the TOML analysis configuration with the R12860 bench defaults.
//! - [`waveform`]: per-event features (baseline, amplitude, start time, charge).
//! - [`histogram`]: binned spectra with automatic range and binning.
//! - [`figures`]: SPE resolution, peak-to-valley, model-independent occupancy (Saldanha).
//! - [`fit`]: SPE models (`seed-compatible`, `poisson-gauss`, `bellamy`), minimiser, errors.
//! - [`spectrum`]: channel roles, event alignment, window placement, cuts → the histogram.
//! - [`hv`]: the HV check's power-law fit and the voltage at the target gain.
//! - [`point`]: one scan point from files to a [`point::PointResult`] document.
//! - [`serial`]: validated PMT serial numbers (safe in paths and remote commands).
//! - [`label`]: validated scan-point labels (one plain path component), used by every layer.
//! - [`scan`]: the R12860 directory layout (point names, θ/φ/HV labels, completeness).
//! - [`output`]: atomic file writes (temp name + rename) and the legacy `_GAIN.txt`.
//! - [`plot`]: `charge.png` per point and the scan's gain map (plotters, embedded font).
//! - [`timing`]: transit time, TTS, pre/late pulses and dark rate from the waveforms.
//! - [`table`]: a scan's points as CSV and Parquet (polars).
//! - [`simulate`]: realistic R12860 scans with known truth.
//! - [`simulate_hv`]: an HV check in the bench's layout with a known power law.

pub mod config;
pub mod data;
pub mod error;
pub mod figures;
pub mod fit;
pub mod health;
pub mod histogram;
pub mod hv;
pub mod label;
pub mod output;
pub mod plot;
pub mod point;
pub mod readers;
pub mod reference;
pub mod scan;
pub mod serial;
pub mod simulate;
pub mod simulate_hv;
pub mod spectrum;
pub mod table;
pub mod timing;
pub mod waveform;

pub use error::{Error, Result};

/// Elementary charge in pC: gain = Q1 (in pC) / E_PC.
pub const E_PC: f64 = 1.602_176_634e-7;
