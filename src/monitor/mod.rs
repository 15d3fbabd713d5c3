//! The executor inside the server: one supervised task per active run, a state machine
//! persisted in the store, and the [`Board`] every browser renders.
//!
//! - [`Monitor`]: the handle the web layer's commands call (start/stop the executor,
//!   profiles, slots, runs, review, cleanup, history). Cheap to clone. A run's GPU is
//!   resolved from its slot's choice when it starts ([`Monitor::resolve_gpu`]) and stored
//!   on the run; its task passes it to the job (`engine::run_backend`, `{GPU}`).
//! - [`engine`]: the task that drives one run: queued → submitting → running → complete |
//!   failed | cancelled, with `cluster_unreachable` in between when the cluster or host
//!   stops answering (the task keeps trying; the run is not lost).
//! - [`review`]: flag/archive (verified moves of the run's data), auto-archive, cleanup.
//! - [`reads`]: the read queries — History, a run's detail, the comparison with the previous
//!   run, a point's result document.
//! - [`hv`]: the HV check's live fit, plot and stored result per serial.
//! - [`alarms`]: alarms evaluated here (stalled scan, poor/failed point, run failed, cluster
//!   unreachable, job pending, disk), their notifications and each run's logbook.
//! - [`board`]: the published snapshot and the grid's geometry. [`profile`]: compute
//!   profiles. [`disk`]: free space of a data directory (System tab, alarms).
//! - [`system`]: the System tab's sampler (GPUs, hosts, disks, the cluster; the disk
//!   guard that refuses a scan that cannot fit). [`metrics`]: what `/metrics` exports.
//!
//! The rule that makes restarts safe: every transition and every point is written to the
//! store *before* the board changes. At start [`Monitor::start`] reads the runs that have
//! not ended and starts their tasks again; a task that finds its run already submitted
//! re-attaches to the SLURM job or restarts the (restart-safe) watch, syncs what finished
//! meanwhile, and the `(run, label)` key of the points table drops anything reported twice.

pub mod alarms;
pub(crate) mod board;
pub mod disk;
pub(crate) mod engine;
pub(crate) mod hv;
pub mod metrics;
pub mod profile;
pub(crate) mod reads;
pub(crate) mod review;
pub mod system;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::model::{GpuChoice, Run, RunGpu, RunState, ScanKind, SystemStatus};
use crate::pipeline::serial::Serial;
use crate::remote::report::Report;
use crate::store::{self, NewRun, Store};

pub use board::{Board, ExecutorStatus, HvCheck, HvLab, RunView, SlotView};
pub use profile::{Mode, Profile, ProfileSpec};
pub use reads::{Comparison, GainDiff, RunDetail};
pub use review::{CleanupItem, CleanupRequest, ReviewAction};
pub use system::SamplerConfig;

/// Why a monitor action did not happen; the text is shown to the operator as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Store(#[from] store::Error),
    #[error("{0}")]
    Remote(#[from] crate::remote::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn refused(msg: impl Into<String>) -> Error {
    Error::Refused(msg.into())
}

/// Refuses a profile whose ssh_config holds a directive that runs commands (unless an
/// admin allowed that exact content); reads the file off the runtime.
async fn check_ssh_config(spec: &ProfileSpec) -> Result<()> {
    let path = spec.ssh_config.trim().to_string();
    if path.is_empty() {
        return Ok(());
    }
    let allowed = spec.ssh_config_allowed.trim().to_string();
    let allowed = (!allowed.is_empty()).then_some(allowed);
    let checked = tokio::task::spawn_blocking(move || {
        crate::remote::inputs::check_ssh_config_file(
            std::path::Path::new(&path),
            allowed.as_deref(),
        )
    })
    .await
    .map_err(|e| refused(format!("the ssh_config check did not run: {e}")))?;
    checked.map_err(|why| refused(format!("ssh_config: {why}")))
}

/// A stop request for a run's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StopRequest {
    pub by: String,
    /// Also cancel the job where it runs (SLURM job, detached process).
    pub cancel: bool,
}

/// What starting a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub run_id: i64,
    /// The slot's previous run, archived automatically because nobody had reviewed it.
    pub auto_archived: Option<i64>,
}

/// Handle to the executor. Cloning is cheap.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    /// The pmtwatch program for local profiles without one: this very binary.
    program: String,
    board: watch::Sender<Arc<Board>>,
    /// Whether the executor dispatches queued runs (the tasks wait on it).
    dispatching: watch::Sender<bool>,
    /// The running tasks' stop switches, by run id.
    tasks: Mutex<HashMap<i64, watch::Sender<Option<StopRequest>>>>,
    /// The System tab's picture, replaced by the sampler every 2 s.
    system: watch::Sender<Arc<SystemStatus>>,
    /// Set to stop the sampler; whether one was started.
    sampler_stop: watch::Sender<bool>,
    sampler_started: std::sync::atomic::AtomicBool,
    /// What `/metrics` exports.
    metrics: metrics::Metrics,
    /// Alarm configuration, evaluation and the notifier's queue.
    alarms: alarms::AlarmState,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

/// The settings key of the executor's state.
const EXECUTOR_KEY: &str = "executor";

impl Monitor {
    /// Loads the bench from the store, publishes it and resumes every run that has not
    /// ended. `program`: the pmtwatch binary for local profiles (usually this one).
    pub async fn start(store: Store, data_dir: &Path, program: String) -> Result<Monitor> {
        let executor: ExecutorStatus = store
            .run(|s| s.setting(EXECUTOR_KEY))
            .await?
            .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
            .map(|v| ExecutorStatus {
                running: v["running"].as_bool().unwrap_or(false),
                changed_by: v["by"].as_str().map(str::to_string),
                changed_at: v["at"].as_i64(),
            })
            .unwrap_or_default();
        let alarm_config = store.run(alarms::load_config).await?;
        let (alarm_state, outgoing) = alarms::AlarmState::new(alarm_config);
        let m = Monitor {
            inner: Arc::new(Inner {
                store,
                data_dir: data_dir.to_path_buf(),
                program,
                board: watch::Sender::new(Arc::new(Board {
                    executor: executor.clone(),
                    ..Board::default()
                })),
                dispatching: watch::Sender::new(executor.running),
                tasks: Mutex::new(HashMap::new()),
                system: watch::Sender::new(Arc::new(SystemStatus::default())),
                sampler_stop: watch::Sender::new(false),
                sampler_started: std::sync::atomic::AtomicBool::new(false),
                metrics: metrics::Metrics::new()
                    .map_err(|e| refused(format!("the metrics cannot be set up: {e}")))?,
                alarms: alarm_state,
            }),
        };
        m.reload_board().await?;
        alarms::publish_alarms(&m).await?;
        alarms::spawn(&m, outgoing);
        // Reviews a stopped server left half done are finished or rolled back (in the
        // background: a host that does not answer must not hold up the start).
        let interrupted = m.db(|s| s.interrupted_reviews()).await?;
        if !interrupted.is_empty() {
            let m2 = m.clone();
            tokio::spawn(async move {
                for (run, src) in interrupted {
                    review::recover(&m2, run, src).await;
                }
            });
        }
        let active = m.db(|s| s.active_runs()).await?;
        for run in active {
            tracing::info!(run = run.id, state = %run.state, "resuming run");
            m.spawn_task(run.id);
        }
        Ok(m)
    }

    /// The board, for views: every change is a new snapshot.
    pub fn board(&self) -> watch::Receiver<Arc<Board>> {
        self.inner.board.subscribe()
    }

    /// The board as it is now.
    pub fn snapshot(&self) -> Arc<Board> {
        self.inner.board.borrow().clone()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    // ----- system (the System tab, the disk guard, /metrics) -----

    /// Starts the server-wide sampler (once; later calls do nothing). It stops with
    /// [`Monitor::stop_sampler`] or when the monitor is dropped.
    pub fn start_sampler(&self, cfg: SamplerConfig) {
        if self
            .inner
            .sampler_started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let stop = self.inner.sampler_stop.subscribe();
        tokio::spawn(system::run(weak, cfg, stop));
    }

    /// Stops the sampler (the server is shutting down).
    pub fn stop_sampler(&self) {
        self.inner.sampler_stop.send_replace(true);
    }

    /// The System tab's picture: every change is a new snapshot.
    pub fn system(&self) -> watch::Receiver<Arc<SystemStatus>> {
        self.inner.system.subscribe()
    }

    /// The System tab's picture now.
    pub fn system_snapshot(&self) -> Arc<SystemStatus> {
        self.inner.system.borrow().clone()
    }

    pub(crate) fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Every metric in Prometheus' text format (`GET /metrics`).
    pub async fn metrics_text(&self) -> Result<String> {
        let runs = self.db(|s| s.run_counts()).await?;
        let system = self.system_snapshot();
        self.inner
            .metrics
            .render(&runs, &system)
            .map_err(|e| refused(format!("the metrics cannot be written: {e}")))
    }

    /// Refuses a scan that the data directory (and a local profile's work directory)
    /// cannot take: below 10 % free, or less free than the last runs took.
    async fn check_disk(&self, profile: &Profile) -> Result<()> {
        let data = self.inner.data_dir.clone();
        let work = (profile.spec.kind == crate::model::BackendKind::Local
            && !profile.spec.work_dir.trim().is_empty())
        .then(|| PathBuf::from(profile.spec.work_dir.trim()));
        let verdict = tokio::task::spawn_blocking(move || {
            let more: Vec<&Path> = work.iter().map(PathBuf::as_path).collect();
            system::guard::check(&data, &more)
        })
        .await
        .map_err(|e| refused(format!("the free-space check did not run: {e}")))?;
        verdict.map_err(|why| refused(format!("not started, the disk is too full: {why}")))
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Where a run's results are kept on this machine: `<data>/runs/<id>/<label>/…`.
    pub fn run_dir(&self, run_id: i64) -> PathBuf {
        self.inner.data_dir.join("runs").join(run_id.to_string())
    }

    async fn db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> store::Result<T> + Send + 'static,
    {
        Ok(self.inner.store.run(f).await?)
    }

    /// Changes the board and publishes it (after the store has the change).
    pub(crate) fn publish(&self, f: impl FnOnce(&mut Board)) {
        self.inner.board.send_modify(|b| {
            let b = Arc::make_mut(b);
            f(b);
            b.version += 1;
        });
    }

    /// Re-reads slots, profiles and each slot's newest run from the store.
    pub(crate) async fn reload_board(&self) -> Result<()> {
        let data_dir = self.inner.data_dir.clone();
        let (slots, profiles, runs, offers) = self
            .db(move |s| {
                let slots = s.slots()?;
                let profiles = s.profiles()?;
                let mut runs = Vec::new();
                let mut offers = Vec::new();
                for slot in &slots {
                    let serial = slot.serial.trim();
                    offers.push(if serial.is_empty() {
                        None
                    } else {
                        s.latest_hv_of_serial(serial)?
                    });
                    if let Some(run) = s.latest_run_in_slot(slot.id)? {
                        let points = s.points(run.id)?;
                        // Files and a fit of a few points: fine here, off the runtime.
                        let hv = if run.kind == ScanKind::Hv {
                            let stored = s.hv_result(run.id)?;
                            let dir = data_dir.join("runs").join(run.id.to_string());
                            let check = hv::check_on_reload(
                                run.id,
                                &run.serial,
                                run.points_total,
                                &points,
                                stored.as_ref(),
                                &dir,
                            );
                            (check, hv::lab_on_reload(&dir))
                        } else {
                            (None, None)
                        };
                        runs.push((slot.id, run, points, hv));
                    }
                }
                Ok((slots, profiles, runs, offers))
            })
            .await?;
        let profiles: Vec<Profile> = profiles
            .into_iter()
            .filter_map(|row| match serde_json::from_str::<ProfileSpec>(&row.spec) {
                Ok(spec) => Some(Profile {
                    id: row.id,
                    name: row.name,
                    spec,
                }),
                Err(e) => {
                    tracing::error!("profile {} cannot be read: {e}", row.name);
                    None
                }
            })
            .collect();
        let old = self.snapshot();
        let mut views = BTreeMap::new();
        let mut slot_views = Vec::new();
        for (slot, hv_offer) in slots.into_iter().zip(offers) {
            let run_id = runs
                .iter()
                .find(|(s, _, _, _)| *s == slot.id)
                .map(|r| r.1.id);
            slot_views.push(SlotView {
                slot,
                run_id,
                hv_offer,
            });
        }
        for (_, run, points, (check, lab)) in runs {
            let job_status = old
                .runs
                .get(&run.id)
                .map(|v| v.job_status.clone())
                .unwrap_or_default();
            let mut view = run_view(run, points, job_status);
            view.hv = check;
            view.hv_lab = lab;
            views.insert(view.run.id, Arc::new(view));
        }
        self.publish(|b| {
            b.slots = slot_views;
            b.runs = views;
            b.profiles = Arc::new(profiles);
        });
        Ok(())
    }

    /// Replaces one run's view (if a slot shows it) after the store changed it.
    pub(crate) fn publish_run(&self, run: Run) {
        self.publish(|b| {
            if let Some(v) = b.runs.get_mut(&run.id) {
                let v = Arc::make_mut(v);
                v.run = run;
                v.run.points_done = v.points.len() as i64;
            }
        });
    }

    /// Persists a run's new state, then publishes it.
    pub(crate) async fn set_state(&self, id: i64, state: RunState, message: String) -> Result<Run> {
        let before = self.snapshot().runs.get(&id).map(|v| v.run.state);
        let run = self
            .db(move |s| s.set_run_state(id, state, &message))
            .await?;
        self.publish_run(run.clone());
        if before != Some(run.state) {
            let text = if run.message.is_empty() {
                format!("Run {}", run.state)
            } else {
                format!("Run {}: {}", run.state, run.message)
            };
            self.log_auto(id, text).await;
        }
        self.poke_alarms();
        Ok(run)
    }

    // ----- executor -----

    /// Starts or stops dispatching. Stopping never cancels a running job: queued runs
    /// wait, running runs are still followed and synced.
    pub async fn set_executor(&self, running: bool, by: &str) -> Result<()> {
        let at = store::now();
        let value = serde_json::json!({ "running": running, "by": by, "at": at }).to_string();
        self.db(move |s| s.set_setting(EXECUTOR_KEY, &value))
            .await?;
        self.inner.dispatching.send_replace(running);
        let by = by.to_string();
        self.publish(|b| {
            b.executor = ExecutorStatus {
                running,
                changed_by: Some(by),
                changed_at: Some(at),
            }
        });
        Ok(())
    }

    pub(crate) fn dispatching(&self) -> watch::Receiver<bool> {
        self.inner.dispatching.subscribe()
    }

    pub(crate) fn program(&self) -> &str {
        &self.inner.program
    }

    // ----- profiles -----

    /// Creates (`id` = `None`) or replaces a profile after validating it.
    pub async fn save_profile(
        &self,
        id: Option<i64>,
        name: String,
        spec: ProfileSpec,
    ) -> Result<i64> {
        profile::check_name(&name).map_err(refused)?;
        let problems = spec.validate();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(refused(format!(
                "the profile was not saved: {}",
                text.join("; ")
            )));
        }
        check_ssh_config(&spec).await?;
        let json = serde_json::to_string(&spec)
            .map_err(|e| refused(format!("the profile cannot be encoded: {e}")))?;
        let name = name.trim().to_string();
        let id = self.db(move |s| s.save_profile(id, &name, &json)).await?;
        self.reload_board().await?;
        Ok(id)
    }

    /// Deletes a profile (runs keep their copy of it).
    pub async fn delete_profile(&self, id: i64) -> Result<()> {
        self.db(move |s| s.delete_profile(id)).await?;
        self.reload_board().await
    }

    /// The connection test of a profile (saved or not): every item it depends on. The
    /// profile is validated first, as on save; nothing runs for one that would be refused.
    /// (Who may test an unsaved draft is decided by the caller: `web::commands`.)
    pub async fn test_profile(&self, spec: ProfileSpec) -> Result<Report> {
        let problems = spec.validate();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(refused(format!(
                "the profile was not tested: {}",
                text.join("; ")
            )));
        }
        check_ssh_config(&spec).await?;
        let config = spec.backend_config(self.program())?;
        let backend = crate::remote::backend::Backend::new(config)?;
        Ok(backend.test().await)
    }

    // ----- slots -----

    /// Adds a slot `PMT <n>`.
    pub async fn add_slot(&self) -> Result<i64> {
        let slot = self.db(|s| s.add_slot()).await?;
        self.reload_board().await?;
        Ok(slot.id)
    }

    /// Removes a slot; refused while it has an active run.
    pub async fn remove_slot(&self, slot_id: i64) -> Result<()> {
        if let Some(run) = self.snapshot().slot_run(slot_id)
            && run.run.state.is_active()
        {
            return Err(refused(format!(
                "slot {slot_id} is running run {}: stop it first",
                run.run.id
            )));
        }
        self.db(move |s| s.remove_slot(slot_id)).await?;
        self.reload_board().await
    }

    /// Saves a slot's serial number (validated unless empty), profile and scan kind.
    pub async fn set_slot(
        &self,
        slot_id: i64,
        serial: String,
        profile_id: Option<i64>,
        kind: ScanKind,
    ) -> Result<()> {
        let serial = serial.trim().to_string();
        if !serial.is_empty() {
            Serial::parse(&serial).map_err(|e| refused(format!("serial number: {e}")))?;
        }
        self.db(move |s| s.set_slot(slot_id, &serial, profile_id, kind))
            .await?;
        self.reload_board().await
    }

    /// Saves a slot's GPU choice; checked against the profile's host when a run starts
    /// (the host's GPUs may change meanwhile).
    pub async fn set_slot_gpu(&self, slot_id: i64, gpu: GpuChoice) -> Result<()> {
        if let GpuChoice::Count(n) = gpu
            && !(1..=crate::model::MAX_GRES_GPUS).contains(&n)
        {
            return Err(refused(format!(
                "gpu:{n}: a SLURM job asks for 1–{} GPUs",
                crate::model::MAX_GRES_GPUS
            )));
        }
        self.db(move |s| s.set_slot_gpu(slot_id, gpu)).await?;
        self.reload_board().await
    }

    /// What a slot's GPU choice means for a run of `profile` starting now: automatic is
    /// the least busy GPU of the sampler's latest picture of the profile's host (the CPU,
    /// said in words, when none is known; on SLURM the profile's `gpus`).
    pub fn resolve_gpu(&self, choice: GpuChoice, profile: &Profile) -> Result<RunGpu> {
        let system = self.system_snapshot();
        let local = profile.spec.kind == crate::model::BackendKind::Local;
        let gpus = system.gpus_for((!local).then_some(profile.id));
        let host = if local {
            "this machine".to_string()
        } else {
            system
                .hosts
                .iter()
                .find(|h| h.profile_id == Some(profile.id))
                .map(|h| h.name.clone())
                .unwrap_or_else(|| profile.spec.host.trim().to_string())
        };
        crate::model::resolve_gpu(choice, profile.spec.kind, profile.spec.gpus, gpus, &host)
            .map_err(refused)
    }

    /// Saves the nominal voltage of a slot's HV check (`None`: the profile's). Checked
    /// against the profile's step and number of voltages when the run starts.
    pub async fn set_slot_hv_nominal(&self, slot_id: i64, volts: Option<f64>) -> Result<()> {
        if let Some(v) = volts
            && !(v.is_finite() && v > 0.0 && v <= 10_000.0)
        {
            return Err(refused(format!(
                "nominal HV {v} V: enter a voltage between 0 and 10000 V"
            )));
        }
        self.db(move |s| s.set_slot_hv_nominal(slot_id, volts))
            .await?;
        self.reload_board().await
    }

    // ----- runs -----

    /// Starts a run in a slot with the slot's serial and profile. An unreviewed previous
    /// run is archived first (and the answer says so); a slot whose run is still active
    /// is refused.
    pub async fn start_run(&self, slot_id: i64, operator: &str) -> Result<Started> {
        let board = self.snapshot();
        let slot = board
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .ok_or_else(|| refused(format!("there is no slot {slot_id}")))?
            .slot
            .clone();
        let serial = Serial::parse(slot.serial.trim())
            .map_err(|e| refused(format!("{}: serial number: {e}", slot.name)))?;
        let profile_id = slot
            .profile_id
            .ok_or_else(|| refused(format!("{}: choose a profile first (step 2)", slot.name)))?;
        let profile = board
            .profiles
            .iter()
            .find(|p| p.id == profile_id)
            .ok_or_else(|| refused(format!("{}: its profile no longer exists", slot.name)))?
            .clone();
        if let Some(prev) = board.slot_run(slot_id)
            && prev.run.state.is_active()
        {
            return Err(refused(format!(
                "{} is still running run {} ({}): stop it first",
                slot.name, prev.run.id, prev.run.state
            )));
        }
        let gpu = self
            .resolve_gpu(slot.gpu, &profile)
            .map_err(|e| refused(format!("{}: {e}", slot.name)))?;
        self.check_disk(&profile)
            .await
            .map_err(|e| refused(format!("{}: {e}", slot.name)))?;
        let mut auto_archived = None;
        if let Some(prev) = board.slot_run(slot_id)
            && prev.run.review == store::Review::Unreviewed
        {
            let id = prev.run.id;
            self.review(id, ReviewAction::Archive, "monitor", true)
                .await
                .map_err(|e| {
                    refused(format!(
                        "the previous run {id} of {} is unreviewed and archiving it failed, so \
                         no new run was started: {e}",
                        slot.name
                    ))
                })?;
            auto_archived = Some(id);
        }
        // An HV check runs around the nominal voltage the operator entered for the slot.
        let mut spec = profile.spec.clone();
        if slot.kind == ScanKind::Hv
            && let Some(v) = slot.hv_nominal
        {
            spec.hv_nominal = v;
            if let Some(e) = spec.validate().into_iter().find(|e| e.field == "hv") {
                return Err(refused(format!(
                    "{}: nominal HV {v} V: {}",
                    slot.name, e.message
                )));
            }
        }
        let points = spec.points(slot.kind);
        let json = serde_json::to_string(&spec)
            .map_err(|e| refused(format!("the profile cannot be encoded: {e}")))?;
        let new = NewRun {
            slot_id,
            serial: serial.as_str().to_string(),
            kind: slot.kind,
            profile_name: profile.name.clone(),
            profile: json,
            points_total: points.len() as i64,
            operator: operator.to_string(),
        };
        // A surface scan or darkness check is offered the voltage of its tube's last HV
        // check (recorded on the run, so History and the run's slot say which voltage it
        // ran at): both are taken at the operating voltage.
        let kind = slot.kind;
        let gpu_label = gpu.label();
        let run = self
            .db(move |s| {
                let run = s.create_run(&new)?;
                // Before the task starts: the run's work reads its GPU from the store.
                s.set_run_gpu(run.id, &gpu)?;
                if kind != ScanKind::Hv
                    && let Some(offer) = s.latest_hv_of_serial(&run.serial)?
                {
                    s.set_run_hv_offer(run.id, &offer)?;
                }
                Ok(run)
            })
            .await?;
        let id = run.id;
        self.log_auto(
            id,
            format!(
                "Run created by {operator} for {} in {} (profile {}, {} points, {gpu_label})",
                run.serial,
                slot.name,
                profile.name,
                points.len()
            ),
        )
        .await;
        self.reload_board().await?;
        self.spawn_task(id);
        Ok(Started {
            run_id: id,
            auto_archived,
        })
    }

    /// Stops following a run; with `cancel` also cancels its job where it runs. The run
    /// ends `cancelled`; its points so far stay.
    pub async fn stop_run(&self, run_id: i64, cancel: bool, by: &str) -> Result<()> {
        let sent = {
            let tasks =
                self.inner.tasks.lock().map_err(|_| {
                    refused("the monitor's task table is unusable; restart pmtwatch")
                })?;
            match tasks.get(&run_id) {
                Some(tx) => {
                    tx.send_replace(Some(StopRequest {
                        by: by.to_string(),
                        cancel,
                    }));
                    true
                }
                None => false,
            }
        };
        if !sent {
            return Err(refused(format!("run {run_id} is not running")));
        }
        Ok(())
    }

    /// Whether a task is following `run_id` now.
    pub fn is_following(&self, run_id: i64) -> bool {
        self.inner
            .tasks
            .lock()
            .map(|t| t.contains_key(&run_id))
            .unwrap_or(false)
    }

    /// Reads the run's result directory once more and adds every point not yet stored;
    /// returns how many were new.
    pub async fn sync_run(&self, run_id: i64) -> Result<usize> {
        engine::manual_sync(self, run_id).await
    }

    /// The tail of the run's job output (SLURM output file, detached process output).
    pub async fn job_log(&self, run_id: i64) -> Result<String> {
        engine::job_log(self, run_id).await
    }

    fn spawn_task(&self, run_id: i64) {
        let (tx, rx) = watch::channel(None);
        match self.inner.tasks.lock() {
            Ok(mut t) => {
                if t.contains_key(&run_id) {
                    return;
                }
                t.insert(run_id, tx);
            }
            Err(_) => {
                tracing::error!("task table poisoned; run {run_id} not started");
                return;
            }
        }
        let m = self.clone();
        tokio::spawn(async move {
            engine::supervise(m.clone(), run_id, rx).await;
            if let Ok(mut t) = m.inner.tasks.lock() {
                t.remove(&run_id);
            }
        });
    }

    // ----- review, cleanup -----

    /// Flags (with a reason) or archives a finished run: its data is moved to the profile's
    /// flag or archive area and verified; the run shows `*_requested` until then.
    pub async fn review(
        &self,
        run_id: i64,
        action: ReviewAction,
        by: &str,
        automatic: bool,
    ) -> Result<store::Run> {
        review::review(self, run_id, action, by, automatic).await
    }

    /// What a cleanup would remove.
    pub async fn cleanup_preview(&self, req: CleanupRequest) -> Result<Vec<CleanupItem>> {
        review::cleanup_preview(self, req).await
    }

    /// Removes the local copies a preview lists; returns what was removed.
    pub async fn cleanup(&self, req: CleanupRequest, by: &str) -> Result<Vec<CleanupItem>> {
        review::cleanup(self, req, by).await
    }
}

/// A run's view from its stored record and points.
pub(crate) fn run_view(run: Run, points: Vec<store::Point>, job_status: String) -> RunView {
    let pattern = serde_json::from_str::<ProfileSpec>(&run.profile)
        .map(|spec| spec.points(run.kind))
        .unwrap_or_default();
    let hv_nominal = (run.kind == ScanKind::Hv)
        .then(|| serde_json::from_str::<ProfileSpec>(&run.profile).ok())
        .flatten()
        .map(|spec| spec.hv_nominal);
    let mut run = run;
    run.points_done = points.len() as i64;
    RunView {
        run,
        pattern,
        points: points.into_iter().map(|p| (p.label.clone(), p)).collect(),
        job_status,
        hv_nominal,
        hv: None,
        hv_lab: None,
    }
}
