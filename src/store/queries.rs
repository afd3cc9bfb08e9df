//! Reads: one verdict, pages of them, counts and reconciliation. They run on the store's read
//! connection and never wait for the writer (WAL).

use super::Store;
use super::serials::{self, Reconciliation};
use super::sql::{Row, params};
use super::stats::LineCounts;
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;

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
pub(super) fn row_verdict(row: &Row) -> Result<Result<Verdict>> {
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
        let conn = self.read()?;
        serials::reconcile(&conn, line_id, batch)
    }

    /// One verdict by line and frame.
    pub fn get(&self, line_id: &str, frame_id: &str) -> Result<Option<Verdict>> {
        let conn = self.read()?;
        conn.optional_row(
            "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
            params![line_id, frame_id],
            row_verdict,
        )?
        .transpose()
    }

    /// The evidence frame a verdict kept: its file name and bytes; `None` when the verdict
    /// kept none or the budget has released it.
    pub fn evidence(&self, line_id: &str, frame_id: &str) -> Result<Option<(String, Vec<u8>)>> {
        let file: Option<String> = {
            let conn = self.read()?;
            conn.optional_row(
                "SELECT evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
                params![line_id, frame_id],
                |r| r.get(0),
            )?
            .flatten()
        };
        let Some(file) = file else { return Ok(None) };
        let bytes = match self.location {
            // A file: read without holding the read connection.
            super::Location::Embedded => super::evidence::read_file(&self.evidence_dir, &file)?,
            super::Location::Postgres(_) => super::evidence::read_row(&*self.read()?, &file)?,
        };
        Ok(bytes.map(|bytes| (file, bytes)))
    }

    /// Verdicts matching `query`: newest first, or oldest first after `after_sequence`.
    pub fn list(&self, query: &Query) -> Result<Vec<Verdict>> {
        let conn = self.read()?;
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
        conn.rows(
            &sql,
            params![
                query.line_id,
                query.only_failed,
                query.before_sequence,
                query.after_sequence,
                query.limit
            ],
            row_verdict,
        )?
        .into_iter()
        .collect()
    }

    /// Every line that has sent a frame, by id.
    pub fn lines(&self) -> Result<Vec<String>> {
        let conn = self.read()?;
        conn.rows(
            "SELECT line_id FROM line_stats ORDER BY line_id",
            params![],
            |r| r.get(0),
        )
    }

    /// Counts for a line, or for every line when `line_id` is empty.
    pub fn counts(&self, line_id: &str) -> Result<LineCounts> {
        let conn = self.read()?;
        let row = conn.row(
            "SELECT CAST(COALESCE(SUM(total), 0) AS BIGINT), CAST(COALESCE(SUM(passed), 0) AS BIGINT),
                    CAST(COALESCE(SUM(no_read), 0) AS BIGINT), CAST(COALESCE(SUM(duplicates), 0) AS BIGINT),
                    CAST(COALESCE(SUM(grade_a), 0) AS BIGINT), CAST(COALESCE(SUM(grade_b), 0) AS BIGINT),
                    CAST(COALESCE(SUM(grade_c), 0) AS BIGINT), CAST(COALESCE(SUM(grade_d), 0) AS BIGINT),
                    CAST(COALESCE(SUM(grade_f), 0) AS BIGINT),
                    COALESCE(SUM(grade_sum), 0.0), COALESCE(MAX(last_seq), 0)
             FROM line_stats WHERE (?1 = '' OR line_id = ?1)",
            params![line_id],
            |r| {
                let n = |i| r.get::<u64>(i);
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
        let dropped: i64 = conn.row(
            "SELECT CAST(COALESCE(SUM(dropped), 0) AS BIGINT) FROM gateway_drops
             WHERE (?1 = '' OR line_id = ?1)",
            params![line_id],
            |r| r.get(0),
        )?;
        Ok(LineCounts {
            dropped_at_gateway: dropped as u64,
            ..row
        })
    }
}
