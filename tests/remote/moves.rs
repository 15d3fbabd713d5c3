//! Verified moves of remote run directories against the real OpenSSH server on 127.0.0.1
//! (started by `scripts/test-cluster.sh`, which `scripts/test` runs): a move that verifies,
//! destinations that exist and are never overwritten, destinations that cannot be written
//! (reported as failed, the source intact), and hostile names refused before anything runs.
//! The trees are built remotely with argv commands (`mkdir`, `truncate`, `ln`) as the
//! test cluster's user, so permissions are the remote user's, not this (root) process's.

use crate::common;

use common::cluster;

use pmtwatch::remote::Error;
use pmtwatch::remote::moves::{Inventory, move_dir};
use pmtwatch::remote::ssh::SshSession;

/// A scratch directory on the remote side, removed (permissions restored first) on drop.
struct Scratch {
    base: String,
}

impl Scratch {
    async fn new(s: &SshSession, test: &str) -> Scratch {
        let base = format!("/tmp/pmtwatch-moves-{}-{test}", std::process::id());
        s.run_ok(&["rm", "-rf", "--", &base]).await.expect("clean");
        s.run_ok(&["mkdir", "-p", "--", &base])
            .await
            .expect("mkdir");
        Scratch { base }
    }

    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base)
    }

    async fn cleanup(&self, s: &SshSession) {
        s.run_ok(&["chmod", "-R", "u+rwx", "--", &self.base])
            .await
            .expect("chmod");
        s.run_ok(&["rm", "-rf", "--", &self.base])
            .await
            .expect("rm");
    }
}

/// Builds a run directory at `dir`: three files (10, 2000 and 0 bytes), a subdirectory
/// and a symlink; returns what it holds.
async fn make_run(s: &SshSession, dir: &str) -> Inventory {
    s.run_ok(&["mkdir", "-p", "--", &format!("{dir}/points")])
        .await
        .expect("mkdir");
    for (file, size) in [
        ("scan.json", "10"),
        ("points/p001.npz", "2000"),
        ("EMPTY", "0"),
    ] {
        s.run_ok(&["truncate", "-s", size, "--", &format!("{dir}/{file}")])
            .await
            .expect("truncate");
    }
    s.run_ok(&["ln", "-s", "scan.json", &format!("{dir}/latest")])
        .await
        .expect("ln");
    Inventory {
        files: 3,
        dirs: 2,
        others: 1,
        bytes: 2010,
    }
}

/// `find DIR` entries as "type size path-relative" lines, sorted: a full picture of a
/// tree to compare before and after.
async fn listing(s: &SshSession, dir: &str) -> Vec<String> {
    let out = s
        .run_ok(&["find", dir, "-printf", "%y %s %P\\n"])
        .await
        .expect("find");
    let mut lines: Vec<String> = out
        .lines()
        .map(|l| {
            // Directory sizes depend on the filesystem, not on the content.
            if l.starts_with("d ") {
                format!("d {}", l.splitn(3, ' ').nth(2).unwrap_or(""))
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.sort();
    lines
}

async fn exists(s: &SshSession, path: &str) -> bool {
    s.run(&["test", "-e", path]).await.expect("test").success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_is_verified_complete_and_the_source_gone() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let scratch = Scratch::new(&s, "ok").await;
    let src = scratch.path("runs/SN1001");
    let expected = make_run(&s, &src).await;
    let before = listing(&s, &src).await;
    // The archive's parent does not exist yet: it is created.
    let parent = scratch.path("archive/2026-11");

    let report = move_dir(&s, &src, &parent, "SN1001").await.expect("move");
    assert_eq!(report.inventory, expected, "{report:?}");
    assert_eq!(report.src, src);
    assert_eq!(report.dest, format!("{parent}/SN1001"));
    assert!(!exists(&s, &src).await, "the source must be gone");
    assert_eq!(listing(&s, &report.dest).await, before, "every entry moved");

    // A trailing slash on the source or the parent changes nothing.
    let src2 = scratch.path("runs/SN1002");
    make_run(&s, &src2).await;
    let report = move_dir(&s, &format!("{src2}/"), &format!("{parent}/"), "SN1002")
        .await
        .expect("move with slashes");
    assert_eq!(report.dest, format!("{parent}/SN1002"));
    assert!(!exists(&s, &src2).await);
    scratch.cleanup(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_destination_is_never_overwritten() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let scratch = Scratch::new(&s, "exists").await;
    let src = scratch.path("runs/SN2001");
    make_run(&s, &src).await;
    let src_before = listing(&s, &src).await;
    let parent = scratch.path("archive");

    // A destination with content of its own...
    let dest = format!("{parent}/SN2001");
    s.run_ok(&["mkdir", "-p", "--", &dest])
        .await
        .expect("mkdir");
    s.run_ok(&["truncate", "-s", "7", "--", &format!("{dest}/keep")])
        .await
        .expect("truncate");
    let dest_before = listing(&s, &dest).await;
    let err = move_dir(&s, &src, &parent, "SN2001")
        .await
        .expect_err("must refuse");
    assert!(matches!(err, Error::Move { .. }), "{err}");
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(
        listing(&s, &dest).await,
        dest_before,
        "destination unchanged"
    );
    assert_eq!(listing(&s, &src).await, src_before, "source untouched");

    // ...and an empty directory, which a plain rename(2) would silently replace.
    let empty = format!("{parent}/SN2001-empty");
    s.run_ok(&["mkdir", "--", &empty]).await.expect("mkdir");
    let err = move_dir(&s, &src, &parent, "SN2001-empty")
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(listing(&s, &empty).await, vec!["d ".to_string()]);
    assert_eq!(listing(&s, &src).await, src_before);

    // ...and a plain file or a dangling symlink under that name.
    s.run_ok(&["ln", "-s", "/nonexistent", &format!("{parent}/SN2001-link")])
        .await
        .expect("ln");
    let err = move_dir(&s, &src, &parent, "SN2001-link")
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(listing(&s, &src).await, src_before);
    scratch.cleanup(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_destination_is_a_reported_failure_with_the_source_intact() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let scratch = Scratch::new(&s, "readonly").await;
    let src = scratch.path("runs/SN3001");
    make_run(&s, &src).await;
    let before = listing(&s, &src).await;

    // A parent the user cannot create.
    let err = move_dir(&s, &src, "/root/pmtwatch-archive", "SN3001")
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Move { .. }), "{err}");
    assert!(err.to_string().contains("could not be created"), "{err}");
    assert_eq!(listing(&s, &src).await, before);

    // A parent that exists but is read-only: mv itself fails, and says so.
    let ro = scratch.path("readonly");
    s.run_ok(&["mkdir", "--", &ro]).await.expect("mkdir");
    s.run_ok(&["chmod", "555", "--", &ro]).await.expect("chmod");
    let err = move_dir(&s, &src, &ro, "SN3001")
        .await
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains("mv failed"), "{msg}");
    assert!(msg.contains("Permission denied"), "{msg}");
    assert!(msg.contains("the source is intact"), "{msg}");
    assert_eq!(listing(&s, &src).await, before);
    assert!(!exists(&s, &format!("{ro}/SN3001")).await);

    // A source that is not there, or not a directory, is refused without a move.
    let err = move_dir(&s, &scratch.path("nothing"), &ro, "x")
        .await
        .expect_err("no source");
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = move_dir(&s, &format!("{src}/latest"), &scratch.base, "x")
        .await
        .expect_err("a symlink");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(listing(&s, &src).await, before);
    scratch.cleanup(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_paths_are_refused_before_anything_runs() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let scratch = Scratch::new(&s, "hostile").await;
    let src = scratch.path("runs/SN4001");
    make_run(&s, &src).await;
    let before = listing(&s, &src).await;
    let parent = scratch.path("archive");
    let long = "n".repeat(256);

    for name in [
        "",
        ".",
        "..",
        "a/b",
        "../../etc",
        "/",
        "x\ny",
        "tab\there",
        "nul\0",
        long.as_str(),
    ] {
        let err = move_dir(&s, &src, &parent, name)
            .await
            .expect_err("must refuse");
        assert!(matches!(err, Error::Invalid { .. }), "{name:?}: {err}");
    }
    for (from, to) in [
        ("runs/SN4001", parent.as_str()),
        ("-rf", parent.as_str()),
        ("/", parent.as_str()),
        (src.as_str(), "relative/archive"),
        (src.as_str(), "/tmp/../root"),
        (src.as_str(), "/tmp/a\nb"),
    ] {
        let err = move_dir(&s, from, to, "SN4001")
            .await
            .expect_err("must refuse");
        assert!(
            matches!(err, Error::Invalid { .. }),
            "{from:?} → {to:?}: {err}"
        );
    }
    // Into itself.
    let err = move_dir(&s, &src, &src, "SN4001")
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("inside the source"), "{err}");
    assert!(
        !exists(&s, &parent).await,
        "nothing ran: no parent was created"
    );
    assert_eq!(listing(&s, &src).await, before);

    // Shell syntax in a name is just a name: it arrives literally and runs nothing.
    let canary = scratch.path("canary");
    let name = format!("$(touch {canary}); `touch {canary}` 'q' -n");
    let name = name.replace('/', "_");
    let report = move_dir(&s, &src, &parent, &name).await.expect("move");
    assert_eq!(report.dest, format!("{parent}/{name}"));
    assert!(exists(&s, &report.dest).await);
    assert!(
        !exists(&s, &canary).await,
        "the canary must never be created"
    );
    scratch.cleanup(&s).await;
}
