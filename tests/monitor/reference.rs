//! The reference sensor through the monitor (issue 15): with `channels.reference` set, each
//! stored point carries the reference's counted occupancy (the row the grid shows under the
//! PMT's cells) and the PMT's relative efficiency, and a fading source shows in the first
//! but not in the second.

use std::process::{Command, Stdio};
use std::time::Duration;

use pmtwatch::store::RunState;

use crate::fixture::{Bench, PATTERN, WaitBounded};

const LONG: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_point_stores_the_reference_occupancy_and_the_relative_efficiency() {
    let b = Bench::new("reference").await;
    let mut spec = b.local_spec(PATTERN);
    spec.analysis.channels.reference = Some(1);
    let id = b.start_in_slot("KM6161", spec).await;
    let mut sim = Command::new(env!("CARGO_BIN_EXE_pmtwatch"));
    sim.arg("simulate")
        .arg(b.dir.join("scan"))
        .args([
            "--serial",
            "KM6161",
            "--events",
            "3000",
            "--pattern",
            PATTERN,
        ])
        .args(["--reference-occupancy", "1", "--drift", "0.3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = sim.spawn().expect("start pmtwatch simulate");
    assert!(child.wait_with_output_bounded(), "pmtwatch simulate failed");
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    let rows = v.rows();
    let cells: Vec<_> = rows.iter().flat_map(|(_, c)| c.iter()).collect();
    let refs: Vec<f64> = cells
        .iter()
        .map(|c| {
            c.figures
                .reference_occupancy
                .expect("a reference occupancy")
        })
        .collect();
    let effs: Vec<f64> = cells
        .iter()
        .map(|c| {
            c.figures
                .relative_efficiency
                .expect("a relative efficiency")
        })
        .collect();
    // In scan order the source fades by 30 %: the reference sees it, the ratio does not.
    let order: Vec<usize> = {
        let labels: Vec<String> = v.pattern.iter().map(|p| p.label()).collect();
        labels
            .iter()
            .filter_map(|l| cells.iter().position(|c| &c.label == l))
            .collect()
    };
    let (first, last) = (order[0], order[order.len() - 1]);
    assert!(
        refs[last] < 0.85 * refs[first],
        "the reference sees the fade: {refs:?}"
    );
    assert!(
        (effs[last] / effs[first] - 1.0).abs() < 0.15,
        "the relative efficiency does not: {effs:?}"
    );
}
