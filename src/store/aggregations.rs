//! Aggregation in the store: every packing, unpacking and refused frame as an event (the
//! record the audit trail covers and EPCIS exports), and the parent each child is in now
//! (`aggregated`, which the events replayed must give back). The rules are in
//! [`crate::aggregation`]; here the facts they need are fetched and the outcome recorded, in
//! the writer's transaction, so two stations cannot put one pack into two cases.

use super::digest;
use super::now_ms;
use super::sql::{Db, params};
use super::trail::{self, Action, Entry, record};
use super::tx::WriteTx;
use crate::access::Actor;
use crate::aggregation::{
    self, Child, ChildFacts, Commissioning, Kind, Reading, Reason, Sscc, child_refusal,
    parent_refusal,
};
use crate::error::{Error, Result};
use crate::proto::{AggregationResult, Symbol};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS aggregation_events (
    seq INTEGER PRIMARY KEY,
    -- 'packed', 'unpacked' or 'refused'.
    action TEXT NOT NULL,
    -- The parent's SSCC, 18 digits; empty when a refused frame named none.
    parent TEXT NOT NULL,
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    -- The children's HRI, one per line.
    children TEXT NOT NULL,
    -- Why it was refused, or why they were unpacked; one per line.
    reasons TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    \"user\" TEXT NOT NULL,
    -- A refused frame, kept as evidence (not covered by the event's digest: released within
    -- the evidence budget).
    evidence TEXT,
    evidence_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS aggregation_events_by_parent ON aggregation_events (parent, seq);
CREATE INDEX IF NOT EXISTS aggregation_events_by_batch ON aggregation_events (line_id, batch, seq);
CREATE TABLE IF NOT EXISTS aggregated (
    child TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    -- A pack's GTIN and serial (NULL for a case), for reconciliation against commissioning.
    gtin TEXT,
    serial TEXT,
    -- The event that packed it.
    event_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aggregated_by_parent ON aggregated (parent, child);
CREATE INDEX IF NOT EXISTS aggregated_packs ON aggregated (gtin, serial) WHERE gtin IS NOT NULL;
";

/// The event columns an audit entry's digest covers: all but the evidence, which the budget
/// may release.
pub(super) const EVENT_COLUMNS: &str =
    "seq, action, parent, line_id, batch, frame_id, children, reasons, at_ms, \"user\"";

/// A frame at the aggregation station, read and sorted, on its way into the store.
#[derive(Debug)]
pub struct Packing {
    pub actor: Actor,
    pub line_id: String,
    pub frame_id: String,
    pub reading: Reading,
    /// The frame's symbols as read and graded, for the answer.
    pub symbols: Vec<Symbol>,
}

/// Children to take out of a parent (all when empty), and why.
#[derive(Clone, Debug)]
pub struct Unpacking {
    pub actor: Actor,
    pub parent: Sscc,
    pub children: Vec<Child>,
    pub reason: String,
}

/// What the store made of a packing: its event (a refused one takes the frame's evidence)
/// and the answer.
#[derive(Debug)]
pub struct Packed {
    pub event: i64,
    pub result: AggregationResult,
}

/// Deepest nesting followed (a pallet of cases of bundles of packs is 3).
const MAX_DEPTH: usize = 8;

/// The parents above `parent` (its HRI first, then the pallet it is on, and so on).
fn ancestors(conn: &Db, parent: &Sscc) -> Result<Vec<String>> {
    let mut chain = vec![parent.hri()];
    while chain.len() <= MAX_DEPTH {
        let above: Option<String> = conn.optional_row(
            "SELECT parent FROM aggregated WHERE child = ?1",
            params![chain.last()],
            |r| r.get(0),
        )?;
        match above {
            Some(digits) => chain.push(format!("(00){digits}")),
            None => break,
        }
    }
    Ok(chain)
}

/// How many children `parent` holds now, and of which kind.
fn holding(conn: &Db, parent: &str) -> Result<(usize, Kind)> {
    let (count, first): (i64, Option<String>) = conn.row(
        "SELECT COUNT(*), MIN(child) FROM aggregated WHERE parent = ?1",
        params![parent],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let kind = match first {
        Some(child) if child.starts_with("(00)") => Kind::Case,
        _ => Kind::Pack,
    };
    Ok((count as usize, kind))
}

/// What the store knows of `child` for a line that does (or does not) commission serials.
fn child_facts(conn: &Db, child: &Child, commissions: bool) -> Result<ChildFacts> {
    let parent: Option<String> = conn.optional_row(
        "SELECT parent FROM aggregated WHERE child = ?1",
        params![child.hri()],
        |r| r.get(0),
    )?;
    let parent = parent.map(|digits| format!("(00){digits}"));
    let (commissioning, holds) = match child {
        Child::Pack { gtin, serial } if commissions => {
            let owner: Option<(String, String)> = conn.optional_row(
                "SELECT line_id, batch FROM commissioned WHERE gtin = ?1 AND serial = ?2",
                params![gtin, serial],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let commissioning = match owner {
                None => Commissioning::Missing,
                Some((line, batch)) => Commissioning::For { line, batch },
            };
            (commissioning, 0)
        }
        Child::Pack { .. } => (Commissioning::NotUsed, 0),
        Child::Case(sscc) => (Commissioning::NotUsed, holding(conn, sscc.digits())?.0),
    };
    Ok(ChildFacts {
        parent,
        commissioning,
        holds,
    })
}

/// Checks a packing against the store and records it: packed when every rule passes, else
/// refused with its reasons. One event and one audit entry either way.
pub(super) fn pack(tx: &WriteTx, packing: &Packing) -> Result<Packed> {
    let reading = &packing.reading;
    let conn = tx.connection();
    let mut reasons: Vec<Reason> = reading.reasons.clone();
    if let Some(parent) = &reading.parent {
        let (held, kind) = holding(conn, parent.digits())?;
        reasons.extend(parent_refusal(parent, held, kind));
        let ancestors = ancestors(conn, parent)?;
        let commissions = tx.exists(
            "SELECT 1 FROM commissioning WHERE line_id = ?1 LIMIT 1",
            params![packing.line_id],
        )?;
        for child in &reading.children {
            let facts = child_facts(conn, child, commissions)?;
            reasons.extend(child_refusal(
                child,
                &packing.line_id,
                &reading.batch,
                &ancestors,
                &facts,
            ));
        }
    }
    let pass = reasons.is_empty();
    let parent = reading.parent.as_ref().map_or("", Sscc::digits);
    let children: Vec<String> = reading.children.iter().map(Child::hri).collect();
    let words: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    let at_ms = now_ms();
    let action = if pass { "packed" } else { "refused" };
    let seq = insert_event(
        tx,
        &Event {
            action,
            parent,
            line_id: &packing.line_id,
            batch: &reading.batch,
            frame_id: &packing.frame_id,
            children: &children,
            reasons: &words,
            at_ms,
            user: &packing.actor.user,
        },
    )?;
    if pass {
        for child in &reading.children {
            let (gtin, serial) = match child {
                Child::Pack { gtin, serial } => (Some(gtin.as_str()), Some(serial.as_str())),
                Child::Case(_) => (None, None),
            };
            tx.execute(
                "INSERT INTO aggregated (child, parent, gtin, serial, event_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![child.hri(), parent, gtin, serial, seq],
            )?;
        }
    }
    let entry = Entry::new(
        packing.actor.clone(),
        if pass {
            Action::AggregationPacked
        } else {
            Action::AggregationRefused
        },
        record::aggregation_event(seq),
    )
    .after(event_digest(conn, seq)?)
    .reason(words.join("; "));
    trail::append(tx, &entry)?;
    Ok(Packed {
        event: seq,
        result: AggregationResult {
            pass,
            parent: parent.to_string(),
            count: children.len() as u32,
            children,
            reasons: words,
            line_id: packing.line_id.clone(),
            batch: reading.batch.clone(),
            frame_id: packing.frame_id.clone(),
            aggregated_unix_ms: at_ms,
            symbols: packing.symbols.clone(),
            tree: Vec::new(),
        },
    })
}

/// Takes children out of a parent, recorded as an event with the reason; the inner error
/// (nothing written) is `NotFound` when the parent holds nothing, `Refused` when a child named
/// is not in it.
pub(super) fn unpack(tx: &WriteTx, unpacking: &Unpacking) -> Result<Result<AggregationResult>> {
    let conn = tx.connection();
    let parent = unpacking.parent.digits();
    let held = children_of(conn, parent)?;
    if held.is_empty() {
        return Ok(Err(Error::NotFound(format!(
            "SSCC {} holds nothing to disaggregate",
            unpacking.parent
        ))));
    }
    let taken: Vec<String> = if unpacking.children.is_empty() {
        held.clone()
    } else {
        let mut taken = Vec::new();
        for child in &unpacking.children {
            let hri = child.hri();
            if !held.contains(&hri) {
                return Ok(Err(Error::Refused(format!(
                    "{} is not in {}",
                    child.named(),
                    unpacking.parent
                ))));
            }
            if !taken.contains(&hri) {
                taken.push(hri);
            }
        }
        taken
    };
    let (line_id, batch) = packed_by(conn, parent)?;
    let seq = insert_event(
        tx,
        &Event {
            action: "unpacked",
            parent,
            line_id: &line_id,
            batch: &batch,
            frame_id: "",
            children: &taken,
            reasons: std::slice::from_ref(&unpacking.reason),
            at_ms: now_ms(),
            user: &unpacking.actor.user,
        },
    )?;
    for child in &taken {
        tx.execute(
            "DELETE FROM aggregated WHERE child = ?1 AND parent = ?2",
            params![child, parent],
        )?;
    }
    let entry = Entry::new(
        unpacking.actor.clone(),
        Action::AggregationUnpacked,
        record::aggregation_event(seq),
    )
    .after(event_digest(conn, seq)?)
    .reason(unpacking.reason.clone());
    trail::append(tx, &entry)?;
    let left = tree(conn, &unpacking.parent)?.unwrap_or_else(|| AggregationResult {
        parent: parent.to_string(),
        line_id,
        batch,
        ..AggregationResult::default()
    });
    Ok(Ok(left))
}

/// Names the evidence file kept for a refused event.
pub(super) fn attach_evidence(tx: &WriteTx, event: i64, evidence: &super::Evidence) -> Result<()> {
    tx.execute(
        "UPDATE aggregation_events SET evidence = ?2, evidence_bytes = ?3
         WHERE seq = ?1 AND action = 'refused'",
        params![event, evidence.file_name, evidence.bytes as i64],
    )?;
    Ok(())
}

/// One event's columns, as inserted.
struct Event<'a> {
    action: &'a str,
    parent: &'a str,
    line_id: &'a str,
    batch: &'a str,
    frame_id: &'a str,
    children: &'a [String],
    reasons: &'a [String],
    at_ms: i64,
    user: &'a str,
}

fn insert_event(tx: &WriteTx, event: &Event) -> Result<i64> {
    tx.row(
        "INSERT INTO aggregation_events
             (seq, action, parent, line_id, batch, frame_id, children, reasons, at_ms, \"user\")
         VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM aggregation_events),
                 ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         RETURNING seq",
        params![
            event.action,
            event.parent,
            event.line_id,
            event.batch,
            event.frame_id,
            event.children.join("\n"),
            event.reasons.join("\n"),
            event.at_ms,
            event.user
        ],
        |r| r.get(0),
    )
}

/// The digest an audit entry records of an event.
pub(super) fn event_digest(conn: &Db, seq: i64) -> Result<String> {
    conn.row(
        &format!("SELECT {EVENT_COLUMNS} FROM aggregation_events WHERE seq = ?1"),
        params![seq],
        digest::of_row,
    )
}

/// The children `parent` (digits) holds now, in order.
fn children_of(conn: &Db, parent: &str) -> Result<Vec<String>> {
    conn.rows(
        "SELECT child FROM aggregated WHERE parent = ?1 ORDER BY child",
        params![parent],
        |r| r.get(0),
    )
}

/// The line and batch of the parent's latest packing.
fn packed_by(conn: &Db, parent: &str) -> Result<(String, String)> {
    Ok(conn
        .optional_row(
            "SELECT line_id, batch FROM aggregation_events
             WHERE parent = ?1 AND action = 'packed' ORDER BY seq DESC LIMIT 1",
            params![parent],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or_default())
}

/// A parent and everything under it; `None` when it was never packed.
pub(super) fn tree(conn: &Db, parent: &Sscc) -> Result<Option<AggregationResult>> {
    subtree(conn, parent.digits(), 0)
}

fn subtree(conn: &Db, parent: &str, depth: usize) -> Result<Option<AggregationResult>> {
    let packing: Option<(String, String, String, i64)> = conn.optional_row(
        "SELECT line_id, batch, frame_id, at_ms FROM aggregation_events
         WHERE parent = ?1 AND action = 'packed' ORDER BY seq DESC LIMIT 1",
        params![parent],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let Some((line_id, batch, frame_id, at_ms)) = packing else {
        return Ok(None);
    };
    let children = children_of(conn, parent)?;
    let mut tree = Vec::new();
    if depth < MAX_DEPTH {
        for child in &children {
            if let Some(sscc) = child.strip_prefix("(00)")
                && let Some(below) = subtree(conn, sscc, depth + 1)?
            {
                tree.push(below);
            }
        }
    }
    Ok(Some(AggregationResult {
        pass: !children.is_empty(),
        parent: parent.to_string(),
        count: children.len() as u32,
        children,
        line_id,
        batch,
        frame_id,
        aggregated_unix_ms: at_ms,
        tree,
        ..AggregationResult::default()
    }))
}

/// Packs aggregated, cases (parents of packs) holding them, and commissioned packs verified
/// but in no case, for one line and batch.
pub(super) fn counts(conn: &Db, line_id: &str, batch: &str) -> Result<(u64, u64, u64)> {
    let (packs, cases): (i64, i64) = conn.row(
        "SELECT COUNT(*), COUNT(DISTINCT a.parent) FROM aggregated a
         JOIN aggregation_events e ON e.seq = a.event_seq
         WHERE a.gtin IS NOT NULL AND e.line_id = ?1 AND e.batch = ?2",
        params![line_id, batch],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let loose: i64 = conn.row(
        "SELECT COUNT(*) FROM commissioned c
         WHERE c.line_id = ?1 AND c.batch = ?2 AND c.verified_seq IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM aggregated a
                           WHERE a.gtin = c.gtin AND a.serial = c.serial)",
        params![line_id, batch],
        |r| r.get(0),
    )?;
    Ok((packs as u64, cases as u64, loose as u64))
}

/// The parent each child is in, as the events replayed give it, against `aggregated`: every
/// difference in words (a row changed, added or removed outside verigrade).
pub(super) fn check_replay(conn: &Db) -> Result<Vec<String>> {
    use std::collections::BTreeMap;
    let mut expected: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let events: Vec<(i64, String, String, String)> = conn.rows(
        "SELECT seq, action, parent, children FROM aggregation_events
         WHERE action IN ('packed', 'unpacked') ORDER BY seq",
        params![],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )?;
    for (seq, action, parent, children) in events {
        for child in children.lines() {
            if action == "packed" {
                expected.insert(child.to_string(), (parent.clone(), seq));
            } else {
                expected.remove(child);
            }
        }
    }
    let mut problems = Vec::new();
    let held: Vec<(String, String, i64)> = conn.rows(
        "SELECT child, parent, event_seq FROM aggregated",
        params![],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    for (child, parent, seq) in held {
        match expected.remove(&child) {
            Some(recorded) if recorded == (parent.clone(), seq) => {}
            Some((recorded, _)) => problems.push(format!(
                "{child}: in (00){parent}, but the aggregation events put it in (00){recorded}"
            )),
            None => problems.push(format!(
                "{child}: in (00){parent}, but no aggregation event put it there"
            )),
        }
    }
    for (child, (parent, seq)) in expected {
        problems.push(format!(
            "{child}: aggregation event {seq} put it in (00){parent}, and it is missing"
        ));
    }
    Ok(problems)
}

/// Why a child named in a request cannot be parsed, for INVALID_ARGUMENT.
pub fn parse_children(children: &[String]) -> Result<Vec<Child>> {
    children
        .iter()
        .map(|hri| {
            aggregation::Child::parse(hri).map_err(|reason| Error::InvalidId {
                field: "children",
                reason,
            })
        })
        .collect()
}
