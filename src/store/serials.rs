//! Serials: the duplicate check (one verdict per (GTIN, serial) carries it first), the
//! commissioning of the serials a line may print, and the reconciliation counts per batch.
//! The rules are plain functions; the SQL only fetches and records.

use super::tx::WriteTx;
use crate::error::Result;
use crate::proto::Verdict;
use crate::verdict::{Reason, Sighting};
use rusqlite::params;

/// Serials to commission for one line and batch.
#[derive(Clone, Debug)]
pub struct Commission {
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
#[derive(Clone, Debug, Default, PartialEq)]
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
        "INSERT OR IGNORE INTO serials (gtin, serial, seq) VALUES (?1, ?2, ?3)",
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
pub(super) fn commission_serials(tx: &WriteTx, c: &Commission) -> Result<Commissioned> {
    let mut outcome = Commissioned::default();
    for serial in &c.serials {
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO commissioned (gtin, serial, line_id, batch) VALUES (?1, ?2, ?3, ?4)",
            params![c.gtin, serial, c.line_id, c.batch],
        )?;
        if inserted == 1 {
            outcome.added += 1;
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
         ON CONFLICT (line_id, batch) DO UPDATE SET commissioned = commissioned + ?3",
        params![c.line_id, c.batch, outcome.added as i64],
    )?;
    Ok(outcome)
}
