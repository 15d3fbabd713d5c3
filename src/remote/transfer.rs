//! File transfer over SFTP on an [`SshSession`]'s master connection: listing result files
//! newer than a watermark, downloading them atomically (and resumably), and uploading files
//! (the pmtwatch binary, an analysis config) so that the target is replaced in one step.
//!
//! The rule everywhere: a reader of the destination path sees either the old file or the
//! complete new one, never a partial one. Data goes to a hidden `.<name>.part` next to the
//! destination, its size is checked against the source, and only then is it renamed into
//! place (rename is atomic within a directory on POSIX filesystems, locally and on the
//! server through the `posix-rename` SFTP extension OpenSSH provides).
//!
//! A download that fails (the link dropped, the master was killed) leaves its `.part`
//! behind on purpose: the next call resumes from its length instead of starting over.
//!
//! Listing runs `find` on the remote host over the same master rather than walking with
//! SFTP readdir: it is one round trip for the whole tree (SFTP needs one per directory,
//! slow over a long-latency link), and it gives nanosecond mtimes where SFTP v3 only has
//! whole seconds, so a watermark comparison is exact. It needs GNU `find` (`-printf`),
//! which every Linux cluster has.
//!
//! Why this file is over 600 lines: listing, capped downloads and atomic, resumable uploads
//! share one SFTP channel, its error mapping and the glob/epoch helpers; apart, each would
//! re-derive them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssh::Session;
use openssh_sftp_client::metadata::Permissions;
use openssh_sftp_client::{Sftp, SftpOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::error::{Error, Result};
use super::ssh::{SshSession, tail};

/// Directories below the listed one that [`Transfer::list_newer`] descends into. Result
/// trees are `<dir>/<serial>/<scan>/…`; the bound keeps a mistaken `/` from walking a
/// whole filesystem.
pub const MAX_DEPTH: usize = 4;

/// Longest any single SFTP request or listing may take. A healthy link answers one
/// request in milliseconds; this only bounds a link that went silent without closing.
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes asked for per SFTP request; the client clamps it to the server's limit
/// (OpenSSH: 256 KiB) and splits writes itself.
const CHUNK: u64 = 256 * 1024;

/// Largest file [`Transfer::download`] fetches: far above a point's plot or a run's files,
/// far below what would fill the disk because a remote file grew without bound.
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// A regular file on the remote host, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Absolute (or as given) remote path: `remote_dir` joined with the relative path.
    pub path: PathBuf,
    pub size: u64,
    pub mtime: SystemTime,
}

/// An SFTP channel on an SSH master. Cheap to clone (clones share the channel), so
/// concurrent transfers can run on one connection.
#[derive(Clone)]
pub struct Transfer {
    inner: Arc<Inner>,
}

struct Inner {
    sftp: Sftp,
    /// The master, for running `find` on the same connection.
    session: Arc<Session>,
    /// `user@host:port`, for messages.
    host: String,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("host", &self.inner.host)
            .finish_non_exhaustive()
    }
}

impl Transfer {
    /// Opens an SFTP channel on `ssh`'s master (no new authentication).
    pub async fn open(ssh: &SshSession) -> Result<Transfer> {
        let host = ssh.target().display();
        let session = Arc::clone(ssh.session());
        let sftp = tokio::time::timeout(
            OP_TIMEOUT,
            Sftp::from_clonable_session(Arc::clone(&session), SftpOptions::new()),
        )
        .await
        .map_err(|_| Error::Unreachable {
            host: host.clone(),
            detail: format!("the SFTP subsystem did not start within {OP_TIMEOUT:?}"),
        })?
        .map_err(|e| match e {
            openssh_sftp_client::Error::RemoteChildSpawnError(e) => ssh.error(&e),
            e => sftp_error(&host, "starting the SFTP subsystem", e),
        })?;
        Ok(Transfer {
            inner: Arc::new(Inner {
                sftp,
                session,
                host,
            }),
        })
    }

    /// The master's control socket. The master is an `ssh` process whose command line
    /// names this path; diagnostics (and the fault-injection tests) find it that way.
    pub fn control_socket(&self) -> &Path {
        self.inner.session.control_socket()
    }

    /// Closes the SFTP channel (once no clone holds it; otherwise the last drop does).
    pub async fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                let host = inner.host;
                inner
                    .sftp
                    .close()
                    .await
                    .map_err(|e| sftp_error(&host, "closing the SFTP channel", e))
            }
            Err(_) => Ok(()),
        }
    }

    /// Regular files under `remote_dir` (at most [`MAX_DEPTH`] directories down) modified
    /// strictly after `since`, whose name matches `pattern` (`*` any run of characters,
    /// `?` one character), oldest first. Hidden names (`.x`, so also our own `.part`
    /// files) and temporary ones (`*.tmp`, `*.part`, `*~`, `*.swp`) are skipped, as are
    /// hidden directories and symbolic links: a file being written is not a result yet.
    ///
    /// The mtimes are exact (nanoseconds), so the largest `mtime` returned is a correct
    /// watermark for the next call.
    pub async fn list_newer(
        &self,
        remote_dir: &Path,
        since: SystemTime,
        pattern: Option<&str>,
    ) -> Result<Vec<RemoteFile>> {
        let dir = remote_dir.to_str().ok_or_else(|| Error::Invalid {
            what: format!("remote directory {}", remote_dir.display()),
            why: "it is not valid UTF-8".into(),
        })?;
        if dir.is_empty() || dir.starts_with('-') {
            // `find` would read a leading '-' as an option.
            return Err(Error::Invalid {
                what: format!("remote directory {dir:?}"),
                why: "it must be a path, not empty or starting with '-'".into(),
            });
        }
        // Directory first, so a missing one is a clear error rather than `find` noise.
        let meta = self.metadata(remote_dir).await?;
        if !meta.file_type().is_some_and(|t| t.is_dir()) {
            return Err(Error::Invalid {
                what: format!("remote directory {dir}"),
                why: "it is not a directory".into(),
            });
        }
        let maxdepth = (MAX_DEPTH + 1).to_string();
        let argv = [
            "find",
            "-P",
            dir,
            "-mindepth",
            "1",
            "-maxdepth",
            &maxdepth,
            "-name",
            ".*",
            "-prune",
            "-o",
            "-type",
            "f",
            "-printf",
            "%T@ %s %P\\0",
        ];
        let mut cmd = self.inner.session.command(argv[0]);
        cmd.args(argv[1..].iter().copied())
            .stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let out = tokio::time::timeout(OP_TIMEOUT, cmd.output())
            .await
            .map_err(|_| Error::Unreachable {
                host: self.inner.host.clone(),
                detail: format!("listing {dir} gave no answer within {OP_TIMEOUT:?}"),
            })?
            .map_err(|e| Error::Unreachable {
                host: self.inner.host.clone(),
                detail: format!("listing {dir}: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                host: self.inner.host.clone(),
                command: argv.join(" "),
                status: out.status.code().map_or_else(
                    || "no status (signal or lost link)".into(),
                    |s| format!("status {s}"),
                ),
                stderr_tail: tail(&String::from_utf8_lossy(&out.stderr), 5),
            });
        }
        let mut files = Vec::new();
        for record in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let Some(entry) = parse_find_record(record) else {
                return Err(Error::Ssh {
                    host: self.inner.host.clone(),
                    detail: format!(
                        "listing {dir}: unexpected `find` output {:?} (is it GNU find?)",
                        String::from_utf8_lossy(record)
                    ),
                });
            };
            let (mtime, size, rel) = entry;
            let Some(name) = rel.file_name().and_then(OsStr::to_str) else {
                continue;
            };
            if mtime <= since || is_temporary(name) {
                continue;
            }
            if pattern.is_some_and(|p| !glob_match(p, name)) {
                continue;
            }
            files.push(RemoteFile {
                path: remote_dir.join(rel),
                size,
                mtime,
            });
        }
        files.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
        Ok(files)
    }

    /// Downloads `remote` to `local` atomically and returns its size. Data goes to
    /// `<local dir>/.<name>.part`, resuming from that file's length when it is a prefix
    /// candidate (shorter than the remote file and written after the remote file last
    /// changed); it is then synced, its size checked against the remote size, and renamed
    /// to `local`. On any error nothing appears at `local`; after a lost connection the
    /// `.part` stays for the next call to resume.
    ///
    /// A remote file larger than [`MAX_DOWNLOAD_BYTES`] is refused before anything is
    /// written; [`Transfer::download_capped`] sets a tighter bound.
    pub async fn download(&self, remote: &Path, local: &Path) -> Result<u64> {
        self.download_capped(remote, local, MAX_DOWNLOAD_BYTES)
            .await
    }

    /// [`Transfer::download`] of a file that may be at most `max` bytes long (refused,
    /// with nothing written, when it is longer).
    pub async fn download_capped(&self, remote: &Path, local: &Path, max: u64) -> Result<u64> {
        let part = part_path(local)?;
        let meta = self.metadata(remote).await?;
        if !meta.file_type().is_some_and(|t| t.is_file()) {
            return Err(Error::Invalid {
                what: format!("download of {}", remote.display()),
                why: "it is not a regular file on the remote host".into(),
            });
        }
        let size = meta.len().ok_or_else(|| Error::Ssh {
            host: self.inner.host.clone(),
            detail: format!("{}: the server did not report a size", remote.display()),
        })?;
        if size > max {
            return Err(Error::Invalid {
                what: format!("download of {}", remote.display()),
                why: format!(
                    "it is {size} bytes on the remote host; pmtwatch fetches at most {max} \
                     bytes for such a file"
                ),
            });
        }
        let remote_mtime = meta.modified().map(|t| t.as_system_time());

        // Resume only from a .part that can still be a prefix of this remote file.
        let mut offset = match tokio::fs::metadata(&part).await {
            Ok(m) => {
                let written_after_change = match (remote_mtime, m.modified()) {
                    (Some(r), Ok(l)) => l >= r,
                    _ => false,
                };
                if m.len() <= size && written_after_change {
                    m.len()
                } else {
                    0
                }
            }
            Err(_) => 0,
        };

        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .await
            .map_err(|e| io_error(&part, e))?;
        out.set_len(offset).await.map_err(|e| io_error(&part, e))?;
        out.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| io_error(&part, e))?;

        if offset < size {
            let what = format!("reading {}", remote.display());
            let mut file = self.timed(&what, self.inner.sftp.open(remote)).await?;
            while offset < size {
                let n = u32::try_from(CHUNK.min(size - offset)).unwrap_or(u32::MAX);
                // Position explicitly: the client advances its offset by the length
                // asked for, not the length the server returned.
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(|e| sftp_error(&self.inner.host, &what, e.into()))?;
                let Some(buf) = self.timed(&what, file.read(n, Default::default())).await? else {
                    break; // EOF early: the file shrank; the size check below says so.
                };
                out.write_all(&buf).await.map_err(|e| io_error(&part, e))?;
                offset += buf.len() as u64;
            }
            // Best effort: the data is already read; a failed close changes nothing.
            let _ = tokio::time::timeout(OP_TIMEOUT, file.close()).await;
        }
        out.flush().await.map_err(|e| io_error(&part, e))?;
        out.sync_all().await.map_err(|e| io_error(&part, e))?;
        drop(out);

        let got = tokio::fs::metadata(&part)
            .await
            .map_err(|e| io_error(&part, e))?
            .len();
        let now = self.metadata(remote).await?;
        let changed =
            now.len() != Some(size) || now.modified().map(|t| t.as_system_time()) != remote_mtime;
        if got != size || changed {
            // What was written is not a prefix of anything we can trust any more.
            let _ = tokio::fs::remove_file(&part).await;
            return Err(Error::Ssh {
                host: self.inner.host.clone(),
                detail: format!(
                    "download of {}: got {got} of {size} bytes{} — nothing was written to {}",
                    remote.display(),
                    if changed {
                        ", and the remote file changed meanwhile (still being written?)"
                    } else {
                        ""
                    },
                    local.display()
                ),
            });
        }
        tokio::fs::rename(&part, local)
            .await
            .map_err(|e| io_error(local, e))?;
        sync_dir(local).await?;
        Ok(size)
    }

    /// Downloads each `(remote, local)` pair, at most `concurrency` at a time on this one
    /// channel; results in the order given. Each file is atomic on its own.
    pub async fn download_many(
        &self,
        pairs: &[(PathBuf, PathBuf)],
        concurrency: usize,
    ) -> Vec<Result<u64>> {
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (remote, local)) in pairs.iter().cloned().enumerate() {
            let this = self.clone();
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring only waits.
                let _permit = permits.acquire_owned().await;
                (i, this.download(&remote, &local).await)
            });
        }
        let mut results: Vec<Option<Result<u64>>> = (0..pairs.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .zip(pairs)
            .map(|(r, (remote, _))| {
                r.unwrap_or_else(|| {
                    Err(Error::Ssh {
                        host: self.inner.host.clone(),
                        detail: format!("download of {}: the task failed", remote.display()),
                    })
                })
            })
            .collect()
    }

    /// Uploads `local` to `remote` and returns its size: written to
    /// `<remote dir>/.<name>.part`, synced (where the server supports fsync), size checked,
    /// given `mode` (e.g. `0o755` for the binary), then renamed over `remote` — so a
    /// program running from `remote`, or a job reading it, never sees it half-written.
    pub async fn upload(&self, local: &Path, remote: &Path, mode: Option<u32>) -> Result<u64> {
        let part = part_path(remote)?;
        let mut input = tokio::fs::File::open(local)
            .await
            .map_err(|e| io_error(local, e))?;
        let size = input
            .metadata()
            .await
            .map_err(|e| io_error(local, e))?
            .len();
        let what = format!("writing {}", part.display());
        let mut opts = self.inner.sftp.options();
        opts.write(true).create(true).truncate(true);
        let mut file = self.timed(&what, opts.open(&part)).await?;
        let mut buf = vec![0u8; CHUNK as usize];
        let mut sent = 0u64;
        loop {
            let n = input.read(&mut buf).await.map_err(|e| io_error(local, e))?;
            if n == 0 {
                break;
            }
            self.timed(&what, file.write_all(&buf[..n])).await?;
            sent += n as u64;
        }
        if self.inner.sftp.support_fsync() {
            self.timed(&what, file.sync_all()).await?;
        }
        if let Some(mode) = mode {
            // Set before the rename, so the target is executable the moment it appears.
            let perm = Permissions::from((mode & 0o7777) as u16);
            self.timed(&what, file.set_permissions(perm)).await?;
        }
        self.timed(&what, file.close()).await?;

        let got = self.metadata(&part).await?.len();
        if sent != size || got != Some(size) {
            let _ = self.remove(&part).await;
            return Err(Error::Ssh {
                host: self.inner.host.clone(),
                detail: format!(
                    "upload of {}: {} has {} bytes, {} expected ({} changed while it was read?) — {} was left as it was",
                    local.display(),
                    part.display(),
                    got.map_or_else(|| "an unknown number of".into(), |g| g.to_string()),
                    size,
                    local.display(),
                    remote.display()
                ),
            });
        }
        let mut fs = self.inner.sftp.fs();
        let what = format!("renaming {} to {}", part.display(), remote.display());
        self.timed(&what, fs.rename(&part, remote)).await?;
        Ok(size)
    }

    /// Removes a remote file.
    pub async fn remove(&self, remote: &Path) -> Result<()> {
        let mut fs = self.inner.sftp.fs();
        let what = format!("removing {}", remote.display());
        self.timed(&what, fs.remove_file(remote)).await
    }

    async fn metadata(&self, remote: &Path) -> Result<openssh_sftp_client::metadata::MetaData> {
        let mut fs = self.inner.sftp.fs();
        let what = format!("stat {}", remote.display());
        self.timed(&what, fs.metadata(remote)).await
    }

    /// Runs one SFTP request under [`OP_TIMEOUT`], mapping its error.
    async fn timed<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, openssh_sftp_client::Error>>,
    ) -> Result<T> {
        tokio::time::timeout(OP_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Unreachable {
                host: self.inner.host.clone(),
                detail: format!("{what}: no answer within {OP_TIMEOUT:?}"),
            })?
            .map_err(|e| sftp_error(&self.inner.host, what, e))
    }
}

/// An SFTP error in this layer's terms: what the server refused (no such file,
/// permission denied) is [`Error::Ssh`]; a broken channel is [`Error::Unreachable`].
fn sftp_error(host: &str, what: &str, e: openssh_sftp_client::Error) -> Error {
    use openssh_sftp_client::Error as E;
    match e {
        E::SftpError(kind, msg) => Error::Ssh {
            host: host.to_string(),
            detail: format!("{what}: {msg} ({kind:?})"),
        },
        e @ E::UnsupportedExtension(_) => Error::Ssh {
            host: host.to_string(),
            detail: format!("{what}: {e}"),
        },
        e => Error::Unreachable {
            host: host.to_string(),
            detail: format!("{what}: the SFTP channel broke ({e})"),
        },
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<dir>/.<name>.part` for a destination path.
fn part_path(dest: &Path) -> Result<PathBuf> {
    let name = dest.file_name().ok_or_else(|| Error::Invalid {
        what: format!("destination {}", dest.display()),
        why: "it has no file name".into(),
    })?;
    let mut part = std::ffi::OsString::from(".");
    part.push(name);
    part.push(".part");
    Ok(dest.with_file_name(part))
}

/// Syncs the directory holding `path`, so the rename survives a crash.
async fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(&dir, e))
    })
    .await
    .map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?
}

/// One `find -printf '%T@ %s %P\0'` record: mtime, size, path relative to the root.
fn parse_find_record(record: &[u8]) -> Option<(SystemTime, u64, PathBuf)> {
    let mut parts = record.splitn(3, |&b| b == b' ');
    let mtime = parse_epoch(std::str::from_utf8(parts.next()?).ok()?)?;
    let size = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let rel = parts.next().filter(|r| !r.is_empty())?;
    Some((mtime, size, PathBuf::from(OsStr::from_bytes(rel))))
}

/// `1700000000.123456789` (GNU find's `%T@`) to a `SystemTime`, exactly.
pub(crate) fn parse_epoch(s: &str) -> Option<SystemTime> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: u32 = digits.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Names that are not finished results: hidden files (ours and others' temporaries) and
/// the usual temporary suffixes.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || [".part", ".tmp", ".swp", ".partial"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Shell-style match of a file name: `*` any run of characters, `?` exactly one, anything
/// else itself. Iterative with one backtrack point, so linear in practice.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_file_names() {
        assert!(glob_match("*_charge.png", "SN123_charge.png"));
        assert!(glob_match("*_charge.png", "_charge.png"));
        assert!(!glob_match("*_charge.png", "SN123_charge.png.tmp"));
        assert!(glob_match("result.json", "result.json"));
        assert!(!glob_match("result.json", "result.jsonx"));
        assert!(glob_match("SN???_*.png", "SN123_a.png"));
        assert!(!glob_match("SN???_*.png", "SN12_a.png"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYbc"));
        assert!(!glob_match("a*b*c", "aXXbYYb"));
    }

    #[test]
    fn parses_find_records() {
        let (t, size, rel) = parse_find_record(b"1700000000.5 42 sub/dir/a b.png").expect("ok");
        assert_eq!(t, UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(size, 42);
        assert_eq!(rel, PathBuf::from("sub/dir/a b.png"));
        assert_eq!(
            parse_epoch("1700000000.1234567891"),
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789))
        );
        assert!(parse_find_record(b"x 1 a").is_none());
        assert!(parse_find_record(b"1.0 1 ").is_none());
    }

    #[test]
    fn part_files_are_hidden_siblings() {
        assert_eq!(
            part_path(Path::new("/d/SN1_charge.png")).expect("ok"),
            PathBuf::from("/d/.SN1_charge.png.part")
        );
        assert_eq!(
            part_path(Path::new("x")).expect("ok"),
            PathBuf::from(".x.part")
        );
        assert!(part_path(Path::new("/")).is_err());
        assert!(is_temporary(".SN1.png.part") && is_temporary("a.tmp") && is_temporary("a~"));
        assert!(!is_temporary("result.json"));
    }
}
