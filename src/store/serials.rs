//! Serials: the duplicate check (one verdict per (GTIN, serial) carries it first), the
//! commissioning of the serials a line may print, and the reconciliation counts per batch.
//! The rules are plain functions; the SQL only fetches and records.

use super::closures;
use super::sql::{Db, params};
use super::trail::{self, Action, Entry, SerialsDigest, record};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::error::Error;
use crate::error::Result;
use crate::proto::Verdict;
use crate::verdict::{Reason, Sighting};

/// Serials to commission for one line and batch.
#[derive(Clone, Debug)]
pub struct Commission {
    /// Who commissions them, for the audit trail.
    pub actor: Actor,
    pub line_id: String,
    pub batch: String,
    pub gtin: String,
    pub serials: Vec<String>,
}

/// What commissioning did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commissioned {
    pub added: u64,
    pub already: u64,
    pub conflicts: u64,
    /// The first few conflicts, in words.
    pub conflict_examples: Vec<String>,
}

/// Counts of one line and batch; see `BatchReconciliation` in the proto for how they add up.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reconciliation {
    pub line_id: String,
    pub batch: String,
    pub commissioned: u64,
    pub verified: u64,
    pub frames: u64,
    pub passed: u64,
    pub no_read: u64,
    pub duplicate: u64,
    pub not_commissioned: u64,
    /// Packs of the batch in a case now.
    #[serde(default)]
    pub aggregated: u64,
    /// Cases holding the batch's packs.
    #[serde(default)]
    pub cases: u64,
    /// Commissioned serials verified on a passing pack and in no case.
    #[serde(default)]
    pub verified_not_aggregated: u64,
    /// Set when the batch is closed: `frames` and the rest are the counts it froze.
    #[serde(skip)]
    pub closure: Option<Closed>,
}

/// A closed batch's signature, as reconciliation shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Closed {
    pub user: String,
    pub at_ms: i64,
    pub meaning: String,
    /// Frames of the batch stored after it was closed.
    pub after_close: u64,
}

impl Reconciliation {
    pub fn outstanding(&self) -> u64 {
        self.commissioned.saturating_sub(self.verified)
    }

    pub fn failed(&self) -> u64 {
        self.frames.saturating_sub(self.passed)
    }

    /// Failed for print quality or data (not a no-read, duplicate or uncommissioned serial).
    pub fn rejected(&self) -> u64 {
        self.failed()
            .saturating_sub(self.no_read + self.duplicate + self.not_commissioned)
    }
}

/// How many conflicts a commissioning answer spells out.
const CONFLICT_EXAMPLES: usize = 10;

/// Where a serial is commissioned: (line, batch).
type Owner = (String, String);

/// Registers a (GTIN, serial) pair as carried by verdict `seq`. When the pair was already
/// there, returns the sequence of the verdict that carried it first (a duplicate).
pub fn register_serial(tx: &WriteTx, gtin: &str, serial: &str, seq: i64) -> Result<Option<i64>> {
    let inserted = tx.execute(
        "INSERT INTO serials (gtin, serial, seq) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![gtin, serial, seq],
    )?;
    if inserted == 1 {
        return Ok(None);
    }
    let first = tx.row(
        "SELECT seq FROM serials WHERE gtin = ?1 AND serial = ?2",
        params![gtin, serial],
        |r| r.get(0),
    )?;
    Ok(Some(first))
}

/// A verdict whose serial an earlier verdict carried fails as a duplicate, naming where the
/// serial was first seen.
pub(super) fn check_duplicate(tx: &WriteTx, verdict: &mut Verdict, seq: i64) -> Result<()> {
    if verdict.gtin.is_empty() || verdict.serial.is_empty() {
        return Ok(());
    }
    let Some(first) = register_serial(tx, &verdict.gtin, &verdict.serial, seq)? else {
        return Ok(());
    };
    let (line, frame): (String, String) = tx.row(
        "SELECT line_id, frame_id FROM verdicts WHERE seq = ?1",
        params![first],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    verdict.duplicate = true;
    verdict.pass = false;
    let reason = Reason::DuplicateSerial {
        gtin: verdict.gtin.clone(),
        serial: verdict.serial.clone(),
        first: Sighting::Stored { line, frame },
    };
    verdict.reasons.push(reason.to_string());
    Ok(())
}

/// Why a pack's serial is not one its line may print, given where the serial is commissioned;
/// `None` when it is commissioned for this line and batch.
fn commissioning_refusal(verdict: &Verdict, owner: Option<Owner>) -> Option<Reason> {
    match owner {
        None => Some(Reason::NotCommissioned {
            serial: verdict.serial.clone(),
        }),
        Some((line, batch)) if line != verdict.line_id || batch != verdict.batch => {
            Some(Reason::CommissionedElsewhere {
                serial: verdict.serial.clone(),
                line,
                batch,
                this_line: verdict.line_id.clone(),
                this_batch: verdict.batch.clone(),
            })
        }
        Some(_) => None,
    }
}

/// Once a line has commissioned serials, a pack on it must carry one commissioned for this
/// line and batch; the first passing pack of each commissioned serial verifies it.
pub(super) fn check_commissioned(tx: &WriteTx, verdict: &mut Verdict, seq: i64) -> Result<()> {
    if verdict.serial.is_empty() || verdict.gtin.is_empty() {
        return Ok(());
    }
    let line_commissions = tx.exists(
        "SELECT 1 FROM commissioning WHERE line_id = ?1 LIMIT 1",
        params![verdict.line_id],
    )?;
    if !line_commissions {
        return Ok(());
    }
    let owner = tx.optional_row(
        "SELECT line_id, batch FROM commissioned WHERE gtin = ?1 AND serial = ?2",
        params![verdict.gtin, verdict.serial],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if let Some(reason) = commissioning_refusal(verdict, owner) {
        verdict.not_commissioned = true;
        verdict.pass = false;
        verdict.reasons.push(reason.to_string());
    } else if verdict.pass {
        let first_pass = tx.execute(
            "UPDATE commissioned SET verified_seq = ?3
             WHERE gtin = ?1 AND serial = ?2 AND verified_seq IS NULL",
            params![verdict.gtin, verdict.serial, seq],
        )?;
        if first_pass == 1 {
            tx.execute(
                "UPDATE commissioning SET verified = verified + 1 WHERE line_id = ?1 AND batch = ?2",
                params![verdict.line_id, verdict.batch],
            )?;
        }
    }
    Ok(())
}

/// A serial already commissioned: again for the same line and batch, or a conflict (in words).
fn recommissioning(c: &Commission, serial: &str, (line, batch): Owner) -> Result<(), String> {
    if line == c.line_id && batch == c.batch {
        Ok(())
    } else {
        Err(format!(
            "serial {serial} of GTIN {} is commissioned for batch {batch} on line {line}",
            c.gtin
        ))
    }
}

/// Commissions `c`'s serials; a serial keeps the line and batch it was first commissioned for.
/// The serials added are recorded in one audit entry, each row naming it.
pub(super) fn commission_serials(tx: &WriteTx, c: &Commission) -> Result<Commissioned> {
    let mut outcome = Commissioned::default();
    let audit_seq = trail::next_seq(tx)?;
    let mut added = Vec::new();
    for serial in &c.serials {
        let inserted = tx.execute(
            "INSERT INTO commissioned (gtin, serial, line_id, batch, audit_seq)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![c.gtin, serial, c.line_id, c.batch, audit_seq],
        )?;
        if inserted == 1 {
            outcome.added += 1;
            added.push(serial.as_str());
            continue;
        }
        let owner = tx.row(
            "SELECT line_id, batch FROM commissioned WHERE gtin = ?1 AND serial = ?2",
            params![c.gtin, serial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        match recommissioning(c, serial, owner) {
            Ok(()) => outcome.already += 1,
            Err(conflict) => {
                outcome.conflicts += 1;
                if outcome.conflict_examples.len() < CONFLICT_EXAMPLES {
                    outcome.conflict_examples.push(conflict);
                }
            }
        }
    }
    tx.execute(
        "INSERT INTO commissioning (line_id, batch, commissioned) VALUES (?1, ?2, ?3)
         ON CONFLICT (line_id, batch) DO UPDATE SET commissioned = commissioning.commissioned + ?3",
        params![c.line_id, c.batch, outcome.added],
    )?;
    if !added.is_empty() {
        added.sort_unstable();
        let mut serials = SerialsDigest::default();
        for serial in &added {
            serials.add(&c.gtin, serial, &c.line_id, &c.batch);
        }
        let entry = Entry::new(
            c.actor.clone(),
            Action::SerialsCommissioned,
            record::commissioning(&c.line_id, &c.batch),
        )
        .after(serials.hex())
        .reason(format!("{} serials of GTIN {}", added.len(), c.gtin));
        if trail::append(tx, &entry)? != audit_seq {
            return Err(Error::Internal(
                "the audit trail moved while serials were commissioned".into(),
            ));
        }
    }
    Ok(outcome)
}

/// Live counts per line and batch; empty `line_id` or `batch` match every one.
fn live_counts(conn: &Db, line_id: &str, batch: &str) -> Result<Vec<Reconciliation>> {
    let mut batches: Vec<Reconciliation> = conn.rows(
            "SELECT k.line_id, k.batch, COALESCE(c.commissioned, 0), COALESCE(c.verified, 0),
                    COALESCE(b.total, 0), COALESCE(b.passed, 0), COALESCE(b.no_read, 0),
                    COALESCE(b.duplicates, 0), COALESCE(b.not_commissioned, 0)
             FROM (SELECT line_id, batch FROM commissioning UNION SELECT line_id, batch FROM batch_stats
                   UNION SELECT line_id, batch FROM aggregation_events WHERE action = 'packed') k
             LEFT JOIN commissioning c ON c.line_id = k.line_id AND c.batch = k.batch
             LEFT JOIN batch_stats b ON b.line_id = k.line_id AND b.batch = k.batch
             WHERE (?1 = '' OR k.line_id = ?1) AND (?2 = '' OR k.batch = ?2)
             ORDER BY k.line_id, k.batch",
        params![line_id, batch], |r| {
        let n = |i| r.get::<u64>(i);
        Ok(Reconciliation {
            closure: None,
            line_id: r.get(0)?,
            batch: r.get(1)?,
            commissioned: n(2)?,
            verified: n(3)?,
            frames: n(4)?,
            passed: n(5)?,
            no_read: n(6)?,
            duplicate: n(7)?,
            not_commissioned: n(8)?,
            ..Reconciliation::default()
        })
    })?;
    for counts in &mut batches {
        (
            counts.aggregated,
            counts.cases,
            counts.verified_not_aggregated,
        ) = super::aggregations::counts(conn, &counts.line_id, &counts.batch)?;
    }
    Ok(batches)
}

/// Reconciliation per line and batch; a closed batch shows the counts its signature froze.
pub(super) fn reconcile(conn: &Db, line_id: &str, batch: &str) -> Result<Vec<Reconciliation>> {
    let mut batches = live_counts(conn, line_id, batch)?;
    for live in &mut batches {
        let Some(closure) = closures::closure(conn, &live.line_id, &live.batch)? else {
            continue;
        };
        if !closure.closed {
            continue;
        }
        let after_close = live.frames.saturating_sub(closure.frozen.frames);
        *live = Reconciliation {
            closure: Some(Closed {
                user: closure.user,
                at_ms: closure.at_ms,
                meaning: closure.meaning,
                after_close,
            }),
            ..closure.frozen
        };
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(line: &str, batch: &str) -> Verdict {
        Verdict {
            line_id: line.into(),
            batch: batch.into(),
            serial: "S1".into(),
            ..Verdict::default()
        }
    }

    fn owner(line: &str, batch: &str) -> Option<Owner> {
        Some((line.into(), batch.into()))
    }

    #[test]
    fn a_serial_passes_only_on_the_line_and_batch_it_was_commissioned_for() {
        assert_eq!(
            commissioning_refusal(&pack("L1", "B1"), owner("L1", "B1")),
            None
        );
        let missing = commissioning_refusal(&pack("L1", "B1"), None).unwrap();
        assert_eq!(
            missing.to_string(),
            Reason::NotCommissioned {
                serial: "S1".into()
            }
            .to_string()
        );
        for (line, batch) in [("L2", "B1"), ("L1", "B2")] {
            let elsewhere = commissioning_refusal(&pack("L1", "B1"), owner(line, batch)).unwrap();
            let words = elsewhere.to_string();
            assert!(words.contains(line) && words.contains(batch), "{words}");
        }
    }

    #[test]
    fn commissioning_a_serial_again_is_a_conflict_only_elsewhere() {
        let c = Commission {
            actor: Actor::open("qa"),
            line_id: "L1".into(),
            batch: "B1".into(),
            gtin: "09506000134352".into(),
            serials: Vec::new(),
        };
        assert_eq!(
            recommissioning(&c, "S1", ("L1".into(), "B1".into())),
            Ok(())
        );
        let conflict = recommissioning(&c, "S1", ("L2".into(), "B7".into())).unwrap_err();
        assert_eq!(
            conflict,
            "serial S1 of GTIN 09506000134352 is commissioned for batch B7 on line L2"
        );
    }
}
