//! CAEN WaveDump binary files with the event header on.
//!
//! Each event is six little-endian `u32` words — event size in bytes (header included),
//! board id, pattern, channel, event counter, trigger time tag — followed by the samples
//! (`u16` on 10–16-bit boards, `u8` on 8-bit ones, `f32` on the x742). The record length
//! always comes from the size word: DAQ configs are known to disagree with the data
//! (RECORD_LENGTH 128 in the config, 130 samples on disk).
//!
//! The file is memory-mapped; one pass over the headers finds the whole events, then the
//! samples are converted in parallel straight into the output buffer, allocated once.
//! A truncated last event (the DAQ stopped mid-write) keeps the whole events before it and
//! adds a warning; an implausible first header is an error, because then nothing in the
//! file can be trusted.

use std::path::Path;

use rayon::prelude::*;

use super::{SampleType, map_file};
use crate::pipeline::data::Waveforms;
use crate::pipeline::error::{Error, Result};

/// Bytes of the per-event header.
pub const HEADER_BYTES: usize = 24;

/// No digitizer writes events this large (the V1730's largest record is 5 MS per channel,
/// 10 MB); a bigger size word means the file is not what we think it is.
pub const MAX_EVENT_BYTES: usize = 64 << 20;

/// The six header words of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    /// Event size in bytes, header included.
    pub size: u32,
    pub board_id: u32,
    pub pattern: u32,
    pub channel: u32,
    pub event_counter: u32,
    pub trigger_time: u32,
}

impl EventHeader {
    /// Decodes the header at the start of `bytes` (at least [`HEADER_BYTES`] long).
    fn parse(bytes: &[u8]) -> Option<EventHeader> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(4 * i..4 * i + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        Some(EventHeader {
            size: word(0)?,
            board_id: word(1)?,
            pattern: word(2)?,
            channel: word(3)?,
            event_counter: word(4)?,
            trigger_time: word(5)?,
        })
    }
}

/// Reads a WaveDump binary file (header on) with samples of type `sample_type`.
pub fn read(path: &Path, sample_type: SampleType) -> Result<Waveforms> {
    let map = map_file(path)?;
    parse(path, &map, sample_type)
}

/// Parses the bytes of a WaveDump binary file; `path` only names it in messages.
pub fn parse(path: &Path, bytes: &[u8], sample_type: SampleType) -> Result<Waveforms> {
    let sample_size = sample_type.size();
    let Some(first) = EventHeader::parse(bytes) else {
        return Err(Error::format(
            path,
            0,
            format!("a {HEADER_BYTES}-byte WaveDump event header"),
            format!("a file of only {} bytes", bytes.len()),
        ));
    };
    let size = first.size as usize;
    let expected = || {
        format!(
            "an event size word (bytes incl. the {HEADER_BYTES}-byte header) above {HEADER_BYTES}, \
             a multiple of the {sample_size}-byte sample size, at most {MAX_EVENT_BYTES} \
             and at most the file size {}",
            bytes.len()
        )
    };
    if size <= HEADER_BYTES
        || (size - HEADER_BYTES) % sample_size != 0
        || size > MAX_EVENT_BYTES
        || size > bytes.len()
    {
        return Err(Error::format(
            path,
            0,
            expected(),
            format!("size word {size} (is this a WaveDump binary file with the header on?)"),
        ));
    }
    let record_len = (size - HEADER_BYTES) / sample_size;
    let whole_events = bytes.len() / size;

    let mut w = Waveforms::new(path, record_len);
    // The header's channel word is authoritative; the file name is only a fallback elsewhere.
    w.channel = Some(first.channel);
    // Pass 1: walk the headers (one read per event) to find how many whole, consistent
    // events there are and collect their counters; bounded by the file length.
    w.event_numbers.reserve_exact(whole_events);
    w.trigger_times.reserve_exact(whole_events);
    let mut offset = 0usize;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let kept = w.event_numbers.len();
        let Some(header) = EventHeader::parse(rest) else {
            w.warnings.push(format!(
                "truncated last event at byte offset {offset}: {} bytes of a {HEADER_BYTES}-byte \
                 header; kept the {kept} whole events before it",
                rest.len(),
            ));
            break;
        };
        if header.size != first.size {
            w.warnings.push(format!(
                "event at byte offset {offset} has size word {} but the first event has {size}; \
                 stopped there and kept the {kept} events before it",
                header.size,
            ));
            break;
        }
        if rest.len() < size {
            w.warnings.push(format!(
                "truncated last event at byte offset {offset}: {} of {size} bytes present; \
                 kept the {kept} whole events before it",
                rest.len(),
            ));
            break;
        }
        w.event_numbers.push(u64::from(header.event_counter));
        w.trigger_times.push(u64::from(header.trigger_time));
        offset += size;
    }
    // Pass 2: convert the samples in parallel. The output is allocated zeroed (fresh pages
    // from the OS, not touched yet) so that first-touch page faults, which dominate a
    // single-threaded pass on a multi-GB file, are spread over all cores.
    let events = w.event_numbers.len();
    w.samples = super::sample_buffer(events * record_len);
    let per_task = (TASK_BYTES / size).max(1);
    w.samples
        .par_chunks_mut(record_len * per_task)
        .zip(bytes[..events * size].par_chunks(size * per_task))
        .for_each(|(out, input)| {
            for (o, event) in out
                .chunks_exact_mut(record_len)
                .zip(input.chunks_exact(size))
            {
                convert(&event[HEADER_BYTES..], o, sample_type);
            }
        });
    Ok(w)
}

/// Input bytes per parallel task: large enough to amortise scheduling, small enough to
/// balance a few hundred MB over many cores.
const TASK_BYTES: usize = 1 << 20;

/// Decodes one event's samples into `out` (exactly its length). Plain zipped loops over
/// `chunks_exact` so the compiler vectorises them without bounds checks.
fn convert(data: &[u8], out: &mut [f32], sample_type: SampleType) {
    match sample_type {
        SampleType::U8 => {
            for (o, &b) in out.iter_mut().zip(data) {
                *o = f32::from(b);
            }
        }
        SampleType::U16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = f32::from(u16::from_le_bytes([c[0], c[1]]));
            }
        }
        SampleType::F32 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
}

/// Encodes events in WaveDump binary layout (u16 samples): for tests, benchmarks and the
/// simulator, so they exercise exactly the layout the reader expects.
pub fn encode_u16(channel: u32, events: &[(u32, u32, Vec<u16>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (counter, ttt, samples) in events {
        let size = (HEADER_BYTES + 2 * samples.len()) as u32;
        for word in [size, 0, 0, channel, *counter, *ttt] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let events: Vec<_> = (0..3).map(|i| (i, 10 * i, vec![i as u16; 5])).collect();
        let mut bytes = encode_u16(4, &events);
        let p = Path::new("wave_4.dat");
        let w = parse(p, &bytes, SampleType::U16).unwrap();
        assert_eq!((w.events(), w.record_len, w.channel), (3, 5, Some(4)));
        assert_eq!(w.event(2), &[2.0; 5]);
        bytes.truncate(bytes.len() - 3);
        let w = parse(p, &bytes, SampleType::U16).unwrap();
        assert_eq!(w.events(), 2);
        assert!(w.warnings[0].contains("byte offset 68"), "{:?}", w.warnings);
    }
}
