//! Reference spectra over plain HTTP: who may upload (operator or admin, from this site),
//! what is accepted (a result.json or a CSV charge,count), how it is stored and listed.

use serde_json::Value;

use super::fixture::{PMT_TYPE, WITH_FILES, surface_run};
use super::util::{Response, TestResult, get, login, request, start};

/// `POST /references/{ty}` with a session cookie, an Origin (if any) and a body.
async fn upload(
    addr: std::net::SocketAddr,
    ty: &str,
    cookie: &str,
    origin: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let cookie = format!("pmtwatch_session={cookie}");
    let mut headers = vec![("Cookie", cookie.as_str()), ("Content-Type", content_type)];
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    request(addr, "POST", &format!("/references/{ty}"), &headers, body).await
}

const CSV: &str = "charge,count\n-0.1,400\n0.1,900\n0.3,120\n0.5,60\n0.7,45\n";

#[tokio::test]
async fn uploads_need_an_operator_from_this_site() -> TestResult {
    let s = start().await;
    let origin = format!("http://{}", s.addr);
    let olga = login(s.addr, "olga", "observer-password").await;
    let otto = login(s.addr, "otto", "operator-password").await;

    let r = upload(
        s.addr,
        PMT_TYPE,
        &olga,
        Some(&origin),
        "text/csv",
        CSV.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("observer"), "{}", r.body);
    let r = upload(
        s.addr,
        PMT_TYPE,
        &otto,
        Some("http://evil.example"),
        "text/csv",
        CSV.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 403, "a foreign Origin is refused");
    let r = request(
        s.addr,
        "POST",
        &format!("/references/{PMT_TYPE}"),
        &[("Origin", origin.as_str())],
        CSV.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401, "no session");
    let stored = s
        .data_dir()
        .join("references")
        .join(format!("{PMT_TYPE}.json"));
    assert!(!stored.exists(), "nothing stored by a refused upload");

    // An operator from this site (and a client that sends no Origin, like curl).
    let r = upload(
        s.addr,
        PMT_TYPE,
        &otto,
        Some(&origin),
        "text/csv",
        CSV.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let answer: Value = serde_json::from_str(&r.body)?;
    assert_eq!(answer["pmt_type"], PMT_TYPE);
    assert_eq!(answer["entries"].as_f64(), Some(1525.0));
    assert_eq!(answer["bins"], 5);
    let ada = login(s.addr, "ada", "admin-password").await;
    let r = upload(s.addr, "R7081", &ada, None, "text/csv", CSV.as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Stored as a histogram; listed and readable by anyone signed in.
    let hist: Value = serde_json::from_slice(&std::fs::read(&stored)?)?;
    assert_eq!(hist["counts"].as_array().map(Vec::len), Some(5));
    assert!((hist["width"].as_f64().unwrap_or(0.0) - 0.2).abs() < 1e-9);
    let r = get(s.addr, "/references", Some(&olga)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list: Value = serde_json::from_str(&r.body)?;
    let types: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["pmt_type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(types, vec![PMT_TYPE, "R7081"]);
    let r = get(s.addr, &format!("/references/{PMT_TYPE}"), Some(&olga)).await;
    assert_eq!(r.status, 200);
    let got: Value = serde_json::from_str(&r.body)?;
    assert_eq!(got["counts"], hist["counts"]);
    assert_eq!(
        get(s.addr, "/references/R5912", Some(&olga)).await.status,
        404
    );

    let audit = s.store.recent_audit(50)?;
    let up = audit
        .iter()
        .find(|e| e.action == "reference_upload" && e.actor == "otto")
        .ok_or("reference_upload in the audit log")?;
    assert_eq!(up.details["pmt_type"], PMT_TYPE);
    assert_eq!(up.details["entries"].as_f64(), Some(1525.0));
    assert!(
        audit
            .iter()
            .any(|e| e.action == "denied" && e.actor == "olga"),
        "the observer's attempt is audit-logged"
    );
    Ok(())
}

#[tokio::test]
async fn uploads_take_a_result_document_and_refuse_bad_input_clearly() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let origin = format!("http://{}", s.addr);
    let otto = login(s.addr, "otto", "operator-password").await;

    let doc = std::fs::read(f.run_dir(&s).join(WITH_FILES[0]).join("result.json"))?;
    let r = upload(
        s.addr,
        PMT_TYPE,
        &otto,
        Some(&origin),
        "application/json",
        &doc,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let answer: Value = serde_json::from_str(&r.body)?;
    assert_eq!(answer["bins"], f.results[0].histogram.counts.len());

    let cases: [(&[u8], &str); 8] = [
        (b"charge,count\n0,1\n1,2\n7,3\n", "equally spaced"),
        (b"charge,count\n0,1\n1,x\n", "line 3"),
        (b"1;2;3\n4;5;6\n", "two numbers"),
        (b"charge,count\n", "at least two rows"),
        (br#"{"point": "theta0_phi0"}"#, "histogram"),
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"\xff\xfe\x00", "UTF-8"),
    ];
    for (body, why) in cases {
        let r = upload(s.addr, PMT_TYPE, &otto, Some(&origin), "text/csv", body).await;
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.body
        );
        assert!(r.body.contains(why), "{why:?} in {:?}", r.body);
    }
    // Type names are one plain file name.
    let long = "R".repeat(33);
    for ty in ["a%20b", "..", "%2e%2e", ".hidden", "x%2Fy", long.as_str()] {
        let r = upload(s.addr, ty, &otto, Some(&origin), "text/csv", b"0,1\n1,2\n").await;
        assert!(
            r.status == 400 || r.status == 404,
            "type {ty}: {} {}",
            r.status,
            r.body
        );
    }
    // The good reference is still the one stored.
    let r = get(s.addr, &format!("/references/{PMT_TYPE}"), Some(&otto)).await;
    let got: Value = serde_json::from_str(&r.body)?;
    assert_eq!(
        got["counts"].as_array().map(Vec::len),
        Some(f.results[0].histogram.counts.len())
    );
    Ok(())
}
