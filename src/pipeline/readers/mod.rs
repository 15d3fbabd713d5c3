//! Input readers: format detection by extension and content, and one reader per format.
//!
//! Every reader turns a file into an [`Input`]: raw waveforms of one channel (WaveDump
//! ASCII/binary, a ROOT array branch, a 2-D NumPy array) or charges (a ROOT scalar branch,
//! a 1-D NumPy array, a CSV/Parquet column or `charge,count` histogram). Readers never
//! panic and never allocate more than the file size justifies: a corrupt or truncated file
//! from the bench must give an error (or a warning) that names the file, the byte offset
//! and what was expected, because the operator has to decide whether to re-copy it.
//!
//! - [`wavedump_ascii`]: CAEN WaveDump text, header on (parsed by label) or off.
//! - [`wavedump_binary`]: CAEN WaveDump binary with the 24-byte event header.
//! - [`root`]: ROOT trees through oxyroot.
//! - [`npy`]: NumPy `.npy` through npyz.
//! - [`table`]: CSV / Parquet through polars, charge units.

pub mod npy;
pub mod root;
mod root_keys;
pub mod table;
pub mod wavedump_ascii;
pub mod wavedump_binary;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use memmap2::Mmap;

use super::data::{ChargeInput, Input, Waveforms};
use super::error::{Error, Result};

/// Sample encoding of WaveDump binary files (the header does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleType {
    /// 8-bit boards.
    U8,
    /// 10- to 16-bit boards (the usual case).
    #[default]
    U16,
    /// x742 boards (calibrated floats).
    F32,
}

impl SampleType {
    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 => 2,
            SampleType::F32 => 4,
        }
    }
}

/// Options that the file itself cannot tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Samples per event for header-off WaveDump ASCII.
    pub record_length: Option<usize>,
    /// Sample encoding of WaveDump binary files.
    pub sample_type: SampleType,
    /// ROOT: tree name (default: the first tree holding a usable branch).
    pub tree: Option<String>,
    /// ROOT: branch name (default: the first fixed-size array or scalar charge branch).
    pub branch: Option<String>,
    /// Unit of charge inputs (default: from a column name like `charge[V·s]`, else guessed).
    pub charge_unit: Option<String>,
}

/// File formats pmtwatch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    WaveDumpAscii,
    WaveDumpBinary,
    Root,
    Npy,
    Csv,
    Parquet,
}

/// Listed in every "unsupported" message so the operator knows what would work.
const SUPPORTED: &str = "supported: WaveDump ASCII (.txt), WaveDump binary (.dat), ROOT (.root), \
     NumPy (.npy), CSV (.csv/.txt), Parquet (.parquet)";

/// How many leading bytes `detect` looks at: enough for a WaveDump header and a few
/// samples or table rows, small enough to stay cheap on a multi-GB file.
const SNIFF_LEN: usize = 8192;

/// Recognises a file's format from its extension and first bytes.
pub fn detect(path: &Path) -> Result<Format> {
    let head = read_head(path, SNIFF_LEN)?;
    if head.is_empty() {
        return Err(empty_file(path));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    // Magic bytes win over the extension: a renamed file is still what it is.
    if head.starts_with(b"\x93NUMPY") {
        return Ok(Format::Npy);
    }
    if head.starts_with(b"root") {
        return Ok(Format::Root);
    }
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    let magic_expected = match ext.as_str() {
        "npy" => Some("the NumPy magic \\x93NUMPY"),
        "root" => Some("the ROOT magic `root`"),
        "parquet" | "pq" => Some("the Parquet magic `PAR1`"),
        _ => None,
    };
    if let Some(expected) = magic_expected {
        return Err(Error::format(path, 0, expected, describe_bytes(&head)));
    }
    match ext.as_str() {
        "dat" | "bin" => Ok(Format::WaveDumpBinary),
        "txt" | "csv" | "tsv" | "" => match sniff_text(&head) {
            TextKind::WaveDumpHeader => Ok(Format::WaveDumpAscii),
            TextKind::BareIntegers if ext != "csv" && ext != "tsv" => Ok(Format::WaveDumpAscii),
            TextKind::BareIntegers | TextKind::Table => Ok(Format::Csv),
            TextKind::NotText => Err(Error::format(
                path,
                0,
                "text (a WaveDump `Record Length:` header, numbers one per line, or a numeric table)",
                describe_bytes(&head),
            )),
        },
        other => Err(Error::Unsupported {
            path: path.into(),
            what: format!("unrecognised file type (extension `{other}`); {SUPPORTED}"),
        }),
    }
}

/// What the first bytes of a text file look like.
#[derive(Debug, PartialEq, Eq)]
enum TextKind {
    /// Starts with a `Label: value` WaveDump header.
    WaveDumpHeader,
    /// One integer per line: header-off WaveDump ASCII.
    BareIntegers,
    /// Anything else textual: a table (separated columns, a header, or floats).
    Table,
    /// Control bytes or invalid UTF-8: not a text file.
    NotText,
}

fn sniff_text(head: &[u8]) -> TextKind {
    // The sniffed window may cut a UTF-8 sequence or a line; judge whole lines only.
    let cut = match head.iter().rposition(|&b| b == b'\n') {
        Some(i) if head.len() == SNIFF_LEN => &head[..i],
        _ => head,
    };
    let text = match std::str::from_utf8(cut) {
        Ok(t) => t,
        Err(e) => match std::str::from_utf8(&cut[..e.valid_up_to()]) {
            Ok(t) if e.error_len().is_none() => t,
            _ => return TextKind::NotText,
        },
    };
    if text
        .bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t'))
    {
        return TextKind::NotText;
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return TextKind::NotText;
    };
    if let Some((label, _)) = first.split_once(':') {
        if wavedump_ascii::is_known_label(label.trim()) {
            return TextKind::WaveDumpHeader;
        }
    }
    let integer = |l: &str| {
        let d = l.strip_prefix(['-', '+']).unwrap_or(l);
        !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
    };
    if integer(first) && lines.take(64).all(integer) {
        TextKind::BareIntegers
    } else {
        TextKind::Table
    }
}

/// Reads any supported input.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Input> {
    read_as(path, detect(path)?, opts)
}

/// Reads `path` as the given format (when the caller already knows it).
pub fn read_as(path: &Path, format: Format, opts: &ReadOptions) -> Result<Input> {
    match format {
        Format::WaveDumpAscii => wavedump_ascii::read(path, opts).map(Input::Waveforms),
        Format::WaveDumpBinary => {
            wavedump_binary::read(path, opts.sample_type).map(Input::Waveforms)
        }
        Format::Root => root::read(path, opts),
        Format::Npy => npy::read(path, opts),
        Format::Csv => table::read_csv(path, opts).map(Input::Charges),
        Format::Parquet => table::read_parquet(path, opts).map(Input::Charges),
    }
}

/// Reads a waveform input; a charge input is an error naming the file.
pub fn read_waveforms(path: &Path, opts: &ReadOptions) -> Result<Waveforms> {
    match read(path, opts)? {
        Input::Waveforms(w) => Ok(w),
        Input::Charges(_) => Err(Error::Unsupported {
            path: path.into(),
            what: "holds charges, not waveforms".into(),
        }),
    }
}

/// Reads a charge input (per-event values or a histogram); waveforms are an error.
pub fn read_charges(path: &Path, opts: &ReadOptions) -> Result<ChargeInput> {
    match read(path, opts)? {
        Input::Charges(c) => Ok(c),
        Input::Waveforms(_) => Err(Error::Unsupported {
            path: path.into(),
            what: "holds waveforms, not charges".into(),
        }),
    }
}

/// The channel number in a WaveDump file name (`wave2.txt`, `wave_2.dat`,
/// `wave2save_theta0_phi0.txt`, `TR_0_2.dat`, `RUN000001_wave_1.dat`).
pub fn channel_from_file_name(name: &str) -> Option<u32> {
    // Only the last path component: directories like `wavedump_output_…` must not count.
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = name.to_ascii_lowercase();
    // x742 group trigger files `TR_<group>_<channel>`.
    if let Some(rest) = lower.strip_prefix("tr_") {
        let mut parts = rest.split(|c: char| !c.is_ascii_digit());
        if let (Some(_group), Some(ch)) = (parts.next(), parts.next()) {
            if !ch.is_empty() {
                return ch.parse().ok();
            }
        }
    }
    // `wave<ch>` or `wave_<ch>`; the last such occurrence is the one next to the extension.
    lower.rmatch_indices("wave").find_map(|(i, _)| {
        let rest = &lower[i + 4..];
        let rest = rest.strip_prefix('_').unwrap_or(rest);
        let digits: &str = &rest[..rest.bytes().take_while(u8::is_ascii_digit).count()];
        if digits.is_empty() || digits.len() > 9 {
            None
        } else {
            digits.parse().ok()
        }
    })
}

/// First `max` bytes of a file (fewer if the file is shorter).
fn read_head(path: &Path, max: usize) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(max);
    file.take(max as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok(head)
}

fn empty_file(path: &Path) -> Error {
    Error::Empty {
        path: path.into(),
        what: format!("the file is empty (0 bytes); {SUPPORTED}"),
    }
}

/// A short printable rendering of a file's first bytes for error messages.
pub(crate) fn describe_bytes(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(16)];
    let text: String = shown
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    format!("`{text}`{}", if bytes.len() > 16 { "…" } else { "" })
}

/// Memory-maps a whole file read-only; an empty file is an [`Error::Empty`].
#[allow(unsafe_code)]
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Err(empty_file(path));
    }
    // SAFETY: the map is read-only and only ever viewed as `&[u8]`, for which every bit
    // pattern is valid. The remaining hazard is another process truncating or rewriting
    // the file while it is mapped; pmtwatch only reads files once the DAQ has finished
    // them (size stable), and WaveDump never rewrites a closed file.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        // A hint only: sequential readahead helps the single pass; failure changes nothing.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    Ok(map)
}

thread_local! {
    /// Set while [`guard`] runs a decoder on this thread: a panic there becomes the
    /// returned error, so the panic hook keeps quiet and only notes where it happened.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last guarded panic on this thread happened (`file:line`).
    static PANICKED_AT: std::cell::RefCell<Option<String>> =
        const { std::cell::RefCell::new(None) };
}

/// Installs, once per process, a panic hook that stays silent for panics inside
/// [`guard`] (recording their location) and hands every other panic to the hook that
/// was there before: an operator running `pmtwatch process` on a corrupt file gets one
/// line naming the file and the decoder's complaint, not a panic message and backtrace
/// for an error that was handled.
fn quiet_guarded_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.try_with(std::cell::Cell::get).unwrap_or(false) {
                let at = info.location().map(|l| {
                    // A dependency's path from its crate directory on: `oxyroot-0.1.25/src/…`.
                    let file = l.file();
                    let short = file
                        .find("/registry/src/")
                        .and_then(|i| {
                            let rest = &file[i + "/registry/src/".len()..];
                            rest.find('/').map(|j| &rest[j + 1..])
                        })
                        .unwrap_or(file);
                    format!("{short}:{}", l.line())
                });
                let _ = PANICKED_AT.try_with(|p| p.replace(at));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs a third-party decoder (oxyroot, npyz, polars) and turns a panic inside it into an
/// error naming the file and where the decoder gave up: those crates assume well-formed
/// input, the bench does not.
pub(crate) fn guard<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    quiet_guarded_panics();
    // Nested guards keep the outer one's state.
    let outer = GUARDED.with(|g| g.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let at = PANICKED_AT
                .with(|p| p.take())
                .map(|a| format!(" (at {a})"))
                .unwrap_or_default();
            Err(Error::Unsupported {
                path: path.into(),
                what: format!("{what} failed on this file (corrupt or unsupported): {msg}{at}"),
            })
        }
    }
}

/// A zeroed sample buffer of `n` values, backed by huge pages where the kernel allows
/// (see [`reserve_samples`]). Allocated zeroed (fresh, untouched pages from the OS) so
/// that the first-touch faults happen in the caller's parallel pass, not in a serial fill.
pub(crate) fn sample_buffer(n: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; n];
    #[cfg(target_os = "linux")]
    if n * std::mem::size_of::<f32>() >= HUGE_PAGE_MIN_BYTES {
        advise_huge_pages(&mut v);
    }
    v
}

/// Buffers from this size on are worth the huge-page hint (four 2 MiB pages).
const HUGE_PAGE_MIN_BYTES: usize = 8 << 20;

/// Reserves room for `additional` more samples. Large buffers are marked for transparent
/// huge pages: they are written once, front to back, right after allocation, and with
/// 4 KiB pages the first-touch page faults (one per 1024 samples, ~2 µs each in a VM) cost
/// more than parsing or converting the samples (BENCHMARKS.md). A hint only; where the
/// kernel ignores it nothing changes.
pub(crate) fn reserve_samples(v: &mut Vec<f32>, additional: usize) {
    v.reserve(additional);
    #[cfg(target_os = "linux")]
    if v.capacity() * std::mem::size_of::<f32>() >= HUGE_PAGE_MIN_BYTES {
        advise_huge_pages(v);
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_huge_pages(v: &mut Vec<f32>) {
    const PAGE: usize = 4096;
    let start = v.as_mut_ptr() as usize;
    let end = start + v.capacity() * std::mem::size_of::<f32>();
    let aligned = start.div_ceil(PAGE) * PAGE;
    if end <= aligned {
        return;
    }
    // SAFETY: madvise only changes how the kernel backs the pages of this range, which
    // lies inside the vector's own allocation (its capacity, rounded inwards to page
    // boundaries); it neither reads nor writes the memory, and MADV_HUGEPAGE never
    // changes its contents. The return value is ignored: it is a hint.
    unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            end - aligned,
            libc::MADV_HUGEPAGE,
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn channels_from_names() {
        let cases = [
            ("wave2.txt", Some(2)),
            ("wave_2.dat", Some(2)),
            ("wave2save_theta0_phi0.txt", Some(2)),
            ("TR_0_2.dat", Some(2)),
            ("RUN000001_wave_1.dat", Some(1)),
            (
                "/data/wavedump_output_1/SN/wave3save_theta0_phi0.txt",
                Some(3),
            ),
            ("spe_led_1000V.root", None),
        ];
        for (name, want) in cases {
            assert_eq!(channel_from_file_name(name), want, "{name}");
        }
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff_text(b"Record Length: 4\nBoardID: 0\n"),
            TextKind::WaveDumpHeader
        );
        assert_eq!(sniff_text(b"1\n2\n-3\n"), TextKind::BareIntegers);
        assert_eq!(sniff_text(b"-2e-11,0\n1e-11,3\n"), TextKind::Table);
        assert_eq!(sniff_text(b"\x00\x01\x02"), TextKind::NotText);
    }
}
