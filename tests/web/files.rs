//! A run's files over HTTP: the local charge.png and result.json (with download names), the
//! overlay with the PMT type's reference, the gain map, the ZIP of the whole run, and
//! hostile labels that must never reach a file outside the run's directory.

use std::collections::BTreeSet;
use std::io::Read;

use super::fixture::{PMT_TYPE, SERIAL, WITH_FILES, WITHOUT_FILES, hv_run, surface_run};
use super::util::{TestResult, get, login, request, start};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

#[tokio::test]
async fn charge_png_and_result_json_are_the_local_copies() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    let cookie = login(s.addr, "olga", "observer-password").await;
    let label = WITH_FILES[0];
    let dir = f.run_dir(&s).join(label);

    let r = get(
        s.addr,
        &format!("/runs/{id}/points/{label}/charge.png"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.bytes.starts_with(PNG_MAGIC));
    assert_eq!(r.bytes, std::fs::read(dir.join("charge.png"))?);
    assert!(r.header("content-disposition").is_none());
    assert!(
        r.header("cache-control")
            .is_some_and(|c| c.starts_with("private"))
    );

    let r = get(
        s.addr,
        &format!("/runs/{id}/points/{label}/charge.png?download=1"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{SERIAL}_run{id}_{label}_charge.png\"").as_str())
    );

    let r = get(
        s.addr,
        &format!("/runs/{id}/points/{label}/result.json?download=1"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&r.bytes)?;
    assert_eq!(doc["point"], label);
    assert_eq!(doc["serial"], SERIAL);
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{SERIAL}_run{id}_{label}_result.json\"").as_str())
    );

    // A point that is in the table only, and a run that does not exist.
    for name in ["charge.png", "result.json"] {
        let r = get(
            s.addr,
            &format!("/runs/{id}/points/{WITHOUT_FILES}/{name}"),
            Some(&cookie),
        )
        .await;
        assert_eq!(r.status, 404, "{name}");
        assert!(r.body.contains("no local"), "{}", r.body);
    }
    let r = get(
        s.addr,
        &format!("/runs/999/points/{label}/charge.png"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no run 999"), "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn hostile_labels_never_reach_a_file_outside_the_run() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    let cookie = login(s.addr, "otto", "operator-password").await;
    // Files a path escape would find: beside the run directory, and in the data directory,
    // which a symbolic link inside the run directory points to.
    const SECRET: &str = "SECRET-OUTSIDE-THE-RUN";
    let runs = s.data_dir().join("runs");
    std::fs::write(runs.join("result.json"), SECRET)?;
    std::fs::write(runs.join("charge.png"), SECRET)?;
    let outside = s.data_dir().join("outside");
    std::fs::create_dir_all(&outside)?;
    std::fs::write(outside.join("result.json"), SECRET)?;
    std::fs::write(outside.join("charge.png"), SECRET)?;
    std::os::unix::fs::symlink(&outside, f.run_dir(&s).join("evil"))?;

    for label in [
        "..",
        "%2e%2e",
        "%2E%2E",
        ".",
        ".hidden",
        "a%2Fb",
        "..%2F..%2Foutside",
        "..%5Coutside",
        "evil",
        "%00",
        "a%0Ab",
    ] {
        for file in [
            "charge.png",
            "result.json",
            "charge.png?overlay=1",
            "charge.png?download=1",
        ] {
            let path = format!("/runs/{id}/points/{label}/{file}");
            let r = get(s.addr, &path, Some(&cookie)).await;
            assert!(
                r.status == 400 || r.status == 404,
                "{path}: status {}",
                r.status
            );
            assert!(
                !r.body.contains(SECRET),
                "{path} served a file outside the run"
            );
        }
    }
    // Unencoded: `..` as the label is refused; more segments match no point route at all.
    for (path, want) in [
        (format!("/runs/{id}/points/../result.json"), 400),
        (format!("/runs/{id}/points/a/b/result.json"), 404),
        (format!("/runs/{id}/points/../../outside/result.json"), 404),
    ] {
        let r = get(s.addr, &path, Some(&cookie)).await;
        assert_eq!(r.status, want, "{path}");
        assert!(!r.body.contains(SECRET), "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn gain_map_is_drawn_fresh_and_hv_runs_have_none() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let hv = hv_run(&s).await;
    let cookie = login(s.addr, "olga", "observer-password").await;

    let r = get(
        s.addr,
        &format!("/runs/{}/gainmap.png", f.run.id),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let img = image::load_from_memory(&r.bytes)?;
    assert_eq!((img.width(), img.height()), (1000, 800));

    let r = get(
        s.addr,
        &format!("/runs/{}/gainmap.png", hv.id),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("HV"), "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn zip_holds_the_run_its_tables_and_every_local_file() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    let cookie = login(s.addr, "olga", "observer-password").await;
    // An operator's entry (issue 14): the ZIP's logbook holds it, with who wrote it.
    s.state
        .monitor()
        .add_log_entry(id, "otto", "HV cable reseated before this run", None)
        .await?;

    let r = get(s.addr, &format!("/runs/{id}/download.zip"), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{SERIAL}_run{id}.zip\"").as_str())
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.bytes.clone()))?;
    let names: BTreeSet<String> = zip.file_names().map(str::to_string).collect();
    // The run's logbook (issue 14) travels with it, as text and as JSON.
    let mut want: BTreeSet<String> = [
        "run.json",
        "points.csv",
        "points.parquet",
        "logbook.txt",
        "logbook.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for label in WITH_FILES {
        want.insert(format!("{label}/charge.png"));
        want.insert(format!("{label}/result.json"));
    }
    assert_eq!(
        names, want,
        "a point without local files is in the tables only"
    );

    let mut csv = String::new();
    zip.by_name("points.csv")?.read_to_string(&mut csv)?;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        1 + 3,
        "a header and one line per point:\n{csv}"
    );
    assert!(lines[0].starts_with("label,theta,phi,hv,status,gain,gain_err,message"));
    for label in WITH_FILES.iter().chain([&WITHOUT_FILES]) {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{label},")))
                .count(),
            1,
            "{label} in\n{csv}"
        );
    }

    let mut run_json = String::new();
    zip.by_name("run.json")?.read_to_string(&mut run_json)?;
    let run: serde_json::Value = serde_json::from_str(&run_json)?;
    assert_eq!(run["id"], id);
    assert_eq!(run["serial"], SERIAL);

    let mut log = String::new();
    zip.by_name("logbook.txt")?.read_to_string(&mut log)?;
    assert!(
        log.lines()
            .any(|l| l.contains("otto") && l.contains("HV cable reseated before this run")),
        "the operator's entry in logbook.txt:\n{log}"
    );
    let mut log_json = String::new();
    zip.by_name("logbook.json")?.read_to_string(&mut log_json)?;
    let entries: serde_json::Value = serde_json::from_str(&log_json)?;
    assert!(
        entries.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["author"] == "otto" && e["text"] == "HV cable reseated before this run")),
        "{log_json}"
    );

    let mut png = Vec::new();
    zip.by_name(&format!("{}/charge.png", WITH_FILES[1]))?
        .read_to_end(&mut png)?;
    assert_eq!(
        png,
        std::fs::read(f.run_dir(&s).join(WITH_FILES[1]).join("charge.png"))?
    );
    let mut parquet = Vec::new();
    zip.by_name("points.parquet")?.read_to_end(&mut parquet)?;
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));

    assert_eq!(
        get(s.addr, "/runs/999/download.zip", Some(&cookie))
            .await
            .status,
        404
    );
    Ok(())
}

#[tokio::test]
async fn overlay_draws_the_reference_of_the_pmt_type_or_says_none() -> TestResult {
    let s = start().await;
    let f = surface_run(&s).await;
    let id = f.run.id;
    let label = WITH_FILES[0];
    let cookie = login(s.addr, "otto", "operator-password").await;
    let path = format!("/runs/{id}/points/{label}/charge.png?overlay=1");

    let plain = get(s.addr, &path, Some(&cookie)).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(plain.header("x-reference"), Some("none"));
    assert_eq!(plain.header("cache-control"), Some("no-store"));
    let img = image::load_from_memory(&plain.bytes)?;
    assert_eq!((img.width(), img.height()), (1000, 750));

    // Upload the other point's spectrum as the reference of the run's PMT type.
    let reference = serde_json::to_vec(&f.results[1])?;
    let origin = format!("http://{}", s.addr);
    let cookie_header = format!("pmtwatch_session={cookie}");
    let r = request(
        s.addr,
        "POST",
        &format!("/references/{PMT_TYPE}"),
        &[
            ("Cookie", cookie_header.as_str()),
            ("Origin", origin.as_str()),
            ("Content-Type", "application/json"),
        ],
        &reference,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let with = get(s.addr, &path, Some(&cookie)).await;
    assert_eq!(with.status, 200, "{}", with.body);
    assert_eq!(with.header("x-reference"), Some(PMT_TYPE));
    assert_ne!(with.bytes, plain.bytes, "the reference is drawn");
    image::load_from_memory(&with.bytes)?;

    // The overlay is drawn from result.json: a point without one has none.
    let r = get(
        s.addr,
        &format!("/runs/{id}/points/{WITHOUT_FILES}/charge.png?overlay=1"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 404);
    Ok(())
}
