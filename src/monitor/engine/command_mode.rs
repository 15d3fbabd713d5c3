//! Command mode: the lab's own command runs over SSH (a `sbatch` command's job id is stored
//! and polled; a long-running script is started detached, so a restart re-attaches), and
//! the files it writes are synced with [`CommandSync`] and recorded as points.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::machine::Event;
use super::record::{copy_atomic, insert};
use super::{apply, create_dir, parse_job, spec_of, store_job, stored_labels};
use crate::model::{Run, ScanKind};
use crate::monitor::profile::ProfileSpec;
use crate::monitor::{Error, Monitor, Result, refused};
use crate::pipeline::serial::Serial;
use crate::remote::Error as RemoteError;
use crate::remote::backend::{Backend, Handle, JobId, JobSpec};
use crate::remote::command_mode::CommandProfile;
use crate::remote::command_mode::sync::{CommandSync, SyncEvent};
use crate::store::{self, Point, PointStatus};

pub(super) async fn follow_command(
    m: &Monitor,
    run: &Run,
    spec: &ProfileSpec,
    backend: &Backend,
    local_dir: &Path,
) -> Result<String> {
    let cmd_spec = spec
        .command
        .clone()
        .ok_or_else(|| refused("the profile has no command template"))?;
    let profile = CommandProfile::new(cmd_spec)?;
    let serial = Serial::parse(&run.serial).map_err(|e| refused(format!("serial number: {e}")))?;
    let Handle::Ssh(session) = backend.handle().await? else {
        return Err(refused(
            "command mode runs over SSH: give the profile a host",
        ));
    };
    let total = spec.points(run.kind).len();
    let since = run.started_at.map_or_else(std::time::SystemTime::now, |t| {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0))
    });
    let mirror = local_dir.join("command");
    let mut sync = CommandSync::new(&profile, serial.clone(), &mirror, since);
    let mut job = parse_job(run);
    let resumed = run.started_at.is_some();
    let mut running = None;
    if !resumed {
        let gpu = super::gpu_placeholder(run, spec);
        let values = profile.run_values(&serial, run.id, &spec.run_voltages(run.kind), &gpu);
        let prepared = profile.prepare(&values)?;
        if prepared.is_sbatch() {
            // `sbatch` returns at once; its job id (parsed from its answer) is followed.
            let what = format!("running `{}` on {}", prepared.line(), backend.host_label());
            apply(m, run.id, Event::Working(what)).await?;
            let started = prepared.start(&session).await?;
            running = Some(tokio::spawn(started.wait()));
        } else {
            // A long-running script is started detached with a job directory, so a
            // restarted pmtwatch re-attaches to it instead of losing it.
            let j = backend
                .start_process(&JobSpec {
                    name: "pmtwatch-command".into(),
                    argv: prepared.words().to_vec(),
                    dir: Some(prepared.dir().to_string()),
                })
                .await?;
            store_job(m, run.id, &j).await?;
            let what = format!(
                "running `{}` on {} ({j})",
                prepared.line(),
                backend.host_label()
            );
            apply(m, run.id, Event::Working(what)).await?;
            job = Some(j);
        }
    } else if job.is_none() {
        // An `sbatch` command's SSH channel ended with the previous server process before
        // it printed the job id; collect what was written and end the run honestly.
        let n = command_round(m, run, &mut sync, backend, local_dir).await?;
        return Err(refused(format!(
            "the command's session ended when pmtwatch stopped; {n} more points were synced \
             ({}/{total} in all) — start the run again to process the rest",
            stored_labels(m, run.id).await?.len()
        )));
    }
    let poll = Duration::from_secs_f64(spec.poll_secs.clamp(0.05, 3600.0));
    loop {
        if let Some(handle) = running.as_mut()
            && handle.is_finished()
        {
            if let Some(done) = running.take() {
                let result = done
                    .await
                    .map_err(|e| refused(format!("the command's task failed: {e}")))??;
                if let Some(id) = result.job_id {
                    let j = JobId::Slurm { id };
                    store_job(m, run.id, &j).await?;
                    let what = format!("{j}: `{}`", result.line);
                    apply(m, run.id, Event::Working(what)).await?;
                    job = Some(j);
                } else {
                    // A plain command has finished: one last sync and done.
                    command_round(m, run, &mut sync, backend, local_dir).await?;
                    let done = stored_labels(m, run.id).await?.len();
                    return Ok(format!("{done}/{total} points; the command finished"));
                }
            }
        }
        command_round(m, run, &mut sync, backend, local_dir).await?;
        if let Some(j) = &job {
            let info = backend.poll_job(j).await;
            let text = crate::remote::jobs::describe(&info);
            m.publish(|b| {
                if let Some(v) = b.runs.get_mut(&run.id) {
                    Arc::make_mut(v).job_status = text.clone();
                }
            });
            match info {
                Ok(info) if crate::remote::jobs::is_final(&info.state) => {
                    command_round(m, run, &mut sync, backend, local_dir).await?;
                    let done = stored_labels(m, run.id).await?.len();
                    if info.state.is_success() {
                        return Ok(format!("{done}/{total} points; {j} completed"));
                    }
                    return Err(refused(format!(
                        "{j} ended {}: {}",
                        info.summary(),
                        info.output_tail.unwrap_or_default()
                    )));
                }
                Ok(_) | Err(RemoteError::ClusterUnreachable { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if stored_labels(m, run.id).await?.len() >= total && job.is_none() && running.is_none() {
            return Ok(format!("{total}/{total} points"));
        }
        tokio::time::sleep(poll).await;
    }
}

/// One command-mode sync: downloads what is new and records its points.
pub(super) async fn command_round(
    m: &Monitor,
    run: &Run,
    sync: &mut CommandSync,
    backend: &Backend,
    local_dir: &Path,
) -> Result<usize> {
    let Some(transfer) = backend.transfer().await? else {
        return Err(refused(
            "command mode runs over SSH: give the profile a host",
        ));
    };
    let round = sync.sync(&transfer).await;
    if let Err(e) = transfer.close().await {
        tracing::debug!("closing an SFTP channel: {e}");
    }
    let round = round?;
    if let Some(run_dir) = sync.run_dir()
        && run.remote_out.is_empty()
    {
        let spec = spec_of(run)?;
        let dir = format!(
            "{}/{run_dir}",
            spec.command
                .map(|c| c.remote_dir)
                .unwrap_or_default()
                .trim_end_matches('/'),
        );
        let id = run.id;
        m.db(move |s| s.set_run_remote_out(id, &dir)).await?;
    }
    let health = spec_of(run)?.analysis_for(run.kind).health;
    let mut new = 0;
    // A plot drawn after its point's gain: the cell has its spectrum from now on.
    for late in &round.plots {
        keep_plot(&late.charge_png, &local_dir.join(late.label.label())).await?;
    }
    for e in round.events {
        let p = e.label();
        let label = p.label();
        let (status, gain, gain_err, message, png) = match &e {
            SyncEvent::Point(cp) => (
                if health.contains(cp.gain) {
                    PointStatus::Healthy
                } else {
                    PointStatus::Poor
                },
                Some(cp.gain),
                cp.gain_err,
                String::new(),
                // The plot is optional: an old HV script draws none per voltage.
                cp.charge_png.clone(),
            ),
            SyncEvent::Failed(f) => (PointStatus::Failed, None, None, f.error.clone(), None),
        };
        if let Some(png) = png {
            keep_plot(&png, &local_dir.join(&label)).await?;
        }
        let point = Point {
            run_id: run.id,
            label,
            theta: p.theta(),
            phi: p.phi(),
            hv: p.hv(),
            status,
            gain,
            gain_err,
            message,
            figures: Default::default(),
            at: store::now(),
        };
        if insert(m, point).await? {
            new += 1;
        }
    }
    if run.kind == ScanKind::Hv && !round.downloaded.is_empty() {
        crate::monitor::hv::refresh_lab(m, run.id, &local_dir.join("command")).await;
    }
    Ok(new)
}

/// Copies a synced charge plot into a point's directory as `charge.png` (atomically).
async fn keep_plot(png: &Path, point_dir: &Path) -> Result<()> {
    create_dir(point_dir).await?;
    copy_atomic(png, &point_dir.join("charge.png"))
        .await
        .map_err(|source| Error::Io {
            what: format!("copying {}", png.display()),
            source,
        })
}
