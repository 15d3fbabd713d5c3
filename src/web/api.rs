//! The JSON API: `GET /api/me` (who is signed in) and `GET /api/status` (server state,
//! e.g. open LiveView connections, for monitoring and the benchmark). Like every API route
//! they answer 401 (not a redirect) without a valid session.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::auth::current_user;
use super::error::AppError;

/// The 401 answer of every API route without a session.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "no valid session: sign in at /login" })),
    )
        .into_response()
}

/// `GET /api/me`: who the session belongs to.
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Ok(unauthorized());
    };
    Ok(Json(json!({
        "name": user.name,
        "role": user.role.as_str(),
        "theme": user.theme.as_str(),
    }))
    .into_response())
}

/// `GET /api/status`: how many LiveView connections are open.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if current_user(&state, &headers).await?.is_none() {
        return Ok(unauthorized());
    }
    Ok(Json(json!({ "liveview_connections": state.live_sockets() })).into_response())
}
