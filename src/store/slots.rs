//! The bench's PMT slots (PMT 1, PMT 2, …): the serial typed in, the profile, the scan
//! kind and the GPU chosen for each.

use rusqlite::params;

use super::{Error, Result, Store};
use crate::model::{GpuChoice, ScanKind};

/// A PMT slot on the bench.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub id: i64,
    pub name: String,
    /// The serial number typed in (validated by the monitor before a run starts).
    pub serial: String,
    pub profile_id: Option<i64>,
    pub kind: ScanKind,
    /// The nominal voltage the operator entered for an HV check (the profile's when `None`).
    pub hv_nominal: Option<f64>,
    /// The GPU its runs use (resolved when a run starts).
    pub gpu: GpuChoice,
}

fn slot_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Slot> {
    let kind: String = r.get(4)?;
    Ok(Slot {
        id: r.get(0)?,
        name: r.get(1)?,
        serial: r.get(2)?,
        profile_id: r.get(3)?,
        kind: kind.parse().unwrap_or(ScanKind::Surface),
        hv_nominal: r.get(5)?,
        // Only `set_slot_gpu` writes it, from a parsed choice; anything else is automatic.
        gpu: GpuChoice::parse(&r.get::<_, String>(6)?).unwrap_or_default(),
    })
}

impl Store {
    /// Every slot, in order; creates PMT 1 and PMT 2 when there are none.
    pub fn slots(&self) -> Result<Vec<Slot>> {
        let conn = self.conn()?;
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM slots", [], |r| r.get(0))?;
        if n == 0 {
            conn.execute("INSERT INTO slots (name) VALUES ('PMT 1'), ('PMT 2')", [])?;
        }
        let mut stmt = conn.prepare(
            "SELECT id, name, serial, profile_id, kind, hv_nominal, gpu FROM slots ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], slot_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Adds a slot named `PMT <n>` after the last one.
    pub fn add_slot(&self) -> Result<Slot> {
        let conn = self.conn()?;
        let next: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM slots", [], |r| {
            r.get(0)
        })?;
        conn.execute(
            "INSERT INTO slots (id, name) VALUES (?1, ?2)",
            params![next, format!("PMT {next}")],
        )?;
        Ok(conn.query_row(
            "SELECT id, name, serial, profile_id, kind, hv_nominal, gpu FROM slots WHERE id = ?1",
            [next],
            slot_from_row,
        )?)
    }

    /// Removes a slot (its runs stay in the history); refused while the slot has a run that
    /// has not ended. One statement, so a run started meanwhile cannot slip in between the
    /// check and the deletion.
    pub fn remove_slot(&self, id: i64) -> Result<()> {
        let conn = self.conn()?;
        let n = conn.execute(
            "DELETE FROM slots WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM runs WHERE \
             slot_id = ?1 AND state NOT IN ('complete', 'failed', 'cancelled'))",
            [id],
        )?;
        if n == 0 {
            let exists: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM slots WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )?;
            if exists {
                return Err(Error::SlotBusy(id));
            }
        }
        Ok(())
    }

    /// Saves what the operator set for a slot.
    pub fn set_slot(
        &self,
        id: i64,
        serial: &str,
        profile_id: Option<i64>,
        kind: ScanKind,
    ) -> Result<()> {
        self.conn()?.execute(
            "UPDATE slots SET serial = ?2, profile_id = ?3, kind = ?4 WHERE id = ?1",
            params![id, serial, profile_id, kind.as_str()],
        )?;
        Ok(())
    }

    /// Saves a slot's GPU choice.
    pub fn set_slot_gpu(&self, id: i64, gpu: GpuChoice) -> Result<()> {
        self.conn()?.execute(
            "UPDATE slots SET gpu = ?2 WHERE id = ?1",
            params![id, gpu.as_text()],
        )?;
        Ok(())
    }

    /// Saves the nominal voltage of a slot's HV check (`None`: the profile's).
    pub fn set_slot_hv_nominal(&self, id: i64, volts: Option<f64>) -> Result<()> {
        self.conn()?.execute(
            "UPDATE slots SET hv_nominal = ?2 WHERE id = ?1",
            params![id, volts],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_default_to_two_and_grow() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        let names: Vec<String> = s.slots()?.into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["PMT 1", "PMT 2"]);
        assert_eq!(s.add_slot()?.name, "PMT 3");
        assert_eq!(s.slots()?[0].gpu, GpuChoice::Auto);
        s.set_slot_gpu(1, GpuChoice::Index(1))?;
        assert_eq!(s.slots()?[0].gpu, GpuChoice::Index(1));
        s.remove_slot(2)?;
        assert_eq!(s.slots()?.len(), 2);
        Ok(())
    }
}
