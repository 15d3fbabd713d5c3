//! Alarms in real browsers (issue 14's acceptance), headless Chromium over WebDriver
//! against the built `pmtwatch` binary and the real SMTP server of `scripts/test-smtp.sh`:
//!
//! - `a_poor_point_alarm_in_two_browsers_acknowledged_and_kept_across_kill9`: an operator
//!   and an observer watch the same scan; when the weak spot goes poor, the alarm banner
//!   appears in both browsers and the e-mail reaches the mailbox. The observer's
//!   acknowledge button is disabled, and when the test enables it in the page and clicks
//!   anyway, the server refuses (the command reaches it and is rejected by role). The
//!   operator acknowledges with a comment: both banners update. The operator writes a
//!   logbook entry, and one with a picture through the panel's file form (the real upload
//!   path: a file input, a form post, back to the run), which then shows as a link with a
//!   thumbnail the browser loaded. Then the server is killed with SIGKILL and started again on the same
//!   data directory: the alarm is still acknowledged in both browsers, no second e-mail is
//!   sent, the logbook entry is still there and History's logbook search finds it by a
//!   word in it.
//!
//! Screenshots go to `<target>/browser-screenshots/`. Fails (never skips) when Chromium,
//! chromedriver or the SMTP server is missing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use browser_tests::{
    Browser, Server, add_user, click, fill, free_port, js_string, mails_to, pmtwatch_bin, run_slot,
    simulate, smtp, start_executor,
};

const T: Duration = Duration::from_secs(20);
const SCAN: Duration = Duration::from_secs(180);
const PATTERN: &str = "0/0 10/0 10/90 10/180 10/270";
const POOR: &str = "theta10_phi90";
/// How often the server evaluates alarms in this test (the config file's `eval_secs`).
const EVAL_SECS: f64 = 0.5;

fn banner_is(count: usize, total: usize) -> String {
    format!(
        "(document.getElementById('alarm-banner') || {{dataset: {{}}}}).dataset.count === '{count}' && \
         document.getElementById('alarm-banner').dataset.total === '{total}'"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poor_point_alarm_in_two_browsers_acknowledged_and_kept_across_kill9() -> Result<()> {
    let (smtp_port, mailbox) = smtp()?;
    let bin = pmtwatch_bin()?;
    let data = tempfile::tempdir()?;
    let bench = data.path().join("bench");
    for d in ["work", "scan", "archive", "flag"] {
        std::fs::create_dir_all(bench.join(d))?;
    }
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let to = format!("otto-{}-{nonce}@pmtwatch.test", std::process::id());
    // Fast evaluation, no disk alarm (this machine's free space is not the subject), poor
    // points mailed to a recipient only this test uses.
    let config = data.path().join("pmtwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[alarms]\neval_secs = {EVAL_SECS}\nclear_after_secs = 0\ndigest_secs = 0.3\n\
             retry_secs = 0.2\nretry_attempts = 2\ndisk_min_free_bytes = 0\n\
             [[alarms.rules]]\nkinds = [\"poor_point\"]\ntargets = [\"lab-mail\"]\n\
             [[alarms.targets]]\ntype = \"email\"\nname = \"lab-mail\"\nhost = \"127.0.0.1\"\n\
             port = {smtp_port}\nsecurity = \"none\"\nfrom = \"pmtwatch@pmtwatch.test\"\n\
             to = [\"{to}\"]\n"
        ),
    )?;
    add_user(&bin, data.path(), "ada", "admin", "admin-password").await?;
    add_user(&bin, data.path(), "otto", "operator", "operator-password").await?;
    add_user(&bin, data.path(), "olga", "observer", "observer-password").await?;
    let port = free_port()?;
    let args = [std::ffi::OsStr::new("--config"), config.as_os_str()];
    let server = Server::start_with(&bin, data.path(), port, &args).await?;
    let base = server.url("");
    let op = Browser::start().await?;
    let obs = Browser::start().await?;
    let mut server = Some(server);
    let result = story(
        &op,
        &obs,
        &bin,
        &bench,
        &base,
        (&mailbox, &to),
        &mut server,
        || Server::start_with(&bin, data.path(), port, &args),
    )
    .await;
    if result.is_err() {
        let _ = op.screenshot("alarms-99-operator-failure").await;
        let _ = obs.screenshot("alarms-99-observer-failure").await;
    }
    op.close().await?;
    obs.close().await?;
    drop(server);
    result
}

#[allow(clippy::too_many_arguments)]
async fn story<F, Fut>(
    op: &Browser,
    obs: &Browser,
    bin: &Path,
    bench: &Path,
    base: &str,
    (mailbox, to): (&Path, &str),
    server: &mut Option<Server>,
    restart: F,
) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Server>>,
{
    let dir = |d: &str| bench.join(d).display().to_string();

    // The admin makes a local profile on the bench directory.
    op.login(base, "ada", "admin-password").await?;
    op.wait_path("/", T).await?;
    click(op, "step-remote").await?;
    click(op, "profile-new").await?;
    fill(op, "profile-name", "bench pc").await?;
    fill(op, "profile-work-dir", &dir("work")).await?;
    fill(op, "profile-scan-root", &dir("scan")).await?;
    fill(op, "profile-archive-dir", &dir("archive")).await?;
    fill(op, "profile-flag-dir", &dir("flag")).await?;
    fill(op, "profile-settle", "0.3").await?;
    fill(op, "profile-poll", "0.25").await?;
    fill(op, "profile-pattern", PATTERN).await?;
    fill(op, "profile-gain-min", "8500000").await?;
    fill(op, "profile-gain-max", "12000000").await?;
    click(op, "profile-save").await?;
    op.wait_js(
        "(document.getElementById('profile-list') || {textContent: ''}).textContent.includes('bench pc')",
        T,
    )
    .await
    .context("the saved profile is listed")?;
    op.client.goto(&format!("{base}/logout")).await?;

    // The operator runs slot PMT 1; the observer watches. No alarm yet.
    op.login(base, "otto", "operator-password").await?;
    op.wait_path("/", T).await?;
    start_executor(op).await?;
    click(op, "tab-scan").await?;
    run_slot(op, 1, "KM7101", 1).await?;
    op.wait_js("document.getElementById('grid-1') !== null", T)
        .await
        .context("the run's grid appears")?;
    obs.login(base, "olga", "observer-password").await?;
    obs.wait_path("/", T).await?;
    click(obs, "tab-scan").await?;
    for (b, who) in [(op, "operator"), (obs, "observer")] {
        b.wait_js(&banner_is(0, 0), T)
            .await
            .with_context(|| format!("the {who}'s banner says no alarms"))?;
    }

    // The bench plays the scan out; the weak spot raises the alarm in both browsers.
    let sim = simulate(bin, &bench.join("scan"), "KM7101", PATTERN, Some(POOR), 0.3).status();
    let sim = tokio::time::timeout(SCAN, sim)
        .await
        .context("the simulated bench did not finish")??;
    ensure!(sim.success(), "pmtwatch simulate failed");
    let poor_alarm = "document.querySelector('#alarm-banner .alarm-kind-poor_point')";
    for (b, who) in [(op, "operator"), (obs, "observer")] {
        b.wait_js(&format!("{poor_alarm} !== null"), SCAN)
            .await
            .with_context(|| format!("the {who} sees the poor-point alarm"))?;
        b.wait_js(&banner_is(1, 1), T)
            .await
            .with_context(|| format!("the {who}'s banner counts one alarm"))?;
    }
    let id = js_string(op, &format!("{poor_alarm}.id")).await?;
    let n = id
        .strip_prefix("alarm-")
        .context("alarm element id")?
        .to_string();
    ensure!(
        js_string(obs, &format!("{poor_alarm}.id")).await? == id,
        "both browsers show the same alarm"
    );
    ensure!(
        js_string(op, &format!("{poor_alarm}.textContent"))
            .await?
            .contains(POOR),
        "the alarm names the point"
    );
    op.screenshot("alarms-01-operator-banner").await?;
    obs.screenshot("alarms-01-observer-banner").await?;

    // The e-mail, read back from the real mailbox.
    let deadline = Instant::now() + SCAN;
    let mail = loop {
        if let Some(m) = mails_to(mailbox, to).into_iter().next() {
            break m;
        }
        ensure!(
            Instant::now() < deadline,
            "no e-mail to {to} in {}",
            mailbox.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        mail.contains("Subject: [pmtwatch] WARNING: Poor point (run 1)") && mail.contains(POOR),
        "{mail}"
    );

    // The observer's acknowledge is greyed out; enabled in the page and clicked anyway, the
    // command reaches the server, which refuses it by role.
    let ack = format!("alarm-ack-{n}");
    obs.wait_js(
        &format!("(document.getElementById('{ack}') || {{}}).disabled === true"),
        T,
    )
    .await
    .context("the observer's acknowledge button is disabled")?;
    obs.client
        .execute(
            "const b = document.getElementById(arguments[0]); b.disabled = false; b.click(); return true;",
            vec![ack.clone().into()],
        )
        .await?;
    obs.wait_js(
        "(document.getElementById('alarm-message') || {textContent: ''}).textContent.includes('Refused') && \
         document.getElementById('alarm-message').className === 'refusal'",
        T,
    )
    .await
    .context("the server refuses the observer's acknowledgement")?;
    obs.screenshot("alarms-02-observer-refused").await?;
    for b in [op, obs] {
        b.wait_js(
            &format!(
                "{} && document.getElementById('alarm-{n}').dataset.acked === 'false'",
                banner_is(1, 1)
            ),
            T,
        )
        .await
        .context("the refused acknowledgement changed nothing")?;
    }

    // The operator acknowledges with a comment: both banners update.
    fill(op, &format!("alarm-comment-{n}"), "known weak spot").await?;
    click(op, &ack).await?;
    for (b, who) in [(op, "operator"), (obs, "observer")] {
        b.wait_js(&banner_is(0, 1), T)
            .await
            .with_context(|| format!("the {who}'s banner counts no open alarm"))?;
    }
    expect_acked(op, obs, &n).await?;
    op.screenshot("alarms-03-acknowledged").await?;

    // The operator writes in the run's logbook, which also has the alarm's story.
    op.wait_js(
        "(document.getElementById('slot-1-status') || {dataset: {}}).dataset.state === 'complete'",
        SCAN,
    )
    .await
    .context("the run completes")?;
    let entry = "Cathode sparkle noticed near the weak spot";
    open_logbook(op).await?;
    fill(op, "logbook-text-1", entry).await?;
    click(op, "logbook-add-1").await?;
    op.wait_js(
        &format!(
            "(document.getElementById('logbook-1') || {{textContent: ''}}).textContent.includes({entry:?}) && \
             document.getElementById('logbook-1').textContent.includes('Alarm acknowledged by otto')"
        ),
        T,
    )
    .await
    .context("the logbook shows the entry and the acknowledgement")?;
    attach_picture(op).await?;

    // SIGKILL, then a new server on the same data directory and port.
    let old = server.take().context("the server")?;
    old.kill().await?;
    *server = Some(restart().await?);
    for b in [op, obs] {
        b.client.goto(&format!("{base}/")).await?;
        b.wait_path("/", T).await?;
        click(b, "tab-scan").await?;
        b.wait_js("document.getElementById('grid-1') !== null", T)
            .await?;
    }
    expect_acked(op, obs, &n).await?;
    op.screenshot("alarms-04-after-restart").await?;
    // A re-raised alarm would be mailed within one evaluation and the digest time; give the
    // restarted server ten evaluations, then count (absence can only be shown by waiting).
    tokio::time::sleep(Duration::from_secs_f64(EVAL_SECS * 10.0 + 1.0)).await;
    let mails = mails_to(mailbox, to);
    ensure!(
        mails.len() == 1,
        "one e-mail for the alarm, not {}: a restart must not notify again",
        mails.len()
    );
    for (b, who) in [(op, "operator"), (obs, "observer")] {
        b.wait_js(&banner_is(0, 1), T)
            .await
            .with_context(|| format!("after the restart the {who}'s banner has no open alarm"))?;
    }

    // The logbook entry survived, and search finds it by a word in it.
    open_logbook(op).await?;
    op.wait_js(
        &format!(
            "(document.getElementById('logbook-1') || {{textContent: ''}}).textContent.includes({entry:?})"
        ),
        T,
    )
    .await
    .context("the operator's entry survived the restart")?;
    click(op, "tab-history").await?;
    fill(op, "logbook-query", "sparkle").await?;
    click(op, "logbook-search-go").await?;
    op.wait_js(
        &format!(
            "(document.getElementById('logbook-results') || {{textContent: ''}}).textContent.includes({entry:?})"
        ),
        T,
    )
    .await
    .context("the logbook search finds the entry by a word in it")?;
    op.screenshot("alarms-05-logbook-search").await?;
    Ok(())
}

/// Both browsers show alarm `n` acknowledged by otto with the comment (the list expanded).
async fn expect_acked(op: &Browser, obs: &Browser, n: &str) -> Result<()> {
    for (b, who) in [(op, "operator"), (obs, "observer")] {
        b.wait_js("document.getElementById('alarm-toggle') !== null", T)
            .await?;
        if b.client
            .execute(
                &format!("return document.getElementById('alarm-{n}') === null;"),
                vec![],
            )
            .await?
            .as_bool()
            .unwrap_or(true)
        {
            click(b, "alarm-toggle").await?;
        }
        b.wait_js(
            &format!(
                "(document.getElementById('alarm-{n}') || {{dataset: {{}}}}).dataset.acked === 'true' && \
                 document.getElementById('alarm-{n}').textContent.includes('acknowledged by otto') && \
                 document.getElementById('alarm-{n}').textContent.includes('known weak spot')"
            ),
            T,
        )
        .await
        .with_context(|| format!("the {who} sees the alarm acknowledged by otto"))?;
    }
    Ok(())
}

/// A 1×1 PNG (a real one: the thumbnail must load).
const PNG_1X1: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82";

/// The operator attaches a picture to an entry through the logbook panel's form: the file
/// input takes a path (as a person's file chooser would give it), the form posts, the page
/// comes back to the run, and the entry shows a link whose thumbnail the browser loaded.
async fn attach_picture(op: &Browser) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scope shot.png");
    std::fs::write(&path, PNG_1X1)?;
    open_logbook(op).await?;
    // The Dioxus glue cancels clicks on file inputs inside the page (it would ask a native
    // host for a dialog); uploads.js lets ours through, so a person's chooser opens.
    let cancelled = op
        .client
        .execute(
            "const i = document.getElementById('logbook-file-1'); \
             const e = new MouseEvent('click', {bubbles: true, cancelable: true}); \
             i.addEventListener('click', ev => ev.preventDefault(), {once: true}); \
             const seen = []; \
             window.addEventListener('click', () => seen.push('window'), {once: true}); \
             i.dispatchEvent(e); return seen.length;",
            vec![],
        )
        .await?;
    ensure!(
        cancelled.as_u64() == Some(0),
        "the file input's click reached the glue's window listener"
    );
    fill(op, "logbook-text-1", "Scope shot of the afterpulse").await?;
    op.client
        .find(fantoccini::Locator::Id("logbook-file-1"))
        .await?
        .send_keys(&path.display().to_string())
        .await
        .context("choosing the file")?;
    click(op, "logbook-upload-1").await?;
    op.wait_path("/runs/1", T)
        .await
        .context("the form comes back to the run")?;
    op.wait_js(
        "Array.from(document.querySelectorAll('#logbook-1 .log-attachment a')).some(a => \
           a.textContent.includes('scope_shot.png') && \
           /^\\/runs\\/1\\/logbook\\/\\d+\\/attachment$/.test(a.getAttribute('href')))",
        T,
    )
    .await
    .context("the entry links its attachment")?;
    op.wait_js(
        "document.getElementById('logbook-1').textContent.includes('Scope shot of the afterpulse')",
        T,
    )
    .await
    .context("the entry's text came with the file")?;
    open_logbook(op).await?;
    op.wait_js(
        "Array.from(document.querySelectorAll('#logbook-1 img.log-thumb')).some(i => i.complete && i.naturalWidth === 1)",
        T,
    )
    .await
    .context("the thumbnail loaded (the attachment route served the picture)")?;
    op.screenshot("alarms-04a-logbook-attachment").await?;
    Ok(())
}

/// Opens the logbook under slot 1's grid.
async fn open_logbook(b: &Browser) -> Result<()> {
    b.wait_js("document.querySelector('.slot-logbook') !== null", T)
        .await?;
    b.client
        .execute(
            "document.querySelector('.slot-logbook').open = true; return true;",
            vec![],
        )
        .await?;
    b.wait_js("document.getElementById('logbook-1') !== null", T)
        .await
}
