//! Logbook entries with an attached file through the real web path (issue 14): the
//! panel's `multipart/form-data` post to `POST /runs/{id}/logbook` (who may, from where,
//! how large, what name) and `GET /runs/{id}/logbook/{entry}/attachment` (the same bytes,
//! a safe type and disposition), and the attachment in the run's ZIP and `/api/runs/{id}`.

use std::io::Read;

use super::fixture::hv_run;
use super::util::{Response, TestResult, get, login, request, start};

const BOUNDARY: &str = "----pmtwatch-test-boundary-7c1f";
/// A PNG signature and a few bytes: what is stored must come back byte for byte.
const PICTURE: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture \x00\x01\x02\xff";
const MIB: usize = 1024 * 1024;

/// A form body as a browser sends it: `text`, then `file` (an empty, nameless part when no
/// file was chosen).
fn form(text: &str, file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n")
            .as_bytes(),
    );
    let (name, bytes) = file.unwrap_or(("", b""));
    b.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(bytes);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}

/// Posts the form as `cookie`, from `origin`.
async fn post(
    addr: std::net::SocketAddr,
    run: i64,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: &[u8],
) -> Response {
    let cookie = cookie.map(|c| format!("pmtwatch_session={c}"));
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut headers = vec![("Content-Type", ct.as_str())];
    if let Some(c) = &cookie {
        headers.push(("Cookie", c.as_str()));
    }
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    request(
        addr,
        "POST",
        &format!("/runs/{run}/logbook"),
        &headers,
        body,
    )
    .await
}

#[tokio::test]
async fn an_operator_attaches_a_picture_which_comes_back_the_same_in_page_zip_and_api() -> TestResult
{
    let s = start().await;
    let run = hv_run(&s).await;
    let id = run.id;
    let origin = format!("http://{}", s.addr);
    let otto = login(s.addr, "otto", "operator-password").await;

    // A hostile name: only its last component survives, cleaned.
    let body = form(
        "Scope trace of the afterpulse",
        Some(("../../etc/scope shot.png", PICTURE)),
    );
    let r = post(s.addr, id, Some(&otto), Some(&origin), &body).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(format!("/runs/{id}").as_str()));

    let log = s.store.logbook(id)?;
    let entry = log
        .iter()
        .find(|e| e.text == "Scope trace of the afterpulse")
        .expect("the entry is stored");
    assert_eq!(entry.author, "otto");
    assert!(!entry.automatic);
    let stored = entry.attachment.clone().expect("the attachment's name");
    assert!(stored.ends_with("-scope_shot.png"), "{stored}");
    assert!(!stored.contains('/') && !stored.contains(".."), "{stored}");
    let on_disk = s.state.monitor().run_dir(id).join("logbook").join(&stored);
    assert_eq!(std::fs::read(&on_disk)?, PICTURE, "the file as sent");
    // The entry is audited with who wrote it and the file's size.
    let audit = s.store.recent_audit(20)?;
    assert!(
        audit.iter().any(|a| a.actor == "otto"
            && a.action == "logbook_entry"
            && a.details["attachment"]["bytes"] == PICTURE.len()),
        "{audit:?}"
    );

    // Anyone signed in reads it back: the same bytes, shown inline as a picture.
    let olga = login(s.addr, "olga", "observer-password").await;
    let url = format!("/runs/{id}/logbook/{}/attachment", entry.id);
    let r = get(s.addr, &url, Some(&olga)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.bytes, PICTURE);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(
        r.header("content-disposition"),
        Some("inline; filename=\"scope_shot.png\"")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = get(s.addr, &url, None).await;
    assert_eq!(r.status, 401, "a session or a token is needed");

    // The run's ZIP carries the file under logbook/, and logbook.txt points at it.
    let r = get(s.addr, &format!("/runs/{id}/download.zip"), Some(&olga)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.bytes.clone()))?;
    let mut zipped = Vec::new();
    zip.by_name(&format!("logbook/{stored}"))?
        .read_to_end(&mut zipped)?;
    assert_eq!(zipped, PICTURE);
    let mut txt = String::new();
    zip.by_name("logbook.txt")?.read_to_string(&mut txt)?;
    assert!(
        txt.contains(&format!("[attached: logbook/{stored}]")),
        "{txt}"
    );

    // The run API names it.
    let r = get(s.addr, &format!("/api/runs/{id}"), Some(&olga)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body)?;
    assert!(
        v["logbook"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["attachment"] == stored.as_str())),
        "{v}"
    );
    Ok(())
}

#[tokio::test]
async fn anything_but_a_picture_is_a_download_never_a_page() -> TestResult {
    let s = start().await;
    let id = hv_run(&s).await.id;
    let origin = format!("http://{}", s.addr);
    let ada = login(s.addr, "ada", "admin-password").await;
    let page = b"<html><script>alert(1)</script></html>";
    let r = post(
        s.addr,
        id,
        Some(&ada),
        Some(&origin),
        &form("", Some(("notes.html", page))),
    )
    .await;
    assert_eq!(
        r.status, 303,
        "an admin may write too; text may be empty with a file"
    );
    let entry = s.store.logbook(id)?.pop().expect("the entry");
    let r = get(
        s.addr,
        &format!("/runs/{id}/logbook/{}/attachment", entry.id),
        Some(&ada),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, page);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"notes.html\"")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));

    // An entry without a file, one of another run, and a malformed id.
    let r = post(
        s.addr,
        id,
        Some(&ada),
        Some(&origin),
        &form("no file here", None),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let plain = s.store.logbook(id)?.pop().expect("the entry");
    assert_eq!(
        (plain.text.as_str(), plain.attachment.as_deref()),
        ("no file here", None),
        "a form without a file is a text entry"
    );
    for (path, status) in [
        (format!("/runs/{id}/logbook/{}/attachment", plain.id), 404),
        (format!("/runs/{id}/logbook/999/attachment",), 404),
        (format!("/runs/{id}/logbook/x1/attachment"), 400),
        (format!("/runs/999/logbook/{}/attachment", entry.id), 404),
    ] {
        let r = get(s.addr, &path, Some(&ada)).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
    }
    Ok(())
}

#[tokio::test]
async fn observers_foreign_sites_and_strangers_are_refused_and_nothing_is_stored() -> TestResult {
    let s = start().await;
    let id = hv_run(&s).await.id;
    let origin = format!("http://{}", s.addr);
    let olga = login(s.addr, "olga", "observer-password").await;
    let otto = login(s.addr, "otto", "operator-password").await;
    let body = form("not allowed", Some(("a.png", PICTURE)));

    let r = post(s.addr, id, Some(&olga), Some(&origin), &body).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body
            .contains("writing in the logbook needs the operator or admin role")
            && r.body.contains("observer"),
        "the refusal says why: {}",
        r.body
    );
    assert!(r.body.contains(&format!("href=\"/runs/{id}\"")) || r.body.contains("href=\"/\""));
    let r = post(s.addr, id, Some(&otto), Some("http://evil.example"), &body).await;
    assert_eq!(r.status, 403, "a foreign Origin: {}", r.body);
    let r = post(s.addr, id, None, Some(&origin), &body).await;
    assert_eq!(r.status, 401, "no session: {}", r.body);
    let r = post(s.addr, 999, Some(&otto), Some(&origin), &body).await;
    assert_eq!(r.status, 404, "no such run: {}", r.body);

    assert!(
        s.store.logbook(id)?.iter().all(|e| e.text != "not allowed"),
        "no entry from a refused post"
    );
    assert!(
        !s.state.monitor().run_dir(id).join("logbook").exists(),
        "no file from a refused post"
    );
    // The observer's refusal is audited.
    assert!(
        s.store
            .recent_audit(20)?
            .iter()
            .any(|a| a.actor == "olga" && a.action == "denied"),
        "the refusal is in the audit log"
    );
    Ok(())
}

#[tokio::test]
async fn a_file_over_10_mib_is_refused_with_the_limit_named() -> TestResult {
    let s = start().await;
    let id = hv_run(&s).await.id;
    let origin = format!("http://{}", s.addr);
    let otto = login(s.addr, "otto", "operator-password").await;

    let big = vec![7u8; 10 * MIB + 1];
    let r = post(
        s.addr,
        id,
        Some(&otto),
        Some(&origin),
        &form("too big", Some(("dump.bin", &big))),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("larger than 10 MiB"), "{}", r.body);
    assert!(s.store.logbook(id)?.iter().all(|e| e.text != "too big"));
    assert!(!s.state.monitor().run_dir(id).join("logbook").exists());

    // Exactly the limit is fine.
    let edge = vec![8u8; 10 * MIB];
    let r = post(
        s.addr,
        id,
        Some(&otto),
        Some(&origin),
        &form("just fits", Some(("dump.bin", &edge))),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let entry = s.store.logbook(id)?.pop().expect("the entry");
    let r = get(
        s.addr,
        &format!("/runs/{id}/logbook/{}/attachment", entry.id),
        Some(&otto),
    )
    .await;
    assert_eq!(r.bytes.len(), edge.len());
    assert!(r.bytes == edge, "the same bytes");
    Ok(())
}
