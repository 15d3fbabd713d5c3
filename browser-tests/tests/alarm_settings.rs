//! The admin's alarm settings in a real browser (issue 14), headless Chromium over WebDriver
//! against the built `pmtwatch` binary and the real SMTP server of `scripts/test-smtp.sh`
//! (`source /tmp/smtp.env`):
//!
//! - `an_admin_adds_an_email_target_and_the_test_notification_arrives`: the admin opens
//!   System, appends an e-mail target (the test SMTP server, a recipient only this test
//!   uses) to the settings text, saves, presses "send test notification" for it, and the
//!   message is read back from the mailbox. An observer sees neither the settings nor a
//!   save or test button.
//!
//! Fails (never skips) when Chromium, chromedriver or the SMTP server is missing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use browser_tests::{
    Browser, Server, add_user, click, fill, free_port, js_string, mails_to, pmtwatch_bin, smtp,
};

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_an_email_target_and_the_test_notification_arrives() -> Result<()> {
    let (smtp_port, mailbox) = smtp()?;
    let bin = pmtwatch_bin()?;
    let data = tempfile::tempdir()?;
    add_user(&bin, data.path(), "ada", "admin", "admin-password").await?;
    add_user(&bin, data.path(), "olga", "observer", "observer-password").await?;
    let port = free_port()?;
    let server = Server::start(&bin, data.path(), port).await?;
    let base = server.url("");
    let admin = Browser::start().await?;
    let obs = Browser::start().await?;
    let result = story(&admin, &obs, &base, smtp_port, &mailbox).await;
    if result.is_err() {
        let _ = admin.screenshot("alarm-settings-99-admin-failure").await;
        let _ = obs.screenshot("alarm-settings-99-observer-failure").await;
    }
    admin.close().await?;
    obs.close().await?;
    drop(server);
    result
}

async fn story(
    admin: &Browser,
    obs: &Browser,
    base: &str,
    smtp_port: u16,
    mailbox: &Path,
) -> Result<()> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let to = format!("ada-{}-{nonce}@pmtwatch.test", std::process::id());

    // The admin appends an e-mail target to the settings shown, and saves.
    admin.login(base, "ada", "admin-password").await?;
    admin.wait_path("/", T).await?;
    click(admin, "tab-system").await?;
    admin
        .wait_js(
            "(document.getElementById('alarm-config') || {value: ''}).value.includes('eval_secs')",
            T,
        )
        .await
        .context("the admin sees the alarm settings")?;
    let shown = js_string(admin, "document.getElementById('alarm-config').value").await?;
    let edited = format!(
        "{shown}\n[[targets]]\ntype = \"email\"\nname = \"ui-mail\"\nhost = \"127.0.0.1\"\n\
         port = {smtp_port}\nsecurity = \"none\"\nfrom = \"pmtwatch@pmtwatch.test\"\n\
         to = [\"{to}\"]\n"
    );
    fill(admin, "alarm-config", &edited).await?;
    click(admin, "alarm-config-save").await?;
    admin
        .wait_js(
            "(document.getElementById('alarm-settings-message') || {textContent: ''}).textContent === 'Alarm settings saved.'",
            T,
        )
        .await
        .context("the settings are saved")?;
    // Read back from the server: the target is in the settings shown again.
    admin
        .wait_js(
            "document.getElementById('alarm-config').value.includes('name = \"ui-mail\"')",
            T,
        )
        .await
        .context("the saved target is shown")?;
    admin.screenshot("alarm-settings-01-saved").await?;

    // The test notification reaches the mailbox.
    click(admin, "alarm-test-ui-mail").await?;
    admin
        .wait_js(
            "(document.getElementById('alarm-settings-message') || {textContent: ''}).textContent === 'Test notification sent to ui-mail.'",
            T,
        )
        .await
        .context("the page says the test notification was sent")?;
    let deadline = Instant::now() + T;
    let mail = loop {
        if let Some(m) = mails_to(mailbox, &to).into_iter().next() {
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
        mail.contains("This is a test notification from pmtwatch, sent by ada"),
        "{mail}"
    );
    // The text being edited survives a test notification (it used to be replaced by the
    // saved settings).
    let draft = format!("{edited}\n# a note not saved yet\n");
    fill(admin, "alarm-config", &draft).await?;
    click(admin, "alarm-test-ui-mail").await?;
    admin
        .wait_js(
            "(document.getElementById('alarm-settings-message') || {textContent: ''}).textContent === 'Test notification sent to ui-mail.' && \
             document.getElementById('alarm-config').value.includes('# a note not saved yet')",
            T,
        )
        .await
        .context("a test notification keeps the text being edited")?;
    admin.screenshot("alarm-settings-02-test-sent").await?;

    // An observer sees no settings and no button to change or test them.
    obs.login(base, "olga", "observer-password").await?;
    obs.wait_path("/", T).await?;
    click(obs, "tab-system").await?;
    obs.wait_js(
        "document.getElementById('alarm-settings-admin-only') !== null",
        T,
    )
    .await
    .context("the observer is told only an admin sees the settings")?;
    for id in ["alarm-config", "alarm-config-save", "alarm-test-ui-mail"] {
        let absent = obs
            .client
            .execute(
                "return document.getElementById(arguments[0]) === null;",
                vec![id.into()],
            )
            .await?
            .as_bool()
            .unwrap_or(false);
        ensure!(absent, "the observer's page has no #{id}");
    }
    let page = js_string(obs, "document.getElementById('alarm-settings').textContent").await?;
    ensure!(
        !page.contains(&to) && !page.contains("127.0.0.1"),
        "the observer's page shows no recipient or server: {page}"
    );
    obs.screenshot("alarm-settings-03-observer").await?;
    Ok(())
}
