//! `pmtwatch serve`: the operator web app on a TCP address until Ctrl-C or SIGTERM. Prints
//! `listening on http://ADDR` on stdout once bound (tests and scripts read it when the port
//! is 0), explains how to create the first account when there is none, and warns when
//! bound beyond loopback (pmtwatch speaks plain HTTP: put a TLS reverse proxy in front).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::monitor::Monitor;
use crate::store::Store;
use crate::web::{self, AppState, WebConfig};

/// Arguments of `pmtwatch serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Beyond loopback, use a TLS reverse proxy (README).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub bind: SocketAddr,
    /// Data directory (database, results). Default: see `pmtwatch serve --help`.
    #[arg(long, value_name = "DIR", env = "PMTWATCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML config file with a `[web]` table (cookie, timeouts, throttling, origins) and an
    /// `[alarms]` table (alarm thresholds, notification rules and targets).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The data directory: `--data-dir` / `$PMTWATCH_DATA_DIR` if given, else
/// `$XDG_DATA_HOME/pmtwatch`, else `~/.local/share/pmtwatch`, else `./pmtwatch-data`.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        return d.to_path_buf();
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("pmtwatch");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/pmtwatch");
    }
    PathBuf::from("pmtwatch-data")
}

/// Runs `pmtwatch serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => WebConfig::from_file(path)?,
        None => WebConfig::default(),
    };
    let dir = data_dir(args.data_dir.as_deref());
    let store = Store::open_dir(&dir)?;
    if store.count_users()? == 0 {
        eprintln!(
            "pmtwatch: there are no accounts yet. Create the first admin with\n  \
             pmtwatch user add NAME --role admin --data-dir {}",
            dir.display()
        );
    }
    if !args.bind.ip().is_loopback() {
        eprintln!(
            "pmtwatch: WARNING: listening on {} beyond loopback over plain HTTP. Passwords and \
             session cookies would cross the network unencrypted: bind 127.0.0.1 and put a TLS \
             reverse proxy in front (README, \"Web app\"), with secure_cookie = true in [web].",
            args.bind
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let monitor = start_monitor(&store, &dir).await?;
        if let Some(alarms) = config.alarms.clone() {
            apply_alarm_config(&store, &monitor, alarms).await?;
        }
        serve(args.bind, store, config, &dir, monitor, |_| {}).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the monitor (resuming every run that has not ended) and its System tab sampler;
/// local profiles run this very binary.
pub async fn start_monitor(store: &Store, dir: &Path) -> anyhow::Result<Monitor> {
    let program = std::env::current_exe()
        .context("cannot find this program's path (for local profiles)")?
        .display()
        .to_string();
    let monitor = Monitor::start(store.clone(), dir, program)
        .await
        .context("cannot start the monitor")?;
    monitor.start_sampler(crate::monitor::SamplerConfig::default());
    Ok(monitor)
}

/// Applies the config file's `[alarms]` table (audited as `config-file`); it replaces
/// what an admin saved in the UI before this start.
pub async fn apply_alarm_config(
    store: &Store,
    monitor: &Monitor,
    alarms: crate::model::AlarmConfig,
) -> anyhow::Result<()> {
    if *monitor.alarm_config() == alarms {
        return Ok(());
    }
    let names: Vec<String> = alarms
        .targets
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    let details = serde_json::json!({ "targets": names, "rules": alarms.rules.len() });
    store
        .run(move |s| s.audit("config-file", "alarm_config", &details))
        .await
        .context("cannot write the audit entry of the [alarms] settings")?;
    monitor
        .set_alarm_config(alarms)
        .await
        .context("the [alarms] settings of the config file were refused")
}

/// Serves the app until Ctrl-C or SIGTERM. Prints `listening on http://ADDR` once bound,
/// then calls `ready` with the address.
pub async fn serve(
    bind: SocketAddr,
    store: Store,
    config: WebConfig,
    dir: &Path,
    monitor: Monitor,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} (in use? try another --bind)"))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let sampler = monitor.clone();
    let state = AppState::new(store, config, monitor);
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "pmtwatch: listening on http://{local} (data dir {})",
            dir.display()
        )?;
        out.flush()?;
    }
    ready(local);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("pmtwatch: shutting down");
        stop_tx.send_replace(true);
    });
    let mut stop_a = stop_rx.clone();
    let mut stop_b = stop_rx;
    let served = web::serve(listener, state, async move {
        let _ = stop_a.wait_for(|s| *s).await;
    });
    // Requests in flight get a few seconds after the signal; then we exit regardless.
    tokio::select! {
        r = served => r.context("the web server failed")?,
        _ = async move {
            let _ = stop_b.wait_for(|s| *s).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => eprintln!("pmtwatch: connections still open after 5 s; exiting anyway"),
    }
    sampler.stop_sampler();
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
