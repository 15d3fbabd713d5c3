//! ROOT files through oxyroot: a fixed-size array branch (`wf0[250]`) is waveforms, a
//! scalar branch (`PulseCharge`) is per-event charges.
//!
//! Labs store scans as TTrees with one branch per channel; which tree and branch to use
//! is chosen by [`ReadOptions::tree`] / [`ReadOptions::branch`], else the first tree with
//! a fixed-size numeric array branch (waveforms) or, failing that, a scalar float branch
//! (charges). oxyroot assumes well-formed files and panics on some corrupt ones, so every
//! call into it runs under `guard`; the file header is checked first so that a truncated
//! copy gets a precise message instead of a decoder failure, and every record oxyroot
//! follows (`root_keys`) so that a corrupt length is an error, not an allocation that
//! aborts the process.

use std::path::Path;

use oxyroot::{Branch, Named, RBuffer, ReaderTree, RootFile};

use super::table::{charge_unit, charge_unit_from_name};
use super::{ReadOptions, describe_bytes, guard, read_head, root_keys};
use crate::pipeline::data::{ChargeInput, Input, Waveforms};
use crate::pipeline::error::{Error, Result};

/// Upper bound on the samples reserved up front (the entry count comes from the file and
/// is not trusted for allocation; the Vec still grows past this if the data is there).
const MAX_RESERVE: usize = 1 << 24;

/// Numeric leaf types oxyroot names (`item_type_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Leaf {
    fn from_name(name: &str) -> Option<Leaf> {
        Some(match name {
            "int8_t" => Leaf::I8,
            "uint8_t" => Leaf::U8,
            "int16_t" => Leaf::I16,
            "uint16_t" => Leaf::U16,
            "int32_t" => Leaf::I32,
            "uint32_t" => Leaf::U32,
            "int64_t" => Leaf::I64,
            "uint64_t" => Leaf::U64,
            "float" => Leaf::F32,
            "double" => Leaf::F64,
            _ => return None,
        })
    }

    fn read(self, r: &mut RBuffer) -> Option<f64> {
        let v = match self {
            Leaf::I8 => f64::from(r.read_i8().ok()?),
            Leaf::U8 => f64::from(r.read_u8().ok()?),
            Leaf::I16 => f64::from(r.read_i16().ok()?),
            Leaf::U16 => f64::from(r.read_u16().ok()?),
            Leaf::I32 => f64::from(r.read_i32().ok()?),
            Leaf::U32 => f64::from(r.read_u32().ok()?),
            Leaf::I64 => r.read_i64().ok()? as f64,
            Leaf::U64 => r.read_u64().ok()? as f64,
            Leaf::F32 => f64::from(r.read_f32().ok()?),
            Leaf::F64 => r.read_f64().ok()?,
        };
        Some(v)
    }
}

/// What a branch's type makes it: an array of `len` samples, or one scalar per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Array(Leaf, usize),
    Scalar(Leaf),
}

fn kind(branch: &Branch) -> Option<Kind> {
    let ty = branch.item_type_name();
    match ty.split_once('[') {
        Some((base, dims)) => {
            let n: usize = dims.strip_suffix(']')?.parse().ok()?;
            (n > 0).then_some(Kind::Array(Leaf::from_name(base)?, n))
        }
        None => Some(Kind::Scalar(Leaf::from_name(&ty)?)),
    }
}

/// Reads waveforms or charges from a ROOT file.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Input> {
    check_header(path)?;
    check_baskets(path)?;
    guard(path, "the ROOT reader (oxyroot)", || {
        read_checked(path, opts)
    })
}

/// Checks the magic and that the file is as long as its header says (`fEND`): a copy cut
/// short is the usual way a ROOT file goes bad between the DAQ and the cluster.
fn check_header(path: &Path) -> Result<()> {
    // Enough for the file header and, in any file written by ROOT, the top directory's
    // record after it (`check_records`).
    let head = read_head(path, 4096)?;
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if !head.starts_with(b"root") {
        return Err(Error::format(
            path,
            0,
            "the ROOT magic `root`",
            describe_bytes(&head),
        ));
    }
    let word = |at: usize| -> Option<i64> {
        let b = head.get(at..at + 4)?;
        Some(i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    };
    let too_short = || {
        Error::format(
            path,
            head.len() as u64,
            "a complete ROOT file header",
            "the end of the file",
        )
    };
    let version = word(4).ok_or_else(too_short)?;
    // Files past 2 GB (version ≥ 1000000) store fEND as 64 bits.
    let end = if version >= 1_000_000 {
        let b = head.get(12..20).ok_or_else(too_short)?;
        i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    } else {
        word(12).ok_or_else(too_short)?
    };
    if end < 0 || end as u64 > len {
        return Err(Error::format(
            path,
            len,
            format!("{end} bytes as the ROOT header says (is the copy truncated?)"),
            format!("a file of {len} bytes"),
        ));
    }
    check_records(path, &head, version >= 1_000_000, end)
}

/// Checks the sizes oxyroot allocates before it reads a record — the streamer info's
/// (`fNbytesInfo`, in the file header) and the top directory's key list (`fNbytesKeys`,
/// in the directory record at `fBEGIN + fNbytesName`) — against the file: one corrupt
/// byte in either asked for 64 MB and more (found by `mutated_root`) — then the records
/// they point to, and every key the key list holds (`root_keys`). `head` is the file's
/// first bytes; a directory record beyond them is left to oxyroot.
fn check_records(path: &Path, head: &[u8], large: bool, end: i64) -> Result<()> {
    let i32_at = |at: usize| -> Option<i64> {
        let b = head.get(at..at + 4)?;
        Some(i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    };
    let i64_at = |at: usize| -> Option<i64> {
        let b = head.get(at..at + 8)?;
        Some(i64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    };
    let seek_at = |at: usize, wide: bool| if wide { i64_at(at) } else { i32_at(at) };
    let bad = |at: usize, what: &str, seek: i64, bytes: i64| {
        Error::format(
            path,
            at as u64,
            format!("{what} within the file's {end} bytes"),
            format!("{bytes} bytes at offset {seek} (the file is corrupt)"),
        )
    };
    let inside = |seek: i64, bytes: i64| seek >= 0 && bytes >= 0 && seek + bytes <= end;
    // fBEGIN (4) and fNbytesName; fSeekInfo and fNbytesInfo after fUnits and fCompress.
    let (name_at, info_at) = if large { (36, 45) } else { (28, 37) };
    let (Some(begin), Some(nbytes_name)) = (i32_at(8), i32_at(name_at)) else {
        return Ok(());
    };
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if let (Some(seek), Some(bytes)) = (
        seek_at(info_at, large),
        i32_at(info_at + if large { 8 } else { 4 }),
    ) {
        if !inside(seek, bytes) {
            return Err(bad(info_at, "the streamer info", seek, bytes));
        }
        // A seek of 0: no streamer info record (left to oxyroot).
        if seek > 0 {
            let what = "the streamer info";
            root_keys::pointed(&mut f, path, (seek, bytes), info_at, end, what)?;
        }
    }
    // The top directory: fVersion (2, > 1000 for 8-byte seeks), fDatimeC, fDatimeM,
    // fNbytesKeys, fNbytesName, then fSeekDir, fSeekParent, fSeekKeys.
    let Ok(dir) = usize::try_from(begin + nbytes_name) else {
        return Ok(());
    };
    let Some(version) = head
        .get(dir..dir + 2)
        .map(|b| i16::from_be_bytes([b[0], b[1]]))
    else {
        return Ok(());
    };
    let wide = version > 1000;
    let keys_at = dir + 10;
    let seek_keys_at = dir + 18 + if wide { 16 } else { 8 };
    if let (Some(bytes), Some(seek)) = (i32_at(keys_at), seek_at(seek_keys_at, wide)) {
        if !inside(seek, bytes) {
            return Err(bad(keys_at, "the top directory's key list", seek, bytes));
        }
        if seek > 0 {
            let what = "the top directory's key list";
            let list = root_keys::pointed(&mut f, path, (seek, bytes), keys_at, end, what)?;
            root_keys::check_listed(&mut f, path, seek, &list, end)?;
        }
    }
    check_free_segments(&mut f, path, head, large, end)
}

/// The free-segments record (`fSeekFree`, `fNbytesFree`, `fNfree` in the file header):
/// oxyroot allocates its key's `fObjLen` before reading it, and one corrupt byte there
/// asked for 64 MB (found by `mutated_root`: byte 285 before the end set to 4). The list
/// holds `fNfree` segments of at most 18 bytes each (a version and two 8-byte seeks).
fn check_free_segments(
    f: &mut std::fs::File,
    path: &Path,
    head: &[u8],
    large: bool,
    end: i64,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let be = root_keys::be;
    let field = |at: usize, n: usize| head.get(at..at + n).map(be);
    // fEND, fSeekFree (4 or 8 bytes each), then fNbytesFree and fNfree.
    let w = if large { 8 } else { 4 };
    let (Some(seek), Some(nbytes), Some(nfree)) =
        (field(12 + w, w), field(12 + 2 * w, 4), field(16 + 2 * w, 4))
    else {
        return Ok(());
    };
    if seek <= 0 {
        // No free list.
        return Ok(());
    }
    if nbytes < 10 || seek + nbytes > end {
        // oxyroot allocates fNbytesFree before it reads (found by the sweep: byte 20).
        return Err(Error::format(
            path,
            (12 + 2 * w) as u64,
            format!("a free-segments list within the file's {end} bytes"),
            format!("{nbytes} bytes at offset {seek} (the file is corrupt)"),
        ));
    }
    let mut key = [0u8; 10];
    let read = f
        .seek(SeekFrom::Start(seek as u64))
        .and_then(|_| f.read_exact(&mut key));
    if read.is_err() {
        return Ok(());
    }
    // The key header: fNbytes (4), fVersion (2), fObjLen (4).
    let obj_len = be(&key[6..10]);
    let most = 18 * nfree.max(1);
    if obj_len > most {
        return Err(Error::format(
            path,
            seek as u64 + 6,
            format!("a free-segments list of at most {most} bytes ({nfree} segments)"),
            format!("one of {obj_len} bytes (the file is corrupt)"),
        ));
    }
    let field = 12 + 2 * w;
    root_keys::pointed(
        f,
        path,
        (seek, nbytes),
        field,
        end,
        "the free-segments list",
    )?;
    Ok(())
}

/// Checks every basket header in the file before oxyroot reads it: oxyroot reserves a
/// vector of the basket's entry count (`fNevBuf`) as the file states it, so one corrupt
/// byte there asks for tens of GB and aborts the process (an allocation failure is not
/// a panic that [`guard`] could catch). A basket cannot hold more entries than bytes of
/// uncompressed data (`fObjLen`); a header that claims so is a corrupt file.
///
/// Baskets are found by their key's class name (`TBasket`, length-prefixed), and a match
/// counts only where the key's own length field agrees with what was parsed, so the name
/// appearing by chance in data is not mistaken for a key. The file is scanned in chunks.
fn check_baskets(path: &Path) -> Result<()> {
    use std::io::Read;
    const NEEDLE: &[u8] = b"\x07TBasket";
    const CHUNK: usize = 8 << 20;
    // Kept from one chunk to the next: the bytes before the first unscanned match
    // position, enough for its key header (≤ 34 bytes) and the needle's own length; and
    // after a match, room for two strings and the basket's first fields.
    const BEFORE: usize = 64;
    const AFTER: usize = 8 + 2 * 260 + 32;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // A second handle reads each basket's key and compression blocks.
    let mut keys = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let end =
        i64::try_from(keys.metadata().map_err(|e| Error::io(path, e))?.len()).unwrap_or(i64::MAX);
    let mut buf: Vec<u8> = Vec::new();
    // File offset of buf[0].
    let mut base: u64 = 0;
    let mut done = false;
    while !done {
        // Read straight onto the tail kept from the last round.
        let kept = buf.len();
        buf.resize(kept + CHUNK, 0);
        let n = f.read(&mut buf[kept..]).map_err(|e| Error::io(path, e))?;
        buf.truncate(kept + n);
        done = n == 0;
        // Matches whose header lies wholly in buf (or the file has ended).
        let limit = if done {
            buf.len()
        } else {
            buf.len().saturating_sub(AFTER)
        };
        let mut i = 0;
        while let Some(k) = buf[i..limit.max(i)]
            .windows(NEEDLE.len())
            .position(|w| w == NEEDLE)
        {
            let at = i + k;
            // A basket stored as a record of its own states its own offset (fSeekKey);
            // one embedded in an uncompressed TTree record (a basket not yet flushed when
            // the tree was saved) does not, and is no record to check.
            if let Some(start) = basket_key_start(&buf, at) {
                let record = at_own_seek(&buf, start, at, base);
                match basket_header(&buf, start, at) {
                    Some(b) => check_basket(&mut keys, path, base, at, &b, end, record)?,
                    // The class name of a key whose strings disagree with its length (one
                    // corrupt string length made oxyroot read its header 2 bytes off and
                    // allocate 580 MB, found by the sweep): the key check names it.
                    None if record => {
                        let start = (base + start as u64) as i64;
                        root_keys::key_at(&mut keys, path, start, end, "a basket")?;
                    }
                    None => {}
                }
            }
            i = at + 1;
        }
        // Keep the tail that may hold a match's header for the next round.
        let keep_from = limit.saturating_sub(BEFORE).min(buf.len());
        buf.drain(..keep_from);
        base += keep_from as u64;
    }
    Ok(())
}

/// What oxyroot reads of a basket's header before its data.
struct BasketHeader {
    /// Offset of the key in the buffer.
    start: usize,
    /// Entry count (`fNevBuf`).
    nev: i32,
    /// Uncompressed size (`fObjLen`).
    obj_len: i32,
    /// The flag byte after `fLast`, and the 4 bytes after it (an entry-offset count where
    /// the flag says the offsets follow).
    flag: u8,
    after_flag: Option<i32>,
}

/// One basket found by [`check_baskets`] (its header already parsed at `base + at`): its
/// entry count against its size and, where it is a `record` of its own, its key against
/// the record (`root_keys::key_at`), and
/// an entry-offset count where its flag makes oxyroot read one: oxyroot reserves that
/// many entries, and a basket written header-only (flag 0, as ROOT writes them) with a
/// corrupt flag had it read 6 GB's worth from the compressed data (found by the sweep).
fn check_basket(
    keys: &mut std::fs::File,
    path: &Path,
    base: u64,
    at: usize,
    b: &BasketHeader,
    end: i64,
    record: bool,
) -> Result<()> {
    let (nev, obj_len) = (b.nev, b.obj_len);
    if nev < 0 || i64::from(nev) > i64::from(obj_len.max(0)) {
        return Err(Error::format(
            path,
            base + at as u64,
            format!("a basket of at most {obj_len} entries (its uncompressed size)"),
            format!("a basket header claiming {nev} entries (the file is corrupt)"),
        ));
    }
    if !record {
        return Ok(());
    }
    let start = base + b.start as u64;
    let key = root_keys::key_at(keys, path, start as i64, end, "a basket")?;
    // As oxyroot reads the flag: 80 and above means offsets generated, not stored.
    let flag = if b.flag >= 80 { b.flag - 80 } else { b.flag };
    let stored = b.flag < 80 && flag != 0 && flag % 10 != 2 && nev > 0;
    if stored {
        let n = b.after_flag.unwrap_or(-1);
        if n < 0 || i64::from(n) > i64::from(nev) + 1 || 4 * i64::from(n) > key.nbytes {
            return Err(Error::format(
                path,
                start + key.key_len as u64 - 1,
                format!("a basket flag of 0 (header only) or entry offsets for its {nev} entries"),
                format!(
                    "flag {} and an offset count of {n} (the file is corrupt)",
                    b.flag
                ),
            ));
        }
    }
    Ok(())
}

/// Where the key whose class name starts at `at` begins: the key header before the class
/// name is fNbytes, fVersion, fObjLen, fDatime, fKeylen, fCycle, then fSeekKey and
/// fSeekPdir of 4 bytes each (26 in all) or, for a key version > 1000, of 8 (34).
fn basket_key_start(buf: &[u8], at: usize) -> Option<usize> {
    [34usize, 26].into_iter().find_map(|back| {
        let ks = at.checked_sub(back)?;
        let version = i16::from_be_bytes([*buf.get(ks + 4)?, *buf.get(ks + 5)?]);
        let fits = if back == 34 {
            version > 1000
        } else {
            (1..=1000).contains(&version)
        };
        fits.then_some(ks)
    })
}

/// Whether the key starting at `start` in `buf` (its class name at `at`; the buffer begins
/// at file offset `base`) states its own file offset as its `fSeekKey`.
fn at_own_seek(buf: &[u8], start: usize, at: usize, base: u64) -> bool {
    let (p, n) = (start + 18, if at - start == 34 { 8 } else { 4 });
    buf.get(p..p + n)
        .is_some_and(|b| u64::try_from(root_keys::be(b)) == Ok(base + start as u64))
}

/// The header of the basket whose key starts at `start` and its class name at `at`, or
/// `None` where the bytes there are not a consistent key.
fn basket_header(buf: &[u8], start: usize, at: usize) -> Option<BasketHeader> {
    let i16_at = |p: usize| buf.get(p..p + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let i32_at = |p: usize| {
        buf.get(p..p + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // A TString: one length byte, or 255 and a 4-byte length.
    let string_end = |p: usize| -> Option<usize> {
        let len = *buf.get(p)?;
        if len == 255 {
            let l = usize::try_from(i32_at(p + 1)?).ok()?;
            Some(p + 5 + l)
        } else {
            Some(p + 1 + usize::from(len))
        }
    };
    let obj_len = i32_at(start + 6)?;
    let key_len = usize::try_from(i16_at(start + 14)?).ok()?;
    let after_class = at + 8;
    let after_title = string_end(string_end(after_class)?)?;
    // A basket's fKeylen also counts its own header: fVersion (2), fBufferSize (4),
    // fNevBufSize (4), fNevBuf (4), fLast (4), the flag (1).
    if after_title - start + 19 != key_len {
        return None;
    }
    // TBasket: fVersion (2), fBufferSize (4), fNevBufSize (4), fNevBuf (4), fLast (4),
    // the flag (1).
    let nev = i32_at(after_title + 10)?;
    let flag = *buf.get(after_title + 18)?;
    Some(BasketHeader {
        start,
        nev,
        obj_len,
        flag,
        after_flag: i32_at(after_title + 19),
    })
}

fn read_checked(path: &Path, opts: &ReadOptions) -> Result<Input> {
    let oxy = |what: &str, e: &dyn std::fmt::Display| Error::Unsupported {
        path: path.into(),
        what: format!("{what}: {e}"),
    };
    let mut file = RootFile::open(path).map_err(|e| oxy("cannot open as a ROOT file", &e))?;
    let mut trees: Vec<String> = Vec::new();
    for key in file.keys() {
        let name = key.name().to_string();
        if matches!(key.class_name(), "TTree" | "TNtuple" | "TNtupleD") && !trees.contains(&name) {
            trees.push(name);
        }
    }
    if trees.is_empty() {
        return Err(Error::Empty {
            path: path.into(),
            what: "the ROOT file holds no TTree".into(),
        });
    }
    if let Some(want) = &opts.tree {
        if !trees.contains(want) {
            return Err(Error::Unsupported {
                path: path.into(),
                what: format!("no tree `{want}`; trees: {}", trees.join(", ")),
            });
        }
        trees.retain(|t| t == want);
    }
    let mut seen = Vec::new();
    for name in &trees {
        let tree = file
            .get_tree(name)
            .map_err(|e| oxy(&format!("cannot read tree `{name}`"), &e))?;
        if let Some(input) = read_tree(path, name, &tree, opts, &mut seen)? {
            return Ok(input);
        }
    }
    let what = match &opts.branch {
        Some(b) => format!("no branch `{b}` in tree(s) {}", trees.join(", ")),
        None => format!(
            "no fixed-size numeric array branch (waveforms) or scalar float branch (charges); \
             branches: {}",
            seen.join(", ")
        ),
    };
    Err(Error::Unsupported {
        path: path.into(),
        what,
    })
}

/// The input in `tree` per the options, or `None` when this tree has no usable branch.
fn read_tree(
    path: &Path,
    tree_name: &str,
    tree: &ReaderTree,
    opts: &ReadOptions,
    seen: &mut Vec<String>,
) -> Result<Option<Input>> {
    let branches: Vec<&Branch> = tree.branches().collect();
    for b in &branches {
        seen.push(format!("{tree_name}/{} ({})", b.name(), b.item_type_name()));
    }
    let chosen = match &opts.branch {
        Some(want) => match tree.branch(want) {
            Some(b) => {
                let k = kind(b).ok_or_else(|| Error::Unsupported {
                    path: path.into(),
                    what: format!(
                        "branch `{want}` has type `{}`; expected a fixed-size numeric array \
                         (waveforms) or a numeric scalar (charges)",
                        b.item_type_name()
                    ),
                })?;
                Some((b, k))
            }
            None => None,
        },
        None => {
            let array = branches.iter().find_map(|b| match kind(b) {
                Some(k @ Kind::Array(..)) => Some((*b, k)),
                _ => None,
            });
            array.or_else(|| {
                branches.iter().find_map(|b| match kind(b) {
                    Some(k @ Kind::Scalar(Leaf::F32 | Leaf::F64)) => Some((*b, k)),
                    _ => None,
                })
            })
        }
    };
    let Some((branch, kind)) = chosen else {
        return Ok(None);
    };
    let bad_entry = || Error::Unsupported {
        path: path.into(),
        what: format!(
            "branch `{tree_name}/{}`: an entry could not be decoded",
            branch.name()
        ),
    };
    let entries = usize::try_from(branch.entries().max(0)).unwrap_or(0);
    match kind {
        Kind::Array(leaf, n) => {
            let mut w = Waveforms::new(path, n);
            w.channel = channel_from_branch(branch.name());
            w.samples
                .reserve(entries.saturating_mul(n).min(MAX_RESERVE));
            let rows = branch.get_basket(move |r| {
                (0..n)
                    .map(|_| leaf.read(r).map(|v| v as f32))
                    .collect::<Option<Vec<f32>>>()
            });
            for (i, row) in rows.enumerate() {
                let row = row.ok_or_else(bad_entry)?;
                w.push(i as u64, 0, &row);
            }
            if w.events() == 0 {
                return Err(Error::Empty {
                    path: path.into(),
                    what: format!("branch `{tree_name}/{}` has no entries", branch.name()),
                });
            }
            Ok(Some(Input::Waveforms(w)))
        }
        Kind::Scalar(leaf) => {
            let values = branch
                .get_basket(move |r| leaf.read(r))
                .map(|v| v.ok_or_else(bad_entry))
                .collect::<Result<Vec<f64>>>()?;
            if values.is_empty() {
                return Err(Error::Empty {
                    path: path.into(),
                    what: format!("branch `{tree_name}/{}` has no entries", branch.name()),
                });
            }
            let unit = charge_unit(charge_unit_from_name(branch.name()), opts, &values, None);
            Ok(Some(Input::Charges(ChargeInput::Values { values, unit })))
        }
    }
}

/// Channel from a branch name such as `wf0`, `ch2`, `wave3` (the digits at its end).
fn channel_from_branch(name: &str) -> Option<u32> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 9 {
        return None;
    }
    name[name.len() - digits..].parse().ok()
}
