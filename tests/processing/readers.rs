//! Reader tests on the real measured files under `tests/data` (reference numbers from
//! `tests/data/README.md`) and on small synthetic files for the variants the real data
//! does not cover (x742 ASCII, header-off ASCII, u8/f32 binary, absurd headers, CSV,
//! Parquet).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use pmtwatch::pipeline::data::{ChargeInput, Input, Waveforms};
use pmtwatch::pipeline::readers::{Format, ReadOptions, SampleType, detect, read, read_waveforms};

fn data(rel: &str) -> PathBuf {
    crate::common::manifest_dir().join("tests/data").join(rel)
}

fn opts() -> ReadOptions {
    ReadOptions::default()
}

fn charges(path: &Path) -> ChargeInput {
    match read(path, &opts()).unwrap() {
        Input::Charges(c) => c,
        Input::Waveforms(_) => panic!("{}: expected charges", path.display()),
    }
}

fn median(v: &[f32]) -> f64 {
    let mut s: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The lab's rule (UZH PMT_Analysis): baseline = median of samples 0..100, area = sum of
/// (baseline − sample) over samples 100..250.
fn lab_area(ev: &[f32]) -> f64 {
    let b = median(&ev[..100]);
    ev[100..250].iter().map(|&s| b - f64::from(s)).sum()
}

fn uzh(name: &str) -> Waveforms {
    read_waveforms(&data(&format!("uzh-r12699-v1730d/{name}")), &opts()).unwrap()
}

#[test]
fn uzh_root_npy_ascii_agree() {
    let root = uzh("spe_led_1000V.root");
    let npy = uzh("wf0.npy");
    let ascii = uzh("wave0_as_wavedump_ascii.txt");
    for w in [&root, &npy, &ascii] {
        assert_eq!(
            (w.events(), w.record_len),
            (2000, 250),
            "{}",
            w.source.display()
        );
        assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    }
    assert_eq!(root.samples, npy.samples);
    assert_eq!(root.samples, ascii.samples);
    assert_eq!(ascii.event_numbers, (0..2000).collect::<Vec<u64>>());
    assert_eq!(root.channel, Some(0), "channel from branch `wf0`");
    assert_eq!(ascii.channel, Some(0), "channel from the header");
}

#[test]
fn uzh_root_branch_selection() {
    let path = data("uzh-r12699-v1730d/spe_led_1000V.root");
    let o = ReadOptions {
        tree: Some("t1".into()),
        branch: Some("wf1".into()),
        ..opts()
    };
    let wf1 = read_waveforms(&path, &o).unwrap();
    assert_eq!(
        (wf1.events(), wf1.record_len, wf1.channel),
        (2000, 250, Some(1))
    );
    // The scalar `Time` branch is a per-event float: read as charges when asked for.
    let o = ReadOptions {
        branch: Some("Time".into()),
        ..opts()
    };
    match read(&path, &o).unwrap() {
        Input::Charges(ChargeInput::Values { values, .. }) => assert_eq!(values.len(), 2000),
        other => panic!("expected charges, got {other:?}"),
    }
    let o = ReadOptions {
        branch: Some("nope".into()),
        ..opts()
    };
    let e = read(&path, &o).unwrap_err().to_string();
    assert!(
        e.contains("nope") && e.contains("spe_led_1000V.root"),
        "{e}"
    );
    let o = ReadOptions {
        tree: Some("t2".into()),
        ..opts()
    };
    let e = read(&path, &o).unwrap_err().to_string();
    assert!(e.contains("t1"), "lists the trees: {e}");
}

#[test]
fn uzh_reference_numbers() {
    let w = uzh("wf0.npy");
    assert_eq!(median(&w.event(2)[..100]), 15497.5);

    let ev = w.event(1234);
    let base = median(&ev[..100]);
    let (imin, min) = ev
        .iter()
        .enumerate()
        .fold((0, f32::MAX), |a, (i, &s)| if s < a.1 { (i, s) } else { a });
    assert_eq!(base - f64::from(min), 211.0);
    assert_eq!(imin, 146);
    assert_eq!(lab_area(ev), 1620.0);
    let mean = ev[..100].iter().map(|&s| f64::from(s)).sum::<f64>() / 100.0;
    let var = ev[..100]
        .iter()
        .map(|&s| (f64::from(s) - mean).powi(2))
        .sum::<f64>()
        / 100.0;
    assert!((var.sqrt() - 4.34).abs() < 0.01, "std {}", var.sqrt());

    let ChargeInput::Values {
        values: areas,
        unit,
    } = charges(&data("uzh-r12699-v1730d/wf0_areas.npy"))
    else {
        panic!("1-D npy must be charge values")
    };
    assert_eq!(unit, "ADC*samples");
    assert_eq!(areas.len(), w.events());
    for (i, (ev, &want)) in w.iter().zip(&areas).enumerate() {
        assert_eq!(lab_area(ev), want, "event {i}");
    }
}

#[test]
fn v1730b_binary() {
    let path = data("wavedump-binary-v1730b/RUN000001_wave_1.dat");
    assert_eq!(detect(&path).unwrap(), Format::WaveDumpBinary);
    let w = read_waveforms(&path, &opts()).unwrap();
    assert_eq!(
        (w.events(), w.record_len, w.channel),
        (10_002, 130, Some(1))
    );
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    assert!((median(&w.samples) - 7704.0).abs() <= 1.0);
    // Event counters come from the header and increase.
    assert!(w.event_numbers.windows(2).all(|p| p[1] > p[0]));
}

#[test]
fn dt5751_truncated_and_coincidence() {
    let path = data("wavedump-binary-dt5751-sipm/wave0_truncated.dat");
    let w = read_waveforms(&path, &opts()).unwrap();
    assert_eq!((w.events(), w.record_len), (293, 406));
    assert_eq!(w.warnings.len(), 1, "{:?}", w.warnings);
    let warn = &w.warnings[0];
    assert!(warn.contains("truncated"), "{warn}");
    assert!(
        warn.contains(&(293 * 836).to_string()),
        "names the byte offset: {warn}"
    );
    for ch in 0..2 {
        let p = data(&format!(
            "wavedump-binary-dt5751-sipm/coincidence_wave{ch}.dat"
        ));
        let w = read_waveforms(&p, &opts()).unwrap();
        assert_eq!((w.events(), w.record_len), (41, 6006), "{}", p.display());
        assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    }
}

#[test]
fn pedestal_ascii() {
    let path = data("wavedump-ascii-pedestal/WDTestData.txt");
    assert_eq!(detect(&path).unwrap(), Format::WaveDumpAscii);
    let w = read_waveforms(&path, &opts()).unwrap();
    assert_eq!((w.events(), w.record_len, w.channel), (153, 1030, Some(0)));
    assert_eq!(w.event_numbers, (319..=471).collect::<Vec<u64>>());
    assert_eq!(w.trigger_times[0], 183_827_807);
    let (lo, hi) = w
        .samples
        .iter()
        .fold((f32::MAX, f32::MIN), |a, &s| (a.0.min(s), a.1.max(s)));
    assert_eq!((lo, hi), (15576.0, 15611.0));
}

#[test]
fn charge_inputs() {
    let c = charges(&data("wavedump-binary-v1730b/RUN000004_ADC_data.npy"));
    assert_eq!(c.events(), 60_001);
    assert_eq!(c.unit(), "ADC*samples");

    let path = data("r6233-histogram/R6233-example.txt");
    assert_eq!(detect(&path).unwrap(), Format::Csv);
    let ChargeInput::Histogram {
        centers,
        counts,
        unit,
    } = charges(&path)
    else {
        panic!("two columns must be a histogram")
    };
    assert_eq!((centers.len(), counts.len()), (1000, 1000));
    assert_eq!(counts.iter().sum::<f64>(), 30_980.0);
    assert_eq!(unit, "V*s");
    assert!((centers[0] + 2e-11).abs() < 1e-20);
}

// ---- synthetic files -------------------------------------------------------------

fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    (dir, path)
}

#[test]
fn x742_ascii_with_float_samples_and_extra_labels() {
    let mut text = String::new();
    for ev in 0..3 {
        text += "Record Length: 4\nBoardID: 0\nChannel: 5\n";
        text += &format!("Event Number: {}\nPattern: 0x0000\n", 10 + ev);
        text += &format!(
            "Trigger Time Stamp: {}\nDC offset (DAC): 0x8F00\n",
            1000 * ev
        );
        text += "Start Index Cell: 517\nSome Fork Label: whatever\n";
        text += &format!("{}.5\n-1.25\n3e2\n{}\n", ev, ev * 2);
    }
    let (_d, path) = temp_file("TR_0_7.txt", text.as_bytes());
    let w = read_waveforms(&path, &opts()).unwrap();
    assert_eq!((w.events(), w.record_len, w.channel), (3, 4, Some(5)));
    assert_eq!(w.event(2), &[2.5, -1.25, 300.0, 4.0]);
    assert_eq!(w.event_numbers, vec![10, 11, 12]);
    assert_eq!(w.trigger_times, vec![0, 1000, 2000]);
}

#[test]
fn header_off_ascii_needs_record_length() {
    let text: String = (0..10).map(|i| format!("{}\r\n", 100 + i)).collect();
    let (_d, path) = temp_file("wave3.txt", text.as_bytes());
    assert_eq!(detect(&path).unwrap(), Format::WaveDumpAscii);
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("record_length") && e.contains("wave3.txt"),
        "{e}"
    );
    let o = ReadOptions {
        record_length: Some(4),
        ..opts()
    };
    let w = read_waveforms(&path, &o).unwrap();
    assert_eq!((w.events(), w.record_len, w.channel), (2, 4, Some(3)));
    assert_eq!(w.event(1), &[104.0, 105.0, 106.0, 107.0]);
    assert_eq!(
        w.warnings.len(),
        1,
        "two samples left over: {:?}",
        w.warnings
    );
}

fn binary_event(size: u32, channel: u32, counter: u32, samples: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [size, 7, 0, channel, counter, 99 + counter] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(samples);
    out
}

#[test]
fn binary_u8_and_f32() {
    let mut bytes = Vec::new();
    for ev in 0..3u8 {
        bytes.extend(binary_event(24 + 8, 2, u32::from(ev), &[ev; 8]));
    }
    let (_d, path) = temp_file("wave_2.dat", &bytes);
    let o = ReadOptions {
        sample_type: SampleType::U8,
        ..opts()
    };
    let w = read_waveforms(&path, &o).unwrap();
    assert_eq!((w.events(), w.record_len, w.channel), (3, 8, Some(2)));
    assert_eq!(w.event(2), &[2.0; 8]);
    assert_eq!(w.trigger_times, vec![99, 100, 101]);

    let mut bytes = Vec::new();
    let floats: Vec<u8> = [1.5f32, -2.25]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    for ev in 0..2 {
        bytes.extend(binary_event(24 + 8, 0, ev, &floats));
    }
    let (_d, path) = temp_file("TR_0_0.dat", &bytes);
    let o = ReadOptions {
        sample_type: SampleType::F32,
        ..opts()
    };
    let w = read_waveforms(&path, &o).unwrap();
    assert_eq!((w.events(), w.record_len), (2, 2));
    assert_eq!(w.event(1), &[1.5, -2.25]);
}

#[test]
fn binary_absurd_header_is_an_error() {
    // (That it is a quick one — no 2 GB allocation first — is measured by
    // `benches/pipeline.rs`, `readers/binary_absurd_header`, not asserted on a clock here.)
    let bytes = binary_event(1 << 31, 0, 0, &[0; 40]);
    let (_d, path) = temp_file("wave0.dat", &bytes);
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(e.contains("wave0.dat") && e.contains("at byte 0"), "{e}");
    assert!(e.contains("2147483648"), "{e}");
}

#[test]
fn binary_size_change_stops_with_warning() {
    let mut bytes = binary_event(24 + 4, 1, 0, &[1, 0, 2, 0]);
    bytes.extend(binary_event(24 + 4, 1, 1, &[3, 0, 4, 0]));
    bytes.extend(binary_event(24 + 6, 1, 2, &[5, 0, 6, 0, 7, 0]));
    let (_d, path) = temp_file("wave1.dat", &bytes);
    let w = read_waveforms(&path, &opts()).unwrap();
    assert_eq!(w.events(), 2);
    assert!(w.warnings[0].contains("56"), "{:?}", w.warnings);
}

#[test]
fn csv_one_column_with_unit_header() {
    let (_d, path) = temp_file("charges.csv", b"charge (pC)\n1.5\n2.5\n0.25\n");
    let c = charges(&path);
    assert_eq!(
        c,
        ChargeInput::Values {
            values: vec![1.5, 2.5, 0.25],
            unit: "pC".into()
        }
    );
    // Headerless: the unit comes from the option, else the guess.
    let (_d, path) = temp_file("q.csv", b"1e-12\n2e-12\n");
    assert_eq!(charges(&path).unit(), "V*s");
    let o = ReadOptions {
        charge_unit: Some("pC".into()),
        ..opts()
    };
    match read(&path, &o).unwrap() {
        Input::Charges(c) => assert_eq!(c.unit(), "pC"),
        other => panic!("{other:?}"),
    }
    let (_d, path) = temp_file("q.txt", b"12.5\n130.0\n-3.25\n");
    assert_eq!(detect(&path).unwrap(), Format::Csv);
    assert_eq!(charges(&path).unit(), "ADC*samples");
}

#[test]
fn whitespace_histogram() {
    let (_d, path) = temp_file("h.txt", b"charge_pC count\n0.0 5\n0.5 7\n1.0 2\n");
    let ChargeInput::Histogram { counts, unit, .. } = charges(&path) else {
        panic!("histogram expected")
    };
    assert_eq!((counts, unit.as_str()), (vec![5.0, 7.0, 2.0], "pC"));
}

#[test]
fn parquet_written_by_polars() {
    use polars::prelude::{DataFrame, NamedFrom, ParquetWriter, Series};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("charges.parquet");
    let mut df = DataFrame::new_infer_height(vec![
        Series::new("charge[V·s]".into(), &[1e-12, 2e-12, 3e-12]).into(),
        Series::new("label".into(), &["a", "b", "c"]).into(),
    ])
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    assert_eq!(detect(&path).unwrap(), Format::Parquet);
    let c = charges(&path);
    assert_eq!(
        c,
        ChargeInput::Values {
            values: vec![1e-12, 2e-12, 3e-12],
            unit: "V*s".into()
        }
    );
}

#[test]
fn unknown_and_empty_files() {
    let (_d, path) = temp_file("thing.xyz", b"hello");
    let e = detect(&path).unwrap_err().to_string();
    assert!(e.contains("supported") && e.contains("thing.xyz"), "{e}");
    let (_d, path) = temp_file("wave0.dat", b"");
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("wave0.dat"), "{e}");
    let (_d, path) = temp_file("x.npy", b"not numpy at all");
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(e.contains("NUMPY") && e.contains("at byte 0"), "{e}");
}

#[test]
fn root_scalar_charge_branch_written_by_oxyroot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("charges.root");
    let mut file = oxyroot::RootFile::create(&path).unwrap();
    let mut tree = oxyroot::WriterTree::new("Tree_CH2");
    tree.new_branch("EventID", 0..50i32);
    tree.new_branch("PulseCharge", (0..50).map(|i| f64::from(i) * 1e-12));
    tree.write(&mut file).unwrap();
    file.close().unwrap();
    drop(file); // flushes the header at offset 0

    assert_eq!(detect(&path).unwrap(), Format::Root);
    let ChargeInput::Values { values, unit } = charges(&path) else {
        panic!("a scalar float branch must be charge values")
    };
    assert_eq!(values.len(), 50);
    assert!((values[7] - 7e-12).abs() < 1e-24);
    assert_eq!(unit, "V*s", "guessed from the magnitudes");
    // An integer scalar branch is charges only when named explicitly.
    let o = ReadOptions {
        branch: Some("EventID".into()),
        charge_unit: Some("ADC·samples".into()),
        ..opts()
    };
    match read(&path, &o).unwrap() {
        Input::Charges(c) => assert_eq!((c.events(), c.unit()), (50, "ADC*samples")),
        other => panic!("{other:?}"),
    }
}

/// Bin centres as a spreadsheet or plotting export writes them — rounded, each off the
/// true grid by up to ~1 % of a bin — are read, and the edges rebuilt from the grid through
/// them; a really uneven binning is still refused, naming the row.
#[test]
fn histogram_csv_with_rounded_centres_is_read_and_uneven_bins_are_refused() {
    use pmtwatch::pipeline::histogram::Histogram;
    let (lo, width) = (-500.0, 2500.0 / 1500.0);
    let mut text = String::from("charge[mV*ns],count\n");
    for i in 0..300 {
        // Up to ±1 % of a bin off the grid (a deterministic jitter), then 6 digits.
        let jitter = 0.01 * width * ((i as f64) * 1.7).sin();
        let c = lo + (i as f64 + 0.5) * width + jitter;
        text.push_str(&format!(
            "{},{}\n",
            format!("{c:.5e}").parse::<f64>().unwrap(),
            i % 7
        ));
    }
    let (_d, path) = temp_file("rounded.csv", text.as_bytes());
    let ChargeInput::Histogram {
        centers,
        counts,
        unit,
    } = charges(&path)
    else {
        panic!("histogram expected")
    };
    assert_eq!(unit, "mV*ns");
    let h = Histogram::from_centers(&centers, &counts, &unit).expect("a histogram");
    assert!((h.width / width - 1.0).abs() < 1e-4, "width {}", h.width);
    assert!((h.lo - lo).abs() < 0.01 * width, "lo {}", h.lo);

    // One bin of 1.5 widths in the middle: refused, with the row.
    let mut uneven = String::from("charge[mV*ns],count\n");
    let mut c = 0.5;
    for i in 0..100 {
        uneven.push_str(&format!("{c},{}\n", i % 5));
        c += if i == 56 { 1.5 } else { 1.0 };
    }
    let (_d, path) = temp_file("uneven.csv", uneven.as_bytes());
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("uneven.csv") && e.contains("data row 58") && e.contains("equally spaced"),
        "{e}"
    );
}

/// ROOT files written by uproot (an independent writer with its own layout: unused space
/// between records, its own key list) read sample for sample like the lab's ROOT file;
/// a ZSTD-compressed one and one with a basket over 16 MiB, which oxyroot cannot decode,
/// are refused before oxyroot runs, naming why and what to write instead.
#[test]
fn root_files_written_by_uproot_read_the_same_waveforms() {
    let lab = uzh("wf0.npy");
    let first_200 = &lab.samples[..200 * 250];
    for name in ["zlib", "lz4", "lzma"] {
        let path = data(&format!("uproot-written/wf0_uproot_{name}.root"));
        let w = read_waveforms(&path, &opts()).unwrap();
        assert_eq!((w.events(), w.record_len, w.channel), (200, 250, Some(0)));
        assert_eq!(w.samples, first_200, "{name}");
        assert!(w.warnings.is_empty(), "{name}: {:?}", w.warnings);
    }
    let path = data("uproot-written/wf0_uproot_zstd.root");
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("ZSTD") && e.contains("ZLIB") && e.contains("wf0_uproot_zstd.root"),
        "{e}"
    );
    // One `extend` of 17,000 events: a 17 MB basket in two compression blocks, of which
    // oxyroot decodes only the first (its decoder panicked on this valid file).
    let path = data("uproot-written/wf0_uproot_17mb_basket.root");
    let e = read(&path, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("2 compression blocks") && e.contains("smaller baskets"),
        "{e}"
    );
}
