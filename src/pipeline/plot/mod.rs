//! Plots of the pipeline, rendered to PNG bytes in memory (the caller writes them
//! atomically next to the other outputs):
//! - [`charge_png`]: one point's charge spectrum with the fit, its components, the
//!   parameters and the residuals (`charge.png`);
//! - [`gain_map_png`]: a scan's gain over the photocathode as a θ/φ polar map;
//! - [`hv_png`]: an HV check's gain against voltage (log–log) with the power-law fit.
//!
//! Everything is drawn with plotters on an in-memory bitmap with the DejaVu Sans font
//! compiled in (`font`), so plots render the same on a headless server with no font
//! libraries. Drawing never panics on odd input (empty or non-finite spectra, missing or
//! inconsistent fit curves); what cannot be drawn is said in words on the plot.

mod charge;
mod clip;
mod font;
mod format;
mod gainmap;
mod hv;
mod png;

pub use charge::{ChargePlot, charge_png};
pub use gainmap::{MapPoint, gain_map_png};
pub use hv::{HvPlot, hv_png};
