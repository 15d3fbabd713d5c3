//! Which routes need a session: every page, socket and API route refuses a request without
//! one (302 to /login for pages, 401 for the API and the socket); only /healthz, /login and
//! the static assets answer anyone.

use super::util::{TestResult, get, login, request, start};

#[tokio::test]
async fn healthz_answers_without_a_session() -> TestResult {
    let s = start().await;
    let r = get(s.addr, "/healthz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok");
    Ok(())
}

#[tokio::test]
async fn every_route_without_a_session_is_refused() -> TestResult {
    let s = start().await;
    for (path, want) in [
        ("/", 302),
        ("/ws", 401),
        ("/api/me", 401),
        ("/api/anything", 401),
        ("/api/status", 401),
        ("/logout", 302),
        ("/runs/1/plot.png", 302),
        ("/some/page", 302),
    ] {
        let r = get(s.addr, path, None).await;
        assert_eq!(r.status, want, "GET {path} without a session: {r:?}");
        if want == 302 {
            assert_eq!(r.header("location"), Some("/login"), "GET {path}");
        }
        // A forged or stale cookie is no better than none.
        let forged = "ab".repeat(32);
        let r = get(s.addr, path, Some(&forged)).await;
        assert_eq!(r.status, want, "GET {path} with a forged cookie: {r:?}");
    }
    Ok(())
}

#[tokio::test]
async fn links_files_references_and_the_run_api_need_a_session() -> TestResult {
    let s = start().await;
    for (path, want) in [
        ("/runs/1", 302),
        ("/runs/abc", 302),
        ("/runs/1/points/theta0_phi0", 302),
        ("/runs/1/points/theta0_phi0/charge.png", 401),
        ("/runs/1/points/theta0_phi0/charge.png?overlay=1", 401),
        ("/runs/1/points/%2e%2e/charge.png", 401),
        ("/runs/1/points/theta0_phi0/result.json", 401),
        ("/runs/1/gainmap.png", 401),
        ("/runs/1/download.zip", 401),
        ("/runs/1/logbook/1/attachment", 401),
        ("/references", 401),
        ("/references/R12860", 401),
        ("/api/runs", 401),
        ("/api/runs/1", 401),
        ("/api/runs?state=bogus", 401),
    ] {
        for cookie in [None, Some("ab".repeat(32))] {
            let r = get(s.addr, path, cookie.as_deref()).await;
            assert_eq!(r.status, want, "GET {path} (cookie {cookie:?}): {r:?}");
            if want == 302 {
                assert_eq!(r.header("location"), Some("/login"), "GET {path}");
            }
        }
    }
    let r = request(s.addr, "POST", "/references/R12860", &[], b"0,1\n1,2\n").await;
    assert_eq!(r.status, 401, "POST /references without a session");
    let r = request(s.addr, "POST", "/runs/1/logbook", &[], b"text=x").await;
    assert_eq!(r.status, 401, "POST /runs/1/logbook without a session");
    Ok(())
}

#[tokio::test]
async fn login_page_and_assets_are_public() -> TestResult {
    let s = start().await;
    let r = get(s.addr, "/login", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#"name="username""#) && r.body.contains(r#"name="password""#));
    assert!(
        r.body.contains(r#"action="/login""#),
        "a plain form that works without JS"
    );
    for (path, ty) in [
        ("/assets/style.css", "text/css"),
        ("/assets/reconnect.js", "text/javascript"),
        ("/assets/uploads.js", "text/javascript"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let r = get(s.addr, path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type").is_some_and(|c| c.starts_with(ty)),
            "{path}"
        );
    }
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    Ok(())
}

#[tokio::test]
async fn with_a_session_the_shell_and_api_answer() -> TestResult {
    let s = start().await;
    let cookie = login(s.addr, "otto", "operator-password").await;
    let r = get(s.addr, "/", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#"<div id="main">"#));
    assert!(r.body.contains("/assets/reconnect.js"));
    assert!(r.body.contains("/ws"), "the glue connects to /ws");
    let r = get(s.addr, "/api/me", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    let me: serde_json::Value = serde_json::from_str(&r.body)?;
    assert_eq!(me["name"], "otto");
    assert_eq!(me["role"], "operator");
    assert_eq!(
        get(s.addr, "/no/such/page", Some(&cookie)).await.status,
        404
    );
    // Signed in, /login goes straight to the shell.
    let r = get(s.addr, "/login", Some(&cookie)).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/")));
    Ok(())
}
