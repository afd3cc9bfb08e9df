//! `audit verify`: walks the chain, then every record the chain covers, and names each break.

use super::{Action, Fields, GENESIS, Predating, SerialsDigest, record, verdict_row_digest};
use crate::error::Result;
use crate::proto::Verdict;
use crate::store::digest::{self, Digest};
use crate::store::sql::{Db, Value, params};
use crate::store::{aggregations, closures};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow::Continue;

/// What a verification found.
#[derive(Debug, Default)]
pub struct Verification {
    pub entries: i64,
    /// The newest entry's sequence and hash: an inspector notes it, and a later verification
    /// must reach it.
    pub head: Option<(i64, String)>,
    /// Every break, in words, the chain's first: empty when the trail and its records are intact.
    pub problems: Vec<String>,
}

/// An entry's sequence and the digest it records of its record.
type Recorded = (i64, String);

/// What the chain says of the records, gathered as it is walked.
#[derive(Default)]
struct Covered {
    verdicts: HashMap<String, Recorded>,
    /// The newest entry of each alarm, token and batch closure.
    latest: HashMap<String, Recorded>,
    /// Each commissioning entry, by sequence: its record and digest.
    commissionings: HashMap<i64, (String, String)>,
    /// Each aggregation event's entry.
    aggregation_events: HashMap<String, Recorded>,
    evidence_deleted: HashSet<String>,
    predating: Option<(i64, Predating)>,
}

/// Verifies the chain in `conn` and the records it covers; `saved_head` is the head last
/// recorded beside the store, which the chain must still hold.
pub fn verify(conn: &Db, saved_head: Option<(i64, String)>) -> Result<Verification> {
    let mut found = Verification::default();
    let covered = walk_chain(conn, &mut found)?;
    if let Some((seq, hash)) = saved_head {
        let last = found.head.as_ref().map_or(0, |(s, _)| *s);
        found
            .problems
            .extend(check_saved_head(conn, seq, &hash, last)?);
    }
    check_records(conn, covered, &mut found.problems)?;
    Ok(found)
}

fn walk_chain(conn: &Db, found: &mut Verification) -> Result<Covered> {
    let mut covered = Covered::default();
    let mut previous: (i64, String) = (0, GENESIS.to_string());
    conn.each_row(
        "SELECT seq, at_ms, \"user\", role, action, record, before, after, reason, prev_hash, hash
         FROM audit ORDER BY seq",
        params![],
        |row| {
        let text = |i| match row.value(i) {
            Some(Value::Text(text)) => Ok(text.as_str()),
            other => Err(crate::error::Error::Store(format!(
                "audit column {i} holds {other:?}, not text"
            ))),
        };
        let fields = Fields {
            seq: row.get(0)?,
            at_ms: row.get(1)?,
            user: text(2)?,
            role: text(3)?,
            action: text(4)?,
            record: text(5)?,
            before: text(6)?,
            after: text(7)?,
            reason: text(8)?,
            prev_hash: text(9)?,
        };
        let hash = text(10)?;
        let seq = fields.seq;
        let named = format!("entry {seq} ({} {})", fields.action, fields.record);
        if seq != previous.0 + 1 {
            found.problems.push(format!(
                "entry {}: missing, the chain goes from entry {} to entry {seq}: entries were removed",
                previous.0 + 1,
                previous.0
            ));
        } else if fields.prev_hash != previous.1 {
            found.problems.push(format!(
                "{named}: does not follow entry {}: that entry was changed, removed or inserted",
                previous.0
            ));
        }
        if fields.hash() != hash {
            found.problems.push(format!(
                "{named}: its content does not match its hash: it was changed"
            ));
        }
        cover(&mut covered, &fields, found)?;
        previous = (seq, hash.to_string());
        found.entries += 1;
        Ok(Continue(()))
        },
    )?;
    found.head = (previous.0 > 0).then_some(previous);
    Ok(covered)
}

/// Notes what an entry says of its record.
fn cover(covered: &mut Covered, fields: &Fields, found: &mut Verification) -> Result<()> {
    let recorded = (fields.seq, fields.after.to_string());
    match Action::named(fields.action) {
        Some(Action::VerdictStored) => {
            covered.verdicts.insert(fields.record.into(), recorded);
        }
        Some(
            Action::AlarmRaised
            | Action::AlarmPredates
            | Action::AlarmReturned
            | Action::AlarmAcknowledged
            | Action::TokenCreated
            | Action::TokenRevoked
            | Action::BatchClosed
            | Action::BatchReopened,
        ) => {
            covered.latest.insert(fields.record.into(), recorded);
        }
        Some(
            Action::AggregationPacked | Action::AggregationUnpacked | Action::AggregationRefused,
        ) => {
            covered
                .aggregation_events
                .insert(fields.record.into(), recorded);
        }
        Some(Action::SerialsCommissioned) => {
            covered
                .commissionings
                .insert(fields.seq, (fields.record.into(), fields.after.into()));
        }
        Some(Action::EvidenceDeleted) => {
            covered.evidence_deleted.insert(fields.record.into());
        }
        Some(Action::TrailBegun) => match serde_json::from_str(fields.after) {
            Ok(predating) => covered.predating = Some((fields.seq, predating)),
            Err(_) => found.problems.push(format!(
                "entry {} (trail.begun): its record of the earlier store is unreadable",
                fields.seq
            )),
        },
        Some(
            Action::ServerStarted
            | Action::ServerStopped
            | Action::LimitsFrozen
            | Action::AccessDenied,
        ) => {}
        None => found.problems.push(format!(
            "entry {}: unknown action {:?}",
            fields.seq, fields.action
        )),
    }
    Ok(())
}

/// The head recorded beside the store must still be in the chain, unchanged.
fn check_saved_head(conn: &Db, seq: i64, hash: &str, last: i64) -> Result<Vec<String>> {
    let stored: Option<String> =
        conn.optional_row("SELECT hash FROM audit WHERE seq = ?1", params![seq], |r| {
            r.get(0)
        })?;
    Ok(match stored {
        None => vec![format!(
            "entry {seq}: missing, the chain ends at entry {last} but entry {seq} was committed \
             (audit-head): entries were removed from its end"
        )],
        Some(stored) if stored != hash => vec![format!(
            "entry {seq}: not the entry committed as the head (audit-head): the chain was replaced"
        )],
        Some(_) => Vec::new(),
    })
}

/// Every record against what the chain recorded of it.
fn check_records(conn: &Db, mut covered: Covered, problems: &mut Vec<String>) -> Result<()> {
    check_verdicts(conn, &mut covered, problems)?;
    for (table, key_name) in [("alarms", "alarm"), ("tokens", "token")] {
        // `id` is each table's first column.
        conn.each_row(
            &format!("SELECT * FROM {table} ORDER BY id"),
            params![],
            |row| {
                let id: i64 = row.get(0)?;
                let name = if key_name == "alarm" {
                    record::alarm(id)
                } else {
                    record::token(id)
                };
                compare(&mut covered.latest, &name, &digest::of_row(row)?, problems);
                Ok(Continue(()))
            },
        )?;
    }
    check_aggregation(conn, &mut covered.aggregation_events, problems)?;
    let closures = closures::all(conn)?;
    for closure in &closures {
        let name = record::batch(&closure.line_id, &closure.batch);
        let digest = closures::row_digest(conn, &closure.line_id, &closure.batch)?;
        compare(&mut covered.latest, &name, &digest, problems);
    }
    let mut gone: Vec<_> = covered.latest.into_iter().collect();
    gone.sort_by_key(|(_, (seq, _))| *seq);
    for (name, (seq, _)) in gone {
        problems.push(format!(
            "{name}: missing, entry {seq} records it: it was deleted"
        ));
    }
    check_commissioned(
        conn,
        &covered.commissionings,
        covered.predating.as_ref(),
        problems,
    )?;
    // Last: a signature's records broken by any of the changes above say so here too.
    for closure in closures.iter().filter(|c| c.closed) {
        let records =
            closures::records_sha256(conn, &closure.line_id, &closure.batch, closure.last_seq)?;
        if records != closure.records_sha256 {
            problems.push(format!(
                "{}: its verdicts or serials differ from those {} signed at {}",
                record::batch(&closure.line_id, &closure.batch),
                closure.user,
                crate::store::rfc3339(closure.at_ms)
            ));
        }
    }
    Ok(())
}

/// Every aggregation event against its entry, and the parent each child is in against the
/// events replayed.
fn check_aggregation(
    conn: &Db,
    entries: &mut HashMap<String, Recorded>,
    problems: &mut Vec<String>,
) -> Result<()> {
    conn.each_row(
        &format!(
            "SELECT {} FROM aggregation_events ORDER BY seq",
            aggregations::EVENT_COLUMNS
        ),
        params![],
        |row| {
            let name = record::aggregation_event(row.get(0)?);
            compare(entries, &name, &digest::of_row(row)?, problems);
            Ok(Continue(()))
        },
    )?;
    let mut gone: Vec<_> = entries.drain().collect();
    gone.sort_by_key(|(_, (seq, _))| *seq);
    for (name, (seq, _)) in gone {
        problems.push(format!(
            "{name}: missing, entry {seq} records it: it was deleted"
        ));
    }
    problems.extend(aggregations::check_replay(conn)?);
    Ok(())
}

/// A record's digest against the newest entry of it (taken out of `latest`).
fn compare(
    latest: &mut HashMap<String, Recorded>,
    name: &str,
    digest: &str,
    problems: &mut Vec<String>,
) {
    match latest.remove(name) {
        None => problems.push(format!(
            "{name}: no audit entry records it: it was inserted outside verigrade"
        )),
        Some((seq, recorded)) if recorded != digest => problems.push(format!(
            "{name}: differs from what entry {seq} recorded: it was changed"
        )),
        Some(_) => {}
    }
}

fn check_verdicts(conn: &Db, covered: &mut Covered, problems: &mut Vec<String>) -> Result<()> {
    let through = covered
        .predating
        .as_ref()
        .map_or(0, |(_, p)| p.verdicts_through);
    let mut predating = Digest::new();
    conn.each_row(
        &format!(
            "SELECT {}, evidence FROM verdicts ORDER BY seq",
            super::VERDICT_COLUMNS
        ),
        params![],
        |row| {
        let seq: i64 = row.get(0)?;
        let digest = verdict_row_digest(row)?;
        let name = record::verdict(seq);
        if seq <= through {
            predating.text(&digest);
        } else {
            let (line, frame): (String, String) = (row.get(1)?, row.get(2)?);
            let described = format!("{name} (line {line}, frame {frame})");
            match covered.verdicts.remove(&name) {
                None => problems.push(format!(
                    "{described}: no audit entry records it: it was inserted outside verigrade"
                )),
                Some((entry, recorded)) if recorded != digest => problems.push(format!(
                    "{described}: differs from what entry {entry} recorded: it was changed after it was stored"
                )),
                Some(_) => {}
            }
        }
        let evidence: Option<String> = row.get(6)?;
        if evidence.is_none() && !covered.evidence_deleted.contains(&name) {
            let recorded = match row.value(5) {
                Some(Value::Blob(record)) => Verdict::decode(record.as_slice())
                    .map(|v| v.evidence)
                    .unwrap_or_default(),
                _ => String::new(),
            };
            if !recorded.is_empty() {
                problems.push(format!(
                    "{name}: its evidence {recorded} was removed, and no audit entry says so"
                ));
            }
        }
        Ok(Continue(()))
        },
    )?;
    if let Some((entry, predating_record)) = &covered.predating
        && predating.hex() != predating_record.verdicts_sha256
    {
        problems.push(format!(
            "verdicts 1 to {through}, stored before the trail began: they differ from what entry {entry} recorded"
        ));
    }
    let mut gone: Vec<_> = covered.verdicts.drain().collect();
    gone.sort_by_key(|(_, (seq, _))| *seq);
    for (name, (seq, _)) in gone {
        problems.push(format!(
            "{name}: missing, entry {seq} records it: it was deleted"
        ));
    }
    Ok(())
}

/// The commissioned serials, grouped by the entry that commissioned them, against its digest.
fn check_commissioned(
    conn: &Db,
    entries: &HashMap<i64, (String, String)>,
    predating: Option<&(i64, Predating)>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut groups: HashMap<Option<i64>, (SerialsDigest, u64)> = HashMap::new();
    conn.each_row(
        "SELECT gtin, serial, line_id, batch, audit_seq FROM commissioned
         ORDER BY audit_seq, gtin, serial",
        params![],
        |row| {
            let group = groups.entry(row.get(4)?).or_default();
            group.0.add_row(row)?;
            group.1 += 1;
            Ok(Continue(()))
        },
    )?;
    let mut sequences: Vec<i64> = entries.keys().copied().collect();
    sequences.sort_unstable();
    for seq in sequences {
        let (name, recorded) = &entries[&seq];
        let found = groups
            .remove(&Some(seq))
            .map_or_else(|| SerialsDigest::default().hex(), |(d, _)| d.hex());
        if &found != recorded {
            problems.push(format!(
                "{name}: the serials entry {seq} commissioned were changed, removed or added to"
            ));
        }
    }
    match (predating, groups.remove(&None)) {
        (Some((entry, p)), group) => {
            let found = group.map_or_else(|| SerialsDigest::default().hex(), |(d, _)| d.hex());
            if found != p.commissioned_sha256 {
                problems.push(format!(
                    "the serials commissioned before the trail began differ from what entry {entry} recorded"
                ));
            }
        }
        (None, Some((_, count))) => problems.push(format!(
            "{count} commissioned serials name no audit entry: they were inserted outside verigrade"
        )),
        (None, None) => {}
    }
    let mut strays: Vec<_> = groups.into_iter().collect();
    strays.sort_by_key(|(seq, _)| *seq);
    for (seq, (_, count)) in strays {
        problems.push(format!(
            "{count} commissioned serials name entry {}, which commissioned none: they were inserted outside verigrade",
            seq.unwrap_or_default()
        ));
    }
    Ok(())
}
