//! Atomic file output: every result file is written under a temporary name in the same
//! directory and renamed into place, so a reader (the sync loop, the browser, an old tool
//! polling for `_GAIN.txt`) never sees a half-written file.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{Error, Result};

/// Set by [`never_create_run_dirs`]; read by every write.
static ONE_LEVEL_ONLY: AtomicBool = AtomicBool::new(false);

/// From now on, writes in this process create at most the file's own directory (a point's
/// directory), never a missing directory above it. The watch sets this once its result
/// directory exists: if a review then moves that directory away, a late write fails
/// instead of recreating it outside the archive.
pub fn never_create_run_dirs() {
    ONE_LEVEL_ONLY.store(true, Ordering::SeqCst);
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
/// Creates the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], but the content is produced by `fill` writing into the temp file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if ONE_LEVEL_ONLY.load(Ordering::SeqCst) {
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::io(dir, e));
            }
            _ => {}
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".pmtwatch-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    fill(tmp.as_file_mut()).map_err(|e| Error::io(path, e))?;
    tmp.as_file_mut()
        .sync_all()
        .map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes the legacy one-number gain file that older bench tools read: the gain in
/// scientific notation followed by a newline, or `nan` when there is no gain.
pub fn write_gain_txt(path: &Path, gain: Option<f64>) -> Result<()> {
    let text = match gain {
        Some(g) => format!("{g:.6e}\n"),
        None => "nan\n".to_string(),
    };
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/result.json");
        write_atomic(&p, b"one").expect("first write");
        write_atomic(&p, b"two").expect("second write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "temp files left behind: {names:?}");
    }

    #[test]
    fn gain_txt_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("SN_GAIN.txt");
        write_gain_txt(&p, Some(1.0123e7)).expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "1.012300e7\n");
        write_gain_txt(&p, None).expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "nan\n");
    }
}
