//! The store's tables, their versions, and how its database is opened: SQLite in the data
//! directory, or a PostgreSQL database shared by several nodes. One schema serves both; the
//! PostgreSQL text is derived from it (64-bit integers, doubles, byte arrays).

use super::sql::{Db, Location, params};
use super::tx::WriteTx;
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::Path;

/// Opens (or creates) the store's database as its writer does: WAL, `synchronous=FULL`,
/// `cache_bytes` of page cache (the serial indexes are looked up at random; 64 MiB keeps their
/// inner pages in memory at ten million serials), the schema in place.
pub fn open_database(path: &Path, cache_bytes: u64) -> Result<Db> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A negative cache_size is in KiB.
    let cache_kib = i64::try_from(cache_bytes / 1024).unwrap_or(i64::MAX);
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Another process (a local `token create`) may hold the write lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let db = Db::sqlite(conn);
    add_legacy_columns(&db)?;
    migrate(&db)?;
    Ok(db)
}

/// Connects to the PostgreSQL store at `url` and brings its schema up to this version.
pub fn open_postgres(url: &str) -> Result<Db> {
    let db = Db::postgres(url)?;
    migrate(&db)?;
    Ok(db)
}

/// Opens the store at `location`: the SQLite file in `data_dir`, or PostgreSQL.
pub fn open_at(location: &Location, data_dir: &Path, cache_bytes: u64) -> Result<Db> {
    match location {
        Location::Embedded => open_database(&super::database_path(data_dir), cache_bytes),
        Location::Postgres(url) => open_postgres(url),
    }
}

/// The schema's versions, oldest first: each is applied once, in one transaction, and
/// recorded in `schema_migrations`. A new version is appended, never edited.
const MIGRATIONS: &[&[&str]] = &[&[
    SCHEMA,
    super::alarms::SCHEMA,
    super::trail::SCHEMA,
    super::tokens::SCHEMA,
    super::closures::SCHEMA,
    super::aggregations::SCHEMA,
]];

/// PostgreSQL-only versions: the evidence frames live in the database, where every node and
/// QA reach them (SQLite's stay files beside the database).
const POSTGRES_MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS evidence_frames (
    name TEXT PRIMARY KEY,
    frame BLOB NOT NULL
);
"];

/// Applies the versions the database lacks. The write lock is held throughout, so two nodes
/// starting at once apply each version once; a database newer than this build is refused.
fn migrate(db: &Db) -> Result<()> {
    let tx = WriteTx::begin(db)?;
    tx.execute(
        &dialect(
            db,
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_ms INTEGER NOT NULL
             )",
        ),
        params![],
    )?;
    let applied: usize = tx.row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        params![],
        |r| r.get(0),
    )?;
    let postgres: &[&str] = if db.is_postgres() {
        POSTGRES_MIGRATIONS
    } else {
        &[]
    };
    let versions: Vec<Vec<&str>> = MIGRATIONS
        .iter()
        .map(|v| v.to_vec())
        .chain(postgres.iter().map(|v| vec![*v]))
        .collect();
    if applied > versions.len() {
        return Err(Error::Store(format!(
            "the store's schema is version {applied}, newer than this verigrade's {}: run the newer verigrade",
            versions.len()
        )));
    }
    for (index, version) in versions.iter().enumerate().skip(applied) {
        for ddl in version {
            tx.connection().execute_batch(&dialect(db, ddl))?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            params![index + 1, super::now_ms()],
        )?;
    }
    tx.commit()
}

/// `ddl` as `db` takes it: SQLite's as written; PostgreSQL's with 64-bit integers, doubles,
/// byte arrays and byte-wise text, and without SQLite's `WITHOUT ROWID`.
fn dialect(db: &Db, ddl: &str) -> String {
    if !db.is_postgres() {
        return ddl.to_owned();
    }
    let mut out = String::with_capacity(ddl.len() + 64);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "INTEGER" => "BIGINT",
            // Text sorts and compares byte by byte, as SQLite's does: listings come out in the
            // same order, and so do the digests taken over ordered rows.
            "TEXT" => "TEXT COLLATE \"C\"",
            "REAL" => "DOUBLE PRECISION",
            "BLOB" => "BYTEA",
            other => other,
        });
        word.clear();
    };
    for c in ddl.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.replace(" WITHOUT ROWID", "")
}

/// Columns added to tables before the schema had versions: a SQLite store made by an earlier
/// version gets them before its first version is recorded.
fn add_legacy_columns(db: &Db) -> Result<()> {
    let has_commissioned = db.exists(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'commissioned'",
        params![],
    )?;
    let has_audit_seq = db.exists(
        "SELECT 1 FROM pragma_table_info('commissioned') WHERE name = 'audit_seq'",
        params![],
    )?;
    if has_commissioned && !has_audit_seq {
        db.execute_batch("ALTER TABLE commissioned ADD COLUMN audit_seq INTEGER")?;
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
            let db = open_database(&dir.join("verdicts.sqlite"), bytes).unwrap();
            let cache: i64 = db
                .sqlite_connection()
                .unwrap()
                .query_row("PRAGMA cache_size", [], |row| row.get(0))
                .unwrap();
            assert_eq!(cache, -kib, "negative: KiB");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
