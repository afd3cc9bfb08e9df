//! Evidence: the failed frames kept within a byte budget. On SQLite they are files under
//! `<data-dir>/evidence`: a file belongs to the store once a committed verdict or refused
//! aggregation names it, and any other file there is an orphan. On PostgreSQL that folder only
//! stages a frame until the transaction that names it also stores it in `evidence_frames`,
//! where every node and QA reach it; the staged file goes once that is committed.

use super::sql::{Db, params};
use super::trail::{self, Action, Entry, record};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::error::{Error, Result};
use std::path::Path;

/// Moves a staged frame into the database, in `tx` (PostgreSQL), and says so: its staged file
/// goes once `tx` is committed. On SQLite the frame stays the file it is.
pub(super) fn keep(tx: &WriteTx, dir: &Path, name: &str) -> Result<bool> {
    if !tx.connection().is_postgres() {
        return Ok(false);
    }
    let path = dir.join(name);
    let frame = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    tx.execute(
        "INSERT INTO evidence_frames (name, frame) VALUES (?1, ?2)",
        params![name, frame],
    )?;
    Ok(true)
}

/// The bytes of a frame kept in the database (PostgreSQL), if it is still kept.
pub(super) fn read_row(conn: &Db, name: &str) -> Result<Option<Vec<u8>>> {
    conn.optional_row(
        "SELECT frame FROM evidence_frames WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )
}

/// The bytes of a frame kept as a file (SQLite), if it is still kept.
pub(super) fn read_file(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        // Released by the budget between the query and the read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The names of the frames kept, in order: files in `dir`, or rows on PostgreSQL.
pub(super) fn kept(conn: &Db, dir: &Path) -> Result<Vec<String>> {
    if conn.is_postgres() {
        return conn.rows(
            "SELECT name FROM evidence_frames ORDER BY name",
            params![],
            |r| r.get(0),
        );
    }
    files(dir)
}

/// The names of the files in `dir`, in order.
fn files(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Evidence kept that no stored verdict or aggregation event refers to.
pub(super) fn orphans(conn: &Db, dir: &Path) -> Result<Vec<String>> {
    let mut orphans = Vec::new();
    for name in kept(conn, dir)? {
        let referenced = conn.exists(
            "SELECT 1 FROM verdicts WHERE evidence = ?1
             UNION ALL SELECT 1 FROM aggregation_events WHERE evidence = ?1",
            params![name],
        )?;
        if !referenced {
            orphans.push(name);
        }
    }
    Ok(orphans)
}

/// Removes orphans: files written before a kill and never committed (SQLite); on PostgreSQL
/// every staged file, committed into the database or never.
pub(super) fn sweep_orphans(conn: &Db, dir: &Path) -> Result<()> {
    if conn.is_postgres() {
        remove(dir, files(dir)?);
        return Ok(());
    }
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
        "SELECT CAST((SELECT COALESCE(SUM(evidence_bytes), 0) FROM verdicts
                      WHERE evidence IS NOT NULL)
                   + (SELECT COALESCE(SUM(evidence_bytes), 0) FROM aggregation_events
                      WHERE evidence IS NOT NULL) AS BIGINT)",
        params![],
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
        params![],
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
        if tx.connection().is_postgres() {
            tx.execute("DELETE FROM evidence_frames WHERE name = ?1", params![file])?;
        }
        let entry = Entry::new(Actor::system(), Action::EvidenceDeleted, name)
            .before(format!("{file} ({bytes} bytes)"))
            .reason(format!("evidence budget of {budget} bytes"));
        trail::append(tx, &entry)?;
        files.push(file);
    }
    Ok(files)
}
