//! Unit tests of the sync's parsing: the default point pattern on the old and HV layouts,
//! custom patterns, the `scan_output_<stamp>/<SN>/` nesting, gain files, the order of run
//! stamps, and hostile input (never a panic).

use super::*;
use crate::remote::command_mode::{CommandSpec, DEFAULT_POINT_PATTERN};
use proptest::prelude::*;

fn default_re() -> Regex {
    CommandProfile::new(CommandSpec::new("./a.sh", "d"))
        .unwrap()
        .point_pattern()
        .clone()
}

fn surface(theta: f64, phi: f64) -> PointLabel {
    PointLabel::Surface { theta, phi }
}

#[test]
fn default_pattern_reads_the_old_layout() {
    let re = default_re();
    for (path, label) in [
        (
            "data_theta30_phi90/live_data_20240101_charge.png",
            surface(30.0, 90.0),
        ),
        ("data_theta0_phi0/live_data_x_GAIN.txt", surface(0.0, 0.0)),
        ("data_theta22.5_phi-90/a_GAIN.txt", surface(22.5, -90.0)),
        // The directory wins over the file name (leftmost match).
        (
            "data_theta30_phi90/live_data_theta0_phi0_charge.png",
            surface(30.0, 90.0),
        ),
        // A flat layout: the label in the file name.
        ("live_data_theta75_phi270_charge.png", surface(75.0, 270.0)),
        ("THETA15_PHI180/x_GAIN.txt", surface(15.0, 180.0)),
    ] {
        assert_eq!(point_label(&re, path), Ok(label), "{path}");
    }
}

#[test]
fn default_pattern_reads_hv_layouts() {
    let re = default_re();
    for (path, volts) in [
        ("hv1500/live_data_charge.png", 1500.0),
        ("HV1500/x_GAIN.txt", 1500.0),
        ("data_hv1450.5/x_GAIN.txt", 1450.5),
        ("HV1500V_GAIN.txt", 1500.0),
        ("run/hv-1200/x_charge.png", -1200.0),
    ] {
        assert_eq!(
            point_label(&re, path),
            Ok(PointLabel::Hv { volts }),
            "{path}"
        );
    }
}

#[test]
fn paths_without_a_point_are_errors_not_guesses() {
    let re = default_re();
    for path in [
        "photo_charge.png",
        "mytheta3_phi4/x.png",
        "theta30/x_charge.png",
        "theta30_phi/x.png",
        "hvx/x.png",
        "chv1500/x.png",
        "theta1.2.3_phi4/x.png",
        "",
    ] {
        let e = point_label(&re, path).unwrap_err();
        assert!(e.contains("point"), "{path}: {e}");
    }
}

#[test]
fn custom_patterns_and_their_bad_numbers() {
    let re = Regex::new(r"pos_(?P<theta>[^-/]+)-(?P<phi>[^/]+)/").unwrap();
    assert_eq!(
        point_label(&re, "pos_45-180/a_charge.png"),
        Ok(surface(45.0, 180.0))
    );
    for bad in [
        "pos_inf-1/x",
        "pos_NaN-1/x",
        "pos_+5-1/x",
        "pos_1e3-1/x",
        "pos_é-1/x",
    ] {
        let e = point_label(&re, bad).unwrap_err();
        assert!(e.contains("not a finite number"), "{bad}: {e}");
    }
    // A pattern whose match leaves a group out says so.
    let re = Regex::new(r"(?:theta(?P<theta>\d+)_phi(?P<phi>\d+))?x").unwrap();
    assert!(point_label(&re, "x").unwrap_err().contains("without both"));
}

#[test]
fn labels_match_the_rest_of_pmtwatch() {
    let re = default_re();
    let label = point_label(&re, "data_theta30.0_phi90/x_charge.png").unwrap();
    assert_eq!(label.label(), "theta30_phi90");
    assert_eq!(PointLabel::parse(&label.label()), Some(label));
    let hv = point_label(&re, "HV1500/x_charge.png").unwrap();
    assert_eq!(hv.label(), "hv1500");
}

#[test]
fn the_scan_output_nesting_is_split() {
    assert_eq!(
        locate("scan_output_20240101_120000/EA0123/data_theta0_phi0/x_GAIN.txt"),
        Located {
            run: Run(Some("20240101_120000".into())),
            serial: Some("EA0123"),
            inner: "data_theta0_phi0/x_GAIN.txt",
        }
    );
    assert_eq!(
        locate("scan_output_7/hv1500_GAIN.txt"),
        Located {
            run: Run(Some("7".into())),
            serial: None,
            inner: "hv1500_GAIN.txt",
        }
    );
    for flat in [
        "data_theta0_phi0/x.png",
        "scan_output_1",
        "other/scan_output_1/a/b",
    ] {
        assert_eq!(
            locate(flat),
            Located {
                run: Run(None),
                serial: None,
                inner: flat
            }
        );
    }
    assert_eq!(plain_relative(Path::new("a/b.png")), Some("a/b.png"));
    assert_eq!(plain_relative(Path::new("../a")), None);
    assert_eq!(plain_relative(Path::new("/a")), None);
    assert_eq!(plain_relative(Path::new("")), None);
}

#[test]
fn gain_files_hold_one_positive_number() {
    for (text, gain) in [
        ("1.033e+07", 1.033e7),
        ("1.033e+07\n", 1.033e7),
        ("  10330000  \r\n", 1.033e7),
        ("\u{feff}1.0E7\n", 1e7),
        ("\t5e6\n\n", 5e6),
    ] {
        let want = GainText { gain, error: None };
        assert_eq!(parse_gain(text), Ok(Some(want)), "{text:?}");
    }
    // The gain and its error (issue 12: the old HV check's `_GAIN.txt`).
    for (text, gain, error) in [
        ("1.033e+07 \u{b1} 2.1e+05\n", 1.033e7, 2.1e5),
        ("1.033e+07\u{b1}2.1e+05", 1.033e7, 2.1e5),
        ("1.033e+07 +- 2.1e+05", 1.033e7, 2.1e5),
        ("  5e6 +/- 1e5 \r\n", 5e6, 1e5),
    ] {
        let want = GainText {
            gain,
            error: Some(error),
        };
        assert_eq!(parse_gain(text), Ok(Some(want)), "{text:?}");
    }
    assert_eq!(parse_gain(""), Ok(None));
    assert_eq!(parse_gain(" \n\t"), Ok(None));
    for (text, needle) in [
        ("nan", "not a number"),
        ("NaN\n", "not a number"),
        ("inf", "not a number"),
        ("-inf", "not a number"),
        ("1e400", "not a finite number"),
        ("-1.033e+07", "not positive"),
        ("0", "not positive"),
        ("0.0e0", "not positive"),
        ("1.033e+07 0.02", "2 words"),
        ("gain: 1e7", "2 words"),
        ("abc", "not a number"),
        ("0x10", "not a number"),
        ("1,033e7", "not a number"),
        ("1e", "not a number"),
        ("1e7 \u{b1}", "error is missing"),
        ("\u{b1} 2e5", "gain is missing"),
        ("1e7 \u{b1} 0", "error \"0\" is not positive"),
        ("1e7 +- -2e5", "not positive"),
        ("1e7 +- nan", "not a number"),
        ("1e7 +- 2e5 3", "2 words"),
        ("-1e7 +- 2e5", "not positive"),
    ] {
        let e = parse_gain(text).unwrap_err();
        assert!(e.contains(needle), "{text:?}: {e}");
    }
    // The message shows a hostile value escaped and cut short.
    let e = parse_gain(&format!("\x1b[31m{}", "x".repeat(500))).unwrap_err();
    assert!(!e.contains('\x1b') && e.len() < 200, "{e:?}");
}

#[test]
fn run_stamps_sort_by_time() {
    let mut dated = vec!["20240102_000000", "20231231_235959", "20240101_120000"];
    dated.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(
        dated,
        ["20231231_235959", "20240101_120000", "20240102_000000"]
    );
    // Epoch seconds and counters: digit runs compare as numbers, not as text.
    let mut counted = vec!["1700000000", "999999999", "run10", "run9"];
    counted.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(counted, ["999999999", "1700000000", "run9", "run10"]);
    assert_eq!(natural_cmp("01", "1"), Ordering::Less);
    assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
    assert!(Run(None) < Run(Some(String::new())));
    assert!(Run(Some("2".into())) < Run(Some("10".into())));
}

#[test]
fn the_default_pattern_is_documented_as_it_is() {
    // The constant is what a fresh profile uses; the docs describe this exact text.
    assert_eq!(default_re().as_str(), DEFAULT_POINT_PATTERN);
}

proptest! {
    #[test]
    fn gain_parsing_never_panics(text in any::<String>()) {
        if let Ok(Some(GainText { gain: g, .. })) = parse_gain(&text) {
            prop_assert!(g.is_finite() && g > 0.0);
        }
    }

    #[test]
    fn gains_written_by_python_parse_back_exactly(g in 1e-3f64..1e12) {
        let want = Ok(Some(GainText { gain: g, error: None }));
        prop_assert_eq!(parse_gain(&format!("{g:e}\n")), want.clone());
        prop_assert_eq!(parse_gain(&format!("{g}")), want);
    }

    #[test]
    fn path_parsing_never_panics(path in any::<String>()) {
        let re = default_re();
        if let Ok(label) = point_label(&re, &path) {
            let finite = match label {
                PointLabel::Surface { theta, phi } => theta.is_finite() && phi.is_finite(),
                PointLabel::Hv { volts } => volts.is_finite(),
                PointLabel::Dark { .. } => true,
            };
            prop_assert!(finite);
        }
        let located = locate(&path);
        prop_assert!(path.ends_with(located.inner));
    }

    #[test]
    fn labels_round_trip_through_the_old_layout(t in -90i32..=180, p in 0i32..360, v in 0u32..3000) {
        let re = default_re();
        let path = format!("data_theta{t}_phi{p}/live_data_{t}_{p}_charge.png");
        prop_assert_eq!(point_label(&re, &path), Ok(surface(f64::from(t), f64::from(p))));
        prop_assert_eq!(point_label(&re, &format!("HV{v}/x_GAIN.txt")), Ok(PointLabel::Hv { volts: f64::from(v) }));
    }

    /// A total order: antisymmetric, transitive, equal only for equal strings.
    #[test]
    fn natural_order_is_total(a in "[0-9a_]{0,6}", b in "[0-9a_]{0,6}", c in "[0-9a_]{0,6}") {
        prop_assert_eq!(natural_cmp(&a, &b), natural_cmp(&b, &a).reverse());
        prop_assert_eq!(natural_cmp(&a, &b) == Ordering::Equal, a == b);
        if natural_cmp(&a, &b) != Ordering::Greater && natural_cmp(&b, &c) != Ordering::Greater {
            prop_assert_ne!(natural_cmp(&a, &c), Ordering::Greater, "{} {} {}", a, b, c);
        }
    }
}
