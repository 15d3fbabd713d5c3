//! Issue 13, item 5: a slot's GPU choice through the monitor — an explicit GPU this machine
//! does not have is refused before a run exists, naming what to choose; "none" runs the scan
//! on the CPU with every GPU hidden (`CUDA_VISIBLE_DEVICES=-1` in the watch's environment,
//! seen by a wrapper around the real `pmtwatch`), and the run says so; automatic on a
//! machine without a known GPU is the CPU, in words, and leaves the environment alone.
//! (Least-busy among real GPUs is tested with synthetic samples in `model::gpu`.)

use std::time::Duration;

use pmtwatch::model::{GpuChoice, RunGpu};
use pmtwatch::store::RunState;

use crate::fixture::{Bench, PATTERN, finish_simulation, labels, pattern_labels};

const LONG: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slots_gpu_choice_is_resolved_stored_and_reaches_the_watch() {
    let b = Bench::new("gpu").await;
    // The profile's program: a wrapper that records the GPU variables, then runs pmtwatch.
    let seen = b.path("seen-env");
    let wrapper = b.path("work/pmtwatch-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"${{CUDA_VISIBLE_DEVICES-unset}}\" \
             \"${{CUDA_DEVICE_ORDER-unset}}\" >> '{seen}'\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_pmtwatch")
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let mut spec = b.local_spec(PATTERN);
    spec.program = wrapper;
    let profile = b.profile("bench pc", spec).await;
    b.slot(1, "KM1301", profile).await;

    // No GPU on this machine (as the sampler would say): GPU 0 is refused, clearly, and
    // no run is created.
    b.monitor
        .set_slot_gpu(1, GpuChoice::Index(0))
        .await
        .expect("save the choice");
    assert_eq!(b.monitor.snapshot().slots[0].slot.gpu, GpuChoice::Index(0));
    let e = b
        .monitor
        .start_run(1, "olga")
        .await
        .expect_err("GPU 0 does not exist here");
    let text = e.to_string();
    assert!(
        text.contains("GPU 0 is not known on this machine"),
        "{text}"
    );
    assert!(b.store.latest_run_in_slot(1).expect("read").is_none());

    // "none": the CPU, every GPU hidden from the watch.
    b.monitor
        .set_slot_gpu(1, GpuChoice::Cpu)
        .await
        .expect("save the choice");
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let id = b.monitor.start_run(1, "olga").await.expect("start").run_id;
    let sim = b.simulate("KM1301", None, 0.2);
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(labels(&v), pattern_labels(PATTERN));
    let gpu = v.run.gpu.clone().expect("the run records its GPU");
    assert_eq!(gpu.label(), "CPU (chosen in the slot)");
    let stored = b.store.get_run(id).expect("read").expect("the run");
    assert_eq!(stored.gpu, Some(gpu));
    let env = std::fs::read_to_string(&seen).expect("the wrapper ran");
    assert!(
        env.lines().next() == Some("-1|PCI_BUS_ID"),
        "the watch's environment: {env:?}"
    );

    // Automatic with no GPU known: the CPU, said in words; the environment untouched.
    b.monitor
        .set_slot_gpu(1, GpuChoice::Auto)
        .await
        .expect("save the choice");
    b.monitor
        .set_executor(false, "olga")
        .await
        .expect("executor");
    let id = b.monitor.start_run(1, "olga").await.expect("start").run_id;
    let run = b.store.get_run(id).expect("read").expect("the run");
    assert_eq!(
        run.gpu,
        Some(RunGpu::Cpu {
            why: "no GPU known on this machine".into(),
            hidden: false
        })
    );
    let log = b.store.logbook(id).expect("logbook");
    assert!(
        log.iter()
            .any(|e| e.text.contains("CPU (no GPU known on this machine)")),
        "the logbook says which GPU: {log:?}"
    );
    b.monitor.stop_run(id, true, "olga").await.expect("stop");
    b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
}
