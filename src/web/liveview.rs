//! The shell page and its LiveView socket. `/ws` authenticates in our own handler — a
//! valid session cookie and an allowed `Origin` — before the WebSocket upgrade; only then is
//! a VirtualDom launched, with the user and the server's handles as root context. The socket
//! closes when that session logs out or the server shuts down; the page's reconnect script
//! then reloads it.
//!
//! Shareable links: `/runs/{id}` and `/runs/{id}/points/{label}` serve the same shell, whose
//! glue connects to `/ws?run={id}&point={label}`; the socket hands that run (and point) to
//! the views as [`ShellContext::open`], and they open it at once.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use dioxus::prelude::VirtualDom;
use dioxus_liveview::axum_socket;
use futures_util::StreamExt;

use super::auth::{current_user, origin_allowed};
use super::error::AppError;
use super::files::{label_from, run_for};
use super::{AppState, pages};
use crate::views::{self, ShellContext};

fn login_redirect() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/login")]).into_response()
}

/// Percent-encodes a query value: only `A–Z a–z 0–9 - . _ ~` stay as they are, so the value
/// is also safe inside the glue's JavaScript string and the HTML page.
fn query_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The socket address a shared link's page connects to.
pub fn socket_url(run: i64, point: Option<&str>) -> String {
    match point {
        Some(p) => format!("/ws?run={run}&point={}", query_encode(p)),
        None => format!("/ws?run={run}"),
    }
}

/// `GET /runs/{id}`: the shell, opening run `id` (302 to the login form without a session).
pub async fn run_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok(login_redirect());
    };
    let Ok(Path(id)) = id else {
        return Ok((StatusCode::BAD_REQUEST, "this path cannot be read").into_response());
    };
    let run = match run_for(&state, &id).await {
        Ok(r) => r,
        Err(answer) => return Ok(answer),
    };
    Ok(shell_page(&socket_url(run.id, None), user.theme.as_str()))
}

/// `GET /runs/{id}/points/{label}`: the shell, opening that point of run `id`.
pub async fn point_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok(login_redirect());
    };
    let Ok(Path((id, label))) = path else {
        return Ok((StatusCode::BAD_REQUEST, "this path cannot be read").into_response());
    };
    let run = match run_for(&state, &id).await {
        Ok(r) => r,
        Err(answer) => return Ok(answer),
    };
    let label = match label_from(&label) {
        Ok(l) => l,
        Err(answer) => return Ok(answer),
    };
    Ok(shell_page(
        &socket_url(run.id, Some(label.as_str())),
        user.theme.as_str(),
    ))
}

/// The shell with glue that connects to `ws_url` (built per request: ~39 KB).
fn shell_page(ws_url: &str, theme: &str) -> Response {
    let glue = dioxus_liveview::interpreter_glue(ws_url);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::shell(&glue, theme)),
    )
        .into_response()
}

/// `run` and `point` of the socket's query (a shared link's page), checked: `Ok(None)`
/// without `run`; `Err` with an answer for a malformed value or a run that does not exist.
async fn open_from_query(
    state: &AppState,
    uri: &Uri,
) -> Result<Option<(i64, Option<String>)>, Response> {
    let q = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|_| {
            (StatusCode::BAD_REQUEST, "the socket's query cannot be read").into_response()
        })?;
    let Some(raw) = q.get("run") else {
        return Ok(None);
    };
    let run = run_for(state, raw).await?;
    let point = match q.get("point") {
        Some(p) => Some(label_from(p)?.into_string()),
        None => None,
    };
    Ok(Some((run.id, point)))
}

/// `GET /`: the shell page for a signed-in user, otherwise a redirect to the login form.
pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok(login_redirect());
    };
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::shell(state.glue(), user.theme.as_str())),
    )
        .into_response())
}

/// `GET /ws`: the LiveView socket, for a valid session from an allowed origin only.
pub async fn socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok((StatusCode::UNAUTHORIZED, "sign in first: no valid session").into_response());
    };
    if !origin_allowed(&state, &headers, true) {
        tracing::warn!(user = %user.name, "LiveView socket refused: foreign or missing Origin");
        return Ok((StatusCode::FORBIDDEN, "refused: foreign origin").into_response());
    }
    let open = match open_from_query(&state, &uri).await {
        Ok(open) => open,
        Err(answer) => return Ok(answer),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let ended = state.session_ended(user.session_id);
    let ctx = ShellContext {
        user,
        commands: state.commands().clone(),
        reads: state.reads().clone(),
        hub: state.hub().clone(),
        open,
    };
    let pool = state.pool().clone();
    Ok(upgrade.on_upgrade(move |ws| async move {
        let _counted = state.live_socket_guard();
        let ws = axum_socket(ws).take_until(ended);
        let launched = pool
            .launch_virtualdom(ws, move || {
                VirtualDom::new(views::Root).with_root_context(ctx)
            })
            .await;
        if let Err(e) = launched {
            tracing::debug!("LiveView connection ended: {e:?}");
        }
    }))
}
