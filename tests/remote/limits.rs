//! Issue 10, finding 8: the profile's `program` reaches the SSH connection test and the
//! SLURM scripts, and what a remote side sends is read up to a bound, refused beyond it
//! with a message that says so.

use crate::common;

use std::path::Path;
use std::process::Command;

use pmtwatch::remote::Error;
use pmtwatch::remote::backend::{Backend, BackendConfig, Kind};
use pmtwatch::remote::exec::{Exec, LocalHost};
use pmtwatch::remote::ssh::{MAX_OUTPUT_BYTES, SshSession};
use pmtwatch::remote::transfer::Transfer;

/// The SSH connection test looked for `pmtwatch` on the PATH whatever the profile's
/// `program` said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_connection_test_uses_the_profile_program() {
    let c = common::cluster();
    c.deploy_binary();
    let work = format!("/tmp/pmtwatch-limits-{}", std::process::id());
    for (program, ok) in [
        ("/nonexistent/pmtwatch-elsewhere".to_string(), false),
        (format!("{}/pmtwatch", c.remote_bin.display()), true),
    ] {
        let mut cfg = BackendConfig::new(Kind::Ssh, Some(c.target()), work.clone());
        cfg.program = program.clone();
        let report = Backend::new(cfg).expect("backend").test().await;
        let item = report
            .checks
            .iter()
            .find(|c| c.item == "pmtwatch")
            .expect("a pmtwatch item");
        assert_eq!(item.ok, ok, "{program}: {item:?}");
        if !ok {
            assert!(item.detail.contains(&program), "{item:?}");
        }
    }
}

/// The SLURM scan and HV scripts ran `pmtwatch` from the PATH whatever the profile's
/// `program` said; they run `PMTWATCH_PROGRAM` now (the backend passes the profile's).
#[test]
fn slurm_scripts_run_the_profile_program() {
    let scratch = tempfile::tempdir().expect("scratch");
    let args = scratch.path().join("args");
    let fake = scratch.path().join("fake-pmtwatch");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", args.display()),
    )
    .expect("write");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    for script in ["pmtwatch-scan.sbatch", "pmtwatch-hv.sbatch"] {
        let _ = std::fs::remove_file(&args);
        let path = crate::common::manifest_dir().join("slurm").join(script);
        let out = Command::new("bash")
            .arg(&path)
            .env("SCAN_DIR", "/data/scan")
            .env("SN", "EA0123")
            .env("OUT_DIR", "/data/out")
            .env("PMTWATCH_PROGRAM", &fake)
            .output()
            .expect("run the script with bash");
        assert!(out.status.success(), "{script}: {out:?}");
        let got = std::fs::read_to_string(&args).expect("the fake program ran");
        assert!(
            got.starts_with("process\n--watch\n/data/scan\n--serial\nEA0123\n"),
            "{script}: {got}"
        );
    }
}

/// A remote (or local) command's output was read to its end however large; now more than
/// `MAX_OUTPUT_BYTES` is refused with a message that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_output_beyond_the_bound_is_refused() {
    let c = common::cluster();
    let too_much = (MAX_OUTPUT_BYTES + 1024).to_string();
    let argv = ["head", "-c", too_much.as_str(), "/dev/zero"];
    let session = SshSession::connect(c.target()).await.expect("connect");
    let e = session.run(&argv).await.expect_err("refused over SSH");
    assert!(
        matches!(e, Error::Invalid { .. }) && e.to_string().contains("MiB"),
        "{e}"
    );
    // Just under the bound is read whole.
    let fits = (MAX_OUTPUT_BYTES - 1024).to_string();
    let out = session
        .run(&["head", "-c", fits.as_str(), "/dev/zero"])
        .await
        .expect("read");
    assert_eq!(out.stdout.len(), MAX_OUTPUT_BYTES - 1024);
    let e = LocalHost::default()
        .run(&argv)
        .await
        .expect_err("refused here");
    assert!(e.to_string().contains("MiB"), "{e}");
    session.close().await.expect("close");
}

/// An SFTP download had no bound but the remote file's size; a file beyond the caller's
/// bound is refused now, and nothing is written locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_beyond_its_bound_is_refused_and_writes_nothing() {
    let c = common::cluster();
    let session = SshSession::connect(c.target()).await.expect("connect");
    let remote = format!("/tmp/pmtwatch-limits-dl-{}", std::process::id());
    session
        .run_ok(&["sh", "-c", "head -c 4096 /dev/zero > \"$1\"", "sh", &remote])
        .await
        .expect("write the remote file");
    let x = Transfer::open(&session).await.expect("sftp");
    let scratch = tempfile::tempdir().expect("scratch");
    let local = scratch.path().join("result.json");
    let e = x
        .download_capped(Path::new(&remote), &local, 1024)
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("4096 bytes"), "{e}");
    assert!(!local.exists());
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("list").count(),
        0,
        "no .part left"
    );
    assert_eq!(
        x.download_capped(Path::new(&remote), &local, 4096)
            .await
            .expect("within the bound"),
        4096
    );
    session
        .run_ok(&["rm", "-f", "--", &remote])
        .await
        .expect("rm");
    x.close().await.expect("close sftp");
    session.close().await.expect("close");
}
