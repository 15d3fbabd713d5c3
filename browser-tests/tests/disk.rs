//! The disk guard in real browsers: the data directory is a small tmpfs (mounted for the
//! test under a temp dir; the tests run as root) that the test fills past 90 %. The banner
//! appears by itself in two open browsers (an operator's and an observer's, on different
//! tabs), the System tab says this machine has no NVIDIA GPU / driver (CI has none), and a
//! new scan is refused with the reason.
//!
//! Fails (never skips) when Chromium, chromedriver or `mount` is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use browser_tests::{Browser, Server, add_user, click, fill, free_port, pmtwatch_bin};
use fantoccini::Locator;

const T: Duration = Duration::from_secs(20);

/// A tmpfs mounted at a directory; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs> {
        std::fs::create_dir_all(dir)?;
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .context("running mount (util-linux)")?;
        ensure!(
            st.success(),
            "mounting a tmpfs at {} failed: this test runs as root",
            dir.display()
        );
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_disk_shows_a_banner_in_every_browser_and_a_scan_is_refused() -> Result<()> {
    let bin = pmtwatch_bin()?;
    let root = tempfile::tempdir()?;
    let data = root.path().join("data");
    let fs = Tmpfs::mount(&data, "16m")?;
    for d in ["work", "scan", "archive", "flag"] {
        std::fs::create_dir_all(root.path().join(d))?;
    }
    add_user(&bin, &data, "ada", "admin", "admin-password").await?;
    add_user(&bin, &data, "otto", "operator", "operator-password").await?;
    add_user(&bin, &data, "olga", "observer", "observer-password").await?;
    let port = free_port()?;
    let server = Server::start(&bin, &data, port).await?;
    let base = server.url("");
    let op = Browser::start().await?;
    let obs = Browser::start().await?;
    let result = story(&op, &obs, root.path(), &data, &base).await;
    if result.is_err() {
        let _ = op.screenshot("disk-99-failure-operator").await;
        let _ = obs.screenshot("disk-99-failure-observer").await;
    }
    op.close().await?;
    obs.close().await?;
    server.kill().await?;
    drop(fs);
    result
}

async fn story(op: &Browser, obs: &Browser, root: &Path, data: &Path, base: &str) -> Result<()> {
    let dir = |d: &str| root.join(d).display().to_string();
    // A local profile, and slot PMT 1 ready to run.
    op.login(base, "ada", "admin-password").await?;
    op.wait_path("/", T).await?;
    click(op, "step-remote").await?;
    click(op, "profile-new").await?;
    fill(op, "profile-name", "bench pc").await?;
    fill(op, "profile-work-dir", &dir("work")).await?;
    fill(op, "profile-scan-root", &dir("scan")).await?;
    fill(op, "profile-archive-dir", &dir("archive")).await?;
    fill(op, "profile-flag-dir", &dir("flag")).await?;
    click(op, "profile-save").await?;
    op.wait_js(
        "(document.getElementById('profile-list') || {textContent: ''}).textContent.includes('bench pc')",
        T,
    )
    .await
    .context("the saved profile is listed")?;
    op.client.goto(&format!("{base}/logout")).await?;
    op.login(base, "otto", "operator-password").await?;
    op.wait_path("/", T).await?;
    click(op, "tab-scan").await?;
    let serial = op.client.find(Locator::Id("slot-1-serial")).await?;
    serial.clear().await?;
    serial.send_keys("KM7001\u{E007}").await?;
    op.client
        .find(Locator::Css("#slot-1-profile option[value='1']"))
        .await?
        .click()
        .await?;
    // The observer watches the System tab.
    obs.login(base, "olga", "observer-password").await?;
    obs.wait_path("/", T).await?;
    click(obs, "tab-system").await?;
    obs.wait_js(
        "(document.getElementById('gpu-note-local') || {textContent: ''}).textContent.includes('no NVIDIA GPU / driver on this machine')",
        T,
    )
    .await
    .context("the System tab says this machine has no NVIDIA GPU / driver")?;
    obs.wait_js("document.getElementById('system-hosts') !== null && document.getElementById('system-hosts').innerText.includes('data')", T)
        .await
        .context("the System tab shows the data directory's disk")?;
    ensure!(
        op.client
            .execute(
                "return document.getElementById('disk-banner') === null;",
                vec![]
            )
            .await?
            .as_bool()
            == Some(true),
        "no banner while the disk has room"
    );

    // Fill the data directory's filesystem past 90 %.
    let ballast = data.join("ballast");
    std::fs::write(&ballast, vec![0u8; 15 * 1024 * 1024])
        .with_context(|| format!("filling {}", data.display()))?;
    for (who, b) in [("operator", op), ("observer", obs)] {
        b.wait_js(
            "(document.getElementById('disk-banner') || {textContent: ''}).textContent.includes('(10 % of the disk, at most 5.0 GiB)')",
            T,
        )
        .await
        .with_context(|| format!("the {who}'s page shows the disk banner"))?;
    }
    op.screenshot("disk-01-banner-operator").await?;
    obs.screenshot("disk-02-banner-observer-system-tab").await?;

    // A new scan is refused, with the reason.
    click(op, "slot-1-run").await?;
    op.wait_js(
        "(document.getElementById('slot-1-message') || {textContent: ''}).textContent.includes('the disk is too full')",
        T,
    )
    .await
    .context("starting a scan on a full disk is refused with the reason")?;
    op.screenshot("disk-03-scan-refused").await?;
    ensure!(
        op.client
            .execute("return document.getElementById('grid-1') === null;", vec![])
            .await?
            .as_bool()
            == Some(true),
        "no run may start"
    );
    std::fs::remove_file(&ballast)?;
    obs.wait_js("document.getElementById('disk-banner') === null", T)
        .await
        .context("the banner goes once there is room again")?;
    Ok(())
}
