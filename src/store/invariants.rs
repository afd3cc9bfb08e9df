//! The store's invariants, checked from its tables alone: every count, the serial index,
//! commissioning and the sequence must follow from the stored verdicts, and every evidence file
//! must belong to one. Run by the tests after faults; a real store can be audited the same way.

use super::evidence;
use super::queries::row_verdict;
use super::sql::{Db, params};
use crate::error::Result;
use crate::proto::Verdict;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Line and batch counts as the stats tables hold them.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    total: i64,
    passed: i64,
    no_read: i64,
    duplicates: i64,
    /// Batch rows: uncommissioned serials; line rows: the grade column's count.
    other: [i64; 5],
    last_seq: i64,
}

/// Every broken invariant, in words; empty when the store is consistent.
pub fn check_invariants(conn: &Db, evidence_dir: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    if let Some(sqlite) = conn.sqlite_connection() {
        let integrity: String = sqlite.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            problems.push(format!("integrity_check: {integrity}"));
        }
    }
    let verdicts = stored_verdicts(conn, &mut problems)?;
    check_sequence(&verdicts, &mut problems);
    check_stats(conn, &verdicts, &mut problems)?;
    check_serials(conn, &verdicts, &mut problems)?;
    check_commissioning(conn, &verdicts, &mut problems)?;
    check_evidence(conn, evidence_dir, &mut problems)?;
    problems.extend(super::aggregations::check_replay(conn)?);
    Ok(problems)
}

/// Every verdict by sequence, its record agreeing with its columns.
fn stored_verdicts(conn: &Db, problems: &mut Vec<String>) -> Result<BTreeMap<i64, Verdict>> {
    let rows = conn.all_rows(
        "SELECT record, evidence, seq, line_id, frame_id, pass FROM verdicts",
        params![],
    )?;
    let mut verdicts = BTreeMap::new();
    for row in &rows {
        let seq: i64 = row.get(2)?;
        let (line_id, frame_id, pass): (String, String, bool) =
            (row.get(3)?, row.get(4)?, row.get(5)?);
        match row_verdict(row)? {
            Err(e) => problems.push(format!("verdict {seq}: {e}")),
            Ok(v) => {
                if v.sequence != seq as u64
                    || v.line_id != line_id
                    || v.frame_id != frame_id
                    || v.pass != pass
                {
                    problems.push(format!("verdict {seq}: record and columns disagree"));
                }
                verdicts.insert(seq, v);
            }
        }
    }
    Ok(verdicts)
}

/// Sequences run 1, 2, 3… without a gap: verdicts are never deleted.
fn check_sequence(verdicts: &BTreeMap<i64, Verdict>, problems: &mut Vec<String>) {
    if let Some((&last, _)) = verdicts.last_key_value()
        && last != verdicts.len() as i64
    {
        problems.push(format!(
            "sequence: {} verdicts, the last is {last}",
            verdicts.len()
        ));
    }
}

fn check_stats(
    conn: &Db,
    verdicts: &BTreeMap<i64, Verdict>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut lines: BTreeMap<String, Counts> = BTreeMap::new();
    let mut batches: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut grade_sums: HashMap<String, f64> = HashMap::new();
    for (&seq, v) in verdicts {
        let line = lines.entry(v.line_id.clone()).or_default();
        line.total += 1;
        line.passed += i64::from(v.pass);
        line.no_read += i64::from(!v.decoded);
        line.duplicates += i64::from(v.duplicate);
        let grade = ["A", "B", "C", "D", "F"]
            .iter()
            .position(|&l| l == crate::verdict::overall_letter(v.overall_grade))
            .unwrap_or(4);
        line.other[grade] += 1;
        line.last_seq = line.last_seq.max(seq);
        *grade_sums.entry(v.line_id.clone()).or_default() += v.overall_grade;
        let batch = batches
            .entry((v.line_id.clone(), v.batch.clone()))
            .or_default();
        batch.total += 1;
        batch.passed += i64::from(v.pass);
        batch.no_read += i64::from(!v.decoded);
        batch.duplicates += i64::from(v.decoded && v.duplicate);
        batch.other[0] += i64::from(v.decoded && !v.duplicate && v.not_commissioned);
    }
    let rows = conn.all_rows(
        "SELECT line_id, total, passed, no_read, duplicates, grade_a, grade_b, grade_c, grade_d,
                grade_f, last_seq, grade_sum FROM line_stats",
        params![],
    )?;
    let mut stored_lines = BTreeMap::new();
    for r in &rows {
        let line: String = r.get(0)?;
        let grade_sum: f64 = r.get(11)?;
        if (grade_sum - grade_sums.get(&line).copied().unwrap_or(0.0)).abs() > 1e-6 {
            problems.push(format!(
                "line_stats {line}: grade_sum {grade_sum} disagrees"
            ));
        }
        let counts = Counts {
            total: r.get(1)?,
            passed: r.get(2)?,
            no_read: r.get(3)?,
            duplicates: r.get(4)?,
            other: [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?],
            last_seq: r.get(10)?,
        };
        stored_lines.insert(line, counts);
    }
    if stored_lines != lines {
        problems.push(format!(
            "line_stats {stored_lines:?} disagree with the verdicts {lines:?}"
        ));
    }
    let rows = conn.all_rows("SELECT line_id, batch, total, passed, no_read, duplicates, not_commissioned FROM batch_stats", params![])?;
    let mut stored_batches = BTreeMap::new();
    for r in &rows {
        let counts = Counts {
            total: r.get(2)?,
            passed: r.get(3)?,
            no_read: r.get(4)?,
            duplicates: r.get(5)?,
            other: [r.get(6)?, 0, 0, 0, 0],
            last_seq: 0,
        };
        stored_batches.insert((r.get(0)?, r.get(1)?), counts);
    }
    if stored_batches != batches {
        problems.push(format!(
            "batch_stats {stored_batches:?} disagree with the verdicts {batches:?}"
        ));
    }
    let mut dropped: BTreeMap<String, i64> = BTreeMap::new();
    for v in verdicts.values().filter(|v| v.frames_dropped_before > 0) {
        *dropped.entry(v.line_id.clone()).or_default() += v.frames_dropped_before as i64;
    }
    let stored_dropped: BTreeMap<String, i64> = conn
        .rows(
            "SELECT line_id, dropped FROM gateway_drops",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .into_iter()
        .collect();
    if stored_dropped != dropped {
        problems.push(format!(
            "gateway_drops {stored_dropped:?} disagree with the verdicts {dropped:?}"
        ));
    }
    Ok(())
}

/// The serial index holds each (GTIN, serial) of the verdicts once, under the first verdict
/// that carried it; every later one is a duplicate, and only those are.
fn check_serials(
    conn: &Db,
    verdicts: &BTreeMap<i64, Verdict>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut first: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (&seq, v) in verdicts {
        if v.gtin.is_empty() || v.serial.is_empty() {
            continue;
        }
        let carried_before = first.contains_key(&(v.gtin.clone(), v.serial.clone()));
        first
            .entry((v.gtin.clone(), v.serial.clone()))
            .or_insert(seq);
        if v.duplicate != carried_before {
            problems.push(format!(
                "verdict {seq}: duplicate flag {} but serial {} {} seen before",
                v.duplicate,
                v.serial,
                if carried_before { "was" } else { "was not" }
            ));
        }
    }
    let stored = conn
        .rows("SELECT gtin, serial, seq FROM serials", params![], |r| {
            Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
        })?
        .into_iter()
        .collect::<BTreeMap<(String, String), i64>>();
    if stored != first {
        problems.push(format!(
            "serial index {stored:?} disagrees with the verdicts {first:?}"
        ));
    }
    Ok(())
}

/// Each line and batch counts the serials commissioned for it and those verified, each
/// verified by a passing verdict that carried it.
fn check_commissioning(
    conn: &Db,
    verdicts: &BTreeMap<i64, Verdict>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let rows = conn.all_rows(
        "SELECT gtin, serial, line_id, batch, verified_seq FROM commissioned",
        params![],
    )?;
    for r in &rows {
        let (gtin, serial): (String, String) = (r.get(0)?, r.get(1)?);
        let verified: Option<i64> = r.get(4)?;
        let counts = expected.entry((r.get(2)?, r.get(3)?)).or_default();
        counts.0 += 1;
        if let Some(seq) = verified {
            counts.1 += 1;
            let verifies = verdicts
                .get(&seq)
                .is_some_and(|v| v.pass && v.gtin == gtin && v.serial == serial);
            if !verifies {
                problems.push(format!(
                    "serial {serial} is verified by verdict {seq}, which did not pass with it"
                ));
            }
        }
    }
    let stored = conn
        .rows(
            "SELECT line_id, batch, commissioned, verified FROM commissioning",
            params![],
            |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?))),
        )?
        .into_iter()
        .collect::<BTreeMap<(String, String), (i64, i64)>>();
    // A commissioning row may count nothing (every serial of its chunk was a conflict).
    let stored: BTreeMap<_, _> = stored
        .into_iter()
        .filter(|(key, counts)| *counts != (0, 0) || expected.contains_key(key))
        .collect();
    if stored != expected {
        problems.push(format!(
            "commissioning {stored:?} disagrees with the commissioned serials {expected:?}"
        ));
    }
    Ok(())
}

/// Every evidence file named by a verdict or an aggregation event exists, and every file
/// there is named by one.
fn check_evidence(conn: &Db, dir: &Path, problems: &mut Vec<String>) -> Result<()> {
    for orphan in evidence::orphans(conn, dir)? {
        problems.push(format!(
            "evidence file {orphan} belongs to no verdict or aggregation"
        ));
    }
    let kept = evidence::kept(conn, dir)?;
    let named = conn
        .rows(
            "SELECT evidence FROM verdicts WHERE evidence IS NOT NULL
         UNION ALL SELECT evidence FROM aggregation_events WHERE evidence IS NOT NULL",
            params![],
            |r| r.get::<String>(0),
        )?
        .into_iter()
        .collect::<Vec<_>>();
    for file in named {
        if kept.binary_search(&file).is_err() {
            problems.push(format!("evidence file {file} is missing"));
        }
    }
    Ok(())
}
