//! The store's serialization records as EPCIS events, written one at a time: commissioning
//! (one event per commissioning entry of the audit trail), packs that failed inspection, and
//! every packing and unpacking. Each section is in time order; nothing is gathered first.

use super::Store;
use super::sql::{Db, params};
use crate::aggregation::Child;
use crate::epcis::{self, DocumentWriter, Event, Kind};
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;
use std::io::Write;
use std::ops::ControlFlow::Continue;

/// Which events an export holds: empty strings match every line or batch.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub line_id: String,
    pub batch: String,
    /// Events at or after this time (ms since 1970).
    pub since_ms: i64,
}

/// A line's read point and business location.
pub type Locations = dyn Fn(&str) -> (Option<String>, Option<String>) + Send;

/// EPCs per commissioning event: a list of a million serials is several events.
const EPCS_PER_EVENT: usize = 10_000;

impl Store {
    /// Writes the EPCIS document of `query` to `out` from a read connection of its own (a
    /// long export holds up no other query); how many events it holds.
    pub fn export_epcis(
        &self,
        query: &EventQuery,
        locations: &Locations,
        out: impl Write,
    ) -> Result<u64> {
        // One read transaction: the document is the store as of one moment.
        let conn = self.snapshot()?;
        let io = |e: std::io::Error| Error::Io {
            path: "the EPCIS document".into(),
            source: e,
        };
        let mut document = DocumentWriter::begin(out, super::now_ms()).map_err(io)?;
        let mut emit = |event: Event| document.event(&event).map_err(io);
        commissioning(&conn, query, locations, &mut emit)?;
        non_conformant(&conn, query, locations, &mut emit)?;
        aggregation(&conn, query, locations, &mut emit)?;
        let (_, events) = document.finish().map_err(io)?;
        Ok(events)
    }
}

fn commissioning(
    conn: &Db,
    query: &EventQuery,
    locations: &Locations,
    emit: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    // Serials commissioned before the trail began take its first entry's time.
    let mut group: Option<((i64, String, String), Event)> = None;
    conn.each_row(
        "SELECT c.gtin, c.serial, c.line_id, c.batch, COALESCE(c.audit_seq, 0),
                COALESCE(a.at_ms, (SELECT MIN(at_ms) FROM audit), 0)
         FROM commissioned c LEFT JOIN audit a ON a.seq = c.audit_seq
         WHERE (?1 = '' OR c.line_id = ?1) AND (?2 = '' OR c.batch = ?2)
           AND COALESCE(a.at_ms, 0) >= ?3
         ORDER BY COALESCE(c.audit_seq, 0), c.line_id, c.batch, c.gtin, c.serial",
        params![query.line_id, query.batch, query.since_ms],
        |row| {
            let (gtin, serial, line, batch): (String, String, String, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
            let (entry, at_ms): (i64, i64) = (row.get(4)?, row.get(5)?);
            let key = (entry, line.clone(), batch);
            let full = group
                .as_ref()
                .is_some_and(|(k, e)| *k != key || e.epcs.len() == EPCS_PER_EVENT);
            if full && let Some((_, event)) = group.take() {
                emit(event)?;
            }
            let (_, event) = group.get_or_insert_with(|| {
                let (read_point, business_location) = locations(&line);
                (
                    key,
                    Event {
                        kind: Kind::Commissioned,
                        at_ms,
                        epcs: Vec::new(),
                        parent: None,
                        read_point,
                        business_location,
                    },
                )
            });
            event.epcs.push(epcis::pack_uri(&gtin, &serial));
            Ok(Continue(()))
        },
    )?;
    if let Some((_, event)) = group {
        emit(event)?;
    }
    Ok(())
}

/// Packs that failed for their print or data (a duplicate is another pack carrying the serial,
/// not this pack's state: it is left out).
fn non_conformant(
    conn: &Db,
    query: &EventQuery,
    locations: &Locations,
    emit: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    conn.each_row(
        "SELECT record, stored_ms FROM verdicts
         WHERE pass = 0 AND (?1 = '' OR line_id = ?1) AND stored_ms >= ?2 ORDER BY seq",
        params![query.line_id, query.since_ms],
        |row| {
            let record: Vec<u8> = row.get(0)?;
            let verdict = Verdict::decode(record.as_slice())
                .map_err(|e| Error::Store(format!("corrupt verdict record: {e}")))?;
            let batch_matches = query.batch.is_empty() || verdict.batch == query.batch;
            if verdict.gtin.is_empty()
                || verdict.serial.is_empty()
                || verdict.duplicate
                || !batch_matches
            {
                return Ok(Continue(()));
            }
            let (read_point, business_location) = locations(&verdict.line_id);
            emit(Event {
                kind: Kind::NonConformant,
                at_ms: row.get(1)?,
                epcs: vec![epcis::pack_uri(&verdict.gtin, &verdict.serial)],
                parent: None,
                read_point,
                business_location,
            })?;
            Ok(Continue(()))
        },
    )?;
    Ok(())
}

fn aggregation(
    conn: &Db,
    query: &EventQuery,
    locations: &Locations,
    emit: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    conn.each_row(
        "SELECT action, parent, line_id, children, at_ms FROM aggregation_events
         WHERE action IN ('packed', 'unpacked') AND (?1 = '' OR line_id = ?1)
           AND (?2 = '' OR batch = ?2) AND at_ms >= ?3
         ORDER BY seq",
        params![query.line_id, query.batch, query.since_ms],
        |row| {
            let (action, parent, line, children): (String, String, String, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
            let epcs = children
                .lines()
                .map(|hri| match Child::parse(hri) {
                    Ok(Child::Pack { gtin, serial }) => Ok(epcis::pack_uri(&gtin, &serial)),
                    Ok(Child::Case(sscc)) => Ok(epcis::sscc_uri(sscc.digits())),
                    Err(e) => Err(Error::Store(format!("aggregated child {hri}: {e}"))),
                })
                .collect::<Result<Vec<_>>>()?;
            let (read_point, business_location) = locations(&line);
            emit(Event {
                kind: if action == "packed" {
                    Kind::Packed
                } else {
                    Kind::Unpacked
                },
                at_ms: row.get(4)?,
                epcs,
                parent: Some(epcis::sscc_uri(&parent)),
                read_point,
                business_location,
            })?;
            Ok(Continue(()))
        },
    )?;
    Ok(())
}
