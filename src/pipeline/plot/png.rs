//! In-memory PNG encoding of the RGB frame buffers the plots draw into, and the mapping of
//! drawing errors onto the pipeline's error type. Plots are returned as bytes so the caller
//! decides where they go and writes them atomically.

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};

use crate::pipeline::error::{Error, Result};

/// The drawing surface every plot draws on: an RGB frame buffer in memory.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a, RGBPixel>, Shift>;

/// Draws a `w`×`h` picture with `draw` on a white in-memory canvas and returns it as PNG.
/// The embedded font is registered first, so `draw` can use text freely.
pub fn render(w: u32, h: u32, draw: impl FnOnce(&Canvas) -> Result<()>) -> Result<Vec<u8>> {
    super::font::ensure()?;
    let len = (w as usize) * (h as usize) * 3;
    // Starting from white saves a full-canvas fill.
    let mut buf = vec![255u8; len];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buf, (w, h))
            .map_err(draw_err)?;
        let root = backend.into_drawing_area();
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    encode_rgb(&buf, w, h)
}

/// Encodes a packed 8-bit RGB buffer of `w`×`h` pixels as PNG.
///
/// Fast deflate with the `Up` filter: plots are mostly flat colour with horizontal and
/// vertical structure, so this is within a few per cent of the best size at a fraction
/// of the time (encoding is a large part of the per-plot budget).
pub fn encode_rgb(buf: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(buf.len() / 8);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Up)
        .write_image(buf, w, h, image::ColorType::Rgb8)
        .map_err(|e| Error::Input(format!("plot: PNG encoding failed: {e}")))?;
    Ok(out)
}

/// Wraps a plotters drawing error (which carries the backend's error type) as an
/// [`Error::Input`], the pipeline's variant for "this input could not be processed".
pub fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Input(format!("plot: drawing failed: {e}"))
}
