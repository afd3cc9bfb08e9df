//! Reads: one verdict, pages of them, counts and reconciliation. They run on the store's read
//! connection and never wait for the writer (WAL).

use super::serials::{self, Reconciliation};
use super::stats::LineCounts;
use super::{Store, closed};
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;
use rusqlite::{OptionalExtension, params};

/// Which stored verdicts to list.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Empty: every line.
    pub line_id: String,
    pub only_failed: bool,
    /// Only verdicts stored before this sequence (newest-first paging); 0 = from the newest.
    pub before_sequence: u64,
    /// Only verdicts stored after this sequence (oldest-first replay); 0 = none.
    pub after_sequence: u64,
    pub limit: usize,
}

/// A verdict from its `record` and `evidence` columns (the evidence may have been released
/// since the record was written).
pub(super) fn row_verdict(row: &rusqlite::Row) -> rusqlite::Result<Result<Verdict>> {
    let record: Vec<u8> = row.get(0)?;
    let evidence: Option<String> = row.get(1)?;
    Ok(Verdict::decode(record.as_slice())
        .map(|mut v| {
            v.evidence = evidence.unwrap_or_default();
            v
        })
        .map_err(|e| Error::Store(format!("corrupt verdict record: {e}"))))
}

impl Store {
    /// Reconciliation per line and batch; empty `line_id` or `batch` match every one. A closed
    /// batch shows the counts its signature froze.
    pub fn reconcile(&self, line_id: &str, batch: &str) -> Result<Vec<Reconciliation>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        serials::reconcile(&conn, line_id, batch)
    }

    /// One verdict by line and frame.
    pub fn get(&self, line_id: &str, frame_id: &str) -> Result<Option<Verdict>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        conn.query_row(
            "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
            params![line_id, frame_id],
            row_verdict,
        )
        .optional()?
        .transpose()
    }

    /// The evidence frame a verdict kept: its file name and bytes; `None` when the verdict
    /// kept none or the budget has released it.
    pub fn evidence(&self, line_id: &str, frame_id: &str) -> Result<Option<(String, Vec<u8>)>> {
        let file: Option<String> = {
            let conn = self.reader.lock().map_err(|_| closed())?;
            conn.query_row(
                "SELECT evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
                params![line_id, frame_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten()
        };
        let Some(file) = file else { return Ok(None) };
        let path = self.evidence_dir.join(&file);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some((file, bytes))),
            // Released by the budget between the query and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Verdicts matching `query`: newest first, or oldest first after `after_sequence`.
    pub fn list(&self, query: &Query) -> Result<Vec<Verdict>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        let order = if query.after_sequence > 0 {
            "ASC"
        } else {
            "DESC"
        };
        let sql = format!(
            "SELECT record, evidence FROM verdicts
             WHERE (?1 = '' OR line_id = ?1) AND (?2 = 0 OR pass = 0)
               AND (?3 = 0 OR seq < ?3) AND seq > ?4
             ORDER BY seq {order} LIMIT ?5"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let rows = statement.query_map(
            params![
                query.line_id,
                query.only_failed,
                query.before_sequence as i64,
                query.after_sequence as i64,
                query.limit as i64
            ],
            row_verdict,
        )?;
        rows.map(|row| row?).collect()
    }

    /// Every line that has sent a frame, by id.
    pub fn lines(&self) -> Result<Vec<String>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        let mut statement =
            conn.prepare_cached("SELECT line_id FROM line_stats ORDER BY line_id")?;
        let rows = statement.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Counts for a line, or for every line when `line_id` is empty.
    pub fn counts(&self, line_id: &str) -> Result<LineCounts> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        let row = conn.query_row(
            "SELECT COALESCE(SUM(total), 0), COALESCE(SUM(passed), 0), COALESCE(SUM(no_read), 0),
                    COALESCE(SUM(duplicates), 0), COALESCE(SUM(grade_a), 0), COALESCE(SUM(grade_b), 0),
                    COALESCE(SUM(grade_c), 0), COALESCE(SUM(grade_d), 0), COALESCE(SUM(grade_f), 0),
                    COALESCE(SUM(grade_sum), 0.0), COALESCE(MAX(last_seq), 0)
             FROM line_stats WHERE (?1 = '' OR line_id = ?1)",
            params![line_id],
            |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| v as u64);
                let total = n(0)?;
                let grade_sum: f64 = r.get(9)?;
                Ok(LineCounts {
                    total,
                    passed: n(1)?,
                    failed: total - n(1)?,
                    no_read: n(2)?,
                    duplicates: n(3)?,
                    grades: [n(4)?, n(5)?, n(6)?, n(7)?, n(8)?],
                    mean_grade: if total > 0 {
                        grade_sum / total as f64
                    } else {
                        0.0
                    },
                    last_sequence: n(10)?,
                    dropped_at_gateway: 0,
                })
            },
        )?;
        let dropped: i64 = conn.query_row(
            "SELECT COALESCE(SUM(dropped), 0) FROM gateway_drops WHERE (?1 = '' OR line_id = ?1)",
            params![line_id],
            |r| r.get(0),
        )?;
        Ok(LineCounts {
            dropped_at_gateway: dropped as u64,
            ..row
        })
    }
}
