//! Runs and their points: one row per scan of one PMT, one row per finished point. The
//! monitor writes every state change and every point here *before* it tells any browser,
//! so a restart (even `kill -9`) finds exactly what the screen showed. The `(run_id,
//! label)` primary key of `points` makes a point count once however often it is reported.

use rusqlite::{OptionalExtension, Row, params};

use super::{Error, Result, Store, now};
pub use crate::model::run::{Review, Run, RunFilter, RunState, ScanKind};
use crate::model::{ParseError, PointFigures, text_enum};

text_enum! {
    /// A finished point's verdict (the grid's colours). Points not yet finished are
    /// `pending`/`processing` in the views; those are never stored.
    PointStatus {
        Healthy = "healthy",
        /// The gain is outside the band but within its error of the edge, or the fit
        /// does not describe the spectrum: look at it (the message says why).
        Warning = "warning",
        Poor = "poor",
        FitFailed = "fit_failed",
        NoSignal = "no_signal",
        /// Signal, but the SPE cannot be separated from the pedestal.
        Unresolved = "unresolved",
        Failed = "failed",
    }
}

/// One finished point.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Point {
    pub run_id: i64,
    pub label: String,
    pub theta: Option<f64>,
    pub phi: Option<f64>,
    pub hv: Option<f64>,
    pub status: PointStatus,
    pub gain: Option<f64>,
    pub gain_err: Option<f64>,
    pub message: String,
    /// The figures a grid can be coloured by, and the criteria that were not healthy.
    pub figures: PointFigures,
    pub at: i64,
}

/// What a new run starts with.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub slot_id: i64,
    pub serial: String,
    pub kind: ScanKind,
    pub profile_name: String,
    pub profile: String,
    pub points_total: i64,
    pub operator: String,
}

/// Where a [`Store::transition_review`] takes a run's review.
#[derive(Debug, Clone, Copy)]
pub struct ReviewStep<'a> {
    pub review: Review,
    pub reason: &'a str,
    pub by: &'a str,
    /// The directory the review moves (empty when there is nothing to move).
    pub src: &'a str,
    /// Where the data goes (with `*_requested`) or went.
    pub dest: &'a str,
}

impl ReviewStep<'_> {
    /// Back to unreviewed: reason, reviewer and paths cleared.
    pub const UNREVIEWED: ReviewStep<'static> = ReviewStep {
        review: Review::Unreviewed,
        reason: "",
        by: "",
        src: "",
        dest: "",
    };
}

const RUN_COLUMNS: &str = "r.id, r.slot_id, r.serial, r.kind, r.profile_name, r.profile, r.state, \
     r.message, r.job, r.remote_out, r.points_total, \
     (SELECT COUNT(*) FROM points p WHERE p.run_id = r.id), r.operator, r.review, \
     r.review_reason, r.reviewed_by, r.reviewed_at, r.review_dest, r.local_removed, \
     r.created_at, r.started_at, r.ended_at, r.hv, r.hv_err, r.hv_from, r.gpu";

fn parse<T: std::str::FromStr<Err = ParseError>>(idx: usize, s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|e: ParseError| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        slot_id: r.get(1)?,
        serial: r.get(2)?,
        kind: parse(3, r.get(3)?)?,
        profile_name: r.get(4)?,
        profile: r.get(5)?,
        state: parse(6, r.get(6)?)?,
        message: r.get(7)?,
        job: r.get(8)?,
        remote_out: r.get(9)?,
        points_total: r.get(10)?,
        points_done: r.get(11)?,
        operator: r.get(12)?,
        review: parse(13, r.get(13)?)?,
        review_reason: r.get(14)?,
        reviewed_by: r.get(15)?,
        reviewed_at: r.get(16)?,
        review_dest: r.get(17)?,
        local_removed: r.get::<_, i64>(18)? != 0,
        created_at: r.get(19)?,
        started_at: r.get(20)?,
        ended_at: r.get(21)?,
        hv: r.get(22)?,
        hv_err: r.get(23)?,
        hv_from: r.get(24)?,
        // A value this build cannot read shows as no choice rather than hiding the run.
        gpu: r
            .get::<_, Option<String>>(25)?
            .and_then(|j| serde_json::from_str(&j).ok()),
    })
}

fn point_from_row(r: &Row<'_>) -> rusqlite::Result<Point> {
    Ok(Point {
        run_id: r.get(0)?,
        label: r.get(1)?,
        theta: r.get(2)?,
        phi: r.get(3)?,
        hv: r.get(4)?,
        status: parse(5, r.get(5)?)?,
        gain: r.get(6)?,
        gain_err: r.get(7)?,
        message: r.get(8)?,
        figures: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
        at: r.get(9)?,
    })
}

impl Store {
    /// Creates a run in state `queued`.
    pub fn create_run(&self, new: &NewRun) -> Result<Run> {
        let id = {
            let conn = self.conn()?;
            conn.execute(
                "INSERT INTO runs (slot_id, serial, kind, profile_name, profile, state, \
                 points_total, operator, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8)",
                params![
                    new.slot_id,
                    new.serial,
                    new.kind.as_str(),
                    new.profile_name,
                    new.profile,
                    new.points_total,
                    new.operator,
                    now()
                ],
            )
            .map_err(|e| match e {
                // `runs_one_active_per_slot`: a second start (a double click) of the slot.
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::SlotBusy(new.slot_id)
                }
                e => e.into(),
            })?;
            conn.last_insert_rowid()
        };
        self.get_run(id)?.ok_or(Error::NoSuchRun(id))
    }

    /// One run, or `None`.
    pub fn get_run(&self, id: i64) -> Result<Option<Run>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1"),
                [id],
                run_from_row,
            )
            .optional()?)
    }

    /// Runs matching `filter`, newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE \
             (?1 IS NULL OR instr(lower(r.serial), lower(?1)) > 0) AND \
             (?2 IS NULL OR r.state = ?2) AND (?3 IS NULL OR r.review = ?3) AND \
             (?4 IS NULL OR r.operator = ?4) AND (?5 IS NULL OR r.created_at >= ?5) AND \
             (?6 IS NULL OR r.created_at < ?6) ORDER BY r.id DESC LIMIT ?7"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    filter.serial.as_deref().filter(|s| !s.is_empty()),
                    filter.state.map(RunState::as_str),
                    filter.review.map(Review::as_str),
                    filter.operator.as_deref().filter(|s| !s.is_empty()),
                    filter.since,
                    filter.until,
                    filter.limit.unwrap_or(200),
                ],
                run_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Runs not yet ended (a restarted server resumes them), oldest first.
    pub fn active_runs(&self) -> Result<Vec<Run>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.state NOT IN ('complete', 'failed', \
             'cancelled') ORDER BY r.id"
        ))?;
        let rows = stmt
            .query_map([], run_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The newest run of a slot.
    pub fn latest_run_in_slot(&self, slot_id: i64) -> Result<Option<Run>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs r WHERE r.slot_id = ?1 ORDER BY r.id DESC LIMIT 1"
                ),
                [slot_id],
                run_from_row,
            )
            .optional()?)
    }

    /// The run of the same serial and kind just before `run_id` (for "compare").
    pub fn previous_run_of_serial(&self, run_id: i64) -> Result<Option<Run>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs r, runs me WHERE me.id = ?1 AND \
                     r.serial = me.serial AND r.kind = me.kind AND r.id < me.id \
                     ORDER BY r.id DESC LIMIT 1"
                ),
                [run_id],
                run_from_row,
            )
            .optional()?)
    }

    /// Moves a run to `state` with an operator-readable `message`; the first move to
    /// `running` sets `started_at`, a final state sets `ended_at`.
    pub fn set_run_state(&self, id: i64, state: RunState, message: &str) -> Result<Run> {
        {
            let conn = self.conn()?;
            let t = now();
            let n = conn.execute(
                "UPDATE runs SET state = ?2, message = ?3, \
                 started_at = CASE WHEN ?2 = 'running' AND started_at IS NULL THEN ?4 ELSE started_at END, \
                 ended_at = CASE WHEN ?2 IN ('complete', 'failed', 'cancelled') THEN ?4 ELSE NULL END \
                 WHERE id = ?1",
                params![id, state.as_str(), message, t],
            )?;
            if n == 0 {
                return Err(Error::NoSuchRun(id));
            }
        }
        self.get_run(id)?.ok_or(Error::NoSuchRun(id))
    }

    /// Records the run's job (JSON), leaving the rest of the run as it is.
    pub fn set_run_job(&self, id: i64, job: Option<&str>) -> Result<()> {
        let n = self
            .conn()?
            .execute("UPDATE runs SET job = ?2 WHERE id = ?1", params![id, job])?;
        if n == 0 {
            return Err(Error::NoSuchRun(id));
        }
        Ok(())
    }

    /// Records where the run's results are on the remote, leaving its job as it is (a
    /// caller holding an older copy of the run must not overwrite a job id stored since).
    /// Records the GPU a run's slot choice resolved to (at creation, before it is queued).
    pub fn set_run_gpu(&self, id: i64, gpu: &crate::model::RunGpu) -> Result<()> {
        let json = serde_json::to_string(gpu).map_err(|e| Error::Worker(e.to_string()))?;
        let n = self
            .conn()?
            .execute("UPDATE runs SET gpu = ?2 WHERE id = ?1", params![id, json])?;
        if n == 0 {
            return Err(Error::NoSuchRun(id));
        }
        Ok(())
    }

    pub fn set_run_remote_out(&self, id: i64, remote_out: &str) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE runs SET remote_out = ?2 WHERE id = ?1",
            params![id, remote_out],
        )?;
        if n == 0 {
            return Err(Error::NoSuchRun(id));
        }
        Ok(())
    }

    /// Stores a finished point; `false` when the run already has this point (nothing
    /// changes: the first report wins).
    pub fn insert_point(&self, p: &Point) -> Result<bool> {
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO points (run_id, label, theta, phi, hv, status, gain, \
             gain_err, message, at, figures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                p.run_id,
                p.label,
                p.theta,
                p.phi,
                p.hv,
                p.status.as_str(),
                p.gain,
                p.gain_err,
                p.message,
                p.at,
                serde_json::to_string(&p.figures).unwrap_or_else(|_| "{}".into())
            ],
        )?;
        Ok(n == 1)
    }

    /// A run's points in the order they arrived.
    pub fn points(&self, run_id: i64) -> Result<Vec<Point>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT run_id, label, theta, phi, hv, status, gain, gain_err, message, at, \
             figures FROM points WHERE run_id = ?1 ORDER BY at, label",
        )?;
        let rows = stmt
            .query_map([run_id], point_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Moves a finished run's review from `from` to `to` in one conditional statement
    /// (`… WHERE review = from`), writing `audit` (actor, action, details) in the same
    /// transaction, so two reviewers can never both win and no step is unrecorded.
    /// `Ok(Err(run))`: the run was not in `from` (or has not ended); `run` says what it is,
    /// and who put it there.
    pub fn transition_review(
        &self,
        id: i64,
        from: Review,
        to: ReviewStep<'_>,
        audit: Option<(&str, &str, &serde_json::Value)>,
    ) -> Result<std::result::Result<Run, Run>> {
        {
            let mut conn = self.conn()?;
            let tx = conn.transaction()?;
            let n = tx.execute(
                "UPDATE runs SET review = ?3, review_reason = ?4, reviewed_by = ?5, \
                 reviewed_at = ?6, review_src = ?7, review_dest = ?8 \
                 WHERE id = ?1 AND review = ?2 AND state IN ('complete', 'failed', 'cancelled')",
                params![
                    id,
                    from.as_str(),
                    to.review.as_str(),
                    to.reason,
                    to.by,
                    (to.review != Review::Unreviewed).then(now),
                    to.src,
                    to.dest
                ],
            )?;
            if n == 1 {
                if let Some((actor, action, details)) = audit {
                    tx.execute(
                        "INSERT INTO audit_log (at, actor, action, details) VALUES (?1, ?2, ?3, ?4)",
                        params![now(), actor, action, details.to_string()],
                    )?;
                }
                tx.commit()?;
            } else {
                drop(tx);
                drop(conn);
                let run = self.get_run(id)?.ok_or(Error::NoSuchRun(id))?;
                return Ok(Err(run));
            }
        }
        let run = self.get_run(id)?.ok_or(Error::NoSuchRun(id))?;
        Ok(Ok(run))
    }

    /// Runs whose review was left half done (`*_requested`: the server stopped during the
    /// move), with the directory the move was taking the data from.
    pub fn interrupted_reviews(&self) -> Result<Vec<(Run, String)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {RUN_COLUMNS}, r.review_src FROM runs r WHERE r.review IN \
             ('archive_requested', 'flag_requested') ORDER BY r.id"
        ))?;
        let rows = stmt
            .query_map([], |r| Ok((run_from_row(r)?, r.get::<_, String>(26)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Replaces a run's operator-readable message, leaving its state as it is.
    pub fn set_run_message(&self, id: i64, message: &str) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE runs SET message = ?2 WHERE id = ?1",
            params![id, message],
        )?;
        if n == 0 {
            return Err(Error::NoSuchRun(id));
        }
        Ok(())
    }

    /// Records a review step: `review` with its reason, who did it and where the data went.
    pub fn set_review(
        &self,
        id: i64,
        review: Review,
        reason: &str,
        by: &str,
        dest: &str,
    ) -> Result<Run> {
        {
            let n = self.conn()?.execute(
                "UPDATE runs SET review = ?2, review_reason = ?3, reviewed_by = ?4, \
                 reviewed_at = ?5, review_dest = ?6 WHERE id = ?1",
                params![id, review.as_str(), reason, by, now(), dest],
            )?;
            if n == 0 {
                return Err(Error::NoSuchRun(id));
            }
        }
        self.get_run(id)?.ok_or(Error::NoSuchRun(id))
    }

    /// Marks the run's local result copy as removed (by a cleanup).
    pub fn mark_local_removed(&self, id: i64) -> Result<()> {
        self.conn()?
            .execute("UPDATE runs SET local_removed = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// How many runs are in each state (for `/metrics`).
    pub fn run_counts(&self) -> Result<Vec<(String, i64)>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT state, COUNT(*) FROM runs GROUP BY state ORDER BY state")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// When the oldest ended run that nobody reviewed yet ended (Unix seconds), if any.
    pub fn oldest_unreviewed(&self) -> Result<Option<i64>> {
        Ok(self.conn()?.query_row(
            "SELECT MIN(COALESCE(ended_at, created_at)) FROM runs WHERE review = 'unreviewed' \
             AND state IN ('complete', 'failed', 'cancelled')",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_dir(dir.path()).expect("open");
        (dir, s)
    }

    fn new_run(serial: &str) -> NewRun {
        NewRun {
            slot_id: 1,
            serial: serial.into(),
            kind: ScanKind::Surface,
            profile_name: "local".into(),
            profile: "{}".into(),
            points_total: 21,
            operator: "olga".into(),
        }
    }

    fn point(run_id: i64, label: &str) -> Point {
        Point {
            run_id,
            label: label.into(),
            theta: Some(10.0),
            phi: Some(90.0),
            hv: None,
            status: PointStatus::Healthy,
            gain: Some(1.0e7),
            gain_err: Some(1e5),
            message: String::new(),
            figures: Default::default(),
            at: now(),
        }
    }

    #[test]
    fn a_point_counts_once_and_states_stamp_times() -> Result<()> {
        let (_d, s) = store();
        let r = s.create_run(&new_run("KM0001"))?;
        assert_eq!(r.state, RunState::Queued);
        assert!(s.insert_point(&point(r.id, "theta10_phi90"))?);
        assert!(!s.insert_point(&point(r.id, "theta10_phi90"))?);
        let r = s.set_run_state(r.id, RunState::Running, "")?;
        assert!(r.started_at.is_some() && r.ended_at.is_none());
        assert_eq!(r.points_done, 1);
        assert_eq!(s.active_runs()?.len(), 1);
        let r = s.set_run_state(r.id, RunState::Complete, "21/21")?;
        assert!(r.ended_at.is_some());
        assert!(s.active_runs()?.is_empty());
        Ok(())
    }

    #[test]
    fn history_filters_and_previous_run() -> Result<()> {
        let (_d, s) = store();
        // One active run per slot: each ends before the next one starts.
        let a = s.create_run(&new_run("KM0001"))?;
        s.set_run_state(a.id, RunState::Complete, "")?;
        let b = s.create_run(&new_run("EA0002"))?;
        s.set_run_state(b.id, RunState::Complete, "")?;
        let c = s.create_run(&new_run("KM0001"))?;
        let f = RunFilter {
            serial: Some("km".into()),
            ..RunFilter::default()
        };
        let ids: Vec<i64> = s.runs(&f)?.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![c.id, a.id]);
        assert_eq!(s.previous_run_of_serial(c.id)?.map(|r| r.id), Some(a.id));
        assert_eq!(s.previous_run_of_serial(a.id)?, None);
        s.set_review(a.id, Review::Flagged, "HV trip", "olga", "/flag/x")?;
        let f = RunFilter {
            review: Some(Review::Flagged),
            ..RunFilter::default()
        };
        assert_eq!(s.runs(&f)?.len(), 1);
        Ok(())
    }

    /// Regression (issue 10, finding 3): the review was checked and then updated in two
    /// steps, so two reviewers could both win. One conditional transition decides.
    #[test]
    fn a_second_review_loses_and_sees_who_won() -> Result<()> {
        let (_d, s) = store();
        let r = s.create_run(&new_run("KM0001"))?;
        let step = |by| ReviewStep {
            review: Review::ArchiveRequested,
            reason: "",
            by,
            src: "/w/runs/1",
            dest: "/a/KM0001_run1",
        };
        // Not before the run has ended.
        assert!(
            s.transition_review(r.id, Review::Unreviewed, step("olga"), None)?
                .is_err()
        );
        s.set_run_state(r.id, RunState::Complete, "")?;
        let details = serde_json::json!({ "run": r.id });
        let won = s.transition_review(
            r.id,
            Review::Unreviewed,
            step("olga"),
            Some(("olga", "run_archive_requested", &details)),
        )?;
        assert_eq!(won.map(|r| r.reviewed_by), Ok("olga".to_string()));
        let lost = s.transition_review(r.id, Review::Unreviewed, step("otto"), None)?;
        let now = lost.expect_err("the second reviewer loses");
        assert_eq!(
            (now.review, now.reviewed_by.as_str()),
            (Review::ArchiveRequested, "olga")
        );
        assert!(now.reviewed_at.is_some());
        assert_eq!(s.interrupted_reviews()?.len(), 1);
        assert_eq!(s.interrupted_reviews()?[0].1, "/w/runs/1");
        assert_eq!(s.recent_audit(10)?.len(), 1, "the winner's entry only");
        Ok(())
    }

    /// Regression (issue 10, finding 8): a double click on Start created two active runs
    /// in one slot.
    #[test]
    fn a_slot_holds_one_active_run() -> Result<()> {
        let (_d, s) = store();
        s.slots()?;
        let a = s.create_run(&new_run("KM0001"))?;
        assert!(matches!(
            s.create_run(&new_run("KM0001")),
            Err(Error::SlotBusy(1))
        ));
        assert!(matches!(s.remove_slot(1), Err(Error::SlotBusy(1))));
        s.set_run_state(a.id, RunState::Cancelled, "")?;
        s.create_run(&new_run("KM0001"))?;
        Ok(())
    }

    #[test]
    fn names_round_trip() {
        for s in RunState::ALL {
            assert_eq!(s.as_str().parse::<RunState>().ok(), Some(*s));
        }
        for s in PointStatus::ALL {
            assert_eq!(s.as_str().parse::<PointStatus>().ok(), Some(*s));
        }
        assert!("bogus".parse::<Review>().is_err());
    }
}
