//! The run logbook: time-ordered entries per run, automatic (`monitor`) and by operators,
//! append-only (a trigger refuses updates), searchable through an FTS5 index the
//! bundled SQLite provides (kept in step by triggers).

use rusqlite::{Row, params};

use super::{Result, Store};
use crate::model::LogEntry;

fn entry_of(r: &Row<'_>) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        id: r.get(0)?,
        run_id: r.get(1)?,
        at: r.get(2)?,
        author: r.get(3)?,
        automatic: r.get::<_, i64>(4)? != 0,
        text: r.get(5)?,
        attachment: r.get(6)?,
    })
}

/// A search typed by a person as an FTS5 query: each word quoted (so `-`, `:` or a
/// stray quote are words, never query syntax), all words required; a trailing `*` on a
/// word keeps its prefix meaning.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            let (w, prefix) = match w.strip_suffix('*') {
                Some(stem) if !stem.is_empty() => (stem, true),
                _ => (w, false),
            };
            let quoted = format!("\"{}\"", w.replace('"', "\"\""));
            if prefix { quoted + "*" } else { quoted }
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

impl Store {
    /// Appends an entry; its id.
    pub fn add_log(
        &self,
        run_id: i64,
        at: i64,
        author: &str,
        automatic: bool,
        text: &str,
        attachment: Option<&str>,
    ) -> Result<i64> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO logbook (run_id, at, author, automatic, text, attachment) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run_id, at, author, i64::from(automatic), text, attachment],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// A run's entries in time order.
    pub fn logbook(&self, run_id: i64) -> Result<Vec<LogEntry>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, run_id, at, author, automatic, text, attachment FROM logbook \
             WHERE run_id = ?1 ORDER BY at, id",
        )?;
        let v = stmt
            .query_map([run_id], entry_of)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// One entry of a run, if that run has it.
    pub fn log_entry(&self, run_id: i64, id: i64) -> Result<Option<LogEntry>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, run_id, at, author, automatic, text, attachment FROM logbook \
             WHERE run_id = ?1 AND id = ?2",
        )?;
        let mut rows = stmt.query_map(params![run_id, id], entry_of)?;
        Ok(rows.next().transpose()?)
    }

    /// Entries of every run (or one run) that contain all words of `text`, newest first.
    pub fn search_logbook(
        &self,
        text: &str,
        run_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LogEntry>> {
        let Some(q) = fts_query(text) else {
            return Ok(Vec::new());
        };
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT l.id, l.run_id, l.at, l.author, l.automatic, l.text, l.attachment \
             FROM logbook_fts f JOIN logbook l ON l.id = f.rowid \
             WHERE logbook_fts MATCH ?1 AND (?2 IS NULL OR l.run_id = ?2) \
             ORDER BY l.at DESC, l.id DESC LIMIT ?3",
        )?;
        let v = stmt
            .query_map(params![q, run_id, limit], entry_of)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_quoted_words() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("HV drift- \"x"),
            Some("\"HV\" \"drift-\" \"\"\"x\"".into())
        );
        assert_eq!(fts_query("gain*"), Some("\"gain\"*".into()));
    }
}
