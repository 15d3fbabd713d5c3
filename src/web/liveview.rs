//! The shell page and its LiveView socket. `/ws` authenticates in our own handler — a
//! valid session cookie and an allowed `Origin` — before the WebSocket upgrade; only then is
//! a VirtualDom launched, with the user and the server's handles as root context. The socket
//! closes when that session logs out or the server shuts down; the page's reconnect script
//! then reloads it.

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use dioxus::prelude::VirtualDom;
use dioxus_liveview::axum_socket;
use futures_util::StreamExt;

use super::auth::{current_user, origin_allowed};
use super::error::AppError;
use super::{AppState, pages};
use crate::views::{self, ShellContext};

/// `GET /`: the shell page for a signed-in user, otherwise a redirect to the login form.
pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok((StatusCode::FOUND, [(header::LOCATION, "/login")]).into_response());
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
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok((StatusCode::UNAUTHORIZED, "sign in first: no valid session").into_response());
    };
    if !origin_allowed(&state, &headers, true) {
        tracing::warn!(user = %user.name, "LiveView socket refused: foreign or missing Origin");
        return Ok((StatusCode::FORBIDDEN, "refused: foreign origin").into_response());
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let ended = state.session_ended(user.session_id);
    let ctx = ShellContext {
        user,
        commands: state.commands().clone(),
        hub: state.hub().clone(),
        open: None,
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
