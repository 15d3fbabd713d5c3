//! Robustness of the readers against what a bench really produces: random bytes,
//! truncated copies, corrupt headers. Every input goes through `detect` + `read` under
//! every extension; the result must be `Ok` or `Err` — never a panic — and no single
//! allocation may exceed [`MAX_ALLOC`] (the inputs are a few KB, so anything near that
//! size means a length field from the file was trusted).
//!
//! Allocation sizes are watched by a counting global allocator in this test binary. The
//! watch is per thread and armed only around the reads: the other modules of this binary
//! (reference fits, simulations) run at the same time and may allocate large buffers for
//! good reasons, so a process-wide maximum made these tests fail by whichever test ran
//! beside them (CI on two cores showed exactly that). The readers parse a small file on
//! the calling thread, which is where a trusted length field would allocate.
//!
//! The readers turn a panic inside a third-party decoder into an error, and their guard's
//! panic hook keeps quiet for it (`readers::guard`). Any other panic still reaches the
//! default hook, which with `RUST_BACKTRACE` set symbolises a backtrace — hundreds of MB
//! of debug info on CI. [`watched`] installs a hook that pauses the watch while the
//! previous hook runs, so only the reader's own allocations count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use pmtwatch::pipeline::data::Input;
use pmtwatch::pipeline::readers::{ReadOptions, SampleType, detect, read};
use proptest::prelude::*;

/// Largest single allocation tolerated while reading a small file.
const MAX_ALLOC: usize = 64 << 20;

/// Forwards to the system allocator and records, per thread and while armed, the
/// largest request.
struct Watch;

thread_local! {
    /// Whether this thread's allocations are being watched.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Largest request seen on this thread since it was armed.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// Notes a request of `size` bytes if this thread is armed. Const-initialised
/// thread-locals need no allocation, and `try_with` is silent during thread teardown.
fn note(size: usize) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

/// Runs `f` with this thread's allocations watched; returns the largest request.
fn watched(f: impl FnOnce()) -> usize {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let armed = ARMED.with(|a| a.replace(false));
            default(info);
            ARMED.with(|a| a.set(armed));
        }));
    });
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    LARGEST.with(Cell::get)
}

// The lint is denied crate-wide; a global allocator cannot be written without `unsafe`.
#[allow(unsafe_code)]
// SAFETY: every call forwards unchanged to `System`, which upholds the GlobalAlloc
// contract; the only addition is a thread-local max of the requested size.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
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
        let mut result = None;
        let largest = watched(|| {
            if detect(path).is_ok() {
                result = Some(read(path, &opts));
            }
        });
        if let Some(Ok(Input::Waveforms(w))) = result {
            assert!(w.record_len > 0);
            assert_eq!(w.samples.len(), w.events() * w.record_len);
            assert_eq!(w.trigger_times.len(), w.events());
        }
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

/// Reads `file` as a ROOT file (written to a temporary `x.root`) under [`watched`]: the
/// largest allocation it made, and what `read` returned.
fn read_root_watched(file: &[u8]) -> (usize, pmtwatch::pipeline::error::Result<Input>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.root");
    std::fs::write(&path, file).expect("write");
    let mut result = None;
    let largest = watched(|| result = Some(read(&path, &ReadOptions::default())));
    (largest, result.expect("read ran"))
}

/// Reads a corrupt ROOT file: no allocation over [`MAX_ALLOC`], and an error, whose text
/// is returned.
fn refused_without_a_large_allocation(file: &[u8]) -> String {
    let (largest, result) = read_root_watched(file);
    assert!(largest <= MAX_ALLOC, "an allocation of {largest} bytes");
    result.expect_err("a corrupt file").to_string()
}

fn real(rel: &str) -> Vec<u8> {
    let p: PathBuf = crate::common::manifest_dir().join("tests/data").join(rel);
    std::fs::read(p).unwrap()
}

#[test]
fn the_watch_sees_a_large_allocation_on_its_thread_only() {
    let seen = watched(|| {
        std::hint::black_box(vec![1u8; MAX_ALLOC + 1]);
    });
    assert!(
        seen > MAX_ALLOC,
        "the watch missed a {MAX_ALLOC}+1 byte allocation"
    );
    let elsewhere = watched(|| {
        std::thread::spawn(|| std::hint::black_box(vec![1u8; MAX_ALLOC + 1]))
            .join()
            .unwrap();
    });
    assert!(
        elsewhere <= MAX_ALLOC,
        "another thread's allocation was counted"
    );
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
        let (largest, _) = read_root_watched(&file);
        prop_assert!(largest <= MAX_ALLOC, "an allocation of {} bytes", largest);
    }
}

/// The top directory's key-list size (`fNbytesKeys`, at `fBEGIN + fNbytesName + 10`) with
/// its high byte corrupted: oxyroot allocated the 64 MB it then claims before reading
/// (found by `mutated_root`: byte 640 set to 4). The reader refuses the file first, naming
/// the byte.
#[test]
fn a_corrupt_key_list_size_is_an_error_not_a_large_allocation() {
    let mut file = real("uzh-r12699-v1730d/spe_led_1000V.root");
    let be32 = |at: usize| u32::from_be_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
    let top_dir = (be32(8) + be32(28)) as usize;
    let at = top_dir + 10;
    assert_eq!(be32(at), 321, "the key list's size in the original file");
    file[at] = 4;
    let text = refused_without_a_large_allocation(&file);
    assert!(
        text.contains("key list") && text.contains(&at.to_string()),
        "{text}"
    );
}

/// The free-segments record's object length (`fObjLen` of the key at `fSeekFree`, the
/// file's last record) with its high byte corrupted: oxyroot allocated the 64 MB it then
/// claims (found by `mutated_root`: 285 bytes before the end set to 4). The reader
/// refuses the file first, naming the byte.
#[test]
fn a_corrupt_free_segments_length_is_an_error_not_a_large_allocation() {
    let mut file = real("uzh-r12699-v1730d/spe_led_1000V.root");
    let at = file.len() - 285;
    file[at] = 4;
    let text = refused_without_a_large_allocation(&file);
    assert!(
        text.contains("free-segments") && text.contains(&at.to_string()),
        "{text}"
    );
}

/// A basket header whose entry count (`fNevBuf`) was corrupted: oxyroot would reserve a
/// vector of that many entries (tens of GB, an abort, found by `mutated_root`); the
/// reader refuses the file first, naming the byte.
#[test]
fn a_corrupt_basket_entry_count_is_an_error_not_an_abort() {
    let mut file = real("uzh-r12699-v1730d/spe_led_1000V.root");
    let at = file
        .windows(8)
        .position(|w| w == b"\x07TBasket")
        .expect("a basket key");
    let name_end = at + 8 + 1 + usize::from(file[at + 8]);
    let title_end = name_end + 1 + usize::from(file[name_end]);
    let nev = title_end + 10;
    file[nev] = 0x7f;
    let (largest, result) = read_root_watched(&file);
    let err = match result {
        Ok(_) => panic!("a corrupt basket header was read"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("basket header claiming"), "{err}");
    assert!(largest <= MAX_ALLOC, "an allocation of {largest} bytes");
}

/// Bytes of the ROOT file's first and last 2,048 (where its header, keys, first baskets
/// and streamer records sit) set in turn to values that make a 32-bit length or count
/// field large or negative when they land on its high byte: the deterministic form of
/// `mutated_root` for the values that matter. By default the first and last 1,024 bytes
/// with 4, 0x7f and 0xff (every case the whole sweep found lies there: the header's
/// free-list size and streamer-info seek, the first basket's byte count, object length,
/// title length and flag, the key list's own and listed lengths, the free-segments key);
/// `PMTWATCH_ROOT_SWEEP=lo,hi` sweeps positions lo..hi of the 4,096 (0..2048 the first
/// bytes, 2048..4096 the last, backwards) with 1 and 0x80 as well (0..4096: ~2.5 min), and
/// `PMTWATCH_ROOT_SWEEP_FILE=path` sweeps another ROOT file (of at least 4,096 bytes).
#[test]
fn root_length_fields_sweep() {
    let file = match std::env::var("PMTWATCH_ROOT_SWEEP_FILE") {
        Ok(p) => std::fs::read(&p).expect("PMTWATCH_ROOT_SWEEP_FILE"),
        Err(_) => real("uzh-r12699-v1730d/spe_led_1000V.root"),
    };
    let (positions, values): (Vec<usize>, &[u8]) = match std::env::var("PMTWATCH_ROOT_SWEEP") {
        Ok(r) => {
            let (lo, hi) = r.split_once(',').expect("PMTWATCH_ROOT_SWEEP=lo,hi");
            let range = lo.trim().parse().expect("lo")..hi.trim().parse().expect("hi");
            (range.collect(), &[1, 4, 0x7f, 0x80, 0xff])
        }
        Err(_) => (
            (0..1024).chain(2048..2048 + 1024).collect(),
            &[4, 0x7f, 0xff],
        ),
    };
    let mut failures = Vec::new();
    for &p in &positions {
        let at = if p < 2048 { p } else { file.len() - (p - 2047) };
        for &byte in values {
            if file[at] == byte {
                continue;
            }
            let mut bad = file.clone();
            bad[at] = byte;
            let (largest, _) = read_root_watched(&bad);
            if largest > MAX_ALLOC {
                failures.push(format!(
                    "byte {at} = {byte:#x}: an allocation of {largest} bytes"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A basket's flag byte (the last of its key header) set so that oxyroot reads an
/// entry-offset array from what is compressed data: it reserved 6 GB (found by the
/// sweep: byte 757 set to 1). The reader refuses the file first, naming the flag.
#[test]
fn a_corrupt_basket_flag_is_an_error_not_a_large_allocation() {
    let mut file = real("uzh-r12699-v1730d/spe_led_1000V.root");
    let at = file
        .windows(8)
        .position(|w| w == b"\x07TBasket")
        .expect("a basket key");
    // The key starts 34 bytes before its class name (a version > 1000 key); its flag is
    // the last byte of its key header.
    let start = at - 34;
    let key_len = usize::from(u16::from_be_bytes([file[start + 14], file[start + 15]]));
    let flag = start + key_len - 1;
    assert_eq!(
        (flag, file[flag]),
        (757, 0),
        "the first basket's flag in the original"
    );
    file[flag] = 1;
    let text = refused_without_a_large_allocation(&file);
    assert!(text.contains("flag 1") && text.contains("757"), "{text}");
}
