//! In-memory forms of what the readers return: waveforms of one channel in a single
//! contiguous buffer (cache-friendly, one allocation), or per-event charges / a histogram
//! when the input already is a charge spectrum.

use std::path::PathBuf;

/// All events of one digitizer channel, each `record_len` samples long, stored row-major
/// in one buffer. Samples are raw ADC counts (or the x742's calibrated floats) as `f32`,
/// which holds every 14-/16-bit count exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Waveforms {
    /// File the events came from (for messages).
    pub source: PathBuf,
    /// Channel number from the header or the file name, when known.
    pub channel: Option<u32>,
    /// Samples per event.
    pub record_len: usize,
    /// `events() * record_len` samples.
    pub samples: Vec<f32>,
    /// Event counter per event (from the header; else the event's index).
    pub event_numbers: Vec<u64>,
    /// Trigger time tag per event (0 where the format has none).
    pub trigger_times: Vec<u64>,
    /// Non-fatal problems met while reading (e.g. a truncated last event).
    pub warnings: Vec<String>,
}

impl Waveforms {
    /// An empty set for `source` with the given record length.
    pub fn new(source: impl Into<PathBuf>, record_len: usize) -> Self {
        Waveforms {
            source: source.into(),
            record_len,
            ..Default::default()
        }
    }

    /// Number of events.
    pub fn events(&self) -> usize {
        self.event_numbers.len()
    }

    /// Samples of event `i` (panics if `i >= events()`, like slice indexing).
    pub fn event(&self, i: usize) -> &[f32] {
        &self.samples[i * self.record_len..(i + 1) * self.record_len]
    }

    /// Iterator over the events' sample slices.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        // chunks_exact on an empty buffer with record_len 0 would panic; guard it.
        self.samples.chunks_exact(self.record_len.max(1))
    }

    /// Appends one event.
    pub fn push(&mut self, event_number: u64, trigger_time: u64, samples: &[f32]) {
        debug_assert_eq!(samples.len(), self.record_len);
        self.samples.extend_from_slice(samples);
        self.event_numbers.push(event_number);
        self.trigger_times.push(trigger_time);
    }
}

/// Per-event charges, or an already-binned spectrum, as read from a charge input.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargeInput {
    /// One charge per event.
    Values { values: Vec<f64>, unit: String },
    /// A histogram: bin centres (ascending, equally spaced) and counts.
    Histogram {
        centers: Vec<f64>,
        counts: Vec<f64>,
        unit: String,
    },
}

impl ChargeInput {
    /// The unit of the charges (`pC`, `ADC*samples`, `V*s`, …).
    pub fn unit(&self) -> &str {
        match self {
            ChargeInput::Values { unit, .. } | ChargeInput::Histogram { unit, .. } => unit,
        }
    }

    /// Number of events (sum of counts for a histogram).
    pub fn events(&self) -> u64 {
        match self {
            ChargeInput::Values { values, .. } => values.len() as u64,
            ChargeInput::Histogram { counts, .. } => counts.iter().sum::<f64>().round() as u64,
        }
    }
}

/// What a reader produced from one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Raw waveforms of one channel.
    Waveforms(Waveforms),
    /// Charges or a histogram, ready to fit.
    Charges(ChargeInput),
}
