//! The records ("keys") of a ROOT file that oxyroot follows, checked before oxyroot
//! trusts their lengths: the streamer info, the top directory's key list and every key
//! it lists, the free-segments list and every basket.
//!
//! Why: oxyroot allocates what a key header states (its byte count, its uncompressed
//! length, an entry count) before it reads, so one corrupt byte in a length field asked
//! for 64 MB to 6 GB — an allocation failure aborts the process, which no `guard` can
//! catch (found by sweeping every byte of a real file's first and last 2,048,
//! `readers_robustness::root_length_fields_sweep`). A key is consistent when its record
//! lies inside the file, its class, name and title strings end where its key length
//! says, and its payload is either stored as is or a chain of compression blocks that
//! ends at the record's end and whose uncompressed sizes add up to the stated length.
//! What oxyroot cannot decode — ZSTD, an object of several blocks (over 16 MiB) — is
//! named before it fails on it.
//! A pointer to a record (a seek with a byte count, in the file header, the directory or
//! the key list) must find such a key with the same byte count.
//!
//! Not checked: the content of an uncompressed object. uproot writes the TTree record
//! uncompressed, and a corrupt array count inside it (a branch's `fMaxBaskets`, sizing
//! `fBasketBytes`/`fBasketEntry`/`fBasketSeek`) still makes oxyroot allocate what it
//! states (the sweep over `tests/data/uproot-written/wf0_uproot_zlib.root` finds 4 such
//! bytes); checking it means decoding the TTree's streamer, which is oxyroot's job. In a
//! file written by ROOT that record is compressed, and a corrupt byte fails decompression.
//!
//! The checks follow the pointers rather than walking the file from `fBEGIN` to `fEND`
//! (as ROOT's `TFile::Map` does): uproot leaves unused space between records without
//! ROOT's free-gap marker, so a walk would refuse its files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::pipeline::error::{Error, Result};

/// A key header found consistent with its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    /// Bytes of the whole record (`fNbytes`).
    pub nbytes: i64,
    /// Uncompressed length of the object (`fObjLen`).
    pub obj_len: i64,
    /// Bytes of the key header (`fKeylen`), the object's start in the record.
    pub key_len: i64,
    /// The key's class name (`TBasket`, `TTree`, `TList` …).
    pub class: String,
}

/// Bytes of a key header before its strings: fNbytes, fVersion, fObjLen, fDatime,
/// fKeylen, fCycle and two seeks of 4 bytes, or of 8 where fVersion > 1000.
fn fixed_len(version: i16) -> usize {
    if version > 1000 { 34 } else { 26 }
}

/// A basket's own header after its key's strings, counted in its `fKeylen`: fVersion (2),
/// fBufferSize, fNevBufSize, fNevBuf, fLast (4 each) and a flag byte.
const BASKET_HEADER: usize = 19;

/// Bytes of a compression block's header: algorithm (2), method (1), compressed and
/// uncompressed sizes (3 each, little-endian).
const BLOCK_HEADER: usize = 9;

/// A big-endian unsigned field of up to 8 bytes.
pub(super) fn be(b: &[u8]) -> i64 {
    b.iter().fold(0i64, |acc, &x| (acc << 8) | i64::from(x))
}

fn be_signed(b: &[u8]) -> i64 {
    match b.len() {
        2 => i64::from(i16::from_be_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        _ => be(b),
    }
}

fn le24(b: &[u8]) -> i64 {
    i64::from(b[0]) | i64::from(b[1]) << 8 | i64::from(b[2]) << 16
}

/// Reads up to `len` bytes at `at` (fewer where the file ends); the buffer grows with what
/// is read, never to a length the file states.
fn read_at(f: &mut File, path: &Path, at: u64, len: usize) -> Result<Vec<u8>> {
    f.seek(SeekFrom::Start(at))
        .map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    f.by_ref()
        .take(len as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Where the TString at `p` ends (one length byte, or 255 and a 4-byte length).
fn string_end(buf: &[u8], p: usize) -> Option<usize> {
    let len = *buf.get(p)?;
    if len == 255 {
        let l = usize::try_from(be_signed(buf.get(p + 1..p + 5)?)).ok()?;
        Some(p + 5 + l)
    } else {
        Some(p + 1 + usize::from(len))
    }
}

/// The name of a compression algorithm oxyroot does not decode, from a block header's
/// first two bytes; `None` for ZLIB, LZMA and LZ4.
fn undecoded(algorithm: &[u8]) -> Option<String> {
    match algorithm {
        b"ZL" | b"XZ" | b"L4" => None,
        b"ZS" => Some("ZSTD".into()),
        b"CS" => Some("ROOT's old (pre-2003) compression".into()),
        other => Some(format!("an unknown algorithm (block header {other:02x?})")),
    }
}

/// Reads the key header at `at` and checks it against its record (module docs); `what`
/// names the record for the error ("the streamer info", "a basket" …).
pub(super) fn key_at(f: &mut File, path: &Path, at: i64, end: i64, what: &str) -> Result<Key> {
    let corrupt = |offset: i64, expected: String, found: String| {
        Error::format(
            path,
            u64::try_from(offset).unwrap_or(0),
            format!("{what}: {expected}"),
            format!("{found} (the file is corrupt)"),
        )
    };
    let Ok(start) = u64::try_from(at) else {
        return Err(corrupt(
            0,
            format!("a record within the file's {end} bytes"),
            format!("a record at offset {at}"),
        ));
    };
    // Enough for the fixed part and three short strings; a longer header is read whole.
    let mut buf = read_at(f, path, start, 1024)?;
    if buf.len() < 18 {
        return Err(corrupt(
            at,
            format!("a key header of at least 18 bytes at offset {at}"),
            format!("the file's end after {} bytes", buf.len()),
        ));
    }
    let nbytes = be_signed(&buf[0..4]);
    let version = i16::from_be_bytes([buf[4], buf[5]]);
    let obj_len = be_signed(&buf[6..10]);
    let key_len = be_signed(&buf[14..16]);
    if nbytes <= 0 || at + nbytes > end {
        return Err(corrupt(
            at,
            format!("a record within the file's {end} bytes"),
            format!("{nbytes} bytes at offset {at}"),
        ));
    }
    let fixed = fixed_len(version);
    if key_len < fixed as i64 + 3 || key_len > nbytes || obj_len < 0 {
        return Err(corrupt(
            at + 14,
            format!("a key header of {fixed}–{nbytes} bytes and a length ≥ 0 at offset {at}"),
            format!("a header of {key_len} bytes and an object of {obj_len}"),
        ));
    }
    let key_len_u = key_len as usize;
    if key_len_u > buf.len() {
        buf = read_at(f, path, start, key_len_u)?;
    }
    let strings = string_end(&buf, fixed)
        .and_then(|p| string_end(&buf, p))
        .and_then(|p| string_end(&buf, p).map(|t| (p, t)));
    let class = buf
        .get(fixed + 1..)
        .zip(buf.get(fixed).copied())
        .and_then(|(b, n)| b.get(..usize::from(n)))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let own = if class == "TBasket" { BASKET_HEADER } else { 0 };
    match strings {
        Some((_, title_end)) if title_end + own == key_len_u => {}
        other => {
            return Err(corrupt(
                at + 14,
                format!("class, name and title ending where the key length {key_len} says"),
                match other {
                    Some((_, t)) => format!("strings ending at byte {} of the key", t + own),
                    None => "strings running past the key header".into(),
                },
            ));
        }
    }
    let key = Key {
        nbytes,
        obj_len,
        key_len,
        class,
    };
    if obj_len > nbytes - key_len {
        check_blocks(f, path, at, &key, what)?;
    }
    Ok(key)
}

/// A compressed object's blocks (module docs), and that oxyroot decodes their algorithm.
fn check_blocks(f: &mut File, path: &Path, at: i64, key: &Key, what: &str) -> Result<()> {
    let stop = at + key.nbytes;
    let mut q = at + key.key_len;
    let mut total = 0i64;
    let mut blocks = 0usize;
    while q < stop {
        let h = read_at(f, path, q as u64, BLOCK_HEADER)?;
        if h.len() < BLOCK_HEADER || q + BLOCK_HEADER as i64 > stop {
            break;
        }
        if q == at + key.key_len
            && let Some(name) = undecoded(&h[0..2])
        {
            return Err(Error::Unsupported {
                path: path.into(),
                what: format!(
                    "{what} ({}, at offset {at}) is compressed with {name}, which the ROOT \
                     reader (oxyroot) does not decode: write the file with ZLIB, LZMA or \
                     LZ4 (ROOT: SetCompressionAlgorithm(1), (2) or (4); uproot: \
                     compression=uproot.ZLIB(4))",
                    key.class
                ),
            });
        }
        total += le24(&h[6..9]);
        q += (BLOCK_HEADER as i64) + le24(&h[3..6]);
        blocks += 1;
    }
    if q != stop || total != key.obj_len {
        return Err(Error::format(
            path,
            (at + key.key_len) as u64,
            format!(
                "{what}: compressed blocks of {} bytes in all, ending at the record's end \
                 (offset {stop})",
                key.obj_len
            ),
            format!("blocks of {total} bytes ending at offset {q} (the file is corrupt)"),
        ));
    }
    if blocks > 1 {
        // oxyroot 0.1.25 decodes the first block into the whole object and fails (its
        // decoder panics) on a valid file: an uproot `extend` of 20,000 events of 250
        // int32 samples writes one 20 MB basket.
        return Err(Error::Unsupported {
            path: path.into(),
            what: format!(
                "{what} ({}, at offset {at}) holds {:.1} MB in {blocks} compression blocks; \
                 the ROOT reader (oxyroot) decodes only objects of one block (at most 16 MiB \
                 uncompressed): write the file with smaller baskets (ROOT: \
                 TBranch::SetBasketSize or TTree::SetAutoFlush; uproot: `extend` with fewer \
                 events at a time)",
                key.class,
                key.obj_len as f64 / 1e6
            ),
        });
    }
    Ok(())
}

/// A pointer (seek and byte count, stated at `field` of the file) must find a consistent
/// key of that byte count.
pub(super) fn pointed(
    f: &mut File,
    path: &Path,
    (seek, nbytes): (i64, i64),
    field: usize,
    end: i64,
    what: &str,
) -> Result<Key> {
    let key = key_at(f, path, seek, end, what)?;
    if key.nbytes != nbytes {
        return Err(Error::format(
            path,
            field as u64,
            format!("{what}: a record of {nbytes} bytes at offset {seek}, as stated here"),
            format!(
                "a record of {} bytes there (the file is corrupt)",
                key.nbytes
            ),
        ));
    }
    Ok(key)
}

/// The key list of the top directory (the record at `at`, already checked as `list`):
/// every key it holds must find its record, with the same byte count, object length
/// and key length.
pub(super) fn check_listed(f: &mut File, path: &Path, at: i64, list: &Key, end: i64) -> Result<()> {
    let data = list.nbytes - list.key_len;
    if list.obj_len > data {
        // A compressed key list: ROOT never writes one; left to oxyroot's decoder.
        return Ok(());
    }
    let base = at + list.key_len;
    let buf = read_at(f, path, base as u64, list.obj_len as usize)?;
    let short = |p: usize| {
        Error::format(
            path,
            base as u64 + p as u64,
            "the key list: a key header within the list",
            "the list's end (the file is corrupt)",
        )
    };
    let count = buf.get(0..4).map(be_signed).ok_or_else(|| short(0))?;
    if count < 0 || count > list.obj_len / 26 {
        return Err(Error::format(
            path,
            base as u64,
            format!(
                "the key list: at most {} keys in {} bytes",
                list.obj_len / 26,
                list.obj_len
            ),
            format!("{count} keys (the file is corrupt)"),
        ));
    }
    let mut p = 4usize;
    for _ in 0..count {
        let field = |from: usize, len: usize| buf.get(p + from..p + from + len).map(be_signed);
        let (Some(nbytes), Some(version), Some(obj_len), Some(key_len)) =
            (field(0, 4), field(4, 2), field(6, 4), field(14, 2))
        else {
            return Err(short(p));
        };
        let seek = if version > 1000 {
            buf.get(p + 18..p + 26).map(be)
        } else {
            field(18, 4)
        }
        .ok_or_else(|| short(p))?;
        let found = pointed(
            f,
            path,
            (seek, nbytes),
            base as usize + p,
            end,
            "a listed key",
        )?;
        if (found.obj_len, found.key_len) != (obj_len, key_len) {
            return Err(Error::format(
                path,
                base as u64 + p as u64,
                format!(
                    "the key list: an object of {obj_len} bytes with a key of {key_len} at \
                     offset {seek}, as listed here"
                ),
                format!(
                    "an object of {} bytes with a key of {} there (the file is corrupt)",
                    found.obj_len, found.key_len
                ),
            ));
        }
        match usize::try_from(key_len) {
            Ok(n) if n > 0 => p += n,
            _ => return Err(short(p)),
        }
    }
    Ok(())
}
