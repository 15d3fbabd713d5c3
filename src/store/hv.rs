//! HV check results: one row per HV run (`hv_results`, rewritten as the run's voltages
//! arrive), mirrored into the run's own `hv`/`hv_err` so History shows the voltage; and the
//! voltage a surface scan is offered — the newest result of its serial that has a voltage
//! and whose run was not flagged.

use rusqlite::{OptionalExtension, Row, params};

use super::{Result, Store};
use crate::model::HvResult;

const COLUMNS: &str = "h.run_id, h.serial, h.volts, h.volts_err, h.target, h.points_used, \
     h.points_total, h.summary, h.at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<HvResult> {
    Ok(HvResult {
        run_id: r.get(0)?,
        serial: r.get(1)?,
        volts: r.get(2)?,
        volts_err: r.get(3)?,
        target: r.get(4)?,
        points_used: r.get(5)?,
        points_total: r.get(6)?,
        summary: r.get(7)?,
        at: r.get(8)?,
    })
}

impl Store {
    /// Stores (or replaces) the result of HV run `h.run_id`, and its voltage on the run.
    pub fn save_hv_result(&self, h: &HvResult) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO hv_results (run_id, serial, volts, volts_err, target, points_used, \
             points_total, summary, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (run_id) DO UPDATE SET serial = ?2, volts = ?3, volts_err = ?4, \
             target = ?5, points_used = ?6, points_total = ?7, summary = ?8, at = ?9",
            params![
                h.run_id,
                h.serial,
                h.volts,
                h.volts_err,
                h.target,
                h.points_used,
                h.points_total,
                h.summary,
                h.at
            ],
        )?;
        tx.execute(
            "UPDATE runs SET hv = ?2, hv_err = ?3 WHERE id = ?1",
            params![h.run_id, h.volts, h.volts_err],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The stored result of HV run `run_id`.
    pub fn hv_result(&self, run_id: i64) -> Result<Option<HvResult>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM hv_results h WHERE h.run_id = ?1"),
                [run_id],
                from_row,
            )
            .optional()?)
    }

    /// The voltage to offer `serial`'s next surface scan: its newest HV result with a
    /// voltage whose run is neither flagged nor being flagged.
    pub fn latest_hv_of_serial(&self, serial: &str) -> Result<Option<HvResult>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM hv_results h JOIN runs r ON r.id = h.run_id \
                     WHERE h.serial = ?1 AND h.volts IS NOT NULL \
                     AND r.review NOT IN ('flagged', 'flag_requested') \
                     ORDER BY h.at DESC, h.run_id DESC LIMIT 1"
                ),
                [serial],
                from_row,
            )
            .optional()?)
    }

    /// Records on a (surface) run the voltage it was offered and the HV run it came from.
    pub fn set_run_hv_offer(&self, run_id: i64, offer: &HvResult) -> Result<()> {
        self.conn()?.execute(
            "UPDATE runs SET hv = ?2, hv_err = ?3, hv_from = ?4 WHERE id = ?1",
            params![run_id, offer.volts, offer.volts_err, offer.run_id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Error, NewRun, Review, ReviewStep, ScanKind};

    fn run(s: &Store, serial: &str, kind: ScanKind) -> Result<i64> {
        Ok(s.create_run(&NewRun {
            slot_id: 1,
            serial: serial.into(),
            kind,
            profile_name: "p".into(),
            profile: "{}".into(),
            points_total: 5,
            operator: "olga".into(),
        })?
        .id)
    }

    fn end(s: &Store, id: i64) -> Result<()> {
        s.set_run_state(id, crate::store::RunState::Complete, "")?;
        Ok(())
    }

    fn result(run_id: i64, volts: Option<f64>, at: i64) -> HvResult {
        HvResult {
            run_id,
            serial: "KM7".into(),
            volts,
            volts_err: volts.map(|_| 6.0),
            target: 1e7,
            points_used: 4,
            points_total: 5,
            summary: "HV for 1.00e7: 1712 ± 6 V (4 of 5 points; 1800 V excluded: no signal)".into(),
            at,
        }
    }

    /// Real SQLite: a result is stored per run and mirrored on it, rewritten in place, and
    /// the newest unflagged one with a voltage is what the next surface scan is offered
    /// (and recorded on that run).
    #[test]
    fn hv_results_per_serial_and_the_offer() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        assert_eq!(s.latest_hv_of_serial("KM7")?, None);
        let a = run(&s, "KM7", ScanKind::Hv)?;
        s.save_hv_result(&result(a, None, 10))?;
        assert_eq!(s.latest_hv_of_serial("KM7")?, None, "no voltage yet");
        s.save_hv_result(&result(a, Some(1712.0), 11))?;
        assert_eq!(s.hv_result(a)?, Some(result(a, Some(1712.0), 11)));
        let ra = s.get_run(a)?.ok_or(Error::NoSuchRun(a))?;
        assert_eq!((ra.hv, ra.hv_err), (Some(1712.0), Some(6.0)));
        end(&s, a)?;

        let b = run(&s, "KM7", ScanKind::Hv)?;
        s.save_hv_result(&result(b, Some(1650.0), 20))?;
        assert_eq!(
            s.latest_hv_of_serial("KM7")?.map(|h| h.run_id),
            Some(b),
            "the newest wins"
        );
        assert_eq!(s.latest_hv_of_serial("KM8")?, None, "per serial");
        // A flagged HV check is not offered: the one before it is.
        end(&s, b)?;
        let flagged = s.transition_review(
            b,
            Review::Unreviewed,
            ReviewStep {
                review: Review::Flagged,
                reason: "bad",
                by: "olga",
                src: "",
                dest: "",
            },
            None,
        )?;
        assert!(flagged.is_ok(), "the HV check is flagged");
        let offer = s.latest_hv_of_serial("KM7")?.ok_or(Error::NoSuchRun(a))?;
        assert_eq!(offer.run_id, a);

        let scan = run(&s, "KM7", ScanKind::Surface)?;
        s.set_run_hv_offer(scan, &offer)?;
        let r = s.get_run(scan)?.ok_or(Error::NoSuchRun(scan))?;
        assert_eq!(
            (r.hv, r.hv_err, r.hv_from),
            (Some(1712.0), Some(6.0), Some(a))
        );
        Ok(())
    }
}
