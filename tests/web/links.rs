//! Shareable links: `/runs/{id}` and `/runs/{id}/points/{label}` serve the LiveView shell
//! whose glue connects to `/ws?run={id}[&point={label}]`, and the socket checks those
//! parameters before it upgrades.

use super::fixture::{WITH_FILES, surface_run};
use super::util::{TestResult, get, login, start, ws_handshake_at};

#[tokio::test]
async fn shared_links_serve_the_shell_that_opens_the_run_or_point() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    let cookie = login(s.addr, "olga", "observer-password").await;

    let r = get(s.addr, &format!("/runs/{id}"), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(r#"<div id="main">"#));
    assert!(
        r.body.contains(&format!("\"/ws?run={id}\"")),
        "the glue connects to /ws?run={id}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let label = WITH_FILES[0];
    let r = get(s.addr, &format!("/runs/{id}/points/{label}"), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains(&format!("\"/ws?run={id}&point={label}\"")),
        "the glue connects to /ws?run={id}&point={label}"
    );

    // A label with characters that mean something in HTML or JavaScript is percent-encoded
    // in the glue, never written raw.
    let r = get(
        s.addr,
        &format!("/runs/{id}/points/x%22%3Cscript%3E'y"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("point=x%22%3Cscript%3E%27y"),
        "encoded label"
    );
    assert!(!r.body.contains("x\"<script>"), "raw label in the page");

    let r = get(s.addr, "/runs/999", Some(&cookie)).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no run 999"), "{}", r.body);
    assert_eq!(get(s.addr, "/runs/abc", Some(&cookie)).await.status, 400);
    assert_eq!(get(s.addr, "/runs/-1", Some(&cookie)).await.status, 400);
    assert_eq!(
        get(s.addr, &format!("/runs/{id}/points/%2e%2e"), Some(&cookie))
            .await
            .status,
        400
    );
    assert_eq!(
        get(s.addr, "/runs/999/points/theta0_phi0", Some(&cookie))
            .await
            .status,
        404
    );
    Ok(())
}

#[tokio::test]
async fn the_socket_checks_the_run_and_point_of_a_shared_link() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    let cookie = login(s.addr, "olga", "observer-password").await;
    let origin = format!("http://{}", s.addr);
    let label = WITH_FILES[1];
    for (path, want) in [
        (format!("/ws?run={id}"), 101),
        (format!("/ws?run={id}&point={label}"), 101),
        ("/ws?run=999".to_string(), 404),
        ("/ws?run=abc".to_string(), 400),
        (format!("/ws?run={id}&point=%2e%2e"), 400),
        (format!("/ws?run={id}&point=a%2Fb"), 400),
    ] {
        let (status, _) = ws_handshake_at(s.addr, &path, Some(&cookie), Some(&origin)).await;
        assert_eq!(status, want, "{path}");
    }
    // Without a session the query is not even looked at.
    let (status, _) = ws_handshake_at(s.addr, "/ws?run=999", None, Some(&origin)).await;
    assert_eq!(status, 401);
    Ok(())
}
