//! `webbench`: the web app's speed and memory figures for BENCHMARKS.md.
//!
//! Starts the built `pmtwatch serve` (see `browser_tests::pmtwatch_bin`; set
//! `PMTWATCH_BIN` to measure a release build) and measures:
//! 1. first page load to interactive: navigation start → the shell's first render in
//!    `#main`, read in the page (`window.pmtwatchReadyAt`, set by `assets/reconnect.js`);
//! 2. click → DOM update, measured in the page: `performance.now()` before `click()` on a
//!    tab, a MutationObserver sees the new panel title;
//! 3. R rounds of M sessions connecting and disconnecting, RSS after each round (fresh
//!    server; `/api/status` confirms the server dropped every connection);
//! 4. server RSS with N authenticated LiveView WebSocket sessions held open (fresh server).
//!
//! Usage: `webbench [--loads 20] [--clicks 300] [--sessions 1000] [--rounds 10] [--round-size 500]`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use browser_tests::{Browser, Server, add_user, free_port, pmtwatch_bin};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

struct Opts {
    loads: usize,
    clicks: usize,
    sessions: usize,
    rounds: usize,
    round_size: usize,
}

fn opts() -> Result<Opts> {
    let mut o = Opts {
        loads: 20,
        clicks: 300,
        sessions: 1000,
        rounds: 10,
        round_size: 500,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args
            .get(i + 1)
            .with_context(|| format!("{} needs a value", args[i]))?
            .parse::<usize>()
            .with_context(|| format!("{} needs a number", args[i]))?;
        match args[i].as_str() {
            "--loads" => o.loads = v,
            "--clicks" => o.clicks = v,
            "--sessions" => o.sessions = v,
            "--rounds" => o.rounds = v,
            "--round-size" => o.round_size = v,
            other => bail!("unknown option {other}"),
        }
        i += 2;
    }
    Ok(o)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name}: n={} p50={:.2} ms p95={:.2} ms max={:.2} ms",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// Logs in over plain HTTP and returns the session cookie value.
async fn http_login(addr: SocketAddr, user: &str, password: &str) -> Result<String> {
    let body = format!("username={user}&password={password}");
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    out.lines()
        .find_map(|l| l.strip_prefix("set-cookie: pmtwatch_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .with_context(|| format!("login failed: {}", out.lines().next().unwrap_or("")))
}

/// Opens `n` LiveView sockets; returns their reader tasks once each got its first render.
async fn open_sessions(
    addr: SocketAddr,
    cookie: &str,
    n: usize,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(n);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(), String>>(n.max(1));
    for _ in 0..n {
        let mut req = format!("ws://{addr}/ws").into_client_request()?;
        req.headers_mut().insert(
            "cookie",
            HeaderValue::from_str(&format!("pmtwatch_session={cookie}"))?,
        );
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(&format!("http://{addr}"))?);
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .context("WebSocket connect failed")?;
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let (_, mut read) = ws.split();
            let first = read.next().await;
            let _ = tx
                .send(match first {
                    Some(Ok(_)) => Ok(()),
                    other => Err(format!("{other:?}")),
                })
                .await;
            while let Some(Ok(_)) = read.next().await {}
        }));
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => bail!("session {i} got no first render: {e}"),
            Ok(None) => bail!("session readers ended early"),
            Err(_) => bail!("only {i} of {n} sessions rendered within 120 s"),
        }
    }
    Ok(handles)
}

/// Open LiveView connections as the server counts them (`/api/status`).
async fn live_sockets(addr: SocketAddr, cookie: &str) -> Result<u64> {
    let req = format!(
        "GET /api/status HTTP/1.1\r\nHost: {addr}\r\nCookie: pmtwatch_session={cookie}\r\nConnection: close\r\n\r\n"
    );
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body).context("bad /api/status answer")?;
    v["liveview_connections"]
        .as_u64()
        .context("no liveview_connections in /api/status")
}

/// Waits (at most 60 s) until the server has dropped every LiveView connection.
async fn wait_closed(addr: SocketAddr, cookie: &str) -> Result<Duration> {
    let t = Instant::now();
    loop {
        let n = live_sockets(addr, cookie).await?;
        if n == 0 {
            return Ok(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("the server still holds {n} LiveView connections 60 s after they closed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Page load and click latency, measured inside a headless Chromium page.
async fn browser_phase(o: &Opts, base: &str) -> Result<()> {
    let b = Browser::start().await?;
    b.login(base, "bench", "bench-password").await?;
    b.wait_path("/", Duration::from_secs(20)).await?;
    let mut loads = Vec::new();
    for _ in 0..o.loads {
        b.client.goto(&format!("{base}/")).await?;
        b.wait_js(
            "typeof window.pmtwatchReadyAt === 'number'",
            Duration::from_secs(20),
        )
        .await?;
        let v = b
            .client
            .execute("return window.pmtwatchReadyAt;", vec![])
            .await?;
        loads.push(v.as_f64().unwrap_or(f64::NAN));
    }
    summary("page load → interactive", loads);
    b.wait_js(
        "document.getElementById('tab-hv') !== null",
        Duration::from_secs(20),
    )
    .await?;
    let script = r#"
const n = arguments[0]; const done = arguments[arguments.length - 1];
const times = []; let i = 0;
const tabs = [['tab-hv', 'HV check'], ['tab-history', 'History']];
const root = document.getElementById('main');
function one() {
  if (i >= n) { done(times); return; }
  const [id, want] = tabs[i % 2];
  const obs = new MutationObserver(() => {
    const h = document.querySelector('.panel h2');
    if (h && h.textContent === want) {
      obs.disconnect(); times.push(performance.now() - t0); i++; setTimeout(one, 2);
    }
  });
  obs.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
  const t0 = performance.now();
  document.getElementById(id).click();
}
one();
"#;
    let v = b
        .client
        .execute_async(script, vec![o.clicks.into()])
        .await
        .context("the in-page click measurement failed")?;
    let clicks: Vec<f64> = v
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    summary("click → DOM update (in page)", clicks);
    b.close().await?;

    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = opts()?;
    let bin = pmtwatch_bin()?;
    println!("binary: {}", bin.display());
    let data = tempfile::tempdir()?;
    add_user(&bin, data.path(), "bench", "operator", "bench-password").await?;
    let port = free_port()?;
    let server = Server::start(&bin, data.path(), port).await?;
    let base = server.url("");

    // 1 + 2: in a real browser (skipped with `--loads 0 --clicks 0`).
    if o.loads > 0 || o.clicks > 0 {
        browser_phase(&o, &base).await?;
    }
    server.kill().await?;

    // 3: rounds of connect/disconnect, on a fresh server so that round 1 sets the level.
    let server = Server::start(&bin, data.path(), port).await?;
    let pid = server.pid().context("no server pid")?;
    let addr = server.addr;
    let cookie = http_login(addr, "bench", "bench-password").await?;
    settle().await;
    println!("fresh server: RSS {} KiB", rss_kib(pid)?);
    let mut after = Vec::new();
    for r in 0..o.rounds {
        let hs = open_sessions(addr, &cookie, o.round_size).await?;
        for h in &hs {
            h.abort();
        }
        drop(hs);
        let closed_in = wait_closed(addr, &cookie).await?;
        settle().await;
        let rss = rss_kib(pid)?;
        println!(
            "round {}: {} sessions opened and closed (server had dropped them all after {:.1} s); RSS {} KiB",
            r + 1,
            o.round_size,
            closed_in.as_secs_f64(),
            rss
        );
        after.push(rss);
    }
    if let (Some(first), Some(last)) = (after.first(), after.last()) {
        println!(
            "RSS after round {} vs round 1: {:+.1} %",
            after.len(),
            (*last as f64 - *first as f64) * 100.0 / *first as f64
        );
    }
    server.kill().await?;

    // 4: many sessions held, on a fresh server.
    let server = Server::start(&bin, data.path(), port).await?;
    let pid = server.pid().context("no server pid")?;
    let cookie = http_login(addr, "bench", "bench-password").await?;
    settle().await;
    let base_rss = rss_kib(pid)?;
    let t = Instant::now();
    let held = open_sessions(addr, &cookie, o.sessions).await?;
    settle().await;
    let held_rss = rss_kib(pid)?;
    let open_now = live_sockets(addr, &cookie).await?;
    println!(
        "{} sessions open in {:.1} s, all rendered, no errors (server counts {open_now} open); \
         RSS {} KiB → {} KiB: {:.3} MB per session",
        o.sessions,
        t.elapsed().as_secs_f64(),
        base_rss,
        held_rss,
        (held_rss.saturating_sub(base_rss)) as f64 / 1024.0 / o.sessions.max(1) as f64
    );
    for h in &held {
        h.abort();
    }
    drop(held);
    let closed_in = wait_closed(addr, &cookie).await?;
    settle().await;
    println!(
        "after closing them (server dropped all in {:.1} s): RSS {} KiB",
        closed_in.as_secs_f64(),
        rss_kib(pid)?
    );
    drop(server);
    Ok(())
}
