//! The store's tables and how its database is opened.

use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;

/// Opens (or creates) the store's database as its writer does: WAL, `synchronous=FULL`,
/// `cache_bytes` of page cache (the serial indexes are looked up at random; 64 MiB keeps their
/// inner pages in memory at ten million serials), the schema in place.
pub fn open_database(path: &Path, cache_bytes: u64) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A negative cache_size is in KiB.
    let cache_kib = i64::try_from(cache_bytes / 1024).unwrap_or(i64::MAX);
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Another process (a local `token create`) may hold the write lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::alarms::SCHEMA)?;
    conn.execute_batch(super::trail::SCHEMA)?;
    conn.execute_batch(super::tokens::SCHEMA)?;
    conn.execute_batch(super::closures::SCHEMA)?;
    conn.execute_batch(super::aggregations::SCHEMA)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Brings a store made by an earlier version up to this schema.
fn migrate(conn: &Connection) -> Result<()> {
    let has_audit_seq = conn
        .prepare("SELECT 1 FROM pragma_table_info('commissioned') WHERE name = 'audit_seq'")?
        .exists([])?;
    if !has_audit_seq {
        conn.execute_batch("ALTER TABLE commissioned ADD COLUMN audit_seq INTEGER")?;
    }
    Ok(())
}

/// Verdicts (each with its encoded record), the serial index (which verdict carried a
/// (GTIN, serial) first), commissioning, and running counts per batch and per line.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY,
    line_id TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    stored_ms INTEGER NOT NULL,
    pass INTEGER NOT NULL,
    evidence TEXT,
    evidence_bytes INTEGER NOT NULL DEFAULT 0,
    record BLOB NOT NULL,
    UNIQUE (line_id, frame_id)
);
CREATE INDEX IF NOT EXISTS verdicts_by_line ON verdicts (line_id, seq);
CREATE INDEX IF NOT EXISTS verdicts_failed ON verdicts (pass, seq) WHERE pass = 0;
CREATE INDEX IF NOT EXISTS verdicts_evidence ON verdicts (seq) WHERE evidence IS NOT NULL;
CREATE TABLE IF NOT EXISTS serials (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (gtin, serial)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commissioned (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    verified_seq INTEGER,
    -- The audit entry that commissioned it (NULL: before the audit trail began).
    audit_seq INTEGER,
    PRIMARY KEY (gtin, serial)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commissioning (
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    commissioned INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, batch)
);
CREATE TABLE IF NOT EXISTS batch_stats (
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    no_read INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    not_commissioned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, batch)
);
CREATE TABLE IF NOT EXISTS line_stats (
    line_id TEXT PRIMARY KEY,
    total INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    no_read INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    grade_a INTEGER NOT NULL DEFAULT 0,
    grade_b INTEGER NOT NULL DEFAULT 0,
    grade_c INTEGER NOT NULL DEFAULT 0,
    grade_d INTEGER NOT NULL DEFAULT 0,
    grade_f INTEGER NOT NULL DEFAULT 0,
    grade_sum REAL NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS gateway_drops (
    line_id TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS writable (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_ms INTEGER NOT NULL
);
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_gets_the_page_cache_it_is_given() {
        let dir = std::env::temp_dir().join(format!("verigrade-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (bytes, kib) in [(8u64 << 20, 8192i64), (64 << 20, 65_536)] {
            let conn = open_database(&dir.join("verdicts.sqlite"), bytes).unwrap();
            let cache: i64 = conn
                .query_row("PRAGMA cache_size", [], |row| row.get(0))
                .unwrap();
            assert_eq!(cache, -kib, "negative: KiB");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
