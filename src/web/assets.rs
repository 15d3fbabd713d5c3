//! Static files embedded in the binary (Dioxus LiveView serves none, and `asset!()` needs
//! the `dx` bundler). They are public: the login page needs them and they hold no data.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const STYLE: &str = include_str!("../../assets/style.css");
const RECONNECT: &str = include_str!("../../assets/reconnect.js");
const UPLOADS: &str = include_str!("../../assets/uploads.js");
const FAVICON: &str = include_str!("../../assets/favicon.svg");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

pub async fn reconnect() -> Response {
    asset("text/javascript; charset=utf-8", RECONNECT)
}

pub async fn uploads() -> Response {
    asset("text/javascript; charset=utf-8", UPLOADS)
}

pub async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON)
}
