//! Batch closure: a qa user's electronic signature of a batch. Closing freezes the batch's
//! reconciliation and records who signed, when, with what meaning and the SHA-256 of the
//! batch's records in the audit trail; from then on the batch takes no passing verdict.
//! Reopening needs a reason, and is recorded too.

use super::digest::{self, Digest};
use super::now_ms;
use super::serials::{self, Reconciliation};
use super::sql::{Db, Row, Value, params};
use super::trail::{self, Action, Entry, SerialsDigest, record};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batch_closures (
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    closed INTEGER NOT NULL,
    meaning TEXT NOT NULL,
    \"user\" TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    records_sha256 TEXT NOT NULL,
    frozen TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (line_id, batch)
) WITHOUT ROWID;
";

/// What a signature means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    Approved,
    Reviewed,
}

impl Meaning {
    pub fn name(self) -> &'static str {
        match self {
            Meaning::Approved => "approved",
            Meaning::Reviewed => "reviewed",
        }
    }

    pub fn named(name: &str) -> Option<Meaning> {
        [Meaning::Approved, Meaning::Reviewed]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// A batch's closure as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Closure {
    pub line_id: String,
    pub batch: String,
    pub closed: bool,
    pub meaning: String,
    pub user: String,
    pub at_ms: i64,
    /// The last verdict sequence the signature covers.
    pub last_seq: i64,
    pub records_sha256: String,
    /// The reconciliation at signing.
    pub frozen: Reconciliation,
    pub reason: String,
    /// The audit entry that recorded it (0 when read back without it).
    pub audit_seq: i64,
}

const COLUMNS: &str =
    "line_id, batch, closed, meaning, \"user\", at_ms, last_seq, records_sha256, frozen, reason";

fn row_closure(row: &Row) -> Result<Closure> {
    let frozen: String = row.get(8)?;
    Ok(Closure {
        line_id: row.get(0)?,
        batch: row.get(1)?,
        closed: row.get(2)?,
        meaning: row.get(3)?,
        user: row.get(4)?,
        at_ms: row.get(5)?,
        last_seq: row.get(6)?,
        records_sha256: row.get(7)?,
        frozen: serde_json::from_str(&frozen).unwrap_or_default(),
        reason: row.get(9)?,
        audit_seq: 0,
    })
}

/// The closure of a line's batch, if it was ever closed.
pub fn closure(conn: &Db, line_id: &str, batch: &str) -> Result<Option<Closure>> {
    conn.optional_row(
        &format!("SELECT {COLUMNS} FROM batch_closures WHERE line_id = ?1 AND batch = ?2"),
        params![line_id, batch],
        row_closure,
    )
}

/// Every closure, for verification.
pub(super) fn all(conn: &Db) -> Result<Vec<Closure>> {
    conn.rows(
        &format!("SELECT {COLUMNS} FROM batch_closures ORDER BY line_id, batch"),
        params![],
        row_closure,
    )
}

/// The digest of a closure's row, as its audit entries record it.
pub(super) fn row_digest(conn: &Db, line_id: &str, batch: &str) -> Result<String> {
    conn.row(
        "SELECT * FROM batch_closures WHERE line_id = ?1 AND batch = ?2",
        params![line_id, batch],
        digest::of_row,
    )
}

/// The SHA-256 a signature covers: each verdict of the line's batch up to `last_seq` (its
/// stored content, as the audit trail's digest of it), then the batch's commissioned serials.
pub(super) fn records_sha256(
    conn: &Db,
    line_id: &str,
    batch: &str,
    last_seq: i64,
) -> Result<String> {
    let mut digest = Digest::new();
    conn.each_row(
        &format!(
            "SELECT {} FROM verdicts WHERE line_id = ?1 AND seq <= ?2 ORDER BY seq",
            trail::VERDICT_COLUMNS
        ),
        params![line_id, last_seq],
        |row| {
            let of_batch = match row.value(5) {
                Some(Value::Blob(record)) => {
                    Verdict::decode(record.as_slice()).is_ok_and(|v| v.batch == batch)
                }
                _ => false,
            };
            if of_batch {
                digest.text(&trail::verdict_row_digest(row)?);
            }
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    let mut serials = SerialsDigest::default();
    conn.each_row(
        "SELECT gtin, serial FROM commissioned WHERE line_id = ?1 AND batch = ?2
         ORDER BY gtin, serial",
        params![line_id, batch],
        |row| {
            serials.add(
                &row.get::<String>(0)?,
                &row.get::<String>(1)?,
                line_id,
                batch,
            );
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    digest.text(&serials.hex());
    Ok(digest.hex())
}

/// Closes a line's batch, signed by `actor` with `meaning`. The inner error refuses it (closed
/// already, no such batch); the outer one fails the store's batch.
pub(super) fn close(
    tx: &WriteTx,
    line_id: &str,
    batch: &str,
    meaning: Meaning,
    actor: &Actor,
) -> Result<Result<Closure>> {
    let conn = tx.connection();
    if let Some(before) = closure(conn, line_id, batch)?
        && before.closed
    {
        return Ok(Err(Error::Refused(format!(
            "batch {batch} on line {line_id} was closed already, by {} at {} ({})",
            before.user,
            super::rfc3339(before.at_ms),
            before.meaning
        ))));
    }
    let Some(frozen) = serials::reconcile(conn, line_id, batch)?.into_iter().next() else {
        return Ok(Err(Error::NotFound(format!(
            "line {line_id} has no batch {batch}: no frame or commissioned serial names it"
        ))));
    };
    let before = row_digest(conn, line_id, batch).ok();
    let last_seq: i64 = tx.row(
        "SELECT COALESCE(MAX(seq), 0) FROM verdicts",
        params![],
        |r| r.get(0),
    )?;
    let records = records_sha256(conn, line_id, batch, last_seq)?;
    let at_ms = now_ms();
    let frozen_json = serde_json::to_string(&frozen).map_err(|e| Error::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO batch_closures
            (line_id, batch, closed, meaning, \"user\", at_ms, last_seq, records_sha256, frozen, reason)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, '')
         ON CONFLICT (line_id, batch) DO UPDATE SET closed = 1, meaning = excluded.meaning,
            \"user\" = excluded.\"user\", at_ms = excluded.at_ms, last_seq = excluded.last_seq,
            records_sha256 = excluded.records_sha256, frozen = excluded.frozen, reason = ''",
        params![
            line_id,
            batch,
            meaning.name(),
            actor.user,
            at_ms,
            last_seq,
            records,
            frozen_json
        ],
    )?;
    let entry = Entry::new(
        actor.clone(),
        Action::BatchClosed,
        record::batch(line_id, batch),
    )
    .before(before.unwrap_or_default())
    .after(row_digest(conn, line_id, batch)?)
    .reason(format!(
        "signed {}: records SHA-256 {records}, {} frames, {} passed",
        meaning.name(),
        frozen.frames,
        frozen.passed
    ));
    let audit_seq = trail::append(tx, &entry)?;
    Ok(Ok(Closure {
        line_id: line_id.into(),
        batch: batch.into(),
        closed: true,
        meaning: meaning.name().into(),
        user: actor.user.clone(),
        at_ms,
        last_seq,
        records_sha256: records,
        frozen,
        reason: String::new(),
        audit_seq,
    }))
}

/// Reopens a closed batch, for `reason`; errors as [`close`].
pub(super) fn reopen(
    tx: &WriteTx,
    line_id: &str,
    batch: &str,
    reason: &str,
    actor: &Actor,
) -> Result<Result<Closure>> {
    if reason.trim().is_empty() {
        return Ok(Err(Error::MissingField("reason")));
    }
    let conn = tx.connection();
    let Some(mut closure) = closure(conn, line_id, batch)?.filter(|c| c.closed) else {
        return Ok(Err(Error::Refused(format!(
            "batch {batch} on line {line_id} is not closed"
        ))));
    };
    let before = row_digest(conn, line_id, batch)?;
    tx.execute(
        "UPDATE batch_closures SET closed = 0, reason = ?3 WHERE line_id = ?1 AND batch = ?2",
        params![line_id, batch, reason],
    )?;
    let entry = Entry::new(
        actor.clone(),
        Action::BatchReopened,
        record::batch(line_id, batch),
    )
    .before(before)
    .after(row_digest(conn, line_id, batch)?)
    .reason(reason);
    closure.audit_seq = trail::append(tx, &entry)?;
    closure.closed = false;
    closure.reason = reason.into();
    Ok(Ok(closure))
}

/// A verdict for a closed batch fails, naming who closed it and when.
pub(super) fn check_open(tx: &WriteTx, verdict: &mut Verdict) -> Result<()> {
    if verdict.batch.is_empty() {
        return Ok(());
    }
    let Some(closure) = closure(tx.connection(), &verdict.line_id, &verdict.batch)? else {
        return Ok(());
    };
    if closure.closed {
        verdict.pass = false;
        verdict.reasons.push(
            crate::verdict::Reason::BatchClosed {
                batch: closure.batch,
                user: closure.user,
                at: super::rfc3339(closure.at_ms),
            }
            .to_string(),
        );
    }
    Ok(())
}
