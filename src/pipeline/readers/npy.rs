//! NumPy `.npy` arrays through npyz: 2-D is waveforms (rows = events), 1-D is charges.
//!
//! Labs export branches and per-event areas with `np.save`. The file is memory-mapped and
//! npyz decodes from the mapped bytes. npyz trusts the header (it allocates the header
//! length it reads and multiplies the shape without overflow checks), so the preamble,
//! the header's nesting and the shape are checked against the file size here first, and
//! the decoder runs under `guard`.

use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar, TypeStr};

use super::table::normalize_unit;
use super::{ReadOptions, describe_bytes, guard, map_file};
use crate::pipeline::data::{ChargeInput, Input, Waveforms};
use crate::pipeline::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Real `.npy` headers are one short dict line; anything far longer is not one.
const MAX_HEADER: usize = 1 << 16;

/// Reads a `.npy` file.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Input> {
    let map = map_file(path)?;
    parse(path, &map, opts)
}

/// Parses the bytes of a `.npy` file; `path` only names it in messages.
pub fn parse(path: &Path, bytes: &[u8], opts: &ReadOptions) -> Result<Input> {
    let data_start = check_preamble(path, bytes)?;
    guard(path, "the NumPy reader (npyz)", || {
        let npy = NpyFile::new(bytes).map_err(|e| {
            Error::format(
                path,
                MAGIC.len() as u64,
                "a valid NumPy header dict",
                e.to_string(),
            )
        })?;
        decode(path, npy, bytes.len() - data_start, data_start, opts)
    })
}

/// Checks magic, version and header length; returns the offset of the data.
fn check_preamble(path: &Path, bytes: &[u8]) -> Result<usize> {
    if !bytes.starts_with(MAGIC) {
        return Err(Error::format(
            path,
            0,
            "the NumPy magic \\x93NUMPY",
            describe_bytes(bytes),
        ));
    }
    let short = || {
        Error::format(
            path,
            bytes.len() as u64,
            "a complete NumPy preamble",
            "the end of the file",
        )
    };
    let major = *bytes.get(6).ok_or_else(short)?;
    let (len, start) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or_else(short)?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(short)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => {
            return Err(Error::format(
                path,
                6,
                "NumPy format version 1, 2 or 3",
                format!("version {v}"),
            ));
        }
    };
    if len > MAX_HEADER || start + len > bytes.len() {
        return Err(Error::format(
            path,
            8,
            format!(
                "a header length of at most {MAX_HEADER} bytes within the file ({} bytes)",
                bytes.len()
            ),
            format!("{len}"),
        ));
    }
    // npyz parses the dict recursively; deep nesting would overflow the stack.
    let mut depth = 0i32;
    for (i, &b) in bytes[start..start + len].iter().enumerate() {
        depth += match b {
            b'(' | b'[' | b'{' => 1,
            b')' | b']' | b'}' => -1,
            _ => 0,
        };
        if depth > 4 {
            return Err(Error::format(
                path,
                (start + i) as u64,
                "a flat NumPy header dict",
                "deeply nested brackets",
            ));
        }
    }
    Ok(start + len)
}

fn decode(
    path: &Path,
    npy: NpyFile<&[u8]>,
    available: usize,
    data_start: usize,
    opts: &ReadOptions,
) -> Result<Input> {
    let shape = npy.shape().to_vec();
    let dtype = npy.dtype();
    let unsupported = |what: String| Error::Unsupported {
        path: path.into(),
        what,
    };
    let DType::Plain(ts) = &dtype else {
        return Err(unsupported(format!(
            "NumPy dtype {dtype:?} is structured; expected a plain numeric array"
        )));
    };
    let item = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int | TypeChar::Uint, n @ (1 | 2 | 4 | 8)) | (TypeChar::Float, n @ (4 | 8)) => n,
        _ => {
            return Err(unsupported(format!(
                "NumPy dtype `{ts}`; expected int8…int64, uint8…uint64, float32 or float64"
            )));
        }
    };
    let count = shape.iter().try_fold(item, |acc, &d| acc.checked_mul(d));
    match count {
        Some(need) if need <= available as u64 => {}
        _ => {
            return Err(Error::format(
                path,
                data_start as u64,
                format!("{item}-byte items for shape {shape:?}"),
                format!("{available} data bytes (truncated or corrupt file)"),
            ));
        }
    }
    let order = npy.order();
    match *shape.as_slice() {
        [n] => {
            let values = values(path, npy, ts, |v| v)?;
            if n == 0 || values.is_empty() {
                return Err(Error::Empty {
                    path: path.into(),
                    what: "the NumPy array is empty".into(),
                });
            }
            let unit = opts
                .charge_unit
                .as_deref()
                .map(|u| normalize_unit(u).unwrap_or_else(|| u.trim().to_string()))
                .unwrap_or_else(|| "ADC*samples".into());
            Ok(Input::Charges(ChargeInput::Values { values, unit }))
        }
        [rows, cols] => {
            let (rows, cols) = (rows as usize, cols as usize);
            if rows == 0 || cols == 0 {
                return Err(Error::Empty {
                    path: path.into(),
                    what: format!("the NumPy array has shape {shape:?}: no samples"),
                });
            }
            let mut flat = values(path, npy, ts, |v| v as f32)?;
            if order == Order::Fortran {
                // Column-major on disk: transpose into one row per event.
                let mut t = Vec::with_capacity(flat.len());
                for r in 0..rows {
                    t.extend((0..cols).map(|c| flat[c * rows + r]));
                }
                flat = t;
            }
            let mut w = Waveforms::new(path, cols);
            w.samples = flat;
            w.event_numbers = (0..rows as u64).collect();
            w.trigger_times = vec![0; rows];
            w.channel = super::channel_from_file_name(&path.to_string_lossy());
            Ok(Input::Waveforms(w))
        }
        _ => Err(unsupported(format!(
            "NumPy array of shape {shape:?}; expected 1-D (charges) or 2-D (events × samples)"
        ))),
    }
}

/// Decodes all elements (any supported dtype) converted through `conv`.
fn values<U>(
    path: &Path,
    npy: NpyFile<&[u8]>,
    ts: &TypeStr,
    conv: impl Fn(f64) -> U,
) -> Result<Vec<U>> {
    let n = usize::try_from(npy.len()).unwrap_or(0);
    let err = |e: &dyn std::fmt::Display| Error::format(path, 0, "NumPy array data", e.to_string());
    macro_rules! collect {
        ($t:ty) => {{
            let reader = npy.data::<$t>().map_err(|e| err(&e))?;
            let mut out = Vec::with_capacity(n);
            for x in reader {
                out.push(conv(x.map_err(|e| err(&e))? as f64));
            }
            out
        }};
    }
    Ok(match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int, 1) => collect!(i8),
        (TypeChar::Int, 2) => collect!(i16),
        (TypeChar::Int, 4) => collect!(i32),
        (TypeChar::Int, 8) => collect!(i64),
        (TypeChar::Uint, 1) => collect!(u8),
        (TypeChar::Uint, 2) => collect!(u16),
        (TypeChar::Uint, 4) => collect!(u32),
        (TypeChar::Uint, 8) => collect!(u64),
        (TypeChar::Float, 4) => collect!(f32),
        _ => collect!(f64),
    })
}
