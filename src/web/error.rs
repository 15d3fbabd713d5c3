//! The one place where server-side failures become HTTP answers: the real cause goes to the
//! log, the browser gets a plain sentence.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store;

/// A failure while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Store(#[from] store::Error),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!("request failed: {self}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "pmtwatch could not answer this request because of a server-side error; \
             the server log has the details.",
        )
            .into_response()
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
