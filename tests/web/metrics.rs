//! `GET /metrics`: Prometheus text format with an API token or a session, 401 without;
//! the sampler's disk gauges and the run counts are in it, and `promtool check metrics`
//! (Debian package `prometheus`) accepts the output.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use pmtwatch::monitor::SamplerConfig;

use super::util::{TestResult, get_with, login, start};

#[tokio::test]
async fn metrics_scrape_with_a_token_or_session_in_prometheus_text_format() -> TestResult {
    let s = start().await;
    let monitor = s.state.monitor().clone();
    monitor.start_sampler(SamplerConfig {
        every: Duration::from_millis(200),
        remote: false,
        ..SamplerConfig::default()
    });
    // The first sample (bounded wait).
    let mut sampled = false;
    for _ in 0..100 {
        if monitor.system_snapshot().sampled_at > 0 {
            sampled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sampled, "the sampler never published a status");

    let refused = get_with(s.addr, "/metrics", None, None).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let wrong = get_with(s.addr, "/metrics", None, Some(&"ab".repeat(32))).await;
    assert_eq!(wrong.status, 401);

    let token = s.store.create_api_token("prometheus")?;
    let r = get_with(s.addr, "/metrics", None, Some(token.expose())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.headers
    );
    let data = s.data_dir().display().to_string();
    for want in [
        "pmtwatch_runs{state=\"running\"} 0",
        "# TYPE pmtwatch_point_processing_seconds histogram",
        "# TYPE pmtwatch_point_to_grid_seconds histogram",
        "pmtwatch_ssh_reconnects_total ",
        "pmtwatch_slurm_polls_total ",
        "pmtwatch_host_load1{host=\"this machine\"}",
        &format!("pmtwatch_disk_free_bytes{{host=\"this machine\",path=\"{data}\",role=\"data\"}}"),
    ] {
        assert!(r.body.contains(want), "{want:?} missing from\n{}", r.body);
    }

    let cookie = login(s.addr, "olga", "observer-password").await;
    let by_session = get_with(s.addr, "/metrics", Some(&cookie), None).await;
    assert_eq!(by_session.status, 200);

    // promtool (Debian: `prometheus`) must accept it, lint included.
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("promtool is needed to check /metrics: apt-get install prometheus ({e})")
        })?;
    child
        .stdin
        .take()
        .ok_or("promtool's stdin")?
        .write_all(r.body.as_bytes())?;
    let out = child.wait_with_output()?;
    assert!(
        out.status.success(),
        "promtool check metrics refused the output:\n{}{}\n--- output ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        r.body
    );
    monitor.stop_sampler();
    Ok(())
}
