//! Robustness of the readers against what a bench really produces: random bytes,
//! truncated copies, corrupt headers. Every input goes through `detect` + `read` under
//! every extension; the result must be `Ok` or `Err` — never a panic — and no single
//! allocation may exceed [`MAX_ALLOC`] (the inputs are a few KB, so anything near that
//! size means a length field from the file was trusted).
//!
//! Allocation sizes are watched by a counting global allocator in this test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use pmtwatch::pipeline::data::Input;
use pmtwatch::pipeline::readers::{ReadOptions, SampleType, detect, read};
use proptest::prelude::*;

/// Largest single allocation tolerated while reading a small file.
const MAX_ALLOC: usize = 64 << 20;

/// Forwards to the system allocator and records the largest request.
struct Watch;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// The lint is denied crate-wide; a global allocator cannot be written without `unsafe`.
#[allow(unsafe_code)]
// SAFETY: every call forwards unchanged to `System`, which upholds the GlobalAlloc
// contract; the only addition is an atomic max of the requested size.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

const EXTENSIONS: [&str; 9] = [
    "txt", "dat", "root", "npy", "csv", "parquet", "tsv", "bin", "",
];

/// Writes `bytes` under every extension and reads each through `detect` + `read` with
/// every sample type; checks the shape invariants of whatever comes back.
fn read_everywhere(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    for ext in EXTENSIONS {
        let name = if ext.is_empty() {
            "wave1".to_string()
        } else {
            format!("wave1.{ext}")
        };
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        check(&path);
    }
}

fn check(path: &Path) {
    let types = [SampleType::U16, SampleType::U8, SampleType::F32];
    for (i, sample_type) in types.into_iter().enumerate() {
        let opts = ReadOptions {
            sample_type,
            record_length: (i == 1).then_some(3),
            ..ReadOptions::default()
        };
        let Ok(_) = detect(path) else { continue };
        if let Ok(Input::Waveforms(w)) = read(path, &opts) {
            assert!(w.record_len > 0);
            assert_eq!(w.samples.len(), w.events() * w.record_len);
            assert_eq!(w.trigger_times.len(), w.events());
        }
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= MAX_ALLOC,
            "{}: an allocation of {largest} bytes",
            path.display()
        );
    }
}

/// A small valid WaveDump binary file: 3 events × 8 u16 samples.
fn small_binary() -> Vec<u8> {
    let mut out = Vec::new();
    for ev in 0..3u32 {
        for word in [24 + 16, 0, 0, 1, ev, 1000 * ev] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for s in 0..8u16 {
            out.extend_from_slice(&(15_000 + s).to_le_bytes());
        }
    }
    out
}

/// A small valid WaveDump ASCII file: 2 events × 5 samples.
fn small_ascii() -> Vec<u8> {
    let mut t = String::new();
    for ev in 0..2 {
        t += &format!(
            "Record Length: 5\nBoardID:  0\nChannel: 2\nEvent Number: {ev}\nPattern: 0x0000\n\
             Trigger Time Stamp: {}\nDC offset (DAC): 0x0CCC\n",
            7 * ev
        );
        t += "15590\n15592\n-1\n15588\n15591\n";
    }
    t.into_bytes()
}

fn real(rel: &str) -> Vec<u8> {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data", rel]
        .iter()
        .collect();
    std::fs::read(p).unwrap()
}

#[test]
fn truncations_at_every_offset() {
    for file in [small_binary(), small_ascii()] {
        for cut in 0..=file.len() {
            read_everywhere(&file[..cut]);
        }
    }
}

#[test]
fn truncated_real_files() {
    // A few cuts of real files: header, mid-data, one byte short.
    for rel in [
        "uzh-r12699-v1730d/spe_led_1000V.root",
        "uzh-r12699-v1730d/wf0_areas.npy",
        "r6233-histogram/R6233-example.txt",
    ] {
        let bytes = real(rel);
        for cut in [1, 7, 64, 200, 1000, bytes.len() / 2, bytes.len() - 1] {
            read_everywhere(&bytes[..cut.min(bytes.len())]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        read_everywhere(&bytes);
    }

    #[test]
    fn random_text(text in "[0-9a-zA-Z:,;. \\-\\n\\r\\t]{0,300}") {
        read_everywhere(text.as_bytes());
    }

    #[test]
    fn mutated_binary_header_words(event in 0usize..3, word in 0usize..6, value in any::<u32>()) {
        let mut file = small_binary();
        let at = event * 40 + word * 4;
        file[at..at + 4].copy_from_slice(&value.to_le_bytes());
        read_everywhere(&file);
    }

    #[test]
    fn mutated_ascii(at in 0usize..200, byte in any::<u8>()) {
        let mut file = small_ascii();
        let at = at % file.len();
        file[at] = byte;
        read_everywhere(&file);
    }

    #[test]
    fn mutated_npy(at in 0usize..400, byte in any::<u8>()) {
        let mut file = real("uzh-r12699-v1730d/wf0_areas.npy");
        file[at] = byte;
        read_everywhere(&file);
    }
}

proptest! {
    // Each case decodes a 1 MB ROOT file; fewer cases keep the suite fast.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn mutated_root(at in 0usize..4096, byte in any::<u8>()) {
        let mut file = real("uzh-r12699-v1730d/spe_led_1000V.root");
        // Header, keys and streamer records sit at the start and end of the file.
        let at = if at < 2048 { at } else { file.len() - (at - 2047) };
        file[at] = byte;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.root");
        std::fs::write(&path, &file).unwrap();
        let _ = read(&path, &ReadOptions::default());
        prop_assert!(LARGEST.load(Ordering::Relaxed) <= MAX_ALLOC);
    }
}
