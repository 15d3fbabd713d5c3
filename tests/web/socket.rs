//! The LiveView socket: our handler checks the session and the Origin before upgrading.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::util::{TestResult, get, login, start, ws_handshake};

#[tokio::test]
async fn upgrade_without_a_session_is_refused() -> TestResult {
    let s = start().await;
    let origin = format!("http://{}", s.addr);
    let (status, _) = ws_handshake(s.addr, None, Some(&origin)).await;
    assert_eq!(status, 401);
    let forged = "cd".repeat(32);
    let (status, _) = ws_handshake(s.addr, Some(&forged), Some(&origin)).await;
    assert_eq!(status, 401);
    Ok(())
}

#[tokio::test]
async fn upgrade_with_a_foreign_or_missing_origin_is_refused() -> TestResult {
    let s = start().await;
    let cookie = login(s.addr, "otto", "operator-password").await;
    for origin in [
        Some("http://evil.example"),
        Some("http://127.0.0.1:1"),
        Some("null"),
        None,
    ] {
        let (status, _) = ws_handshake(s.addr, Some(&cookie), origin).await;
        assert_eq!(status, 403, "origin {origin:?}");
    }
    Ok(())
}

/// Reads from an upgraded socket until the server closes it (EOF) or `limit` passes.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 8192];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.is_ok()
}

#[tokio::test]
async fn upgrade_with_session_and_same_origin_is_accepted_and_logout_closes_it() -> TestResult {
    let s = start().await;
    let cookie = login(s.addr, "otto", "operator-password").await;
    let origin = format!("http://{}", s.addr);
    let (status, mut ws) = ws_handshake(s.addr, Some(&cookie), Some(&origin)).await;
    assert_eq!(status, 101);
    // The first frame is the initial render (a binary frame: opcode 2).
    let mut first = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), ws.read_exact(&mut first)).await??;
    assert_eq!(first[0] & 0x0f, 2, "a binary frame with the initial edits");
    assert!(
        !closed_within(&mut ws, Duration::from_millis(300)).await,
        "stays open"
    );
    // Logging out (from another tab) closes the open page's socket.
    assert_eq!(get(s.addr, "/logout", Some(&cookie)).await.status, 303);
    assert!(
        closed_within(&mut ws, Duration::from_secs(10)).await,
        "closed after logout"
    );
    Ok(())
}

/// Regression (issue 10): an open page kept receiving updates after its session expired;
/// now its socket closes soon after the expiry.
#[tokio::test]
async fn an_expired_session_closes_its_open_page() -> TestResult {
    let s = super::util::start_with(pmtwatch::web::WebConfig {
        absolute_timeout: Duration::from_secs(3),
        ..pmtwatch::web::WebConfig::default()
    })
    .await;
    let cookie = login(s.addr, "otto", "operator-password").await;
    let origin = format!("http://{}", s.addr);
    let (status, mut ws) = ws_handshake(s.addr, Some(&cookie), Some(&origin)).await;
    assert_eq!(status, 101);
    assert!(
        closed_within(&mut ws, Duration::from_secs(20)).await,
        "the socket of an expired session is closed"
    );
    Ok(())
}
