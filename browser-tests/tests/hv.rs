//! The HV check in a real browser (headless Chromium over WebDriver) against the built
//! `pmtwatch` binary, in the demo setup (local profile): `pmtwatch demo --hv-check` runs an
//! HV check of the simulated tube (gain 1e7 at 1712 V, slope 7, the highest voltage dark)
//! around a nominal 1700 V. In the HV tab its five cells, labelled "−100 V (1600 V)" …
//! "+100 V (1800 V)", fill in by themselves; the dark one is shown excluded with its
//! reason; the summary plot loads; the result line reads "HV for 1.00e7: … ± … V (4 of 5
//! points; 1800 V excluded: no signal)" with the voltage near the truth. Back in the Scan
//! tab, the slot switched to a surface scan is offered that voltage, the scan started there
//! records it, and History lists the HV check with its voltage.
//!
//! Screenshots go to `<target>/browser-screenshots/hv-*.png`. Fails (never skips) when
//! Chromium or chromedriver is missing.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use browser_tests::{Browser, click, pmtwatch_bin, start_demo};
use fantoccini::Locator;

const T: Duration = Duration::from_secs(20);
const CHECK: Duration = Duration::from_secs(180);
/// The demo tube's truth at nominal 1700 V (`demo --hv-check`: nominal + 12 V).
const TRUTH: f64 = 1712.0;
const CELLS: [(&str, &str); 5] = [
    ("hv1600", "\u{2212}100 V (1600 V)"),
    ("hv1650", "\u{2212}50 V (1650 V)"),
    ("hv1700", "0 V (1700 V)"),
    ("hv1750", "+50 V (1750 V)"),
    ("hv1800", "+100 V (1800 V)"),
];

/// JavaScript: the text of `#id` ('' while it is missing).
fn text_of(id: &str) -> String {
    format!("(document.getElementById({id:?}) || {{textContent: ''}}).textContent")
}

/// JavaScript: `data-<key>` of `#id` ('' while it is missing).
fn data_of(id: &str, key: &str) -> String {
    format!("((document.getElementById({id:?}) || {{dataset: {{}}}}).dataset.{key} || '')")
}

/// Runs `script` (a JavaScript function body) and returns its string result.
async fn js_string(b: &Browser, script: &str) -> Result<String> {
    let v = b.client.execute(script, vec![]).await?;
    v.as_str()
        .map(str::to_string)
        .with_context(|| format!("not a string from `{script}`: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_hv_check_fills_its_cells_fits_and_offers_its_voltage() -> Result<()> {
    let bin = pmtwatch_bin()?;
    let data = tempfile::tempdir()?;
    let mut demo = start_demo(
        &bin,
        &data.path().join("demo"),
        &[
            "--hv-check",
            "--nominal",
            "1700",
            "--interval",
            "0.3",
            "--events",
            "1500",
        ],
    )
    .await?;
    let b = Browser::start().await?;
    let result = hv_story(&b, &demo.base, &demo.password).await;
    if result.is_err() {
        let _ = b.screenshot("hv-99-failure").await;
    }
    b.close().await?;
    let _ = demo.child.kill().await;
    result
}

async fn hv_story(b: &Browser, base: &str, password: &str) -> Result<()> {
    b.login(base, "demo", password).await?;
    b.wait_path("/", T).await?;
    click(b, "tab-hv").await?;
    b.wait_js("document.getElementById('hv-cells-1') !== null", T)
        .await
        .context("the HV tab shows the demo's HV run")?;
    b.wait_js(
        "document.querySelectorAll('#hv-cells-1 .hv-cell').length === 5",
        T,
    )
    .await
    .context("five cells, one per voltage")?;
    // Labelled by their offset from the nominal voltage, in order.
    let labels = js_string(
        b,
        "return Array.from(document.querySelectorAll('#hv-cells-1 .cell-coords'))\
         .map(c => c.textContent).join('|');",
    )
    .await?;
    let want: Vec<&str> = CELLS.iter().map(|c| c.1).collect();
    ensure!(labels == want.join("|"), "cell labels: {labels}");
    b.screenshot("hv-01-filling").await?;

    // Every cell fills in by itself (pushed, not reloaded).
    for (label, title) in CELLS {
        b.wait_js(
            &format!(
                "{} === 'true'",
                data_of(&format!("hv-cell-1-{label}"), "done")
            ),
            CHECK,
        )
        .await
        .with_context(|| format!("the cell {title} fills in"))?;
    }
    for (label, title) in &CELLS[..4] {
        b.wait_js(
            &format!(
                "/\\d\\.\\d+e\\d+ ± \\d/.test({}) && {} === 'healthy'",
                text_of(&format!("hv-cell-1-{label}")),
                data_of(&format!("hv-cell-1-{label}"), "status")
            ),
            T,
        )
        .await
        .with_context(|| {
            format!("the cell {title} shows its gain with its error, healthy (no gain band)")
        })?;
    }
    b.wait_js(
        &format!(
            "{} === 'no signal' && document.getElementById('hv-cell-1-hv1800').classList.contains('excluded') \
             && {}.includes('excluded: no signal')",
            data_of("hv-cell-1-hv1800", "status"),
            text_of("hv-cell-1-hv1800")
        ),
        T,
    )
    .await
    .context("the dark voltage is excluded and says why")?;

    // The result line: the voltage with its error, the points used and the exclusion.
    b.wait_js(
        &format!(
            "/^HV for 1\\.00e7: \\d+ ± \\d+ V \\(4 of 5 points; 1800 V excluded: no signal\\)$/.test({})",
            text_of("hv-result-1")
        ),
        CHECK,
    )
    .await
    .context("the result line with the voltage and its error")?;
    b.wait_js(
        &format!("{} === 'complete'", data_of("hv-run-1", "state")),
        CHECK,
    )
    .await
    .context("the HV check completes")?;
    let volts: f64 = js_string(b, &format!("return {};", data_of("hv-result-1", "volts")))
        .await?
        .parse()
        .context("data-volts of the result")?;
    let line = js_string(b, &format!("return {};", text_of("hv-result-1"))).await?;
    let err: f64 = line
        .split(" ± ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|e| e.parse().ok())
        .with_context(|| format!("no error in {line:?}"))?;
    ensure!(
        err > 0.0 && (volts - TRUTH).abs() < (5.0 * err).max(10.0),
        "{line}: {volts} V, truth {TRUTH} V"
    );

    // The plot is there and loads.
    b.wait_js(
        "(() => { const i = document.getElementById('hv-plot-1'); \
         return i !== null && i.complete && i.naturalWidth > 100; })()",
        T,
    )
    .await
    .context("the summary plot loads")?;
    b.client
        .execute(
            "document.getElementById('hv-run-1').scrollIntoView({block: 'start'}); return true;",
            vec![],
        )
        .await?;
    b.screenshot("hv-02-fitted").await?;

    // The slot, switched to a surface scan, is offered the voltage …
    click(b, "tab-scan").await?;
    b.wait_js("document.getElementById('slot-1-kind') !== null", T)
        .await?;
    b.client
        .find(Locator::Css("#slot-1-kind option[value='surface']"))
        .await?
        .click()
        .await?;
    b.wait_js(
        &format!("{}.includes({line:?})", text_of("slot-1-hv-offer")),
        T,
    )
    .await
    .context("the surface scan is offered the HV check's result")?;
    let offered = js_string(
        b,
        &format!("return {};", data_of("slot-1-hv-offer", "volts")),
    )
    .await?;
    ensure!(
        offered == format!("{volts:.0}"),
        "offered {offered} V, fitted {volts} V"
    );
    b.screenshot("hv-03-offered").await?;

    // … the scan started there records it (the HV check is archived as it starts) …
    click(b, "slot-1-run").await?;
    b.wait_js(
        &format!("{}.includes(' · HV {offered} V')", text_of("slot-1-status")),
        T,
    )
    .await
    .context("the new surface scan records the offered voltage")?;

    // … and History lists the HV check with its voltage.
    click(b, "tab-history").await?;
    b.wait_js(
        &format!("{}.includes({offered:?})", text_of("history-hv-1")),
        T,
    )
    .await
    .context("History lists the HV check with its voltage")?;
    b.screenshot("hv-04-history").await?;
    Ok(())
}
