//! `livebench`: live-monitoring speed figures for BENCHMARKS.md, in a real browser against
//! the test cluster (`scripts/test-cluster.sh start` first; its variables in the
//! environment).
//!
//! 1. Point result written on the remote → grid cell updated in the browser: four slots run
//!    scans at once — three over SSH (pipeline mode), one under SLURM (over SSH, polling
//!    every `--slurm-poll` s). A MutationObserver in the page notes `Date.now()` when each
//!    cell first shows a final status; the point's `result.json` on the remote (same
//!    machine, same clock) has the mtime of its write. Latency = the difference.
//! 2. With those four scans running, click → DOM update in the page: open a cell's review
//!    panel, close it (each a round trip over the LiveView socket), `performance.now()`
//!    around `click()` and a MutationObserver.
//!
//! Usage: `livebench [--points 21] [--interval 1.0] [--clicks 200] [--slurm-poll 0.5]`

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use browser_tests::{
    Browser, Server, add_user, click, cluster_bench, cluster_profile_inputs, deploy_to_cluster,
    fill, free_port, pmtwatch_bin, simulate,
};
use fantoccini::Locator;

const T: Duration = Duration::from_secs(30);

struct Opts {
    points: usize,
    interval: f64,
    clicks: usize,
    slurm_poll: f64,
}

fn opts() -> Result<Opts> {
    let mut o = Opts {
        points: 21,
        interval: 1.0,
        clicks: 200,
        slurm_poll: 0.5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--bench" {
            continue;
        }
        let v = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--points" => o.points = v.parse()?,
            "--interval" => o.interval = v.parse()?,
            "--clicks" => o.clicks = v.parse()?,
            "--slurm-poll" => o.slurm_poll = v.parse()?,
            _ => bail!("unknown option {flag}"),
        }
    }
    Ok(o)
}

fn summary(what: &str, mut v: Vec<f64>) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        println!("{what}: no samples");
        return;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    println!(
        "{what}: n={} p50={:.1} ms p95={:.1} ms max={:.1} ms",
        v.len(),
        q(0.5),
        q(0.95),
        v[v.len() - 1]
    );
}

/// The R12860 pattern's first `n` labels.
fn labels(n: usize) -> Vec<String> {
    let mut v = vec!["theta0_phi0".to_string()];
    for t in [10, 20, 30, 40, 50] {
        for p in [0, 90, 180, 270] {
            v.push(format!("theta{t}_phi{p}"));
        }
    }
    v.truncate(n);
    v
}

async fn profile(b: &Browser, name: &str, kind: &str, fields: &[(&str, String)]) -> Result<()> {
    click(b, "profile-new").await?;
    fill(b, "profile-name", name).await?;
    b.client
        .find(Locator::Css(&format!(
            "#profile-kind option[value='{kind}']"
        )))
        .await?
        .click()
        .await?;
    for (id, v) in fields {
        fill(b, id, v).await?;
    }
    click(b, "profile-save").await?;
    b.wait_js(
        &format!(
            "(document.getElementById('profile-list') || {{textContent: ''}}).textContent.includes({name:?})"
        ),
        T,
    )
    .await
    .with_context(|| format!("profile {name} saved"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = opts()?;
    let bin = pmtwatch_bin()?;
    println!("binary: {}", bin.display());
    deploy_to_cluster(&bin)?;
    let bench = cluster_bench("pmtwatch-livebench")?;
    let data = tempfile::tempdir()?;
    add_user(&bin, data.path(), "ada", "admin", "admin-password").await?;
    let server = Server::start(&bin, data.path(), free_port()?).await?;
    let base = server.url("");
    let b = Browser::start().await?;
    let r = run(&o, &b, &bin, &bench, &base).await;
    b.close().await?;
    drop(server);
    let _ = std::fs::remove_dir_all(&bench);
    r
}

async fn run(o: &Opts, b: &Browser, bin: &Path, bench: &Path, base: &str) -> Result<()> {
    b.login(base, "ada", "admin-password").await?;
    b.wait_path("/", T).await?;
    click(b, "step-remote").await?;
    let pattern: String = labels(o.points)
        .iter()
        .map(|l| {
            let (t, p) = l
                .trim_start_matches("theta")
                .split_once("_phi")
                .unwrap_or(("0", "0"));
            format!("{t}/{p}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let common = |poll: f64| cluster_profile_inputs(bench, 0.2, poll, &pattern);
    profile(b, "ssh", "ssh", &common(1.0)?).await?;
    profile(b, "slurm", "slurm", &common(o.slurm_poll)?).await?;
    click(b, "step-executor").await?;
    click(b, "executor-start").await?;
    click(b, "tab-scan").await?;
    click(b, "slot-add").await?;
    click(b, "slot-add").await?;
    b.wait_js("document.getElementById('slot-4') !== null", T)
        .await?;
    // Slots 1, 3, 4 over SSH (profile 1), slot 2 under SLURM (profile 2).
    let slots: [(i64, &str, i64); 4] = [
        (1, "LB0001", 1),
        (2, "LB0002", 2),
        (3, "LB0003", 1),
        (4, "LB0004", 1),
    ];
    for (slot, sn, p) in slots {
        fill(b, &format!("slot-{slot}-serial"), sn).await?;
        b.client
            .find(Locator::Css(&format!(
                "#slot-{slot}-profile option[value='{p}']"
            )))
            .await?
            .click()
            .await?;
    }
    b.client
        .execute(
            r#"window.cellTimes = {};
new MutationObserver(() => {
  for (const c of document.querySelectorAll('[data-status]')) {
    if (!(c.id in window.cellTimes) &&
        ['healthy','poor','fit_failed','no_signal','failed'].includes(c.dataset.status)) {
      window.cellTimes[c.id] = Date.now();
    }
  }
}).observe(document.getElementById('main'), {subtree: true, childList: true, attributes: true});
return true;"#,
            vec![],
        )
        .await?;
    for (slot, _, _) in slots {
        click(b, &format!("slot-{slot}-run")).await?;
    }
    // Each slot's run id, from the grid its card shows.
    let mut runs = Vec::new();
    for (slot, _, _) in slots {
        let q = format!("document.querySelector('#slot-{slot} [id^=grid-]')");
        b.wait_js(&format!("{q} !== null"), Duration::from_secs(60))
            .await?;
        let id = b.client.execute(&format!("return {q}.id;"), vec![]).await?;
        let run: i64 = id
            .as_str()
            .and_then(|s| s.strip_prefix("grid-"))
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("slot {slot}: grid id {id}"))?;
        runs.push(run);
    }
    let mut sims = Vec::new();
    for (_, sn, _) in slots {
        sims.push(simulate(bin, &bench.join("scan"), sn, &pattern, None, o.interval).spawn()?);
    }
    // 2. Clicks while the four scans run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cell = format!("cell-{}-theta0_phi0", runs[0]);
    let (open, close) = clicks(b, o.clicks, &cell).await?;
    let running = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('[id^=slot-][id$=-status]')).filter(e => e.dataset.state === 'running').length;",
            vec![],
        )
        .await?;
    summary(
        &format!("click → review panel open, four scans ({running} still running at the end)"),
        open,
    );
    summary("click → review panel closed, four scans", close);
    for mut s in sims {
        tokio::time::timeout(Duration::from_secs(300), s.wait()).await??;
    }
    for (slot, _, _) in slots {
        b.wait_js(
            &format!(
                "(document.getElementById('slot-{slot}-status') || {{dataset: {{}}}}).dataset.state === 'complete'"
            ),
            Duration::from_secs(300),
        )
        .await
        .with_context(|| format!("slot {slot} completes"))?;
    }
    let (open, close) = clicks(b, o.clicks, &cell).await?;
    summary("click → review panel open, scans finished", open);
    summary("click → review panel closed, scans finished", close);
    let times = b.client.execute("return window.cellTimes;", vec![]).await?;
    let mut ssh = Vec::new();
    let mut slurm = Vec::new();
    for ((_, sn, p), run) in slots.iter().zip(&runs) {
        for l in labels(o.points) {
            let shown = times[format!("cell-{run}-{l}")].as_f64();
            let file = bench
                .join("work/runs")
                .join(format!("{run}-{sn}"))
                .join(&l)
                .join("result.json");
            let written = std::fs::metadata(&file)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64() * 1e3);
            if let (Some(shown), Some(written)) = (shown, written) {
                if *p == 1 { &mut ssh } else { &mut slurm }.push(shown - written);
            }
        }
    }
    summary(
        "point written on the remote → grid cell (SSH, 3 slots)",
        ssh,
    );
    summary(
        &format!(
            "point written on the remote → grid cell (SLURM, poll {} s)",
            o.slurm_poll
        ),
        slurm,
    );
    Ok(())
}

/// `n` clicks alternately opening the review panel of `cell` and closing it, timed in the
/// page; (open times, close times) in ms.
async fn clicks(b: &Browser, n: usize, cell: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let script = r#"
const n = arguments[0]; const cell = arguments[1]; const done = arguments[arguments.length - 1];
const open = [], close = []; let i = 0;
const root = document.getElementById('main');
function one() {
  if (i >= n) { done([open, close]); return; }
  const opening = document.getElementById('review') === null;
  const target = opening ? document.getElementById(cell)
                         : document.getElementById('review-close');
  const obs = new MutationObserver(() => {
    if ((document.getElementById('review') === null) !== opening) {
      obs.disconnect(); (opening ? open : close).push(performance.now() - t0); i++;
      setTimeout(one, 5);
    }
  });
  obs.observe(root, { subtree: true, childList: true });
  const t0 = performance.now();
  target.click();
}
one();
"#;
    let v = b
        .client
        .execute_async(script, vec![n.into(), cell.into()])
        .await
        .context("the in-page click measurement failed")?;
    let list = |k: usize| -> Vec<f64> {
        v[k].as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default()
    };
    Ok((list(0), list(1)))
}
