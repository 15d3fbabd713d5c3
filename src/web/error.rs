//! The one place where server-side failures become HTTP answers: the real cause goes to the
//! log, the browser gets a plain sentence.

use axum::http::StatusCode;
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
