//! `GET /metrics`: Prometheus' text exposition format, for a lab's existing Prometheus and
//! Grafana. Needs an API token (`Authorization: Bearer`, from `pmtwatch token create`) or
//! a session, like the read-only API; without one it answers 401 (plain text) before
//! anything is gathered. A scrape config is in README.md ("Metrics").

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::FileReader;
use super::error::AppError;
use crate::monitor::metrics::CONTENT_TYPE;

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>, _: FileReader) -> Result<Response, AppError> {
    match state.hub().metrics_text().await {
        Ok(text) => Ok((
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response()),
        Err(e) => {
            tracing::error!("/metrics: {e}");
            Ok((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics could not be gathered; the server log says why",
            )
                .into_response())
        }
    }
}
