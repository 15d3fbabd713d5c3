//! CAEN WaveDump ASCII files: header on (parsed by label) or header off (bare samples).
//!
//! With the header on, each event starts with `Label: value` lines (`Record Length`,
//! `BoardID`, `Channel`, `Event Number`, `Pattern`, `Trigger Time Stamp`,
//! `DC offset (DAC)`, and `Start Index Cell` on the x742); forks add other labels, so the
//! header is read by label and unknown labels are skipped, never counted. Then come
//! `Record Length` samples, one per line (integers; calibrated floats on the x742).
//! With the header off the file is only samples, and the record length must come from
//! [`ReadOptions::record_length`].
//!
//! Scan files reach several GB, so the file is memory-mapped and parsed in place: the hot
//! loop reads one integer line with a hand-written digit loop straight into the output
//! buffer (no per-line allocation, no `str::parse`); floats take a slower fallback. The
//! output buffer is sized once from the first event and the file length.
//!
//! Error policy: a problem in the first event is an error (nothing in the file can be
//! trusted); a problem after at least one whole event (typically the DAQ stopping
//! mid-write) keeps the events before it and adds a warning naming the byte offset.

use std::path::Path;

use super::{ReadOptions, channel_from_file_name, map_file};
use crate::pipeline::data::Waveforms;
use crate::pipeline::error::{Error, Result};

/// Header labels WaveDump (and its x742 variant) writes; used by format detection.
const KNOWN_LABELS: [&str; 8] = [
    "Record Length",
    "BoardID",
    "Channel",
    "Event Number",
    "Pattern",
    "Trigger Time Stamp",
    "DC offset (DAC)",
    "Start Index Cell",
];

/// More header lines than this in one event means the file is not WaveDump ASCII.
const MAX_HEADER_LINES: usize = 32;

/// Whether `label` is one of the labels WaveDump writes (case-insensitive).
pub fn is_known_label(label: &str) -> bool {
    KNOWN_LABELS.iter().any(|k| k.eq_ignore_ascii_case(label))
}

/// Reads a WaveDump ASCII file.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Waveforms> {
    let map = map_file(path)?;
    parse(path, &map, opts)
}

/// The header fields pmtwatch uses, as read from one event.
#[derive(Debug, Default)]
struct Header {
    record_length: Option<usize>,
    channel: Option<u32>,
    event_number: Option<u64>,
    trigger_time: Option<u64>,
}

/// Parses the bytes of a WaveDump ASCII file; `path` only names it in messages.
pub fn parse(path: &Path, bytes: &[u8], opts: &ReadOptions) -> Result<Waveforms> {
    let mut p = Parser {
        path,
        b: bytes,
        pos: 0,
    };
    p.skip_blank();
    if p.pos >= bytes.len() {
        return Err(Error::Empty {
            path: path.into(),
            what: "the file holds only blank lines; expected WaveDump ASCII events".into(),
        });
    }
    if is_sample_start(bytes[p.pos]) {
        parse_header_off(p, opts)
    } else {
        parse_header_on(p, opts)
    }
}

fn parse_header_on(mut p: Parser<'_>, opts: &ReadOptions) -> Result<Waveforms> {
    let path = p.path;
    let mut w = Waveforms::new(path, 0);
    loop {
        p.skip_blank();
        if p.pos >= p.b.len() {
            break;
        }
        let event_start = p.pos;
        match p.event(w.record_len, &mut w, opts) {
            Ok(header) => {
                if w.events() == 1 {
                    w.channel = header
                        .channel
                        .or_else(|| channel_from_file_name(&path.to_string_lossy()));
                    reserve_for(&mut w, p.b.len(), p.pos - event_start);
                }
            }
            Err(e) if w.events() > 0 => {
                w.warnings
                    .push(format!("stopped reading at event {}: {e}", w.events()));
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(w)
}

fn parse_header_off(mut p: Parser<'_>, opts: &ReadOptions) -> Result<Waveforms> {
    let path = p.path;
    let Some(record_len) = opts.record_length.filter(|&n| n > 0) else {
        return Err(Error::format(
            path,
            p.pos as u64,
            "a WaveDump `Record Length:` header line; for header-off files set `record_length` \
             in the analysis config (or pass `--record-length`)",
            "a bare sample (header-off WaveDump ASCII) and no record length given",
        ));
    };
    let mut w = Waveforms::new(path, record_len);
    w.channel = channel_from_file_name(&path.to_string_lossy());
    loop {
        p.skip_blank();
        if p.pos >= p.b.len() {
            break;
        }
        let event_start = p.pos;
        let index = w.events() as u64;
        match p.samples(record_len, &mut w.samples) {
            Ok(()) => {
                w.event_numbers.push(index);
                w.trigger_times.push(0);
                if w.events() == 1 {
                    reserve_for(&mut w, p.b.len(), p.pos - event_start);
                }
            }
            Err(e) if w.events() > 0 => {
                w.warnings
                    .push(format!("stopped reading at event {}: {e}", w.events()));
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(w)
}

/// Sizes the output buffers once, from the byte length of the first event: the estimate
/// is bounded by the file size, so a hostile file cannot make it allocate more.
fn reserve_for(w: &mut Waveforms, file_len: usize, first_event_bytes: usize) {
    let events = file_len / first_event_bytes.max(1) + 1;
    // Each sample needs at least two bytes ("0\n"), whatever the first event claimed.
    let samples = (events * w.record_len).min(file_len / 2 + w.record_len);
    let additional = samples.saturating_sub(w.samples.len());
    super::reserve_samples(&mut w.samples, additional);
    w.event_numbers.reserve(events);
    w.trigger_times.reserve(events);
}

/// First byte of a sample line (as opposed to a header label).
fn is_sample_start(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.')
}

struct Parser<'a> {
    path: &'a Path,
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, offset: usize, expected: impl Into<String>, found: impl Into<String>) -> Error {
        Error::format(self.path, offset as u64, expected, found)
    }

    /// Skips blank lines and stray whitespace between events.
    fn skip_blank(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b'\n' | b'\r' | b' ' | b'\t') {
            self.pos += 1;
        }
    }

    /// End of the line starting at `from` (index of its `\n`, or the file length).
    fn line_end(&self, from: usize) -> usize {
        self.b[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.b.len(), |i| from + i)
    }

    /// The line at `from`, shortened and made printable for messages.
    fn show_line(&self, from: usize) -> String {
        let end = self.line_end(from).min(from + 60);
        let text = String::from_utf8_lossy(&self.b[from..end]);
        format!("`{}`", text.trim_end())
    }

    /// Reads one header-on event, appending it to `w`. `record_len` is 0 before the first.
    fn event(
        &mut self,
        record_len: usize,
        w: &mut Waveforms,
        opts: &ReadOptions,
    ) -> Result<Header> {
        let start = self.pos;
        let header = self.header()?;
        if self.pos == start {
            return Err(self.err(
                start,
                format!("a `Record Length: {record_len}` header line starting the next event"),
                self.show_line(start),
            ));
        }
        let Some(len) = header.record_length.or(opts.record_length) else {
            return Err(self.err(
                start,
                "a `Record Length:` line in the event header (or `record_length` in the config)",
                "a header without it",
            ));
        };
        if len == 0 {
            return Err(self.err(start, "a record length above 0", "`Record Length: 0`"));
        }
        if record_len != 0 && len != record_len {
            return Err(self.err(
                start,
                format!("`Record Length: {record_len}` like the first event"),
                format!("`Record Length: {len}`"),
            ));
        }
        w.record_len = len;
        let mark = w.samples.len();
        if let Err(e) = self.samples(len, &mut w.samples) {
            w.samples.truncate(mark);
            return Err(e);
        }
        let index = w.events() as u64;
        w.event_numbers.push(header.event_number.unwrap_or(index));
        w.trigger_times.push(header.trigger_time.unwrap_or(0));
        Ok(header)
    }

    /// Reads `Label: value` lines up to the first sample line.
    fn header(&mut self) -> Result<Header> {
        let mut h = Header::default();
        let mut lines = 0;
        while self.pos < self.b.len() && !is_sample_start(self.b[self.pos]) {
            let start = self.pos;
            let end = self.line_end(start);
            lines += 1;
            if lines > MAX_HEADER_LINES {
                return Err(self.err(
                    start,
                    format!("samples after at most {MAX_HEADER_LINES} header lines"),
                    self.show_line(start),
                ));
            }
            let line = std::str::from_utf8(&self.b[start..end]).ok();
            let Some((label, value)) = line.and_then(|l| l.split_once(':')) else {
                return Err(self.err(
                    start,
                    "a WaveDump `Label: value` header line or a sample",
                    self.show_line(start),
                ));
            };
            let (label, value) = (label.trim(), value.trim());
            let bad = |what: &str| {
                self.err(
                    start,
                    format!("{what} after `{label}:`"),
                    format!("`{value}`"),
                )
            };
            if label.eq_ignore_ascii_case("Record Length") {
                let n = parse_number(value).ok_or_else(|| bad("an integer"))?;
                h.record_length = Some(usize::try_from(n).map_err(|_| bad("a record length"))?);
            } else if label.eq_ignore_ascii_case("Channel") {
                let n = parse_number(value).ok_or_else(|| bad("an integer"))?;
                h.channel = Some(u32::try_from(n).map_err(|_| bad("a channel number"))?);
            } else if label.eq_ignore_ascii_case("Event Number") {
                h.event_number = Some(parse_number(value).ok_or_else(|| bad("an integer"))?);
            } else if label.eq_ignore_ascii_case("Trigger Time Stamp") {
                h.trigger_time = Some(parse_number(value).ok_or_else(|| bad("an integer"))?);
            }
            // Other labels (BoardID, Pattern, DC offset, Start Index Cell, fork additions)
            // carry nothing pmtwatch uses.
            self.pos = (end + 1).min(self.b.len());
        }
        Ok(h)
    }

    /// Appends exactly `n` samples, one per line, to `out`.
    fn samples(&mut self, n: usize, out: &mut Vec<f32>) -> Result<()> {
        let b = self.b;
        let mut pos = self.pos;
        for k in 0..n {
            if pos >= b.len() {
                return Err(self.err(
                    pos,
                    format!("sample {} of {n}", k + 1),
                    "the end of the file (truncated event)",
                ));
            }
            let (v, next) = match parse_int_line(b, pos) {
                Some(r) => r,
                None => self.float_line(pos).ok_or_else(|| {
                    self.err(pos, format!("sample {} of {n}", k + 1), self.show_line(pos))
                })?,
            };
            out.push(v);
            pos = next;
        }
        self.pos = pos;
        Ok(())
    }

    /// Slow path: a float sample (x742) or a line with extra whitespace.
    fn float_line(&self, pos: usize) -> Option<(f32, usize)> {
        let end = self.line_end(pos);
        let text = std::str::from_utf8(&self.b[pos..end]).ok()?.trim();
        if text.is_empty() || !text.bytes().next().is_some_and(is_sample_start) {
            return None;
        }
        let v: f32 = text.parse().ok()?;
        v.is_finite().then_some((v, (end + 1).min(self.b.len())))
    }
}

/// Fast path: one integer sample line at `i` (`-?[0-9]{1,9}` then `\n`, `\r\n` or the end
/// of the file). Returns the value and the start of the next line, or `None` for anything
/// else (the caller falls back to float parsing).
#[inline(always)]
fn parse_int_line(b: &[u8], mut i: usize) -> Option<(f32, usize)> {
    let neg = b.get(i) == Some(&b'-');
    i += usize::from(neg);
    let start = i;
    let mut v: u32 = 0;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u32::from(d));
        i += 1;
    }
    // Nine digits cannot overflow u32; longer numbers take the float path.
    if i == start || i - start > 9 {
        return None;
    }
    match b.get(i) {
        None => {}
        Some(b'\n') => i += 1,
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => i += 2,
        Some(_) => return None,
    }
    let v = v as f32;
    Some((if neg { -v } else { v }, i))
}

/// A header value: decimal, or hexadecimal with `0x`.
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn int_lines() {
        assert_eq!(parse_int_line(b"15497\n1", 0), Some((15497.0, 6)));
        assert_eq!(parse_int_line(b"-12\r\n", 0), Some((-12.0, 5)));
        assert_eq!(parse_int_line(b"7", 0), Some((7.0, 1)));
        assert_eq!(parse_int_line(b"1.5\n", 0), None);
        assert_eq!(parse_int_line(b"-\n", 0), None);
        assert_eq!(parse_int_line(b"1234567890\n", 0), None);
    }
}
