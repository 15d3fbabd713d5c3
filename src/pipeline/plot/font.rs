//! The plots' one font, DejaVu Sans, compiled into the binary and registered with plotters'
//! `ab_glyph` text backend. Embedding it means plots render identically on a headless
//! server without fontconfig or any system fonts (licence: `assets/fonts/LICENSE`).

use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::pipeline::error::{Error, Result};

/// The family name every text style in the plots asks for.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

/// Registers the embedded font once per process; later calls only read the outcome.
/// Registration cannot fail for the bundled file, but a corrupt asset must surface as an
/// error rather than as plots with no text.
pub fn ensure() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Input(
            "plot: the embedded DejaVu Sans font could not be loaded".to_string(),
        ))
    }
}

/// Black text of `size` pixels in the registered [`FAMILY`]: every plot's text style.
pub fn text(size: u32) -> plotters::style::TextStyle<'static> {
    use plotters::style::{BLACK, IntoFont};
    (FAMILY, size).into_font().color(&BLACK)
}

/// The plot's title, or `default` when it is blank.
pub fn title_or<'a>(title: &'a str, default: &'a str) -> &'a str {
    if title.trim().is_empty() {
        default
    } else {
        title
    }
}
