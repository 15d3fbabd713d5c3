//! Who is asking: the session cookie, the Origin check and the client address. Every
//! handler that serves data calls [`current_user`] first; the LiveView socket also calls
//! [`origin_allowed`] before it upgrades.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

use crate::store::{SessionToken, SessionUser};

use super::AppState;
use super::error::AppError;

/// The session cookie's name.
pub const COOKIE: &str = "pmtwatch_session";

/// The session token from the `Cookie` header, if one is there.
pub fn session_token(headers: &HeaderMap) -> Option<SessionToken> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| SessionToken::from_cookie(value))
}

/// The user of a valid session, or `None` (no cookie, unknown, expired or revoked).
pub async fn current_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SessionUser>, AppError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    // A cookie value that is not one of our tokens cannot match; skip the database.
    if token.expose().len() != 64 || !token.expose().bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let idle = state.config().idle_secs();
    Ok(state
        .store()
        .run(move |s| s.session_user(&token, idle))
        .await?)
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(state: &AppState, token: &SessionToken) -> String {
    let secure = if state.config().secure_cookie {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        token.expose(),
        state.config().absolute_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    let secure = if state.config().secure_cookie {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// Whether the request's `Origin` is this server itself (same scheme-less host:port as the
/// `Host` header) or one of the configured origins. A missing Origin is refused when
/// `required` (browsers always send it on WebSocket upgrades) and allowed otherwise (a
/// plain form post from an old browser).
pub fn origin_allowed(state: &AppState, headers: &HeaderMap, required: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return !required;
    };
    if state
        .config()
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    origin_host.is_some_and(|h| h.eq_ignore_ascii_case(host))
}

/// The client's address for throttling and the audit log: the peer, or the first
/// `X-Forwarded-For` entry when configured and the peer is a local proxy.
pub fn client_addr(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if state.config().trust_proxy_headers
        && peer.ip().is_loopback()
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}
