//! Running counts per line and per batch, kept in step with the verdicts in the same
//! transaction, so reading them never scans the verdicts.

use super::sql::params;
use super::tx::WriteTx;
use crate::error::Result;
use crate::proto::Verdict;

/// Counts for one line (or all lines).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineCounts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub no_read: u64,
    pub duplicates: u64,
    /// A, B, C, D, F.
    pub grades: [u64; 5],
    pub mean_grade: f64,
    pub last_sequence: u64,
    /// Frames the line's gateways dropped before sending (their queue full).
    pub dropped_at_gateway: u64,
}

/// The `line_stats` column counting a verdict's overall grade.
fn grade_column(overall_grade: f64) -> &'static str {
    match crate::verdict::overall_letter(overall_grade) {
        "A" => "grade_a",
        "B" => "grade_b",
        "C" => "grade_c",
        "D" => "grade_d",
        _ => "grade_f",
    }
}

/// Which batch count a failed pack adds to: a no-read, else a duplicate, else an uncommissioned
/// serial (one reason per pack, so the reconciliation adds up).
struct BatchCounts {
    passed: bool,
    no_read: bool,
    duplicate: bool,
    not_commissioned: bool,
}

impl BatchCounts {
    fn of(verdict: &Verdict) -> BatchCounts {
        BatchCounts {
            passed: verdict.pass,
            no_read: !verdict.decoded,
            duplicate: verdict.decoded && verdict.duplicate,
            not_commissioned: verdict.decoded && !verdict.duplicate && verdict.not_commissioned,
        }
    }
}

/// Counts a newly stored verdict `seq` in its batch's and its line's totals.
pub(super) fn count_verdict(tx: &WriteTx, verdict: &Verdict, seq: i64) -> Result<()> {
    let batch = BatchCounts::of(verdict);
    tx.execute(
        "INSERT INTO batch_stats (line_id, batch, total, passed, no_read, duplicates, not_commissioned)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6)
         ON CONFLICT (line_id, batch) DO UPDATE SET
           total = batch_stats.total + 1, passed = batch_stats.passed + ?3,
           no_read = batch_stats.no_read + ?4, duplicates = batch_stats.duplicates + ?5,
           not_commissioned = batch_stats.not_commissioned + ?6",
        params![
            verdict.line_id,
            verdict.batch,
            batch.passed,
            batch.no_read,
            batch.duplicate,
            batch.not_commissioned,
        ],
    )?;
    let grade = grade_column(verdict.overall_grade);
    tx.execute(
        &format!(
            "INSERT INTO line_stats (line_id, total, passed, no_read, duplicates, {grade}, grade_sum, last_seq)
             VALUES (?1, 1, ?2, ?3, ?4, 1, ?5, ?6)
             ON CONFLICT (line_id) DO UPDATE SET
               total = line_stats.total + 1, passed = line_stats.passed + ?2,
               no_read = line_stats.no_read + ?3, duplicates = line_stats.duplicates + ?4,
               {grade} = line_stats.{grade} + 1, grade_sum = line_stats.grade_sum + ?5,
               last_seq = ?6"
        ),
        params![
            verdict.line_id,
            verdict.pass,
            !verdict.decoded,
            verdict.duplicate,
            verdict.overall_grade,
            seq
        ],
    )?;
    if verdict.frames_dropped_before > 0 {
        tx.execute(
            "INSERT INTO gateway_drops (line_id, dropped) VALUES (?1, ?2)
             ON CONFLICT (line_id) DO UPDATE SET dropped = gateway_drops.dropped + ?2",
            params![verdict.line_id, verdict.frames_dropped_before as i64],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which one batch count a pack adds to, as reconciliation needs: each failed pack once.
    fn counted(verdict: &Verdict) -> [bool; 4] {
        let c = BatchCounts::of(verdict);
        [c.passed, c.no_read, c.duplicate, c.not_commissioned]
    }

    #[test]
    fn a_failed_pack_counts_for_one_reason_only() {
        let read = Verdict {
            decoded: true,
            ..Verdict::default()
        };
        let no_read = Verdict::default();
        let duplicate = Verdict {
            duplicate: true,
            not_commissioned: true,
            ..read.clone()
        };
        let uncommissioned = Verdict {
            not_commissioned: true,
            ..read.clone()
        };
        let passed = Verdict {
            pass: true,
            ..read.clone()
        };
        assert_eq!(counted(&no_read), [false, true, false, false]);
        assert_eq!(counted(&duplicate), [false, false, true, false]);
        assert_eq!(counted(&uncommissioned), [false, false, false, true]);
        assert_eq!(counted(&passed), [true, false, false, false]);
    }

    #[test]
    fn the_grade_column_follows_the_overall_letter() {
        assert_eq!(grade_column(4.0), "grade_a");
        assert_eq!(grade_column(3.5), "grade_a");
        assert_eq!(grade_column(2.5), "grade_b");
        assert_eq!(grade_column(0.2), "grade_f");
    }
}
