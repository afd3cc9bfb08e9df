//! Moving an embedded store into PostgreSQL (`verigrade store migrate`): every table row for
//! row, in one transaction, the evidence files into the database, then the audit trail
//! verified where it now lives. Values keep their storage class, so every digest the trail
//! recorded still matches.

use super::sql::{Db, Value, params};
use super::trail::{self, Verification};
use super::tx::WriteTx;
use super::{open_postgres, open_read_only};
use crate::error::{Error, Result};
use std::ops::ControlFlow;
use std::path::Path;

/// The store's tables, in an order that satisfies none but keeps related ones together.
/// `schema_migrations` is the target's own, `writable` only a probe's scratch.
const TABLES: [&str; 15] = [
    "verdicts",
    "serials",
    "commissioned",
    "commissioning",
    "batch_stats",
    "line_stats",
    "gateway_drops",
    "alarms",
    "control_limits",
    "control_progress",
    "audit",
    "tokens",
    "batch_closures",
    "aggregation_events",
    "aggregated",
];

/// What a migration moved, and the audit trail as verified in PostgreSQL.
#[derive(Debug)]
pub struct Migrated {
    /// Rows per table, in [`TABLES`] order.
    pub rows: Vec<(&'static str, u64)>,
    pub evidence_frames: u64,
    pub evidence_missing: Vec<String>,
    pub verification: Verification,
}

/// Copies the SQLite store in `data_dir` into the empty PostgreSQL database at `url`. The
/// source is read as of one moment; stop the service first, or what it stores after that
/// moment stays behind.
pub fn sqlite_to_postgres(data_dir: &Path, url: &str) -> Result<Migrated> {
    let source = open_read_only(data_dir)?;
    source.execute_batch("BEGIN")?;
    let target = open_postgres(url)?;
    let tx = WriteTx::begin(&target)?;
    for table in ["verdicts", "audit", "tokens"] {
        let held: i64 = tx.row(&format!("SELECT COUNT(*) FROM {table}"), params![], |r| {
            r.get(0)
        })?;
        if held > 0 {
            return Err(Error::Refused(format!(
                "{} already holds {held} rows of {table}: migrate into an empty database",
                super::sql::Location::Postgres(url.into()).redacted()
            )));
        }
    }
    let mut rows = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        rows.push((table, copy_table(&source, &tx, table)?));
    }
    let evidence_dir = data_dir.join("evidence");
    let mut evidence_frames = 0;
    let mut evidence_missing = Vec::new();
    let named: Vec<String> = source.rows(
        "SELECT evidence FROM verdicts WHERE evidence IS NOT NULL
         UNION ALL SELECT evidence FROM aggregation_events WHERE evidence IS NOT NULL",
        params![],
        |r| r.get(0),
    )?;
    for name in named {
        match std::fs::read(evidence_dir.join(&name)) {
            Ok(frame) => {
                tx.execute(
                    "INSERT INTO evidence_frames (name, frame) VALUES (?1, ?2)",
                    params![name, frame],
                )?;
                evidence_frames += 1;
            }
            // Named but gone: `audit verify` on the source reports it the same way.
            Err(_) => evidence_missing.push(name),
        }
    }
    tx.commit()?;
    let verification = {
        let check = Db::postgres(url)?;
        check.execute_batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        trail::verify(&check, trail::saved_head(data_dir)?)?
    };
    Ok(Migrated {
        rows,
        evidence_frames,
        evidence_missing,
        verification,
    })
}

/// Copies every row of `table`, column for column by name; the number copied.
fn copy_table(source: &Db, tx: &WriteTx, table: &str) -> Result<u64> {
    let columns: Vec<String> = source.rows(
        "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        params![table],
        |r| r.get(0),
    )?;
    if columns.is_empty() {
        // A table this store's version did not have yet.
        return Ok(0);
    }
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        quoted.join(", "),
        placeholders.join(", ")
    );
    let mut copied = 0u64;
    let mut failed = None;
    source.each_row(
        &format!("SELECT {} FROM {table}", quoted.join(", ")),
        params![],
        |row| {
            let values: Vec<Value> = row.values().to_vec();
            if let Err(e) = tx.execute(&insert, &values) {
                failed = Some(e);
                return Ok(ControlFlow::Break(()));
            }
            copied += 1;
            Ok(ControlFlow::Continue(()))
        },
    )?;
    match failed {
        Some(e) => Err(Error::Store(format!("copying {table}: {e}"))),
        None => Ok(copied),
    }
}
