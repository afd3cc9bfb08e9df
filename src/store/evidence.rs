//! Evidence: the failed frames kept under `<data-dir>/evidence`, within a byte budget. A file
//! belongs to the store once a committed verdict or refused aggregation names it; any other
//! file there is an orphan.

use super::trail::{self, Action, Entry, record};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::error::{Error, Result};
use rusqlite::{Connection, params};
use std::path::Path;

/// Evidence files in `dir` that no stored verdict or aggregation event refers to.
pub(super) fn orphans(conn: &Connection, dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut referenced = conn.prepare(
        "SELECT 1 FROM verdicts WHERE evidence = ?1
         UNION ALL SELECT 1 FROM aggregation_events WHERE evidence = ?1",
    )?;
    let mut orphans = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !referenced.exists(params![name])? {
            orphans.push(name);
        }
    }
    Ok(orphans)
}

/// Removes orphans (written before a kill, never committed).
pub(super) fn sweep_orphans(conn: &Connection, dir: &Path) -> Result<()> {
    remove(dir, orphans(conn, dir)?);
    Ok(())
}

/// Removes evidence files, best effort: a file that is already gone is no loss.
pub(super) fn remove(dir: &Path, files: impl IntoIterator<Item = String>) {
    for file in files {
        let _ = std::fs::remove_file(dir.join(file));
    }
}

/// Releases the oldest evidence frames until the rest fit in `budget` bytes, each recorded in
/// the audit trail; returns the files to delete once the transaction is committed.
pub(super) fn enforce_budget(tx: &WriteTx, budget: u64) -> Result<Vec<String>> {
    let total: i64 = tx.row(
        "SELECT (SELECT COALESCE(SUM(evidence_bytes), 0) FROM verdicts WHERE evidence IS NOT NULL)
              + (SELECT COALESCE(SUM(evidence_bytes), 0) FROM aggregation_events
                 WHERE evidence IS NOT NULL)",
        [],
        |r| r.get(0),
    )?;
    let excess = total - budget as i64;
    if excess <= 0 {
        return Ok(Vec::new());
    }
    let mut released = 0;
    // Oldest first, verdicts and refused aggregations alike.
    let oldest: Vec<(bool, i64, String, i64)> = tx.rows_until(
        "SELECT 0, seq, evidence, evidence_bytes, stored_ms FROM verdicts WHERE evidence IS NOT NULL
         UNION ALL
         SELECT 1, seq, evidence, evidence_bytes, at_ms FROM aggregation_events
         WHERE evidence IS NOT NULL
         ORDER BY 5, 2",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        |(_, _, _, bytes)| {
            released += bytes;
            released >= excess
        },
    )?;
    let mut files = Vec::with_capacity(oldest.len());
    for (aggregation, seq, file, bytes) in oldest {
        let name = if aggregation {
            tx.execute(
                "UPDATE aggregation_events SET evidence = NULL, evidence_bytes = 0 WHERE seq = ?1",
                params![seq],
            )?;
            record::aggregation_event(seq)
        } else {
            tx.execute(
                "UPDATE verdicts SET evidence = NULL, evidence_bytes = 0 WHERE seq = ?1",
                params![seq],
            )?;
            record::verdict(seq)
        };
        let entry = Entry::new(Actor::system(), Action::EvidenceDeleted, name)
            .before(format!("{file} ({bytes} bytes)"))
            .reason(format!("evidence budget of {budget} bytes"));
        trail::append(tx, &entry)?;
        files.push(file);
    }
    Ok(files)
}
