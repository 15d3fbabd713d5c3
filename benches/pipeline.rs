//! Benchmarks of the processing pipeline against the speed goals of the issue:
//!
//! - `ascii_to_charges`: WaveDump ASCII file → per-event charges (read, baseline and
//!   features, charge integration), as file bytes per second; one file on one rayon thread (the
//!   per-core goal, ≥ 500 MB/s), one file on all threads, and a whole 3-channel point.
//! - `binary_to_charges`: the same from WaveDump binary (u16 samples, ≥ 2 GB/s), the file
//!   written in the setup from the simulated PMT channel (6 little-endian u32 header
//!   words and u16 samples per event, encoded here by [`encode_binary`]).
//! - `stages_1_thread`: read / features / integration of the ASCII PMT file on their own,
//!   throughput in the same file bytes, to show where the time goes.
//! - `fit_100k`: the fits of a 100k-event spectrum drawn from a compound-Poisson model
//!   (`poisson-gauss` ≤ 10 ms; the other models for information).
//! - `process_point`: `pmtwatch process` of one simulated R12860 point (3 × 4000 events
//!   × 520 samples of WaveDump ASCII) with `charge.png` (≤ 100 ms), without the PNG, and
//!   the PNG alone.
//!
//! - `readers`: an absurd binary header (a 2 GiB event) is refused at once.
//!
//! Input files live in a temporary directory written once per run, so reads come from the
//! page cache (the case of a point the DAQ has just written).
//!
//! Run: `cargo bench --bench pipeline` (all, a few minutes on 2 cores);
//! `cargo bench --bench pipeline -- fit_100k` (one group);
//! `cargo bench --bench pipeline -- --test` (each benchmark once, as a smoke test).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use rayon::ThreadPool;

use pmtwatch::pipeline::config::{AnalysisConfig, Polarity};
use pmtwatch::pipeline::data::{Input, Waveforms};
use pmtwatch::pipeline::fit::{Model, Status, fit_histogram};
use pmtwatch::pipeline::histogram::Histogram;
use pmtwatch::pipeline::plot::{ChargePlot, charge_png};
use pmtwatch::pipeline::point::{
    OutputOptions, ProcessOptions, ProcessedPoint, process_inputs, write_outputs,
};
use pmtwatch::pipeline::readers::{self, ReadOptions};
use pmtwatch::pipeline::scan::{PointLabel, channel_file_name, point_dir_name};
use pmtwatch::pipeline::simulate::{SimParams, simulate_point, write_point};
use pmtwatch::pipeline::waveform;

/// Seed of the simulated point (any fixed value: the bench must be reproducible).
const SEED: u64 = 20_240_601;
/// Events of the fitted spectrum.
const FIT_EVENTS: usize = 100_000;
/// How many times the point's PMT channel is repeated in the large binary file.
const BINARY_TILES: usize = 10;

/// Everything the benchmarks read, made once.
struct Fixture {
    /// Keeps the files alive until the end of the run.
    _dir: tempfile::TempDir,
    /// `wavesave_theta0_phi0` with the three channel files.
    point_dir: PathBuf,
    /// The three ASCII channel files, ch0..ch2.
    ascii: [PathBuf; 3],
    /// Binary PMT channel: one point (4000 events) and `BINARY_TILES` points.
    binary: PathBuf,
    binary_tiled: PathBuf,
    /// Where `process_point` writes its outputs.
    out_dir: PathBuf,
    cfg: AnalysisConfig,
    one_thread: ThreadPool,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("create a temporary directory for the bench");
        let params = SimParams::default();
        let waves = simulate_point(&params, SEED);
        let label = PointLabel::Surface {
            theta: 0.0,
            phi: 0.0,
        };
        write_point(dir.path(), &label, &waves).expect("write the simulated point");
        let point_dir = dir.path().join(point_dir_name(&label));
        let ascii = [0u32, 1, 2].map(|ch| point_dir.join(channel_file_name(ch, &label)));

        let pmt = &waves[2];
        let binary = dir.path().join("wave_2.dat");
        std::fs::write(&binary, encode_binary(pmt, 1)).expect("write the binary file");
        let binary_tiled = dir.path().join("wave_2_tiled.dat");
        std::fs::write(&binary_tiled, encode_binary(pmt, BINARY_TILES))
            .expect("write the tiled binary file");

        let sizes: Vec<u64> = ascii.iter().map(|p| file_len(p)).collect();
        eprintln!(
            "fixture: ASCII ch0/ch1/ch2 {sizes:?} bytes; binary PMT {} bytes ({} events), \
             tiled {} bytes",
            file_len(&binary),
            pmt.events(),
            file_len(&binary_tiled)
        );
        let out_dir = dir.path().join("out");
        std::fs::create_dir(&out_dir).expect("create the output directory");
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("build a one-thread rayon pool");
        Fixture {
            _dir: dir,
            point_dir,
            ascii,
            binary,
            binary_tiled,
            out_dir,
            cfg: AnalysisConfig::default(),
            one_thread,
        }
    }
}

/// WaveDump binary (header on, u16 samples) of `w`'s events, repeated `tiles` times with
/// running event counters: 6 little-endian u32 words (size incl. the 24-byte header, board
/// id, pattern, channel, event counter, trigger time tag), then the samples.
fn encode_binary(w: &Waveforms, tiles: usize) -> Vec<u8> {
    let size = 24 + 2 * w.record_len;
    let mut out = Vec::with_capacity(size * w.events() * tiles);
    let mut counter = 0u32;
    for _ in 0..tiles {
        for (i, samples) in w.iter().enumerate() {
            let ttt = w.trigger_times.get(i).copied().unwrap_or(0) as u32;
            let channel = w.channel.unwrap_or(0);
            for word in [size as u32, 0, 0, channel, counter, ttt] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            for &s in samples {
                out.extend_from_slice(&(s.clamp(0.0, 65535.0) as u16).to_le_bytes());
            }
            counter = counter.wrapping_add(1);
        }
    }
    out
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat a bench file").len()
}

fn read_waves(path: &Path) -> Waveforms {
    match readers::read(path, &ReadOptions::default()).expect("read a bench file") {
        Input::Waveforms(w) => w,
        Input::Charges(_) => panic!("{}: expected waveforms", path.display()),
    }
}

/// Window starts the way `process` places them without a trigger channel: at the most
/// frequent pulse start, `pre` samples earlier.
fn window_starts(f: &waveform::Features, w: &Waveforms, cfg: &AnalysisConfig) -> Vec<Option<i64>> {
    let anchor = waveform::mode(f.start.iter().copied()).unwrap_or(w.record_len as i64 / 2);
    vec![Some(anchor - cfg.window.pre as i64); w.events()]
}

/// Features, window and charges of one channel's waveforms.
fn charges(w: &Waveforms, cfg: &AnalysisConfig) -> Vec<f64> {
    let f = waveform::features(w, &cfg.pmt, Polarity::Negative, &cfg.digitizer);
    let starts = window_starts(&f, w, cfg);
    let (q, _) = waveform::integrate(
        w,
        &f.baseline,
        Polarity::Negative,
        &starts,
        cfg.window.length,
        &cfg.digitizer,
    );
    q
}

/// File → charges (read, features, integration).
fn file_to_charges(path: &Path, cfg: &AnalysisConfig) -> Vec<f64> {
    charges(&read_waves(path), cfg)
}

/// A whole point → PMT charges: the three files read in parallel, trigger and PMT features.
fn point_to_charges(files: &[PathBuf; 3], cfg: &AnalysisConfig) -> Vec<f64> {
    use rayon::prelude::*;
    let waves: Vec<Waveforms> = files.par_iter().map(|p| read_waves(p)).collect();
    let (q, ft) = rayon::join(
        || charges(&waves[2], cfg),
        || {
            waveform::features(
                &waves[0],
                &cfg.trigger_pulse(),
                Polarity::Positive,
                &cfg.digitizer,
            )
        },
    );
    black_box(ft);
    q
}

fn ascii_to_charges(c: &mut Criterion, fx: &Fixture) {
    let pmt = &fx.ascii[2];
    let bytes = file_len(pmt);
    let q = file_to_charges(pmt, &fx.cfg);
    assert_eq!(q.len(), SimParams::default().events, "one charge per event");

    let mut g = c.benchmark_group("ascii_to_charges");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("one_file_1_thread", |b| {
        b.iter(|| {
            fx.one_thread
                .install(|| file_to_charges(black_box(pmt), &fx.cfg))
        })
    });
    g.bench_function("one_file_all_threads", |b| {
        b.iter(|| file_to_charges(black_box(pmt), &fx.cfg))
    });
    let total: u64 = fx.ascii.iter().map(|p| file_len(p)).sum();
    g.throughput(Throughput::Bytes(total));
    g.bench_function("point_3_files_all_threads", |b| {
        b.iter(|| point_to_charges(black_box(&fx.ascii), &fx.cfg))
    });
    g.finish();
}

fn binary_to_charges(c: &mut Criterion, fx: &Fixture) {
    let events = SimParams::default().events;
    assert_eq!(file_to_charges(&fx.binary, &fx.cfg).len(), events);
    assert_eq!(
        file_to_charges(&fx.binary_tiled, &fx.cfg).len(),
        events * BINARY_TILES
    );

    let mut g = c.benchmark_group("binary_to_charges");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, path) in [("4k_events", &fx.binary), ("40k_events", &fx.binary_tiled)] {
        g.throughput(Throughput::Bytes(file_len(path)));
        g.bench_function(format!("{name}_1_thread"), |b| {
            b.iter(|| {
                fx.one_thread
                    .install(|| file_to_charges(black_box(path), &fx.cfg))
            })
        });
        g.bench_function(format!("{name}_all_threads"), |b| {
            b.iter(|| file_to_charges(black_box(path), &fx.cfg))
        });
        g.bench_function(format!("{name}_read_only_1_thread"), |b| {
            b.iter(|| fx.one_thread.install(|| read_waves(black_box(path))))
        });
    }
    g.finish();
}

fn stages(c: &mut Criterion, fx: &Fixture) {
    let pmt = &fx.ascii[2];
    let w = read_waves(pmt);
    let cfg = &fx.cfg;
    let f = waveform::features(&w, &cfg.pmt, Polarity::Negative, &cfg.digitizer);
    let starts = window_starts(&f, &w, cfg);

    let mut g = c.benchmark_group("stages_1_thread");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    // All in the ASCII file's bytes, so the rates add like the stages' times.
    g.throughput(Throughput::Bytes(file_len(pmt)));
    g.bench_function("ascii_read", |b| {
        b.iter(|| fx.one_thread.install(|| read_waves(black_box(pmt))))
    });
    g.bench_function("features", |b| {
        b.iter(|| {
            fx.one_thread.install(|| {
                waveform::features(black_box(&w), &cfg.pmt, Polarity::Negative, &cfg.digitizer)
            })
        })
    });
    g.bench_function("integrate", |b| {
        b.iter(|| {
            fx.one_thread.install(|| {
                waveform::integrate(
                    black_box(&w),
                    &f.baseline,
                    Polarity::Negative,
                    &starts,
                    cfg.window.length,
                    &cfg.digitizer,
                )
            })
        })
    });
    g.finish();
}

/// 100k charges in pC from the compound-Poisson model of the simulator's defaults:
/// n ~ Poisson(μ = occupancy); pedestal N(0, σ0) with σ0 = noise × √(window length) (the
/// noise of the integrated window); each photoelectron N(Q1, σ1) truncated at 0, or with
/// the under-amplified probability uniform in [0.2, 0.4]·Q1. Same Q1, σ1/Q1, μ as a
/// simulated point; no dark pulses (≈ 0.1 % of events at 6 kHz in a 120 ns window).
fn spectrum_charges(n: usize, cfg: &AnalysisConfig) -> Vec<f64> {
    let p = SimParams::default();
    let pc = p.pc_per_adc_sample();
    let q1 = p.q1_adc_samples() * pc;
    let s1 = p.spe_resolution * q1;
    let s0 = p.noise_mv / p.mv_per_adc() * (cfg.window.length as f64).sqrt() * pc;
    let poisson = Poisson::new(p.occupancy).expect("a valid occupancy");
    let [ua_lo, ua_hi] = p.underamp_range;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let gauss = |rng: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };
    (0..n)
        .map(|_| {
            let n_pe: f64 = poisson.sample(&mut rng);
            let mut q = s0 * gauss(&mut rng);
            for _ in 0..n_pe as u64 {
                q += if rng.random::<f64>() < p.underamp_fraction {
                    q1 * (ua_lo + (ua_hi - ua_lo) * rng.random::<f64>())
                } else {
                    loop {
                        let x = q1 + s1 * gauss(&mut rng);
                        if x > 0.0 {
                            break x;
                        }
                    }
                };
            }
            q
        })
        .collect()
}

fn fit_100k(c: &mut Criterion, fx: &Fixture) {
    let q = spectrum_charges(FIT_EVENTS, &fx.cfg);
    let h = Histogram::auto(&q, None, None, "pC").expect("a histogram of the charges");
    // seed-compatible fits the old selection only, as `process` does.
    let s = &fx.cfg.seed;
    let cut: Vec<f64> = q
        .iter()
        .copied()
        .filter(|v| *v >= s.q_min_pc && *v < s.q_max_pc)
        .collect();
    let h_seed = Histogram::auto(&cut, None, Some([s.q_min_pc, s.q_max_pc]), "pC")
        .expect("a histogram of the selected charges");
    // Every model the crate has (poisson-gauss first: it is the goal).
    let models: Vec<(Model, &Histogram)> = Model::ALL
        .into_iter()
        .map(|m| {
            (
                m,
                if m == Model::SeedCompatible {
                    &h_seed
                } else {
                    &h
                },
            )
        })
        .collect();
    for &(model, hist) in &models {
        let r = fit_histogram(hist, model);
        eprintln!(
            "fit_100k/{model}: {} bins, status {}, {} iterations, q1 {:?} pC, chi2/ndf {:?}/{:?}",
            hist.bins(),
            r.status.as_str(),
            r.iterations,
            r.q1().map(|p| p.value),
            r.chi2,
            r.ndf
        );
        if matches!(model, Model::PoissonGauss | Model::PoissonGaussUa) {
            assert_eq!(r.status, Status::Ok, "{model} must fit: {:?}", r.message);
        }
    }

    let mut g = c.benchmark_group("fit_100k");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for &(model, hist) in &models {
        g.bench_function(model.as_str(), |b| {
            b.iter(|| fit_histogram(black_box(hist), model))
        });
    }
    g.bench_function("histogram_auto", |b| {
        b.iter(|| Histogram::auto(black_box(&q), None, None, "pC"))
    });
    g.finish();
}

fn process(fx: &Fixture) -> ProcessedPoint {
    process_with(fx, false)
}

/// `no_figures`: without the figures beyond the gain (transit time, dark rate, reference).
fn process_with(fx: &Fixture, no_figures: bool) -> ProcessedPoint {
    let opts = ProcessOptions {
        no_figures,
        ..Default::default()
    };
    process_inputs(std::slice::from_ref(&fx.point_dir), &fx.cfg, &opts)
        .expect("process the simulated point")
}

fn process_point(c: &mut Criterion, fx: &Fixture) {
    let plot = OutputOptions {
        plot: true,
        ..Default::default()
    };
    // Where the time goes: medians of `timings_ms` over a few runs.
    let runs: Vec<ProcessedPoint> = (0..9).map(|_| process(fx)).collect();
    let med = |f: fn(&ProcessedPoint) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let p = &runs[0];
    eprintln!(
        "process_point: model {}, status {}, gain {:?}, timings_ms median of {}: read {:.1}, \
         features {:.1}, fit {:.1}, total {:.1}",
        p.result.model,
        p.result.status.as_str(),
        p.result.gain,
        runs.len(),
        med(|p| p.result.timings_ms.read),
        med(|p| p.result.timings_ms.features),
        med(|p| p.result.timings_ms.fit),
        med(|p| p.result.timings_ms.total),
    );
    write_outputs(p, &fx.out_dir, &plot).expect("write the outputs");

    let mut g = c.benchmark_group("process_point");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    g.bench_function("with_png", |b| {
        b.iter(|| {
            let p = process(fx);
            write_outputs(&p, &fx.out_dir, &plot).expect("write the outputs");
            p
        })
    });
    let no_plot = OutputOptions::default();
    g.bench_function("without_png", |b| {
        b.iter(|| {
            let p = process(fx);
            write_outputs(&p, &fx.out_dir, &no_plot).expect("write the outputs");
            p
        })
    });
    // What the figures beyond the gain cost (issue 15: at most 20 % of the point's time).
    g.bench_function("process_only", |b| b.iter(|| process_with(fx, false)));
    g.bench_function("process_only_no_figures", |b| {
        b.iter(|| process_with(fx, true))
    });
    g.sampling_mode(SamplingMode::Auto).sample_size(20);
    // result.json + _GAIN.txt alone (each written atomically with an fsync).
    g.bench_function("write_outputs_only_no_png", |b| {
        b.iter(|| write_outputs(p, &fx.out_dir, &no_plot).expect("write the outputs"))
    });
    g.bench_function("charge_png_only", |b| {
        b.iter(|| {
            charge_png(&ChargePlot {
                hist: &p.result.histogram,
                fit: &p.fit,
                title: "bench".into(),
                gain: p
                    .result
                    .gain
                    .map(|g| (g, p.result.gain_err.unwrap_or(f64::NAN))),
                reference: None,
                reference_label: None,
            })
            .expect("render charge.png")
        })
    });
    g.finish();
}

/// A binary file whose first header claims a 2 GiB event: the reader must refuse it from
/// the header alone (no allocation of the claimed size, no scan of the file). Was a
/// wall-clock assertion (< 1 s) in `tests/processing/readers.rs`; timed here instead.
fn readers(c: &mut Criterion, fx: &Fixture) {
    let path = fx.point_dir.with_file_name("absurd_wave0.dat");
    let mut bytes = Vec::new();
    for word in [1u32 << 31, 0, 0, 0, 0, 0] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.extend_from_slice(&[0; 40]);
    std::fs::write(&path, &bytes).expect("write the absurd file");
    let t = std::time::Instant::now();
    let err = readers::read(&path, &ReadOptions::default());
    let first = t.elapsed();
    assert!(err.is_err(), "an absurd header is an error");
    eprintln!("readers/binary_absurd_header: first call {first:?} (goal: well under 1 s)");
    let mut g = c.benchmark_group("readers");
    g.sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("binary_absurd_header", |b| {
        b.iter(|| readers::read(black_box(&path), &ReadOptions::default()).is_err())
    });
    g.finish();
}

fn main() {
    let fx = Fixture::new();
    let mut c = Criterion::default().configure_from_args();
    ascii_to_charges(&mut c, &fx);
    binary_to_charges(&mut c, &fx);
    stages(&mut c, &fx);
    fit_100k(&mut c, &fx);
    process_point(&mut c, &fx);
    readers(&mut c, &fx);
    c.final_summary();
}
