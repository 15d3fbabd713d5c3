//! Logbook entries with an attached file, over plain HTTP (a LiveView event cannot carry a
//! file: the glue takes over every file input's click), and the attached files themselves.
//!
//! - `POST /runs/{id}/logbook` — the logbook panel's `multipart/form-data` form: `text` and
//!   an optional `file` (at most [`MAX_ATTACHMENT`], 10 MiB). Operator or admin session
//!   (checked before the file is read, and again by [`crate::control::Commands`], which
//!   audits the entry), same-site `Origin` (like every other POST; the session cookie is
//!   also `SameSite=Strict`). The monitor cleans the file name and writes the file
//!   atomically under the run's `logbook/`. Success: `303 See Other` back to `/runs/{id}`;
//!   a refusal: a short page saying why (401, 403, 400, 404, 413) with a link back.
//! - `GET /runs/{id}/logbook/{entry}/attachment` — the entry's file (session or API token):
//!   pictures (PNG, JPEG, GIF, WebP) inline as themselves, anything else as a download of
//!   `application/octet-stream` (or plain text, PDF, JSON, CSV by name) — never a type a
//!   browser would run; always `X-Content-Type-Options: nosniff`.

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::PathRejection;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::api::parse_run_id;
use super::auth::{FileReader, current_user, origin_allowed};
use super::error::{AppError, server_error, text};
use super::files::{file_name, read_in_run, run_for};
use super::pages;
use crate::control::CommandError;
use crate::model::{LogEntry, attachment_is_image, attachment_title};
use crate::monitor;
pub use crate::monitor::alarms::MAX_ATTACHMENT;
use crate::pipeline::label::Label;

/// The longest entry text accepted (bytes).
const MAX_TEXT: usize = 64 * 1024;
/// The most a form post may send: past the file's limit the rest is still read (and thrown
/// away) up to this, so the browser gets the 413 page instead of a reset connection.
pub const MAX_FORM: usize = 4 * MAX_ATTACHMENT;

/// A refusal as a short page with a link back to the run (the form's browser shows it).
fn refusal(status: StatusCode, run: Option<i64>, why: &str) -> Response {
    (status, Html(pages::refusal("Not saved", why, run))).into_response()
}

/// What the form sent.
#[derive(Default)]
struct Form {
    text: String,
    file: Option<(String, Vec<u8>)>,
    /// The file (or the text) was larger than allowed; the rest was read and dropped.
    too_large: Option<&'static str>,
}

/// Reads a field's bytes up to `limit`; `None` when it is longer (the rest is drained).
async fn read_field(
    field: &mut Field<'_>,
    limit: usize,
) -> Result<Option<Vec<u8>>, MultipartError> {
    let mut out = Vec::new();
    let mut over = false;
    while let Some(chunk) = field.chunk().await? {
        if over || out.len() + chunk.len() > limit {
            over = true;
            out = Vec::new();
            continue;
        }
        out.extend_from_slice(&chunk);
    }
    Ok((!over).then_some(out))
}

async fn read_form(form: &mut Multipart) -> Result<Form, MultipartError> {
    let mut f = Form::default();
    while let Some(mut field) = form.next_field().await? {
        match field.name() {
            Some("text") => match read_field(&mut field, MAX_TEXT).await? {
                Some(b) => f.text = String::from_utf8_lossy(&b).into_owned(),
                None => f.too_large = Some("the entry's text is longer than 64 KiB"),
            },
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                match read_field(&mut field, MAX_ATTACHMENT).await? {
                    // A form whose file input was left empty sends an empty, nameless part.
                    Some(b) if b.is_empty() && name.is_empty() => {}
                    Some(b) => f.file = Some((name, b)),
                    None => {
                        f.too_large = Some(
                            "the file is larger than 10 MiB, the limit for a logbook \
                             attachment: attach a smaller one (a screenshot, a cropped photo, \
                             an excerpt of the log)",
                        )
                    }
                }
            }
            // Anything else is read and ignored.
            _ => while field.chunk().await?.is_some() {},
        }
    }
    Ok(f)
}

/// `POST /runs/{id}/logbook`: an operator's entry with an optional file.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<UrlPath<String>, PathRejection>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Err(AppError::NoUploadSession);
    };
    if !origin_allowed(&state, &headers, false) {
        tracing::warn!(user = %user.name, "logbook entry refused: foreign Origin");
        return Ok(refusal(
            StatusCode::FORBIDDEN,
            None,
            "this form was sent from another site; open pmtwatch directly",
        ));
    }
    match state.commands().logbook_writer(&user).await {
        Ok(_) => {}
        Err(e @ CommandError::Forbidden { .. }) => {
            return Ok(refusal(StatusCode::FORBIDDEN, None, &e.to_string()));
        }
        Err(e @ CommandError::SessionEnded) => {
            return Ok(refusal(StatusCode::UNAUTHORIZED, None, &e.to_string()));
        }
        Err(e) => return Ok(server_error(&e.to_string())),
    }
    let UrlPath(raw) = match id {
        Ok(p) => p,
        Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "this path cannot be read")),
    };
    let run = match run_for(&state, &raw).await {
        Ok(r) => r,
        Err(answer) => return Ok(answer),
    };
    let back = Some(run.id);
    let mut form = match form {
        Ok(f) => f,
        Err(e) => {
            return Ok(refusal(
                StatusCode::BAD_REQUEST,
                back,
                &format!("send the entry as a multipart/form-data form ({e})"),
            ));
        }
    };
    let f = match read_form(&mut form).await {
        Ok(f) => f,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Form {
            too_large: Some("the form is far larger than 10 MiB, the limit for an attachment"),
            ..Form::default()
        },
        Err(e) => {
            return Ok(refusal(
                StatusCode::BAD_REQUEST,
                back,
                &format!("the form cannot be read: {}", e.body_text()),
            ));
        }
    };
    if let Some(why) = f.too_large {
        tracing::info!(user = %user.name, run = run.id, "logbook entry refused: {why}");
        return Ok(refusal(StatusCode::PAYLOAD_TOO_LARGE, back, why));
    }
    match state
        .commands()
        .add_log_entry(&user, run.id, f.text, f.file)
        .await
    {
        Ok(entry) => {
            tracing::info!(
                user = %user.name,
                run = run.id,
                entry = entry.id,
                attachment = entry.attachment.as_deref().unwrap_or(""),
                "logbook entry written"
            );
            Ok((
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/runs/{}", run.id))],
            )
                .into_response())
        }
        Err(e @ CommandError::Forbidden { .. }) => {
            Ok(refusal(StatusCode::FORBIDDEN, back, &e.to_string()))
        }
        Err(e @ CommandError::SessionEnded) => {
            Ok(refusal(StatusCode::UNAUTHORIZED, back, &e.to_string()))
        }
        Err(CommandError::Monitor(monitor::Error::Refused(why))) => {
            Ok(refusal(StatusCode::BAD_REQUEST, back, &why))
        }
        Err(e) => Ok(server_error(&format!("writing a logbook entry: {e}"))),
    }
}

/// The content type an attached file is served as, and whether it is shown in the page
/// (pictures) rather than downloaded. Only types a browser does not run.
pub fn content_type(name: &str) -> (&'static str, bool) {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if attachment_is_image(name) {
        let t = match ext.as_str() {
            "png" => "image/png",
            "gif" => "image/gif",
            "webp" => "image/webp",
            _ => "image/jpeg",
        };
        return (t, true);
    }
    let t = match ext.as_str() {
        "txt" | "log" | "csv" | "tsv" | "md" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    };
    (t, false)
}

/// `GET /runs/{id}/logbook/{entry}/attachment`.
pub async fn attachment(
    State(state): State<AppState>,
    _: FileReader,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let Ok(UrlPath((raw_run, raw_entry))) = path else {
        return Ok(text(StatusCode::BAD_REQUEST, "this path cannot be read"));
    };
    let run = match run_for(&state, &raw_run).await {
        Ok(r) => r,
        Err(answer) => return Ok(answer),
    };
    let Some(entry_id) = parse_run_id(&raw_entry) else {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "not a logbook entry id: ids are positive whole numbers",
        ));
    };
    let rid = run.id;
    let entry: Option<LogEntry> = state
        .store()
        .run(move |s| s.log_entry(rid, entry_id))
        .await?;
    let missing = |why: String| Ok(text(StatusCode::NOT_FOUND, why));
    let Some(entry) = entry else {
        return missing(format!("run {rid} has no logbook entry {entry_id}"));
    };
    let Some(stored) = entry.attachment.filter(|f| Label::is_valid(f)) else {
        return missing(format!(
            "logbook entry {entry_id} of run {rid} has no attached file"
        ));
    };
    let run_dir = state.monitor().run_dir(rid);
    let name = stored.clone();
    let read = tokio::task::spawn_blocking(move || read_in_run(&run_dir, "logbook", &name)).await;
    let bytes = match read {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) => {
            return missing(format!(
                "the file attached to logbook entry {entry_id} of run {rid} is no longer here \
                 (a cleanup removes a run's local files)"
            ));
        }
        Ok(Err(e)) => return Ok(server_error(&format!("reading logbook/{stored}: {e}"))),
        Err(e) => return Ok(server_error(&format!("a blocking task failed: {e}"))),
    };
    let title = file_name(attachment_title(&stored));
    let (content_type, inline) = content_type(&title);
    let disposition = format!(
        "{}; filename=\"{title}\"",
        if inline { "inline" } else { "attachment" }
    );
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            // An entry never changes (the logbook is append-only).
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pictures_are_inline_and_nothing_runs() {
        assert_eq!(content_type("a.PNG"), ("image/png", true));
        assert_eq!(content_type("b.jpg"), ("image/jpeg", true));
        for (name, ty) in [
            ("c.svg", "application/octet-stream"),
            ("d.html", "application/octet-stream"),
            ("e.log", "text/plain; charset=utf-8"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), (ty, false), "{name}");
        }
    }
}
