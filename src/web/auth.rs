//! Who is asking: the session cookie, API tokens (`Authorization: Bearer`), the Origin
//! check and the client address. Handlers that serve data take an extractor — [`SignedIn`]
//! (a session), [`Reader`] (session or API token, JSON 401) or [`FileReader`] (the same,
//! plain-text 401) — so the check runs before the handler and its refusal is one
//! [`AppError`]; pages that redirect to the login form call [`current_user`] themselves.
//! The LiveView socket also calls [`origin_allowed`] before it upgrades. Token values are
//! never logged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::model::SessionUser;

use crate::store::SessionToken;

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

/// Who reads a read-only route: a signed-in user, or a script with an API token.
#[derive(Debug, Clone)]
pub enum Reader {
    User(SessionUser),
    /// An API token, by its name.
    Token(String),
}

/// A signed-in user; without a valid session the request is answered
/// [`AppError::NoSession`] before the handler runs.
#[derive(Debug, Clone)]
pub struct SignedIn(pub SessionUser);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        current_user(state, &parts.headers)
            .await?
            .map(SignedIn)
            .ok_or(AppError::NoSession)
    }
}

/// On read-only API routes: the session or API token of [`reader`], or
/// [`AppError::NoReader`].
impl FromRequestParts<AppState> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        reader(state, &parts.headers)
            .await?
            .ok_or(AppError::NoReader)
    }
}

/// On file routes: the session or API token of [`reader`], or [`AppError::NoFileReader`]
/// (plain text: the answer may open in a browser tab).
#[derive(Debug, Clone)]
pub struct FileReader(pub Reader);

impl FromRequestParts<AppState> for FileReader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        reader(state, &parts.headers)
            .await?
            .map(FileReader)
            .ok_or(AppError::NoFileReader)
    }
}

/// The value of an `Authorization: Bearer …` header, when there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Who is asking on a read-only route. A bearer token, when sent, decides alone (a wrong
/// or revoked one is refused even with a session cookie); otherwise the session cookie.
/// `None`: refuse, with the same answer whatever was wrong.
pub async fn reader(state: &AppState, headers: &HeaderMap) -> Result<Option<Reader>, AppError> {
    let Some(token) = bearer_token(headers) else {
        return Ok(current_user(state, headers).await?.map(Reader::User));
    };
    // Our tokens are 64 hex digits; anything else cannot match: skip the database.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let token = token.to_string();
    let name = state
        .store()
        .run(move |s| s.check_api_token(&token))
        .await?;
    Ok(name.map(Reader::Token))
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
