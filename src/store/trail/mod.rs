//! The audit trail: every change to the store's records, append-only and hash-chained. Each
//! entry holds the SHA-256 of the entry before it and of its own content, so an entry edited,
//! removed or inserted breaks the chain; the records an entry concerns carry a digest of their
//! content in it, so a record edited, removed or inserted outside verigrade no longer matches
//! ([`verify`]).
//!
//! Entries are appended inside the transaction that changes the record, by whoever writes it:
//! the service's writer thread, or a local command (`token create`) while the service runs.
//! Writers take the database's write lock as their transaction begins (SQLite's, or on
//! PostgreSQL an advisory lock every node takes), so the chain stays one line.

mod verify;

pub use verify::{Verification, verify};

use super::digest::Digest;
use super::now_ms;
use super::sql::{Db, Row, Value, params};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::error::{Error, Result};
use crate::proto::AuditEntry;
use std::ops::ControlFlow;
use std::path::Path;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    \"user\" TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    record TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    reason TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
";

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// File in the data directory holding the newest entry's sequence and hash as last committed:
/// a chain cut short at its end is still a valid chain, this says it was longer.
pub const HEAD_FILE: &str = "audit-head";

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The trail starts on a store that already held records (made before the trail existed).
    TrailBegun,
    /// The service started: its configuration and profiles.
    ServerStarted,
    ServerStopped,
    VerdictStored,
    SerialsCommissioned,
    AlarmRaised,
    /// An alarm that existed before the trail began.
    AlarmPredates,
    /// An alarm's condition went away.
    AlarmReturned,
    AlarmAcknowledged,
    LimitsFrozen,
    TokenCreated,
    TokenRevoked,
    /// An evidence frame deleted to keep the evidence within its budget.
    EvidenceDeleted,
    /// A call refused: no valid token, or outside its role.
    AccessDenied,
    BatchClosed,
    BatchReopened,
    /// Children put into a parent (a case, a pallet).
    AggregationPacked,
    /// Children taken out of a parent, with the reason.
    AggregationUnpacked,
    /// An aggregation frame refused, with its reasons.
    AggregationRefused,
}

impl Action {
    pub const ALL: [Action; 19] = [
        Action::TrailBegun,
        Action::ServerStarted,
        Action::ServerStopped,
        Action::VerdictStored,
        Action::SerialsCommissioned,
        Action::AlarmRaised,
        Action::AlarmPredates,
        Action::AlarmReturned,
        Action::AlarmAcknowledged,
        Action::LimitsFrozen,
        Action::TokenCreated,
        Action::TokenRevoked,
        Action::EvidenceDeleted,
        Action::AccessDenied,
        Action::BatchClosed,
        Action::BatchReopened,
        Action::AggregationPacked,
        Action::AggregationUnpacked,
        Action::AggregationRefused,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::TrailBegun => "trail.begun",
            Action::ServerStarted => "server.started",
            Action::ServerStopped => "server.stopped",
            Action::VerdictStored => "verdict.stored",
            Action::SerialsCommissioned => "serials.commissioned",
            Action::AlarmRaised => "alarm.raised",
            Action::AlarmPredates => "alarm.predates",
            Action::AlarmReturned => "alarm.returned",
            Action::AlarmAcknowledged => "alarm.acknowledged",
            Action::LimitsFrozen => "limits.frozen",
            Action::TokenCreated => "token.created",
            Action::TokenRevoked => "token.revoked",
            Action::EvidenceDeleted => "evidence.deleted",
            Action::AccessDenied => "access.denied",
            Action::BatchClosed => "batch.closed",
            Action::BatchReopened => "batch.reopened",
            Action::AggregationPacked => "aggregation.packed",
            Action::AggregationUnpacked => "aggregation.unpacked",
            Action::AggregationRefused => "aggregation.refused",
        }
    }

    pub fn named(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// How entries name the records they concern. Ids are quoted as Rust quotes strings, so no two
/// records share a name whatever their ids hold.
pub mod record {
    pub fn verdict(seq: i64) -> String {
        format!("verdict {seq}")
    }
    pub fn alarm(id: i64) -> String {
        format!("alarm {id}")
    }
    pub fn token(id: i64) -> String {
        format!("token {id}")
    }
    pub fn batch(line_id: &str, batch: &str) -> String {
        format!("batch {line_id:?} {batch:?}")
    }
    pub fn commissioning(line_id: &str, batch: &str) -> String {
        format!("commissioning {line_id:?} {batch:?}")
    }
    pub fn aggregation_event(seq: i64) -> String {
        format!("aggregation event {seq}")
    }
    pub fn line(line_id: &str) -> String {
        format!("line {line_id:?}")
    }
}

/// One entry to append.
#[derive(Clone, Debug)]
pub struct Entry {
    pub actor: Actor,
    pub action: Action,
    /// The record it concerns ([`record`]); empty for the service's own events.
    pub record: String,
    /// The record before and after the change: a digest where the record is in the store,
    /// words or JSON where it is not.
    pub before: String,
    pub after: String,
    /// Why, where the action requires a reason.
    pub reason: String,
}

impl Entry {
    pub fn new(actor: Actor, action: Action, record: impl Into<String>) -> Entry {
        Entry {
            actor,
            action,
            record: record.into(),
            before: String::new(),
            after: String::new(),
            reason: String::new(),
        }
    }

    pub fn after(mut self, after: impl Into<String>) -> Entry {
        self.after = after.into();
        self
    }

    pub fn before(mut self, before: impl Into<String>) -> Entry {
        self.before = before.into();
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Entry {
        self.reason = reason.into();
        self
    }
}

/// The stored fields of an entry, as hashed.
struct Fields<'a> {
    seq: i64,
    at_ms: i64,
    user: &'a str,
    role: &'a str,
    action: &'a str,
    record: &'a str,
    before: &'a str,
    after: &'a str,
    reason: &'a str,
    prev_hash: &'a str,
}

impl Fields<'_> {
    fn hash(&self) -> String {
        Digest::new()
            .integer(self.seq)
            .integer(self.at_ms)
            .text(self.user)
            .text(self.role)
            .text(self.action)
            .text(self.record)
            .text(self.before)
            .text(self.after)
            .text(self.reason)
            .text(self.prev_hash)
            .hex()
    }
}

/// The newest entry's sequence and hash.
pub fn head(conn: &Db) -> Result<Option<(i64, String)>> {
    conn.optional_row(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

fn head_in(tx: &WriteTx) -> Result<Option<(i64, String)>> {
    tx.optional_row(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The sequence the next entry appended in `tx` will have.
pub(super) fn next_seq(tx: &WriteTx) -> Result<i64> {
    Ok(head_in(tx)?.map_or(1, |(seq, _)| seq + 1))
}

/// Appends an entry in `tx`; its sequence.
pub fn append(tx: &WriteTx, entry: &Entry) -> Result<i64> {
    let (seq, prev_hash) = head_in(tx)?.map_or((1, GENESIS.to_string()), |(s, h)| (s + 1, h));
    let fields = Fields {
        seq,
        at_ms: now_ms(),
        user: &entry.actor.user,
        role: entry.actor.role.name(),
        action: entry.action.name(),
        record: &entry.record,
        before: &entry.before,
        after: &entry.after,
        reason: &entry.reason,
        prev_hash: &prev_hash,
    };
    let hash = fields.hash();
    tx.execute(
        "INSERT INTO audit (seq, at_ms, \"user\", role, action, record, before, after, reason,
                            prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            seq,
            fields.at_ms,
            fields.user,
            fields.role,
            fields.action,
            fields.record,
            fields.before,
            fields.after,
            fields.reason,
            prev_hash,
            hash
        ],
    )?;
    Ok(seq)
}

/// Records the committed head in `data_dir`'s [`HEAD_FILE`] (written aside, then renamed into
/// place, so it is always whole). Losing the last update in a crash leaves an older head,
/// which is still true of the chain.
pub fn save_head(conn: &Db, data_dir: &Path) -> Result<()> {
    let Some((seq, hash)) = head(conn)? else {
        return Ok(());
    };
    let path = data_dir.join(HEAD_FILE);
    let aside = data_dir.join(format!("{HEAD_FILE}.new"));
    std::fs::write(&aside, format!("{seq} {hash}\n"))
        .and_then(|()| std::fs::rename(&aside, &path))
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
}

/// The head recorded in `data_dir`, if any.
pub fn saved_head(data_dir: &Path) -> Result<Option<(i64, String)>> {
    let path = data_dir.join(HEAD_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let mut words = text.split_whitespace();
    match (words.next().map(str::parse), words.next()) {
        (Some(Ok(seq)), Some(hash)) => Ok(Some((seq, hash.to_string()))),
        _ => Err(Error::Store(format!(
            "{} does not hold a sequence and a hash",
            path.display()
        ))),
    }
}

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub since_ms: i64,
    /// Empty: every user.
    pub user: String,
    /// Empty: every action.
    pub action: String,
    /// Only entries after this sequence (oldest-first paging).
    pub after_seq: i64,
    pub limit: usize,
}

/// Entries matching `query`, oldest first.
pub fn list(conn: &Db, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    conn.rows(
        "SELECT seq, at_ms, \"user\", role, action, record, before, after, reason, prev_hash, hash
         FROM audit
         WHERE seq > ?1 AND at_ms >= ?2 AND (?3 = '' OR \"user\" = ?3) AND (?4 = '' OR action = ?4)
         ORDER BY seq LIMIT ?5",
        params![
            query.after_seq,
            query.since_ms,
            query.user,
            query.action,
            query.limit
        ],
        |r| {
            Ok(AuditEntry {
                sequence: r.get::<u64>(0)?,
                unix_ms: r.get(1)?,
                user: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                record: r.get(5)?,
                before: r.get(6)?,
                after: r.get(7)?,
                reason: r.get(8)?,
                prev_hash: r.get(9)?,
                hash: r.get(10)?,
            })
        },
    )
}

/// The digest a `verdict.stored` entry records: every column of the verdict but its evidence
/// ones, which the evidence budget may clear later (recorded as `evidence.deleted`).
pub fn verdict_digest(
    seq: i64,
    line_id: &str,
    frame_id: &str,
    stored_ms: i64,
    pass: bool,
    record: &[u8],
) -> String {
    Digest::new()
        .integer(seq)
        .text(line_id)
        .text(frame_id)
        .integer(stored_ms)
        .integer(i64::from(pass))
        .blob(record)
        .hex()
}

/// The columns [`verdict_digest`] covers, in its order.
pub const VERDICT_COLUMNS: &str = "seq, line_id, frame_id, stored_ms, pass, record";

/// [`verdict_digest`] of a row selected with [`VERDICT_COLUMNS`] first.
pub fn verdict_row_digest(row: &Row) -> Result<String> {
    let Some(Value::Blob(record)) = row.value(5) else {
        return Err(Error::Store("a verdict row has no record".into()));
    };
    Ok(verdict_digest(
        row.get(0)?,
        &row.get::<String>(1)?,
        &row.get::<String>(2)?,
        row.get(3)?,
        row.get(4)?,
        record,
    ))
}

/// A commissioning's serials, as its `serials.commissioned` entry records them: each row's
/// GTIN, serial, line and batch, in (GTIN, serial) order.
#[derive(Default)]
pub struct SerialsDigest(Option<Digest>);

impl SerialsDigest {
    pub fn add(&mut self, gtin: &str, serial: &str, line_id: &str, batch: &str) {
        self.0
            .get_or_insert_with(Digest::new)
            .text(gtin)
            .text(serial)
            .text(line_id)
            .text(batch);
    }

    /// Adds a row selected as `gtin, serial, line_id, batch`.
    pub fn add_row(&mut self, row: &Row) -> Result<()> {
        self.add(
            &row.get::<String>(0)?,
            &row.get::<String>(1)?,
            &row.get::<String>(2)?,
            &row.get::<String>(3)?,
        );
        Ok(())
    }

    pub fn hex(&self) -> String {
        self.0
            .as_ref()
            .map_or_else(|| Digest::new().hex(), Digest::hex)
    }
}

/// What a `trail.begun` entry records of the store as the trail found it.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Predating {
    /// Verdicts with a sequence up to this one were stored before the trail began.
    pub verdicts_through: i64,
    pub verdicts_sha256: String,
    /// The serials commissioned before the trail began (their `audit_seq` is NULL).
    pub commissioned_sha256: String,
}

/// Digest of the verdicts up to `through`, as [`Predating`] records it.
fn predating_verdicts(conn: &Db, through: i64) -> Result<String> {
    let mut digest = Digest::new();
    conn.each_row(
        &format!("SELECT {VERDICT_COLUMNS} FROM verdicts WHERE seq <= ?1 ORDER BY seq"),
        params![through],
        |row| {
            digest.text(&verdict_row_digest(row)?);
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(digest.hex())
}

/// Digest and count of the serials commissioned before the trail began.
fn predating_serials(conn: &Db) -> Result<(SerialsDigest, u64)> {
    let mut digest = SerialsDigest::default();
    let mut count = 0;
    conn.each_row(
        "SELECT gtin, serial, line_id, batch FROM commissioned WHERE audit_seq IS NULL
         ORDER BY gtin, serial",
        params![],
        |row| {
            digest.add_row(row)?;
            count += 1;
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok((digest, count))
}

/// Starts the trail on a store that has none. A store made before the trail existed gets a
/// `trail.begun` entry with digests of what it already holds (and an entry per alarm), so
/// those records are covered too.
pub(super) fn begin(conn: &Db) -> Result<()> {
    if head(conn)?.is_some() {
        return Ok(());
    }
    let tx = WriteTx::begin(conn)?;
    if head_in(&tx)?.is_some() {
        return Ok(());
    }
    let through: i64 = tx.row(
        "SELECT COALESCE(MAX(seq), 0) FROM verdicts",
        params![],
        |r| r.get(0),
    )?;
    let alarms: Vec<i64> = tx.rows_until(
        "SELECT id FROM alarms ORDER BY id",
        params![],
        |r| r.get(0),
        |_| false,
    )?;
    let (commissioned, predating_serials) = predating_serials(tx.connection())?;
    if through == 0 && alarms.is_empty() && predating_serials == 0 {
        return Ok(());
    }
    let predating = Predating {
        verdicts_through: through,
        verdicts_sha256: predating_verdicts(tx.connection(), through)?,
        commissioned_sha256: commissioned.hex(),
    };
    let after = serde_json::to_string(&predating).map_err(|e| Error::Internal(e.to_string()))?;
    let entry = Entry::new(Actor::system(), Action::TrailBegun, "")
        .after(after)
        .reason("the store held records made before it had an audit trail");
    append(&tx, &entry)?;
    for id in alarms {
        let digest = tx.row(
            "SELECT * FROM alarms WHERE id = ?1",
            params![id],
            super::digest::of_row,
        )?;
        append(
            &tx,
            &Entry::new(Actor::system(), Action::AlarmPredates, record::alarm(id)).after(digest),
        )?;
    }
    tx.commit()
}
