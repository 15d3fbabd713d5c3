//! SFTP transfers against the test cluster's real sshd (`scripts/test-cluster.sh`):
//! listing by watermark and pattern, byte-exact downloads, resuming from a `.part`,
//! remote files that vanish or shrink, uploading and running this build's binary, and the
//! issue's hard case — the SSH master killed mid-download ten times — where no partial
//! file may ever appear at the destination and every file must end up complete.

use crate::common;

use common::{Cluster, cluster};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use pmtwatch::remote::ssh::SshSession;
use pmtwatch::remote::transfer::Transfer;

impl Cluster {
    async fn connect(&self) -> (SshSession, Transfer) {
        let ssh = tokio::time::timeout(Duration::from_secs(30), SshSession::connect(self.target()))
            .await
            .expect("connect within 30 s")
            .expect("connect");
        let xfer = Transfer::open(&ssh).await.expect("open SFTP");
        (ssh, xfer)
    }
}

/// A fresh remote directory under /tmp, removed when dropped (best effort, over a new
/// connection since the test's own may have been killed on purpose).
struct RemoteDir {
    path: String,
}

impl RemoteDir {
    async fn new(ssh: &SshSession, tag: &str) -> RemoteDir {
        let path = format!(
            "/tmp/pmtwatch-xfer-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        );
        ssh.run_ok(&["mkdir", "-p", &path]).await.expect("mkdir");
        RemoteDir { path }
    }

    fn join(&self, rel: &str) -> String {
        format!("{}/{rel}", self.path)
    }
}

impl Drop for RemoteDir {
    fn drop(&mut self) {
        let c = cluster();
        let _ = Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-i"])
            .arg(&c.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", c.known_hosts.display()))
            .args(["-p", &c.port.to_string()])
            .arg(format!("{}@{}", c.user, c.host))
            .args(["rm", "-rf", "--", &self.path])
            .status();
    }
}

/// Writes `bytes` random bytes to `path` on the remote side; returns their sha256.
async fn remote_random(ssh: &SshSession, path: &str, bytes: u64) -> String {
    let script = format!("mkdir -p \"$(dirname \"$1\")\" && head -c {bytes} /dev/urandom > \"$1\"");
    ssh.run_ok(&["sh", "-c", &script, "sh", path])
        .await
        .expect("create remote file");
    remote_sha(ssh, path).await
}

async fn remote_sha(ssh: &SshSession, path: &str) -> String {
    let out = ssh.run_ok(&["sha256sum", path]).await.expect("sha256sum");
    out.split_whitespace().next().expect("digest").to_string()
}

fn local_sha(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

fn part_of(local: &Path) -> PathBuf {
    let name = local.file_name().expect("name").to_string_lossy();
    local.with_file_name(format!(".{name}.part"))
}

/// Files left in a local directory, sorted (for "nothing else was left behind").
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_newer_respects_the_watermark_the_pattern_and_skips_temporaries() {
    let c = cluster();
    let (ssh, xfer) = c.connect().await;
    let dir = RemoteDir::new(&ssh, "list").await;
    let old = ["SN1/old_charge.png", "SN1/result.json"];
    let new = [
        "SN1/new_charge.png",
        "SN2/scan3/result.json",
        "SN2/scan3/SN2_charge.png",
        "top_charge.png",
        "a/b/c/d/four_charge.png", // 4 directories down: within the bound
    ];
    let skipped = [
        "SN1/.hidden_charge.png",
        "SN1/x_charge.png.part",
        "SN1/y_charge.png.tmp",
        "SN1/z_charge.png~",
        ".cache/h_charge.png",
        "a/b/c/d/e/five_charge.png", // 5 down: beyond it
    ];
    for f in old.iter().chain(&new).chain(&skipped) {
        remote_random(&ssh, &dir.join(f), 100).await;
    }
    for f in old {
        ssh.run_ok(&["touch", "-d", "2020-01-01 00:00:00", &dir.join(f)])
            .await
            .expect("age");
    }
    // A symlink to a new file is not a result of its own.
    ssh.run_ok(&[
        "ln",
        "-s",
        &dir.join("top_charge.png"),
        &dir.join("link_charge.png"),
    ])
    .await
    .expect("symlink");
    let watermark = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000); // 2020-09
    let base = Path::new(&dir.path);

    let all = xfer.list_newer(base, watermark, None).await.expect("list");
    let mut names: Vec<String> = all
        .iter()
        .map(|f| {
            f.path
                .strip_prefix(base)
                .expect("under the dir")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut want: Vec<String> = new.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    assert!(all.iter().all(|f| f.size == 100 && f.mtime > watermark));
    assert!(
        all.windows(2).all(|w| w[0].mtime <= w[1].mtime),
        "oldest first"
    );

    let charge = xfer
        .list_newer(base, watermark, Some("*_charge.png"))
        .await
        .expect("list");
    assert_eq!(charge.len(), 4, "{charge:?}");
    let results = xfer
        .list_newer(base, watermark, Some("result.json"))
        .await
        .expect("list");
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].path.ends_with("SN2/scan3/result.json"));

    // The old files appear once the watermark is before them.
    let everything = xfer
        .list_newer(base, SystemTime::UNIX_EPOCH, None)
        .await
        .expect("list");
    assert_eq!(everything.len(), new.len() + old.len());

    // The newest mtime is an exact watermark: nothing is listed twice, and a file
    // written afterwards is listed.
    let mark = all.iter().map(|f| f.mtime).max().expect("some");
    assert!(
        xfer.list_newer(base, mark, None)
            .await
            .expect("list")
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    remote_random(&ssh, &dir.join("SN3/later_charge.png"), 10).await;
    let later = xfer.list_newer(base, mark, None).await.expect("list");
    assert_eq!(later.len(), 1, "{later:?}");
    assert!(later[0].path.ends_with("SN3/later_charge.png"));

    // A missing directory is an error, not an empty list.
    assert!(
        xfer.list_newer(&base.join("nope"), watermark, None)
            .await
            .is_err()
    );
    assert!(
        xfer.list_newer(Path::new("-x"), watermark, None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downloads_are_byte_exact_and_leave_nothing_behind() {
    let c = cluster();
    let (ssh, xfer) = c.connect().await;
    let dir = RemoteDir::new(&ssh, "dl").await;
    let sizes = [0u64, 1, 1000, 256 * 1024 + 7, 20 * 1024 * 1024 + 3];
    let local = tempfile::tempdir().expect("tempdir");
    let mut pairs = Vec::new();
    let mut shas = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let remote = dir.join(&format!("f{i}.bin"));
        shas.push(remote_random(&ssh, &remote, *size).await);
        pairs.push((
            PathBuf::from(remote),
            local.path().join(format!("f{i}.bin")),
        ));
    }
    let results = xfer.download_many(&pairs, 3).await;
    for (((r, (_, l)), size), sha) in results.iter().zip(&pairs).zip(sizes).zip(&shas) {
        assert_eq!(*r.as_ref().expect("download"), size);
        assert_eq!(&local_sha(l), sha, "{}", l.display());
    }
    let want: Vec<String> = (0..sizes.len()).map(|i| format!("f{i}.bin")).collect();
    assert_eq!(entries(local.path()), want, "no .part left behind");

    // Downloading again replaces the file in one step with the same content.
    let again = xfer
        .download(&pairs[4].0, &pairs[4].1)
        .await
        .expect("again");
    assert_eq!(again, sizes[4]);
    assert_eq!(local_sha(&pairs[4].1), shas[4]);
    xfer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_part_file_is_resumed_and_a_stale_one_restarted() {
    let c = cluster();
    let (ssh, xfer) = c.connect().await;
    let dir = RemoteDir::new(&ssh, "resume").await;
    let remote = dir.join("big.bin");
    let size = 8 * 1024 * 1024 + 11;
    let sha = remote_random(&ssh, &remote, size).await;
    let local = tempfile::tempdir().expect("tempdir");
    let full = local.path().join("reference.bin");
    xfer.download(Path::new(&remote), &full)
        .await
        .expect("reference");
    let content = std::fs::read(&full).expect("read");
    let dest = local.path().join("big.bin");
    let part = part_of(&dest);

    // A correct first half: the download completes it.
    std::fs::write(&part, &content[..content.len() / 2]).expect("half");
    let got = xfer
        .download(Path::new(&remote), &dest)
        .await
        .expect("resume");
    assert_eq!(got, size);
    assert_eq!(local_sha(&dest), sha);
    assert!(!part.exists());
    std::fs::remove_file(&dest).expect("rm");

    // Proof that it resumes rather than restarts: a prefix written later than the
    // remote file is trusted as ours (this is why .part names are hidden and owned by
    // this code), so a marked prefix survives into the result.
    let marker = vec![0xA5u8; 4096];
    std::fs::write(&part, &marker).expect("marker");
    xfer.download(Path::new(&remote), &dest)
        .await
        .expect("resume");
    let got = std::fs::read(&dest).expect("read");
    assert_eq!(&got[..4096], &marker[..]);
    assert_eq!(&got[4096..], &content[4096..]);
    std::fs::remove_file(&dest).expect("rm");

    // A .part longer than the remote file cannot be a prefix of it: start over.
    std::fs::write(&part, vec![0u8; size as usize + 100]).expect("long part");
    xfer.download(Path::new(&remote), &dest)
        .await
        .expect("restart");
    assert_eq!(local_sha(&dest), sha);
    std::fs::remove_file(&dest).expect("rm");

    // A .part older than the remote file's last change is stale: start over.
    std::fs::write(&part, &marker).expect("marker");
    let old = std::fs::File::options()
        .write(true)
        .open(&part)
        .expect("open");
    old.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .expect("age the part");
    drop(old);
    xfer.download(Path::new(&remote), &dest)
        .await
        .expect("restart");
    assert_eq!(local_sha(&dest), sha);
    assert_eq!(entries(local.path()), ["big.bin", "reference.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_or_shrinking_remote_file_never_leaves_a_file_at_the_destination() {
    let c = cluster();
    let (ssh, xfer) = c.connect().await;
    let dir = RemoteDir::new(&ssh, "vanish").await;
    let local = tempfile::tempdir().expect("tempdir");

    let dest = local.path().join("absent.bin");
    let err = xfer
        .download(Path::new(&dir.join("absent.bin")), &dest)
        .await
        .expect_err("absent");
    assert!(err.to_string().contains("absent.bin"), "{err}");
    assert!(
        entries(local.path()).is_empty(),
        "{:?}",
        entries(local.path())
    );

    // A directory is not downloadable either.
    assert!(
        xfer.download(Path::new(&dir.path), &local.path().join("d"))
            .await
            .is_err()
    );
    assert!(entries(local.path()).is_empty());

    // Truncated while being downloaded: whichever wins the race, the destination is
    // either absent or exactly the original content (never a short file).
    let remote = dir.join("shrinks.bin");
    let size = 40 * 1024 * 1024;
    for round in 0..5 {
        let sha = remote_random(&ssh, &remote, size).await;
        let dest = local.path().join(format!("shrinks{round}.bin"));
        let (res, _) = tokio::join!(xfer.download(Path::new(&remote), &dest), async {
            tokio::time::sleep(Duration::from_millis(20 * round)).await;
            ssh.run_ok(&["truncate", "-s", "1000", &remote])
                .await
                .expect("truncate");
        });
        match res {
            Ok(n) => {
                assert_eq!(n, size);
                assert_eq!(local_sha(&dest), sha, "round {round}");
            }
            Err(e) => {
                assert!(!dest.exists(), "round {round}: {e}");
                eprintln!("round {round}: refused as expected: {e}");
            }
        }
        // Whatever .part is left, the next download produces the truncated file.
        let _ = std::fs::remove_file(&dest);
        let n = xfer
            .download(Path::new(&remote), &dest)
            .await
            .expect("after truncation");
        assert_eq!(n, 1000);
        assert_eq!(local_sha(&dest), remote_sha(&ssh, &remote).await);
        std::fs::remove_file(&dest).expect("rm");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_uploaded_binary_runs_and_replaces_the_old_one_atomically() {
    let c = cluster();
    let (ssh, xfer) = c.connect().await;
    let dir = RemoteDir::new(&ssh, "up").await;
    let bin = Path::new(env!("CARGO_BIN_EXE_pmtwatch"));
    let remote = dir.join("bin/pmtwatch");
    ssh.run_ok(&["mkdir", "-p", &dir.join("bin")])
        .await
        .expect("mkdir");
    // Something already there (an older binary) is replaced.
    ssh.run_ok(&["sh", "-c", "echo old > \"$1\"", "sh", &remote])
        .await
        .expect("old");
    let started = Instant::now();
    let n = xfer
        .upload(bin, Path::new(&remote), Some(0o755))
        .await
        .expect("upload");
    eprintln!("uploaded {n} bytes in {:?}", started.elapsed());
    assert_eq!(n, std::fs::metadata(bin).expect("stat").len());
    assert_eq!(remote_sha(&ssh, &remote).await, local_sha(bin));
    let out = ssh.run(&[&remote, "--version"]).await.expect("run");
    assert!(out.success(), "{out:?}");
    assert!(out.stdout.starts_with("pmtwatch "), "{out:?}");
    let mode = ssh
        .run_ok(&["stat", "-c", "%a", &remote])
        .await
        .expect("stat");
    assert_eq!(mode.trim(), "755");
    let left = ssh
        .run_ok(&["ls", "-A", &dir.join("bin")])
        .await
        .expect("ls");
    assert_eq!(left.trim(), "pmtwatch", "no .part left behind");

    // A config without a mode; a missing local file is an error that leaves the
    // target alone.
    let local = tempfile::tempdir().expect("tempdir");
    let cfg = local.path().join("analysis.toml");
    std::fs::write(&cfg, "threshold = 0.25\n").expect("write");
    let target = dir.join("analysis.toml");
    assert_eq!(
        xfer.upload(&cfg, Path::new(&target), None)
            .await
            .expect("config"),
        17
    );
    assert_eq!(
        ssh.run_ok(&["cat", &target]).await.expect("cat"),
        "threshold = 0.25\n"
    );
    assert!(
        xfer.upload(&local.path().join("missing"), Path::new(&target), None)
            .await
            .is_err()
    );
    assert_eq!(
        ssh.run_ok(&["cat", &target]).await.expect("cat"),
        "threshold = 0.25\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_master_mid_download_ten_times_never_exposes_a_partial_file() {
    const KILLS: usize = 10;
    let c = cluster();
    let (ssh, xfer) = c.connect().await;
    let dir = RemoteDir::new(&ssh, "kill").await;
    let size: u64 = 48 * 1024 * 1024;
    let local = tempfile::tempdir().expect("tempdir");

    // Files are created as needed: when one completes before a kill lands, the next
    // round uses a new one, so every kill hits a transfer in progress.
    let mut files: Vec<(String, PathBuf, String)> = Vec::new();
    let new_file = |i: usize| {
        (
            dir.join(&format!("scan{i}.bin")),
            local.path().join(format!("scan{i}.bin")),
        )
    };
    let (r, l) = new_file(0);
    let sha = remote_random(&ssh, &r, size).await;
    files.push((r, l, sha));
    xfer.close().await.expect("close");
    ssh.close().await.expect("close");

    // Watches every destination all along: one that exists must be complete.
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let watched: Arc<std::sync::Mutex<Vec<PathBuf>>> = Arc::default();
    let watcher = {
        let (stop, violations, watched) = (stop.clone(), violations.clone(), watched.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for p in watched.lock().expect("lock").iter() {
                    if let Ok(m) = std::fs::metadata(p)
                        && m.len() != size
                    {
                        violations.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    watched.lock().expect("lock").push(files[0].1.clone());

    let deadline = Instant::now() + Duration::from_secs(240);
    let mut kills = 0;
    let mut rounds = 0;
    while kills < KILLS {
        assert!(Instant::now() < deadline, "only {kills} kills in time");
        rounds += 1;
        assert!(rounds <= 5 * KILLS, "kills keep missing the transfer");
        let (ssh, xfer) = c.connect().await;
        let (remote, dest, _) = files.last().expect("a file").clone();
        if dest.exists() {
            let i = files.len();
            let (r, l) = new_file(i);
            let sha = remote_random(&ssh, &r, size).await;
            watched.lock().expect("lock").push(l.clone());
            files.push((r, l, sha));
            continue;
        }
        let part = part_of(&dest);
        let start_len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let socket = xfer.control_socket().to_path_buf();
        let pid = common::master_pid(&socket)
            .unwrap_or_else(|| panic!("no ssh master naming {}", socket.display()));

        let download = {
            let xfer = xfer.clone();
            let (remote, dest) = (remote.clone(), dest.clone());
            tokio::spawn(async move { xfer.download(Path::new(&remote), &dest).await })
        };
        // Kill once this round has written a sixteenth of the file: mid-transfer, and
        // spread over the file rather than all at its start.
        let waited = Instant::now();
        let mut killed = false;
        while waited.elapsed() < Duration::from_secs(20) && !download.is_finished() {
            let now = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if now >= start_len + size / 16 {
                let st = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()
                    .expect("kill");
                assert!(st.success(), "kill {pid}");
                killed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let res = tokio::time::timeout(Duration::from_secs(60), download)
            .await
            .expect("the download must end within 60 s of the kill")
            .expect("join");
        if killed {
            match &res {
                Err(e) => {
                    kills += 1;
                    assert!(!dest.exists(), "a failed download left {}", dest.display());
                    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                    eprintln!("kill {kills}: {e} (.part now {kept} of {size} bytes)");
                }
                // The kill landed after the last byte: the file must be complete.
                Ok(n) => assert_eq!(*n, size),
            }
        } else {
            assert_eq!(*res.as_ref().expect("finished before the kill"), size);
        }
        drop(xfer);
        drop(ssh); // its master is gone; dropping must not hang or panic
    }

    // Reconnect and finish everything.
    let (ssh, xfer) = c.connect().await;
    for (remote, dest, sha) in &files {
        if !dest.exists() {
            let n = tokio::time::timeout(
                Duration::from_secs(120),
                xfer.download(Path::new(remote), dest),
            )
            .await
            .expect("in time")
            .expect("final download");
            assert_eq!(n, size);
        }
        assert_eq!(&local_sha(dest), sha, "{}", dest.display());
    }
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "a partial file was seen at a destination"
    );
    let mut want: Vec<String> = (0..files.len()).map(|i| format!("scan{i}.bin")).collect();
    want.sort();
    assert_eq!(entries(local.path()), want, "no .part left behind");
    drop(ssh);
}
