//! Verified moves of remote run directories: to the archive once a scan is done, or to
//! the flag area when it needs a look. The old tool ran `mv … 2>/dev/null || true`, so a
//! failed archive looked exactly like a successful one. Here a move is only reported done
//! when it is verified: the destination holds what the source held (same counts of files,
//! directories and other entries, same total bytes) and the source is gone. An existing
//! destination is never overwritten. Anything else is an [`Error::Move`] that names the
//! check that failed and where the data is now.
//!
//! Works over SSH and on this machine alike (any [`Exec`]). Every remote command is argv words (quoted by the SSH layer); no shell string is built.
//! Needs GNU `mv` (`-T`) and GNU `find` (`-printf`) on the remote side, as on any Linux
//! cluster.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::{Error, Result};
use super::exec::Exec;
use super::ssh::tail;

/// Longest the `mv` of one move may run: a move across filesystems copies everything, so
/// it gets its own deadline instead of the default one of a command (60 s). The remote
/// `timeout` stops it there even when the link is lost; a move stopped half way is then
/// finished or rolled back ([`settle`]), never left as a half copy.
pub const MOVE_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// Time granted over [`MOVE_TIMEOUT`] for `timeout --kill-after` and the round trip.
const MOVE_GRACE: Duration = Duration::from_secs(30);

/// How [`settle`] left a move that did not complete by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Settled {
    /// The data is at the destination and the source is gone.
    Moved,
    /// The data is at the source; nothing (no partial copy) is at the destination.
    NotMoved,
}

/// What a directory tree holds, as far as a move can change it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Regular files.
    pub files: u64,
    /// Directories, the top one included.
    pub dirs: u64,
    /// Symlinks, FIFOs, sockets, devices.
    pub others: u64,
    /// Total size of the regular files.
    pub bytes: u64,
}

impl Inventory {
    fn describe(&self) -> String {
        format!(
            "{} files, {} directories, {} other entries, {} bytes",
            self.files, self.dirs, self.others, self.bytes
        )
    }
}

/// A verified move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveReport {
    pub src: String,
    pub dest: String,
    /// What was moved (the source's inventory, which the destination was checked against).
    pub inventory: Inventory,
    pub ms: f64,
}

/// Checks a directory name for use as the last component of a destination: one
/// component, so it cannot climb out of the destination parent or name an option.
pub fn validate_name(name: &str) -> Result<()> {
    let why = if name.is_empty() || name.len() > 255 {
        Some("it must be 1–255 bytes")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not names")
    } else if name.contains('/') {
        Some("it must not contain '/'")
    } else if name.chars().any(char::is_control) {
        Some("it must not contain control characters")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::Invalid {
            what: format!("directory name {name:?}"),
            why: why.into(),
        }),
        None => Ok(()),
    }
}

/// Checks a remote path: absolute (so `find` and `mkdir` can never read it as an option
/// or expression), not `/` itself, no `..` component, no control characters.
fn validate_path(what: &str, path: &str) -> Result<()> {
    let why = if !path.starts_with('/') {
        Some("it must be an absolute path")
    } else if path.trim_end_matches('/').is_empty() && what == "source" {
        Some("the root directory cannot be moved")
    } else if path.len() > 4096 {
        Some("it is longer than 4096 bytes")
    } else if path.split('/').any(|c| c == "..") {
        Some("it must not contain '..'")
    } else if path.chars().any(char::is_control) {
        Some("it must not contain control characters")
    } else {
        None
    };
    let why = match why {
        Some(why) => Some(why.to_string()),
        // The archive and flag areas are typed into a profile: the same grammar as on save.
        None => super::inputs::check_path(path, true).err(),
    };
    match why {
        Some(why) => Err(Error::Invalid {
            what: format!("{what} path {path:?}"),
            why,
        }),
        None => Ok(()),
    }
}

/// Moves the remote directory `src` to `dest_parent/name` (creating `dest_parent` if
/// needed) and verifies it. Refuses before running anything when a name or path is
/// unsafe, when the source is not a directory, or when the destination exists.
///
/// The rename is `mv -T -n`: `-T` so an existing directory is never moved *into*, `-n` so
/// nothing is replaced even if the destination appears after the check (GNU `mv -n`
/// then silently does nothing, which the verification catches and reports).
pub async fn move_dir(
    session: &impl Exec,
    src: &str,
    dest_parent: &str,
    name: &str,
) -> Result<MoveReport> {
    validate_name(name)?;
    validate_path("source", src)?;
    validate_path("destination parent", dest_parent)?;
    let src = src.trim_end_matches('/');
    let dest = format!("{}/{name}", dest_parent.trim_end_matches('/'));
    let fail = |why: String| Error::Move {
        src: src.to_string(),
        dest: dest.clone(),
        why,
    };
    if dest == src || dest.starts_with(&format!("{src}/")) {
        return Err(fail("the destination is inside the source".into()));
    }
    let t = Instant::now();

    // 1. What is there to move: the destination is checked against this afterwards.
    if !exists(session, src).await? {
        return Err(fail("the source does not exist; nothing was moved".into()));
    }
    let (kind, before) = inventory(session, src).await.map_err(|e| {
        fail(format!(
            "the source could not be fully inventoried, so the move could not be verified \
             and was not started: {e}"
        ))
    })?;
    if kind != 'd' {
        return Err(fail(format!(
            "the source is not a directory (find type '{kind}'; a symlink is not followed); \
             nothing was moved"
        )));
    }

    // 2. Where it goes.
    if let Err(e) = session.run_ok(&["mkdir", "-p", "--", dest_parent]).await {
        return Err(fail(format!(
            "the destination parent could not be created ({e}); nothing was moved"
        )));
    }
    // An archive or flag area that is itself a symlink would send the data wherever the
    // link points (planted by anyone who can write its parent): refused, not followed.
    let parent = dest_parent.trim_end_matches('/');
    if !parent.is_empty() && session.run(&["test", "-L", parent]).await?.success() {
        return Err(fail(
            "the destination parent is a symbolic link, which is not followed; nothing was \
             moved"
                .into(),
        ));
    }
    if exists(session, &dest).await? {
        return Err(fail(
            "the destination already exists; nothing was moved and nothing overwritten".into(),
        ));
    }

    // 3. The move itself. From here on a lost link leaves the state unknown: say so.
    let unknown = |e: Error| {
        fail(format!(
            "contact lost during the move, its outcome is unknown — check both paths: {e}"
        ))
    };
    let mv = run_mv(session, src, &dest, MOVE_TIMEOUT).await;
    let mv = match mv {
        Ok(out) if !timed_out(out.status) => out,
        // Stopped by its deadline (or the link was lost): the move may be half done (a
        // copy across filesystems). Finish it or roll it back, never leave a half copy.
        stopped => {
            let why = match stopped {
                Ok(_) => format!("mv ran longer than {MOVE_TIMEOUT:?} and was stopped"),
                Err(e) => format!("contact was lost during the move ({e})"),
            };
            return match settle(session, src, &dest, Some(before)).await {
                Ok(Settled::Moved) => Ok(MoveReport {
                    src: src.to_string(),
                    dest,
                    inventory: before,
                    ms: t.elapsed().as_secs_f64() * 1e3,
                }),
                Ok(Settled::NotMoved) => Err(fail(format!(
                    "{why}; it was rolled back: the source is intact and no partial copy is \
                     left at the destination"
                ))),
                Err(e) => Err(unknown(e)),
            };
        }
    };

    // 4. Verify: destination complete, source gone.
    let src_there = exists(session, src).await.map_err(unknown)?;
    let dest_there = exists(session, &dest).await.map_err(unknown)?;
    let dest_inv = if dest_there {
        Some(inventory(session, &dest).await.map_err(unknown)?.1)
    } else {
        None
    };
    if !mv.success() {
        let status = mv
            .status
            .map_or_else(|| "no status".to_string(), |s| format!("status {s}"));
        let stderr = tail(&mv.stderr, 3);
        let where_now = if src_there {
            match inventory(session, src).await {
                Ok((_, now)) if now == before => {
                    format!("the source is intact ({})", now.describe())
                }
                Ok((_, now)) => format!(
                    "the source now has {} (had {}) — check both paths",
                    now.describe(),
                    before.describe()
                ),
                Err(e) => format!("the source could not be re-inventoried ({e})"),
            }
        } else {
            "the source is gone — check the destination by hand".to_string()
        };
        return Err(fail(format!("mv failed ({status}: {stderr}); {where_now}")));
    }
    if src_there {
        // `mv -n` exits 0 without doing anything when the destination exists.
        let why = if dest_there {
            "the destination exists (it appeared during the move); mv -n left everything \
             in place and nothing was overwritten"
        } else {
            "mv reported success but the source is still there and the destination is not"
        };
        return Err(fail(why.into()));
    }
    match dest_inv {
        None => Err(fail(
            "mv reported success but neither the source nor the destination exists".into(),
        )),
        Some(got) if got != before => Err(fail(format!(
            "the destination is incomplete: it has {} but the source had {}; the source is \
             gone",
            got.describe(),
            before.describe()
        ))),
        Some(_) => Ok(MoveReport {
            src: src.to_string(),
            dest,
            inventory: before,
            ms: t.elapsed().as_secs_f64() * 1e3,
        }),
    }
}

/// `mv -T -n` under the remote `timeout`, so the host stops it at `limit` even if this
/// side has lost the link; bounded here a little later.
async fn run_mv(
    session: &impl Exec,
    src: &str,
    dest: &str,
    limit: Duration,
) -> Result<super::ssh::Output> {
    let secs = limit.as_secs().max(1).to_string();
    session
        .run_for(
            &[
                "timeout",
                "--kill-after=10",
                &secs,
                "mv",
                "-T",
                "-n",
                "--",
                src,
                dest,
            ],
            limit + MOVE_GRACE,
        )
        .await
}

/// The exit statuses of coreutils `timeout`: 124 (timed out), 137 (killed after
/// `--kill-after`).
fn timed_out(status: Option<i32>) -> bool {
    matches!(status, Some(124) | Some(137))
}

/// Brings a move that was interrupted (stopped at its deadline, or the server died during
/// it) to one of two clean ends, by looking at both paths. `expected`: the source's
/// inventory before the move, when known.
///
/// - Only the destination: [`Settled::Moved`]. Only the source: [`Settled::NotMoved`].
/// - Both (a copy across filesystems was cut short — GNU `mv` copies, then removes the
///   source): the complete side is the one that holds everything — `expected`, or without
///   it the larger of the two. A complete source with a partial destination is rolled back
///   (the partial copy, which this move created, is removed); a complete destination with
///   a partly removed source is finished (the rest of the source is removed).
/// - Neither, or no side complete: an error naming both paths; nothing is removed.
pub async fn settle(
    session: &impl Exec,
    src: &str,
    dest: &str,
    expected: Option<Inventory>,
) -> Result<Settled> {
    validate_path("source", src)?;
    validate_path("destination", dest)?;
    let fail = |why: String| Error::Move {
        src: src.to_string(),
        dest: dest.to_string(),
        why,
    };
    match (exists(session, src).await?, exists(session, dest).await?) {
        (false, true) => Ok(Settled::Moved),
        (true, false) => Ok(Settled::NotMoved),
        (false, false) => Err(fail(
            "neither the source nor the destination exists — the data is lost or elsewhere".into(),
        )),
        (true, true) => {
            let (_, at_src) = inventory(session, src).await?;
            let (_, at_dest) = inventory(session, dest).await?;
            let complete = |inv: Inventory, other: Inventory| match expected {
                Some(e) => inv == e,
                None => inv.files >= other.files && inv.bytes >= other.bytes,
            };
            let (remove, outcome) = if complete(at_dest, at_src) {
                (src, Settled::Moved)
            } else if complete(at_src, at_dest) {
                (dest, Settled::NotMoved)
            } else {
                return Err(fail(format!(
                    "the move was interrupted and neither side is complete: the source has \
                     {}, the destination {} — check both paths by hand",
                    at_src.describe(),
                    at_dest.describe()
                )));
            };
            session
                .run_ok(&["rm", "-rf", "--", remove])
                .await
                .map_err(|e| fail(format!("removing the leftover {remove} failed: {e}")))?;
            Ok(outcome)
        }
    }
}

/// Whether anything (a dangling symlink included) is at `path`.
async fn exists(session: &impl Exec, path: &str) -> Result<bool> {
    for test in ["-e", "-L"] {
        let out = session.run(&["test", test, path]).await?;
        match out.status {
            Some(0) => return Ok(true),
            Some(1) => {}
            _ => {
                return Err(Error::Command {
                    host: session.host_name(),
                    command: format!("test {test} {path}"),
                    status: format!("{:?}", out.status),
                    stderr_tail: tail(&out.stderr, 3),
                });
            }
        }
    }
    Ok(false)
}

/// The type of `path` itself (find's `%y`: `d`, `f`, `l`, …) and the inventory of the tree
/// under it, symlinks not followed. Fails if any part could not be read: a partial
/// inventory would make the verification meaningless.
async fn inventory(session: &impl Exec, path: &str) -> Result<(char, Inventory)> {
    let listing = session
        .run_ok(&["find", path, "-printf", "%y %s\\n"])
        .await?;
    parse_inventory(&listing).ok_or_else(|| Error::Command {
        host: session.host_name(),
        command: format!("find {path} -printf '%y %s\\n'"),
        status: "status 0".into(),
        stderr_tail: format!("unexpected output: {}", tail(&listing, 2)),
    })
}

/// Parses `find -printf '%y %s\n'` output; `None` if it is empty or malformed.
fn parse_inventory(listing: &str) -> Option<(char, Inventory)> {
    let mut inv = Inventory::default();
    let mut root = None;
    for line in listing.lines() {
        let (kind, size) = line.split_once(' ')?;
        let size: u64 = size.parse().ok()?;
        let mut chars = kind.chars();
        let (Some(k), None) = (chars.next(), chars.next()) else {
            return None;
        };
        root.get_or_insert(k);
        match k {
            'f' => {
                inv.files += 1;
                inv.bytes += size;
            }
            'd' => inv.dirs += 1,
            _ => inv.others += 1,
        }
    }
    root.map(|k| (k, inv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_components() {
        for ok in ["SN1234_2026-11-21", "run.1", "ünï", "-x", "a b"] {
            assert!(validate_name(ok).is_ok(), "{ok:?} refused");
        }
        let long = "x".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/",
            "a\nb",
            "a\0b",
            "\t",
            long.as_str(),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths_are_absolute_without_dotdot() {
        assert!(validate_path("source", "/data/runs/SN1").is_ok());
        assert!(validate_path("destination parent", "/").is_ok());
        for bad in ["", "relative", "-rf", "/", "//", "/a/../b", "/a\n", "/a\0"] {
            assert!(validate_path("source", bad).is_err(), "{bad:?} accepted");
        }
    }

    /// A tree of `n` one-byte files under `dir`.
    fn tree(dir: &std::path::Path, n: usize) {
        std::fs::create_dir_all(dir).expect("mkdir");
        for i in 0..n {
            std::fs::write(dir.join(format!("f{i}")), "x").expect("write");
        }
    }

    /// Regression (issue 10, finding 8): a long `mv` stopped at 60 s left a half copy. A
    /// move cut short is settled: a complete source with a partial copy is rolled back, a
    /// complete destination with a partly removed source is finished.
    #[tokio::test]
    async fn a_move_cut_short_is_rolled_back_or_finished_never_left_half_copied() {
        let d = tempfile::tempdir().expect("tempdir");
        let (src, dest) = (d.path().join("src"), d.path().join("dest"));
        let (s, t) = (src.display().to_string(), dest.display().to_string());
        let here = crate::remote::exec::LocalHost::default();
        tree(&src, 4);
        tree(&dest, 2);
        let full = Inventory {
            files: 4,
            dirs: 1,
            others: 0,
            bytes: 4,
        };
        assert_eq!(
            settle(&here, &s, &t, Some(full)).await.ok(),
            Some(Settled::NotMoved)
        );
        assert!(
            src.is_dir() && !dest.exists(),
            "the partial copy is removed"
        );
        tree(&dest, 4);
        std::fs::remove_file(src.join("f0")).expect("partly removed");
        assert_eq!(settle(&here, &s, &t, None).await.ok(), Some(Settled::Moved));
        assert!(!src.exists() && dest.is_dir(), "the move is finished");
        assert_eq!(settle(&here, &s, &t, None).await.ok(), Some(Settled::Moved));
        std::fs::remove_dir_all(&dest).expect("rm");
        assert!(settle(&here, &s, &t, None).await.is_err(), "neither side");
    }

    #[test]
    fn inventories_count_types_and_bytes() {
        let (k, inv) = parse_inventory("d 4096\nf 10\nd 4096\nf 5\nl 7\n").expect("parses");
        assert_eq!(k, 'd');
        assert_eq!(
            inv,
            Inventory {
                files: 2,
                dirs: 2,
                others: 1,
                bytes: 15
            }
        );
        assert_eq!(parse_inventory(""), None);
        assert_eq!(parse_inventory("d x\n"), None);
        assert_eq!(parse_inventory("dd 1\n"), None);
    }
}
