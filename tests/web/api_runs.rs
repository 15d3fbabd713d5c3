//! The read-only run API (`/api/runs`, `/api/runs/{id}`): its shape, its filters, and its
//! two ways in — a session cookie or an API token — with one constant refusal.

use serde_json::Value;

use super::fixture::{SERIAL, WITH_FILES, WITHOUT_FILES, surface_run};
use super::util::{TestResult, get, get_with, login, start};

#[tokio::test]
async fn bearer_tokens_read_the_api_until_revoked_and_wrong_ones_never() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let token = s.store.create_api_token("grafana")?;

    let r = get_with(s.addr, "/api/runs", None, Some(token.expose())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let runs: Value = serde_json::from_str(&r.body)?;
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    assert_eq!(runs[0]["id"], f.run.id);
    // A token reads the run's files too.
    let r = get_with(
        s.addr,
        &format!("/runs/{}/points/{}/result.json", f.run.id, WITH_FILES[0]),
        None,
        Some(token.expose()),
    )
    .await;
    assert_eq!(r.status, 200);

    // Missing, malformed, unknown: one answer, as JSON.
    let refused = get_with(s.addr, "/api/runs", None, None).await;
    assert_eq!(refused.status, 401);
    let err: Value = serde_json::from_str(&refused.body)?;
    assert!(err["error"].is_string(), "{}", refused.body);
    let unknown = "0".repeat(64);
    for bad in [unknown.as_str(), "not-a-token", &token.expose()[..63]] {
        let r = get_with(s.addr, "/api/runs", None, Some(bad)).await;
        assert_eq!(r.status, 401, "token {bad:?}");
        assert_eq!(r.body, refused.body, "the same answer whatever was wrong");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    // A wrong token is refused even next to a valid session.
    let cookie = login(s.addr, "olga", "observer-password").await;
    let r = get_with(s.addr, "/api/runs", Some(&cookie), Some(&unknown)).await;
    assert_eq!(r.status, 401);
    // The session alone reads it.
    assert_eq!(
        get_with(s.addr, "/api/runs", Some(&cookie), None)
            .await
            .status,
        200
    );

    assert!(s.store.revoke_api_token("grafana")?);
    let r = get_with(s.addr, "/api/runs", None, Some(token.expose())).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, refused.body);
    let r = get_with(
        s.addr,
        &format!("/runs/{}/download.zip", f.run.id),
        None,
        Some(token.expose()),
    )
    .await;
    assert_eq!(r.status, 401);

    // The token never reaches the audit log (nor, by the same code, the server log).
    for e in s.store.recent_audit(100)? {
        assert!(!e.details.to_string().contains(token.expose()));
    }
    Ok(())
}

#[tokio::test]
async fn run_api_lists_runs_and_shows_points_with_gain_and_health() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    // The GPU its slot's choice resolved to, as the monitor stores it at run start.
    s.store.set_run_gpu(
        id,
        &pmtwatch::model::RunGpu::Device {
            index: 1,
            uuid: "GPU-5fd2b6a4-0000-4000-8000-000000000001".into(),
            name: "NVIDIA H100 80GB HBM3".into(),
        },
    )?;
    let cookie = login(s.addr, "olga", "observer-password").await;

    let r = get(s.addr, "/api/runs", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let runs: Value = serde_json::from_str(&r.body)?;
    let run = &runs[0];
    for key in [
        "id",
        "serial",
        "slot",
        "kind",
        "state",
        "created",
        "operator",
        "points_done",
        "points_total",
        "review",
    ] {
        assert!(run.get(key).is_some(), "{key} in {run}");
    }
    assert_eq!(run["serial"], SERIAL);
    assert_eq!(run["kind"], "surface");
    assert_eq!(run["state"], "complete");
    assert_eq!(run["points_done"], 3);
    assert_eq!(run["points_total"], 21);
    assert_eq!(run["review"], "unreviewed");
    assert_eq!(run["gpu"]["kind"], "device");
    assert_eq!(run["gpu"]["index"], 1);
    assert_eq!(run["gpu_text"], "GPU 1 (NVIDIA H100 80GB HBM3)");
    let created = run["created"].as_str().unwrap_or_default();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {created}"
    );

    let r = get(s.addr, &format!("/api/runs/{id}"), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let detail: Value = serde_json::from_str(&r.body)?;
    for key in [
        "message",
        "started",
        "ended",
        "review_reason",
        "review_dest",
        "profile_name",
        "points",
    ] {
        assert!(detail.get(key).is_some(), "{key} in {detail}");
    }
    assert_eq!(detail["profile_name"], "bench");
    assert!(detail["ended"].as_str().is_some_and(|t| t.ends_with('Z')));
    let points = detail["points"].as_array().cloned().unwrap_or_default();
    assert_eq!(points.len(), 3);
    for (label, result) in WITH_FILES.iter().zip(&f.results) {
        let p = points
            .iter()
            .find(|p| p["label"] == *label)
            .ok_or("point missing")?;
        // serde_json's default float parsing may differ from the stored value in the last bit.
        let close = match (p["gain"].as_f64(), result.gain) {
            (Some(a), Some(b)) => (a - b).abs() <= b.abs() * 1e-12,
            (a, b) => a == b,
        };
        assert!(close, "{label}: {} vs {:?}", p["gain"], result.gain);
        assert_eq!(p["theta"].as_f64(), result.theta);
        assert_eq!(p["phi"].as_f64(), result.phi);
        assert!(p["hv"].is_null());
        let health = p["health"].as_str().unwrap_or_default();
        let status = p["status"].as_str().unwrap_or_default();
        let expected = match status {
            "healthy" | "warning" => status,
            _ => "poor",
        };
        assert_eq!(health, expected, "{label}: {}", result.health_reason);
    }
    let failed = points
        .iter()
        .find(|p| p["label"] == WITHOUT_FILES)
        .ok_or("point missing")?;
    assert_eq!(failed["status"], "fit_failed");
    assert_eq!(failed["health"], "poor", "every status but healthy is poor");
    assert!(failed["gain"].is_null() && failed["gain_err"].is_null());

    // Filters.
    let n = |body: &str| -> usize {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(usize::MAX)
    };
    let r = get(
        s.addr,
        "/api/runs?serial=km123&state=complete&limit=5",
        Some(&cookie),
    )
    .await;
    assert_eq!((r.status, n(&r.body)), (200, 1));
    let r = get(s.addr, "/api/runs?serial=ZZ99", Some(&cookie)).await;
    assert_eq!((r.status, n(&r.body)), (200, 0));
    let r = get(s.addr, "/api/runs?state=running", Some(&cookie)).await;
    assert_eq!((r.status, n(&r.body)), (200, 0));
    for bad in ["state=bogus", "limit=0", "limit=abc", "limit=5000"] {
        let r = get(s.addr, &format!("/api/runs?{bad}"), Some(&cookie)).await;
        assert_eq!(r.status, 400, "{bad}");
        let e: Value = serde_json::from_str(&r.body)?;
        assert!(e["error"].is_string(), "{bad}: {}", r.body);
    }
    let r = get(s.addr, "/api/runs/999", Some(&cookie)).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no run with id 999"), "{}", r.body);
    assert_eq!(
        get(s.addr, "/api/runs/abc", Some(&cookie)).await.status,
        400
    );
    Ok(())
}
