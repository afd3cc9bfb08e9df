//! Batch closure: a qa user's electronic signature of a batch. Closing freezes the batch's
//! reconciliation and records who signed, when, with what meaning and the SHA-256 of the
//! batch's records in the audit trail; from then on the batch takes no passing verdict.
//! Reopening needs a reason, and is recorded too.

use super::digest::{self, Digest};
use super::now_ms;
use super::serials::{self, Reconciliation};
use super::trail::{self, Action, Entry, SerialsDigest, record};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batch_closures (
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    closed INTEGER NOT NULL,
    meaning TEXT NOT NULL,
    user TEXT NOT NULL,
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
    "line_id, batch, closed, meaning, user, at_ms, last_seq, records_sha256, frozen, reason";

fn row_closure(row: &rusqlite::Row) -> rusqlite::Result<Closure> {
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
pub fn closure(conn: &Connection, line_id: &str, batch: &str) -> Result<Option<Closure>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM batch_closures WHERE line_id = ?1 AND batch = ?2"
        ))?
        .query_row(params![line_id, batch], row_closure)
        .optional()?)
}

/// Every closure, for verification.
pub(super) fn all(conn: &Connection) -> Result<Vec<Closure>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM batch_closures ORDER BY line_id, batch"
    ))?;
    let rows = statement.query_map([], row_closure)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The digest of a closure's row, as its audit entries record it.
pub(super) fn row_digest(conn: &Connection, line_id: &str, batch: &str) -> Result<String> {
    Ok(conn.query_row(
        "SELECT * FROM batch_closures WHERE line_id = ?1 AND batch = ?2",
        params![line_id, batch],
        digest::of_row,
    )?)
}

/// The SHA-256 a signature covers: each verdict of the line's batch up to `last_seq` (its
/// stored content, as the audit trail's digest of it), then the batch's commissioned serials.
pub(super) fn records_sha256(
    conn: &Connection,
    line_id: &str,
    batch: &str,
    last_seq: i64,
) -> Result<String> {
    let mut digest = Digest::new();
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {} FROM verdicts WHERE line_id = ?1 AND seq <= ?2 ORDER BY seq",
        trail::VERDICT_COLUMNS
    ))?;
    let mut rows = statement.query(params![line_id, last_seq])?;
    while let Some(row) = rows.next()? {
        let record = row.get_ref(5)?.as_blob().map_err(rusqlite::Error::from)?;
        let of_batch = Verdict::decode(record).is_ok_and(|v| v.batch == batch);
        if of_batch {
            digest.text(&trail::verdict_row_digest(row)?);
        }
    }
    let mut serials = SerialsDigest::default();
    let mut statement = conn.prepare_cached(
        "SELECT gtin, serial FROM commissioned WHERE line_id = ?1 AND batch = ?2
         ORDER BY gtin, serial",
    )?;
    let mut rows = statement.query(params![line_id, batch])?;
    while let Some(row) = rows.next()? {
        serials.add(
            row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?,
            row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?,
            line_id,
            batch,
        );
    }
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
    let last_seq: i64 = tx.row("SELECT COALESCE(MAX(seq), 0) FROM verdicts", [], |r| {
        r.get(0)
    })?;
    let records = records_sha256(conn, line_id, batch, last_seq)?;
    let at_ms = now_ms();
    let frozen_json = serde_json::to_string(&frozen).map_err(|e| Error::Internal(e.to_string()))?;
    tx.execute(
        "INSERT OR REPLACE INTO batch_closures
            (line_id, batch, closed, meaning, user, at_ms, last_seq, records_sha256, frozen, reason)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, '')",
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
