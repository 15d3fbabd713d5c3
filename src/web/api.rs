//! The JSON API. `GET /api/me` (who is signed in) and `GET /api/status` (server state,
//! e.g. open LiveView connections, for monitoring and the benchmark) need a session; the
//! read-only run API for scripts and dashboards — `GET /api/runs` and `GET /api/runs/{id}` —
//! takes a session or an API token (`Authorization: Bearer`, from `pmtwatch token create`).
//! Every API route answers 401 with a JSON `{"error": …}` (not a redirect) otherwise; a
//! refused token gets the same answer whatever was wrong with it.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Reader, SignedIn};
use super::error::AppError;
use crate::model::{Run, RunFilter, RunState, rfc3339};
use crate::store::{Point, PointStatus};

/// `GET /api/me`: who the session belongs to.
pub async fn me(SignedIn(user): SignedIn) -> Result<Response, AppError> {
    Ok(Json(json!({
        "name": user.name,
        "role": user.role.as_str(),
        "theme": user.theme.as_str(),
    }))
    .into_response())
}

/// `GET /api/status`: how many LiveView connections are open.
pub async fn status(State(state): State<AppState>, _: SignedIn) -> Result<Response, AppError> {
    Ok(Json(json!({ "liveview_connections": state.live_sockets() })).into_response())
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}

/// A JSON answer that caches nowhere (runs change while they are followed).
fn fresh(value: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(value)).into_response()
}

/// The fields of a run in `GET /api/runs`.
fn run_summary(r: &Run) -> serde_json::Map<String, Value> {
    let v = json!({
        "id": r.id,
        "serial": r.serial,
        "slot": r.slot_id,
        "kind": r.kind.as_str(),
        "state": r.state.as_str(),
        "created": rfc3339(r.created_at),
        "operator": r.operator,
        "points_done": r.points_done,
        "points_total": r.points_total,
        "review": r.review.as_str(),
        // What the slot's GPU choice resolved to (null for runs from before the choice),
        // and as the run's status line says it.
        "gpu": r.gpu,
        "gpu_text": r.gpu.as_ref().map(|g| g.label()),
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `healthy`, `warning` or `poor` (every other status: no gain to trust), as the grid
/// colours a point.
pub fn health(status: PointStatus) -> &'static str {
    match status {
        PointStatus::Healthy => "healthy",
        PointStatus::Warning => "warning",
        _ => "poor",
    }
}

fn point_json(p: &Point) -> Value {
    json!({
        "label": p.label,
        "theta": p.theta,
        "phi": p.phi,
        "hv": p.hv,
        "status": p.status.as_str(),
        "gain": p.gain,
        "gain_err": p.gain_err,
        "health": health(p.status),
    })
}

/// The query of `GET /api/runs`; every field optional, checked by hand so the error says
/// which one is wrong.
#[derive(Debug, Default, serde::Deserialize)]
struct RunsQuery {
    serial: Option<String>,
    state: Option<String>,
    limit: Option<String>,
}

/// `GET /api/runs?serial=&state=&limit=`: runs, newest first (default 200, at most 1000).
pub async fn runs(
    State(state): State<AppState>,
    _: Reader,
    uri: Uri,
) -> Result<Response, AppError> {
    let Ok(Query(q)) = Query::<RunsQuery>::try_from_uri(&uri) else {
        return Ok(bad_request(
            "the query cannot be read: use ?serial=SN&state=STATE&limit=N".into(),
        ));
    };
    let mut filter = RunFilter::default();
    if let Some(serial) = q.serial.filter(|s| !s.trim().is_empty()) {
        if serial.chars().count() > 64 || serial.chars().any(char::is_control) {
            return Ok(bad_request(
                "serial: at most 64 printable characters (a part of the serial number)".into(),
            ));
        }
        filter.serial = Some(serial.trim().to_string());
    }
    if let Some(st) = q.state.filter(|s| !s.is_empty()) {
        match st.parse::<RunState>() {
            Ok(st) => filter.state = Some(st),
            Err(_) => {
                let names: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
                return Ok(bad_request(format!(
                    "state: unknown run state; use one of {}",
                    names.join(", ")
                )));
            }
        }
    }
    if let Some(limit) = q.limit.filter(|s| !s.is_empty()) {
        match limit.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => filter.limit = Some(n),
            _ => return Ok(bad_request("limit: a whole number from 1 to 1000".into())),
        }
    }
    let runs = state.store().run(move |s| s.runs(&filter)).await?;
    let list: Vec<Value> = runs.iter().map(|r| Value::Object(run_summary(r))).collect();
    Ok(fresh(Value::Array(list)))
}

/// `GET /api/runs/{id}`: one run with its points and its logbook.
pub async fn run(
    State(state): State<AppState>,
    _: Reader,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, AppError> {
    let Some(id) = id.ok().and_then(|Path(s)| parse_run_id(&s)) else {
        return Ok(bad_request(
            "not a run id: use a positive whole number".into(),
        ));
    };
    let found = state
        .store()
        .run(move |s| match s.get_run(id)? {
            Some(run) => Ok(Some((run, s.points(id)?, s.logbook(id)?))),
            None => Ok(None),
        })
        .await?;
    let Some((r, points, log)) = found else {
        return Ok(not_found(format!("no run with id {id}")));
    };
    let mut m = run_summary(&r);
    let opt_time = |t: Option<i64>| t.map(rfc3339);
    for (k, v) in [
        ("message", json!(r.message)),
        ("started", json!(opt_time(r.started_at))),
        ("ended", json!(opt_time(r.ended_at))),
        ("review_reason", json!(r.review_reason)),
        ("review_dest", json!(r.review_dest)),
        ("profile_name", json!(r.profile_name)),
        (
            "points",
            Value::Array(points.iter().map(point_json).collect()),
        ),
        (
            "logbook",
            Value::Array(
                log.iter()
                    .map(|e| {
                        json!({ "at": rfc3339(e.at), "author": e.author,
                                "automatic": e.automatic, "text": e.text,
                                "attachment": e.attachment })
                    })
                    .collect(),
            ),
        ),
    ] {
        m.insert(k.to_string(), v);
    }
    Ok(fresh(Value::Object(m)))
}

/// A run id from a URL: a positive whole number (no sign, no spaces).
pub(crate) fn parse_run_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n: &i64| n > 0)
}
