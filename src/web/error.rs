//! The one place where failures become HTTP answers: a server-side failure's real cause
//! goes to the log and the browser gets a plain sentence; a request without the right
//! credentials gets its 401 here (JSON on API routes, plain text on file routes), whether a
//! handler returns it or an extractor ([`super::auth::SignedIn`], [`super::auth::Reader`],
//! [`super::auth::FileReader`]) rejects the request before the handler runs.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store;

/// A failure while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Store(#[from] store::Error),
    /// An API route that needs a session got none: 401, JSON.
    #[error("no valid session")]
    NoSession,
    /// A read-only API route got neither a session nor a valid API token: 401, JSON, with
    /// `WWW-Authenticate: Bearer` — one answer whatever was wrong with the token.
    #[error("no valid session or API token")]
    NoReader,
    /// A file route got neither a session nor a valid API token: 401, plain text, with
    /// `WWW-Authenticate: Bearer`.
    #[error("no valid session or API token for a file")]
    NoFileReader,
    /// An upload without a session: 401, plain text.
    #[error("no valid session for an upload")]
    NoUploadSession,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Store(_) => {
                tracing::error!("request failed: {self}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "pmtwatch could not answer this request because of a server-side error; \
                     the server log has the details.",
                )
                    .into_response()
            }
            AppError::NoSession => (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "no valid session: sign in at /login" })),
            )
                .into_response(),
            AppError::NoReader => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({
                    "error": "no valid session or API token: sign in at /login or send Authorization: Bearer <token>"
                })),
            )
                .into_response(),
            AppError::NoFileReader => {
                let mut r = text(
                    StatusCode::UNAUTHORIZED,
                    "sign in first (or send Authorization: Bearer <token>): no valid session or API token",
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            AppError::NoUploadSession => text(
                StatusCode::UNAUTHORIZED,
                "sign in first: no valid session (uploads need an operator's or admin's session)",
            ),
        }
    }
}

/// A plain-text answer (a refusal or a missing thing, said in a sentence).
pub(crate) fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

/// A 500: `what` goes to the log, the browser gets the plain sentence.
pub(crate) fn server_error(what: &str) -> Response {
    tracing::error!("request failed: {what}");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "pmtwatch could not answer this request because of a server-side error; the server \
         log has the details.",
    )
}
