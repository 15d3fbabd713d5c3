//! Real-browser tests: headless Chromium over WebDriver (chromedriver) against the built
//! `pmtwatch serve` binary. One story, in order, with a screenshot at each step under
//! `<target>/browser-screenshots/`:
//! a missing cookie is refused; a wrong password is refused; a good password lands on the
//! shell; an observer's mutating action is refused by the server (visible message); the
//! server is killed and restarted and the open page comes back by itself, on the same tab;
//! logout ends the session; an operator's same action succeeds; the light theme is
//! remembered per user; the shell fits a 10-inch tablet (800 × 1280) without sideways
//! scrolling.
//!
//! Fails (never skips) when Chromium or chromedriver is missing, saying what to install.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use browser_tests::{Browser, Server, add_user, free_port, pmtwatch_bin};
use fantoccini::Locator;

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_shell_in_a_real_browser() -> Result<()> {
    let bin = pmtwatch_bin()?;
    let data = tempfile::tempdir()?;
    add_user(&bin, data.path(), "olga", "observer", "observer-password").await?;
    add_user(&bin, data.path(), "otto", "operator", "operator-password").await?;
    let port = free_port()?;
    let server = Server::start(&bin, data.path(), port).await?;
    let base = server.url("");
    let b = Browser::start().await?;
    let result = story(&b, &bin, data.path(), port, server, &base).await;
    if result.is_err() {
        let _ = b.screenshot("99-failure").await;
    }
    b.close().await?;
    result
}

async fn story(
    b: &Browser,
    bin: &std::path::Path,
    data: &std::path::Path,
    port: u16,
    server: Server,
    base: &str,
) -> Result<()> {
    // 1. No cookie: the shell redirects to the login page.
    b.client.goto(&format!("{base}/")).await?;
    b.wait_path("/login", T)
        .await
        .context("no session must land on /login")?;
    b.screenshot("01-no-session-login-page").await?;

    // 2. A wrong password is refused with the one message for every failure.
    b.login(base, "olga", "wrong-password").await?;
    b.wait_js(
        "(document.getElementById('login-error')||{}).textContent === 'Wrong user name or password.'",
        T,
    )
    .await
    .context("a wrong password must be refused")?;
    b.screenshot("02-wrong-password").await?;
    let no_cookie_visible: bool = b
        .client
        .execute(
            "return !document.cookie.includes('pmtwatch_session');",
            vec![],
        )
        .await?
        .as_bool()
        .unwrap_or(false);
    ensure!(
        no_cookie_visible,
        "the session cookie must be HttpOnly (invisible to scripts)"
    );

    // 3. A good password lands on the shell.
    b.login(base, "olga", "observer-password").await?;
    b.wait_path("/", T).await?;
    b.wait_js(
        "document.getElementById('current-role') && document.getElementById('current-role').textContent === 'observer'",
        T,
    )
    .await
    .context("the shell must show the user and role")?;
    for text in [
        "1 Background executor",
        "2 Remote configuration",
        "3 Local data cleanup",
        "Scan",
        "HV check",
        "History",
        "System",
    ] {
        b.wait_js(&format!("document.body.innerText.includes({text:?})"), T)
            .await
            .with_context(|| format!("the shell shows {text:?}"))?;
    }
    b.screenshot("03-shell-observer").await?;

    // Navigation is real: the System tab lists the accounts.
    b.client
        .find(Locator::Id("tab-system"))
        .await?
        .click()
        .await?;
    b.wait_js("document.getElementById('users-table') && document.getElementById('users-table').innerText.includes('otto')", T)
        .await
        .context("the System tab lists the accounts")?;

    // 4. The observer presses "Start executor": the server refuses, visibly.
    b.client
        .find(Locator::Id("executor-start"))
        .await?
        .click()
        .await?;
    b.wait_js(
        "(document.getElementById('action-message')||{textContent:''}).textContent.startsWith('Refused')",
        T,
    )
    .await
    .context("the server must refuse an observer's mutating action with a visible message")?;
    b.wait_js(
        "document.getElementById('executor-state').textContent === 'stopped'",
        T,
    )
    .await?;
    b.screenshot("04-observer-refused").await?;

    // 5. The server dies and comes back on the same port and data dir: the open page shows
    //    "reconnecting…", then reloads by itself into the same shell (same session).
    b.client
        .execute("window.__beforeRestart = true;", vec![])
        .await?;
    server.kill().await?;
    b.wait_js(
        "!document.getElementById('reconnect-banner').hidden && document.getElementById('conn-status').textContent.includes('reconnecting')",
        T,
    )
    .await
    .context("the page must show reconnecting when the socket drops")?;
    b.screenshot("05-reconnecting").await?;
    let server = Server::start(bin, data, port).await?;
    b.wait_js(
        "window.__beforeRestart === undefined && document.getElementById('current-role') && document.getElementById('current-role').textContent === 'observer' && document.getElementById('conn-status').textContent.includes('live')",
        Duration::from_secs(30),
    )
    .await
    .context("the page must come back by itself after the server restarts")?;
    // The same screen: the System tab that was open before the restart.
    b.wait_js(
        "document.getElementById('tab-system').classList.contains('active') && document.getElementById('users-table') !== null",
        T,
    )
    .await
    .context("the page must come back on the same tab")?;
    b.screenshot("06-back-after-restart").await?;

    // 6. Logout ends the session: back at /login, and / no longer opens the shell.
    b.client.find(Locator::Id("logout")).await?.click().await?;
    b.wait_path("/login", T)
        .await
        .context("sign out must land on /login")?;
    b.client.goto(&format!("{base}/")).await?;
    b.wait_path("/login", T)
        .await
        .context("after logout / must redirect to /login")?;
    b.screenshot("07-logged-out").await?;

    // 7. An operator's same action is carried out (and pushed to the page).
    b.login(base, "otto", "operator-password").await?;
    b.wait_path("/", T).await?;
    b.wait_js("document.getElementById('executor-start') !== null", T)
        .await?;
    b.client
        .find(Locator::Id("executor-start"))
        .await?
        .click()
        .await?;
    b.wait_js(
        "document.getElementById('executor-state').textContent === 'running'",
        T,
    )
    .await
    .context("an operator may start the executor")?;
    b.screenshot("08-operator-started").await?;

    // 8. The light theme is remembered per user (it survives a reload), and the shell fits
    //    a 10-inch tablet in portrait (800 × 1280) without sideways scrolling.
    b.client
        .find(Locator::Id("theme-toggle"))
        .await?
        .click()
        .await?;
    b.wait_js(
        "document.getElementById('app').classList.contains('theme-light')",
        T,
    )
    .await
    .context("the theme toggle switches to light")?;
    // Wait until the server has stored the preference (as /api/me reports it), then reload.
    b.wait_js(
        "(fetch('/api/me').then(r => r.json()).then(j => { window.__theme = j.theme; }), window.__theme === 'light')",
        T,
    )
    .await
    .context("the server must store the light theme")?;
    b.client.refresh().await?;
    b.wait_js(
        "document.getElementById('app') && document.getElementById('app').classList.contains('theme-light')",
        T,
    )
    .await
    .context("the light theme must be remembered for the user")?;
    b.client.set_window_size(800, 1280).await?;
    b.wait_js(
        "document.documentElement.scrollWidth <= window.innerWidth && document.getElementById('executor-start').getBoundingClientRect().width > 0",
        T,
    )
    .await
    .context("the shell must fit a 10-inch tablet without sideways scrolling")?;
    b.screenshot("09-tablet-light-theme").await?;
    drop(server);
    Ok(())
}
