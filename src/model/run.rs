//! A run's vocabulary: where it is in its life ([`RunState`]), the operator's review of it
//! ([`Review`]), what it scans ([`ScanKind`]), the run as stored ([`Run`]) and a History
//! query ([`RunFilter`]). `store::runs` maps them to rows; the monitor's state machine moves
//! a run between states.

use super::text_enum;

text_enum! {
    /// Where a run is in its life. `queued` waits for the executor; `cluster_unreachable` is
    /// recoverable (the run goes back to `running` when the cluster answers again).
    RunState {
        Queued = "queued",
        Submitting = "submitting",
        Running = "running",
        Complete = "complete",
        Failed = "failed",
        Cancelled = "cancelled",
        ClusterUnreachable = "cluster_unreachable",
    }
}

impl RunState {
    /// Still being worked on: a restarted server resumes these.
    pub fn is_active(self) -> bool {
        !self.is_final()
    }

    /// Ended for good.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Complete | RunState::Failed | RunState::Cancelled
        )
    }
}

text_enum! {
    /// The operator's review of a run. `*_requested`: the move of its data is under way.
    Review {
        Unreviewed = "unreviewed",
        ArchiveRequested = "archive_requested",
        Archived = "archived",
        FlagRequested = "flag_requested",
        Flagged = "flagged",
    }
}

impl Review {
    /// Archived or flagged (the data has been moved and confirmed).
    pub fn is_reviewed(self) -> bool {
        matches!(self, Review::Archived | Review::Flagged)
    }
}

text_enum! {
    /// What a run scans: the photocathode surface (θ/φ points) or the HV check.
    ScanKind {
        Surface = "surface",
        Hv = "hv",
        Dark = "dark",
    }
}

/// One run as stored, with its count of finished points.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    pub id: i64,
    pub slot_id: i64,
    pub serial: String,
    pub kind: ScanKind,
    pub profile_name: String,
    /// The profile (JSON) as it was when the run was created.
    #[serde(skip)]
    pub profile: String,
    pub state: RunState,
    pub message: String,
    /// The job (a `remote::backend::JobId` as JSON) once submitted.
    pub job: Option<String>,
    /// The run's result directory where the work runs.
    pub remote_out: String,
    pub points_total: i64,
    pub points_done: i64,
    pub operator: String,
    pub review: Review,
    pub review_reason: String,
    pub reviewed_by: String,
    pub reviewed_at: Option<i64>,
    /// Where a review moved the data to.
    pub review_dest: String,
    /// The local copy of the results was removed by a cleanup.
    pub local_removed: bool,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The run's operating voltage and its error: an HV check's result (once its fit has
    /// one), or for a surface scan the voltage its tube's last HV check gave.
    pub hv: Option<f64>,
    pub hv_err: Option<f64>,
    /// For a surface scan: the HV check run `hv` came from.
    pub hv_from: Option<i64>,
    /// The GPU the slot's choice resolved to when the run was created; `None` for runs
    /// from before there was a choice.
    pub gpu: Option<super::gpu::RunGpu>,
}

/// A History query; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Serial numbers containing this text (case-insensitive).
    pub serial: Option<String>,
    pub state: Option<RunState>,
    pub review: Option<Review>,
    pub operator: Option<String>,
    /// Created at or after (Unix seconds).
    pub since: Option<i64>,
    /// Created before (Unix seconds).
    pub until: Option<i64>,
    /// At most this many, newest first (default 200).
    pub limit: Option<u32>,
}

/// What a grid cell can be coloured by beyond its status, and which criteria made it a
/// warning or poor (`("dark rate", "poor")`), as the monitor stored them from the point's
/// result (JSON in `points.figures`; `{}` for points stored before there were figures).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PointFigures {
    /// σ1/Q1.
    pub resolution: Option<f64>,
    pub peak_to_valley: Option<f64>,
    pub dark_rate_hz: Option<f64>,
    pub tts_fwhm_ns: Option<f64>,
    pub relative_efficiency: Option<f64>,
    /// The reference sensor's counted occupancy at this point (its own row under the grid).
    pub reference_occupancy: Option<f64>,
    /// The criteria that were not healthy, with their verdict, worst first.
    pub flagged: Vec<(String, String)>,
}
