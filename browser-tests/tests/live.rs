//! Live monitoring in a real browser (headless Chromium over WebDriver) against the built
//! `pmtwatch` binary:
//!
//! - `live_scan_two_browsers_review_and_history`: an admin creates a local compute profile
//!   in the form (step 2); an operator starts the executor, types a serial into slot PMT 1,
//!   picks the profile and runs live monitoring; a simulated bench plays the scan out while
//!   an observer watches in a second browser: both grids fill in by themselves (pushed, not
//!   reloaded), the weak spot shows as poor in both; the observer opens its spectrum and is
//!   refused when flagging; the operator flags the run with a reason: the run's data is
//!   moved to the flag area and History shows the run flagged.
//! - `slurm_scan_and_a_cancelled_run_in_the_browser`: against the test cluster's real
//!   SLURM (reached over SSH, `scripts/test-cluster.sh`): a SLURM profile made in the form,
//!   a run whose points arrive in the grid, and a second run stopped with "also cancel the
//!   job" — the controller then reports the job CANCELLED.
//! - `demo_from_an_empty_data_dir_fills_the_grid`: `pmtwatch demo` on an empty directory
//!   prints a password; signing in shows the grid of the simulated scan filling in, with
//!   the weak spot poor (its band excluded at 2σ) and the marginal spot a warning (its band
//!   edge within its error), each cell and the review panel saying why.
//!
//! Screenshots at each step go to `<target>/browser-screenshots/`. Fails (never skips) when
//! Chromium or chromedriver is missing.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use browser_tests::{
    Browser, Server, add_user, click, cluster_bench, cluster_profile_inputs, cluster_var,
    deploy_to_cluster, fill, free_port, pmtwatch_bin, run_slot, simulate, start_demo,
    start_executor,
};
use fantoccini::Locator;
use tokio::process::Command;

const T: Duration = Duration::from_secs(20);
const SCAN: Duration = Duration::from_secs(180);
const PATTERN: &str = "0/0 10/0 10/90 10/180 10/270";
const LABELS: [&str; 5] = [
    "theta0_phi0",
    "theta10_phi0",
    "theta10_phi90",
    "theta10_phi180",
    "theta10_phi270",
];
const POOR: &str = "theta10_phi90";

/// JavaScript: every cell of run `run` has a finished status.
fn grid_done(run: i64) -> String {
    let cells: Vec<String> = LABELS
        .iter()
        .map(|l| {
            format!(
                "['healthy','warning','poor','fit_failed','no_signal','unresolved','failed'].includes(\
                 (document.getElementById('cell-{run}-{l}') || {{dataset: {{}}}}).dataset.status)"
            )
        })
        .collect();
    cells.join(" && ")
}

fn status_is(run: i64, label: &str, status: &str) -> String {
    format!(
        "(document.getElementById('cell-{run}-{label}') || {{dataset: {{}}}}).dataset.status === {status:?}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_scan_two_browsers_review_and_history() -> Result<()> {
    let bin = pmtwatch_bin()?;
    let data = tempfile::tempdir()?;
    let bench = data.path().join("bench");
    for d in ["work", "scan", "archive", "flag"] {
        std::fs::create_dir_all(bench.join(d))?;
    }
    add_user(&bin, data.path(), "ada", "admin", "admin-password").await?;
    add_user(&bin, data.path(), "otto", "operator", "operator-password").await?;
    add_user(&bin, data.path(), "olga", "observer", "observer-password").await?;
    let server = Server::start(&bin, data.path(), free_port()?).await?;
    let base = server.url("");
    let op = Browser::start().await?;
    let obs = Browser::start().await?;
    let result = two_browsers(&op, &obs, &bin, &bench, &base).await;
    if result.is_err() {
        let _ = op.screenshot("live-99-operator-failure").await;
        let _ = obs.screenshot("live-99-observer-failure").await;
    }
    op.close().await?;
    obs.close().await?;
    drop(server);
    result
}

async fn two_browsers(
    op: &Browser,
    obs: &Browser,
    bin: &Path,
    bench: &Path,
    base: &str,
) -> Result<()> {
    let dir = |d: &str| bench.join(d).display().to_string();

    // 1. The admin creates the local profile in the form (validated as typed).
    op.login(base, "ada", "admin-password").await?;
    op.wait_path("/", T).await?;
    click(op, "step-remote").await?;
    click(op, "profile-new").await?;
    fill(op, "profile-name", "bench pc").await?;
    fill(op, "profile-work-dir", "relative/path").await?;
    op.wait_js(
        "document.getElementById('profile-work_dir-error') !== null",
        T,
    )
    .await
    .context("a relative working directory is flagged as typed")?;
    fill(op, "profile-work-dir", &dir("work")).await?;
    fill(op, "profile-scan-root", &dir("scan")).await?;
    fill(op, "profile-archive-dir", &dir("archive")).await?;
    fill(op, "profile-flag-dir", &dir("flag")).await?;
    fill(op, "profile-settle", "0.3").await?;
    fill(op, "profile-poll", "0.25").await?;
    fill(op, "profile-pattern", PATTERN).await?;
    fill(op, "profile-gain-min", "8500000").await?;
    fill(op, "profile-gain-max", "12000000").await?;
    // A health band is typed as text; a bad one is named in the analysis group.
    fill(op, "profile-band-dark-rate", "warn 3e4").await?;
    op.wait_js(
        "(document.getElementById('profile-analysis-error') || {textContent: ''}).textContent.includes('Dark rate (Hz): \"warn 3e4\" is not a limit')",
        T,
    )
    .await
    .context("a bad dark-rate band is named")?;
    fill(op, "profile-band-dark-rate", "warn > 1e4, poor > 3e4").await?;
    op.wait_js(
        "document.getElementById('profile-analysis-error') === null",
        T,
    )
    .await
    .context("a good band clears the problem")?;
    op.wait_js(
        "document.getElementById('profile-work_dir-error') === null",
        T,
    )
    .await?;
    op.screenshot("live-01-profile-form").await?;
    click(op, "profile-save").await?;
    op.wait_js(
        "(document.getElementById('profile-list') || {textContent: ''}).textContent.includes('bench pc')",
        T,
    )
    .await
    .context("the saved profile is listed")?;
    op.client.goto(&format!("{base}/logout")).await?;

    // 2. The operator starts the executor and runs slot PMT 1; the observer watches.
    op.login(base, "otto", "operator-password").await?;
    op.wait_path("/", T).await?;
    click(op, "step-executor").await?;
    click(op, "executor-start").await?;
    op.wait_js(
        "document.getElementById('executor-state').textContent === 'running'",
        T,
    )
    .await?;
    click(op, "tab-scan").await?;
    // A hostile serial is refused as typed.
    fill(op, "slot-1-serial", "KM1;rm -rf /").await?;
    op.wait_js("document.getElementById('slot-1-serial-error') !== null", T)
        .await
        .context("a bad serial is flagged")?;
    let serial = op.client.find(Locator::Id("slot-1-serial")).await?;
    serial.clear().await?;
    serial.send_keys("KM7001\u{E007}").await?;
    op.wait_js("document.getElementById('slot-1-serial-error') === null", T)
        .await?;
    op.client
        .find(Locator::Css("#slot-1-profile option[value='1']"))
        .await?
        .click()
        .await?;
    click(op, "slot-1-run").await?;
    op.wait_js("document.getElementById('grid-1') !== null", T)
        .await
        .context("the run's grid appears")?;

    obs.login(base, "olga", "observer-password").await?;
    obs.wait_path("/", T).await?;
    click(obs, "tab-scan").await?;
    obs.wait_js("document.getElementById('grid-1') !== null", T)
        .await
        .context("the observer sees the same run")?;
    op.screenshot("live-02-grid-pending").await?;

    // 3. The bench plays the scan out; both grids fill in by themselves.
    let sim = simulate(bin, &bench.join("scan"), "KM7001", PATTERN, Some(POOR), 0.5).status();
    let sim = tokio::time::timeout(SCAN, sim)
        .await
        .context("the simulated bench did not finish")??;
    ensure!(sim.success(), "pmtwatch simulate failed");
    for (b, who) in [(op, "operator"), (obs, "observer")] {
        b.wait_js(&grid_done(1), SCAN)
            .await
            .with_context(|| format!("the {who}'s grid fills in"))?;
        b.wait_js(&status_is(1, POOR, "poor"), T)
            .await
            .with_context(|| format!("the {who} sees the weak spot poor"))?;
        b.wait_js(&status_is(1, "theta0_phi0", "healthy"), T)
            .await?;
        b.wait_js(
            "(document.getElementById('slot-1-status') || {dataset: {}}).dataset.state === 'complete'",
            SCAN,
        )
        .await
        .with_context(|| format!("the {who} sees the run complete"))?;
    }
    op.screenshot("live-03-grid-complete").await?;
    obs.screenshot("live-03-observer-grid").await?;

    // 4. The observer opens the poor point's spectrum and is refused when flagging.
    click(obs, &format!("cell-1-{POOR}")).await?;
    obs.wait_js(
        "(document.getElementById('review-img') || {naturalWidth: 0}).naturalWidth > 0",
        T,
    )
    .await
    .context("the observer sees the spectrum")?;
    fill(obs, "run-1-flag-reason", "looks odd").await?;
    click(obs, "run-1-flag").await?;
    obs.wait_js(
        "(document.getElementById('run-1-message') || {textContent: ''}).textContent.includes('Refused')",
        T,
    )
    .await
    .context("the server refuses the observer's flag")?;
    obs.screenshot("live-04-observer-refused").await?;

    // 5. The operator opens the spectrum with its fit and flags the run.
    click(op, &format!("cell-1-{POOR}")).await?;
    op.wait_js(
        "(document.getElementById('review-img') || {naturalWidth: 0}).naturalWidth > 0",
        T,
    )
    .await?;
    op.wait_js(
        "(document.getElementById('review-params') || {textContent: ''}).textContent.toLowerCase().includes('gain')",
        T,
    )
    .await
    .context("the fit's parameter table")?;
    op.screenshot("live-05-review").await?;
    fill(op, "run-1-flag-reason", "weak spot at θ10 φ90").await?;
    click(op, "run-1-flag").await?;
    op.wait_js(
        "(document.getElementById('run-1-review') || {textContent: ''}).textContent.includes('flagged')",
        T,
    )
    .await
    .context("the run shows flagged")?;
    let moved = bench.join("flag").join("KM7001_run1");
    ensure!(
        moved.join(POOR).join("result.json").is_file(),
        "the run's data is in the flag area: {}",
        moved.display()
    );
    ensure!(
        !bench.join("work/runs/1-KM7001").exists(),
        "the run's data left the working directory"
    );

    // 6. History shows the run flagged.
    click(op, "tab-history").await?;
    click(op, "history-apply").await?;
    op.wait_js(
        "(document.getElementById('history-row-1') || {dataset: {}}).dataset.review === 'flagged'",
        T,
    )
    .await
    .context("History shows the run flagged")?;
    op.screenshot("live-06-history").await?;
    Ok(())
}

/// The test cluster's coordinates (`scripts/test-cluster.sh start` prints them).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_scan_and_a_cancelled_run_in_the_browser() -> Result<()> {
    let bin = pmtwatch_bin()?;
    let slurm_conf = cluster_var("PMT_SLURM_CONF")?;
    deploy_to_cluster(&bin)?;

    let data = tempfile::tempdir()?;
    let bench = cluster_bench("pmtwatch-browser-slurm")?;
    add_user(&bin, data.path(), "ada", "admin", "admin-password").await?;
    let server = Server::start(&bin, data.path(), free_port()?).await?;
    let base = server.url("");
    let b = Browser::start().await?;
    let result = async {
        b.login(&base, "ada", "admin-password").await?;
        b.wait_path("/", T).await?;
        click(&b, "step-remote").await?;
        click(&b, "profile-new").await?;
        fill(&b, "profile-name", "test cluster").await?;
        b.client
            .find(Locator::Css("#profile-kind option[value='slurm']"))
            .await?
            .click()
            .await?;
        for (id, v) in cluster_profile_inputs(&bench, 0.3, 0.25, PATTERN)? {
            fill(&b, id, &v).await?;
        }
        click(&b, "profile-test").await?;
        b.wait_js(
            "(document.getElementById('profile-test-verdict') || {className: ''}).className === 'ok'",
            Duration::from_secs(60),
        )
        .await
        .context("the connection test passes")?;
        b.screenshot("slurm-01-connection-test").await?;
        click(&b, "profile-save").await?;
        b.wait_js(
            "(document.getElementById('profile-list') || {textContent: ''}).textContent.includes('test cluster')",
            T,
        )
        .await?;
        start_executor(&b).await?;
        click(&b, "tab-scan").await?;
        fill(&b, "slot-2-serial", "KM8002").await?;
        b.client
            .find(Locator::Css("#slot-2-profile option[value='1']"))
            .await?
            .click()
            .await?;
        run_slot(&b, 1, "KM8001", 1).await?;
        let sim = simulate(&bin, &bench.join("scan"), "KM8001", PATTERN, Some(POOR), 0.5).status();
        let sim = tokio::time::timeout(SCAN, sim).await??;
        ensure!(sim.success(), "pmtwatch simulate failed");
        b.wait_js(&grid_done(1), SCAN)
            .await
            .context("the SLURM run's grid fills in")?;
        b.wait_js(&status_is(1, POOR, "poor"), T).await?;
        b.screenshot("slurm-02-grid").await?;

        // A second run whose scan never starts: stop it and cancel its job.
        click(&b, "slot-2-run").await?;
        b.wait_js(
            "(document.getElementById('slot-2-status') || {textContent: ''}).textContent.includes('SLURM job')",
            Duration::from_secs(60),
        )
        .await
        .context("the second run's job is submitted")?;
        let status = b
            .client
            .find(Locator::Id("slot-2-status"))
            .await?
            .text()
            .await?;
        let job: u64 = status
            .split("SLURM job ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no job id in {status:?}"))?;
        click(&b, "slot-2-stop").await?;
        b.wait_js(
            "(document.getElementById('slot-2-cancel-job') || {checked: false}).checked === true",
            T,
        )
        .await
        .context("cancelling the job is offered and checked")?;
        click(&b, "slot-2-stop-yes").await?;
        b.wait_js(
            "(document.getElementById('slot-2-status') || {dataset: {}}).dataset.state === 'cancelled'",
            Duration::from_secs(60),
        )
        .await
        .context("the run ends cancelled")?;
        b.screenshot("slurm-03-cancelled").await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("scontrol")
                .args(["show", "job", "-o", &job.to_string()])
                .env("SLURM_CONF", &slurm_conf)
                .output()
                .await
                .context("scontrol (install slurm-client)")?;
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if text.contains("JobState=CANCELLED") {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "job {job} is not cancelled on the cluster: {text}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if result.is_err() {
        let _ = b.screenshot("slurm-99-failure").await;
    }
    b.close().await?;
    drop(server);
    let _ = std::fs::remove_dir_all(&bench);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_from_an_empty_data_dir_fills_the_grid() -> Result<()> {
    let bin = pmtwatch_bin()?;
    let data = tempfile::tempdir()?;
    let demo = start_demo(
        &bin,
        &data.path().join("demo"),
        &["--interval", "0.3", "--events", "1500"],
    )
    .await?;
    let (mut child, password, base) = (demo.child, demo.password, demo.base);
    let b = Browser::start().await?;
    let result = async {
        b.login(&base, "demo", &password).await?;
        b.wait_path("/", T).await?;
        click(&b, "tab-scan").await?;
        b.wait_js("document.getElementById('grid-1') !== null", T)
            .await?;
        b.wait_js(
            "document.querySelectorAll('#grid-1 [data-status]').length === 21",
            T,
        )
        .await
        .context("the R12860 grid has 21 cells")?;
        b.wait_js(
            "Array.from(document.querySelectorAll('#grid-1 [data-status]')).every(c => \
             ['healthy','warning','poor','fit_failed','no_signal','unresolved','failed']\
             .includes(c.dataset.status))",
            SCAN,
        )
        .await
        .context("the demo's grid fills in")?;
        b.wait_js(&status_is(1, "theta30_phi180", "poor"), T)
            .await
            .context("the demo's weak spot is poor")?;
        b.wait_js(&status_is(1, "theta40_phi90", "poor"), T)
            .await
            .context("the demo's light leak is poor")?;
        b.wait_js(
            "document.querySelectorAll('#grid-1 [data-status=\"poor\"]').length === 2",
            T,
        )
        .await
        .context("exactly two poor points: the weak spot and the light leak")?;
        b.screenshot("demo-01-grid").await?;
        // Honest colours: the poor cell says by how many σ the band is excluded; the
        // marginal spot, under the band by less than 2σ, is a warning and says so.
        let title = |label: &str| {
            format!("(document.getElementById('cell-1-{label}') || {{title: ''}}).title")
        };
        b.wait_js(
            &format!(
                "{t}.includes('poor') && {t}.includes('below the band') && {t}.includes('σ (> 2σ)')",
                t = title("theta30_phi180")
            ),
            T,
        )
        .await
        .context("the poor cell says why: the band is excluded at more than 2σ")?;
        b.wait_js(
            &format!(
                "{t}.includes('poor') && {t}.includes('gain') && !{t}.includes('dark rate')",
                t = title("theta30_phi180")
            ),
            T,
        )
        .await
        .context("the weak spot is poor for its gain, and only that")?;
        b.wait_js(
            &format!(
                "{t}.includes('poor') && {t}.includes('dark rate') && {t}.includes('above the poor limit')",
                t = title("theta40_phi90")
            ),
            T,
        )
        .await
        .context("the light leak is poor for its dark rate, and says so")?;
        b.wait_js(&status_is(1, "theta10_phi0", "warning"), T)
            .await
            .context("the marginal spot (band edge within its error) is a warning")?;
        b.wait_js(
            &format!(
                "{t}.includes('warning') && {t}.includes('below the band') && \
                 {t}.includes('within 2σ of its edge')",
                t = title("theta10_phi0")
            ),
            T,
        )
        .await
        .context("the warning cell says why")?;
        let word = |label: &str| {
            format!(
                "(document.querySelector('#cell-1-{label} .cell-word') || {{textContent: ''}}).textContent"
            )
        };
        b.wait_js(
            &format!(
                "{} === 'warning' && {} === 'poor'",
                word("theta10_phi0"),
                word("theta30_phi180")
            ),
            T,
        )
        .await
        .context("the cells show their verdict in words")?;
        click(&b, "cell-1-theta10_phi0").await?;
        b.wait_js(
            "(document.getElementById('review-health') || {textContent: ''}).textContent === 'warning' && \
             (document.getElementById('review-params') || {textContent: ''}).textContent.includes('within 2σ of its edge')",
            T,
        )
        .await
        .context("the review panel says warning, and why")?;
        b.screenshot("demo-02-warning-review").await?;
        click(&b, "cell-1-theta30_phi180").await?;
        b.wait_js(
            "(document.getElementById('review-health') || {textContent: ''}).textContent === 'poor' && \
             (document.getElementById('review-params') || {textContent: ''}).textContent.includes('(> 2σ)')",
            T,
        )
        .await
        .context("the review panel says poor, and why")?;
        b.screenshot("demo-03-poor-review").await?;
        click(&b, "cell-1-theta40_phi90").await?;
        b.wait_js(
            "(document.getElementById('review-health') || {textContent: ''}).textContent === 'poor' && \
             (() => { const r = document.querySelector('#review-checks tr[data-criterion=\"dark rate\"] td:last-child'); \
                      return r !== null && r.textContent === 'poor'; })() && \
             (() => { const r = document.querySelector('#review-checks tr[data-criterion=\"gain\"] td:last-child'); \
                      return r !== null && r.textContent === 'healthy'; })() && \
             document.getElementById('review-timing-fit') !== null",
            T,
        )
        .await
        .context("the review panel's checks show the dark rate poor and the gain healthy, and the timing histogram with its fit")?;
        b.screenshot("demo-04-light-leak-review").await?;
        // The run summary counts each criterion; the grid coloured by dark rate puts the
        // leak at the top of the ramp.
        b.wait_js(
            "(() => { const d = document.querySelector('#criteria-1 dd[data-criterion=\"dark rate\"]'); \
                      const g = document.querySelector('#criteria-1 dd[data-criterion=\"gain\"]'); \
                      return d !== null && d.textContent.startsWith('1 poor') && g !== null && g.textContent.startsWith('1 poor'); })()",
            T,
        )
        .await
        .context("the summary counts one point poor for its dark rate and one for its gain")?;
        browser_tests::fill(&b, "colour-by-1", "dark_rate").await?;
        b.wait_js(
            "(() => { const cells = Array.from(document.querySelectorAll('#grid-1 [data-figure]')) \
                        .filter(c => c.dataset.figure !== ''); \
                      if (cells.length < 20 || document.getElementById('legend-1') === null) return false; \
                      const top = cells.reduce((a, c) => Number(c.dataset.figure) > Number(a.dataset.figure) ? c : a); \
                      return top.id === 'cell-1-theta40_phi90' && top.style.background !== ''; })()",
            T,
        )
        .await
        .context("coloured by dark rate, the light leak is the top of the ramp, with a legend")?;
        b.screenshot("demo-05-colour-by-dark-rate").await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if result.is_err() {
        let _ = b.screenshot("demo-99-failure").await;
    }
    b.close().await?;
    let _ = child.kill().await;
    result
}
