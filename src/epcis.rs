//! EPCIS 2.0: what a line did to its serials, as the events downstream systems take — packs
//! commissioned (ObjectEvent ADD), packs found non-conformant (ObjectEvent OBSERVE), packed
//! into cases and unpacked (AggregationEvent ADD, DELETE) — in an `EPCISDocument` (JSON-LD)
//! written event by event. Identifiers are GS1 Digital Link URIs, and each event's ID is the
//! CBV 2.0 event hash, so the same event has the same ID in every export.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// The normative JSON-LD context every document names.
pub const CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// Characters a Digital Link path segment carries as they are (RFC 3986 unreserved); every
/// other byte is percent-encoded.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if is_unreserved(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A pack's identifier: `https://id.gs1.org/01/{GTIN}/21/{serial}`.
pub fn pack_uri(gtin: &str, serial: &str) -> String {
    format!("https://id.gs1.org/01/{gtin}/21/{}", percent_encode(serial))
}

/// A case's or pallet's identifier: `https://id.gs1.org/00/{SSCC}`.
pub fn sscc_uri(sscc: &str) -> String {
    format!("https://id.gs1.org/00/{sscc}")
}

/// The GTIN and serial of a pack's Digital Link URI (any domain, as GS1 Digital Link allows).
pub fn parse_pack_uri(uri: &str) -> Option<(String, String)> {
    let path = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let path = path.split(['?', '#']).next()?;
    let mut segments = path.split('/').skip(1);
    let mut gtin = None;
    let mut serial = None;
    while let (Some(ai), Some(value)) = (segments.next(), segments.next()) {
        match ai {
            "01" => gtin = Some(percent_decode(value)?),
            "21" => serial = Some(percent_decode(value)?),
            _ => {}
        }
    }
    Some((gtin?, serial?))
}

/// What an event records, with its CBV business step and disposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Serials commissioned for a line's batch: ObjectEvent ADD, `commissioning`, `active`.
    Commissioned,
    /// A pack that failed its inspection: ObjectEvent OBSERVE, `inspecting`, `non_conformant`.
    NonConformant,
    /// Children packed into a parent: AggregationEvent ADD, `packing`, `in_progress`.
    Packed,
    /// Children taken out of a parent: AggregationEvent DELETE, `unpacking`, `in_progress`.
    Unpacked,
}

impl Kind {
    fn event_type(self) -> &'static str {
        match self {
            Kind::Commissioned | Kind::NonConformant => "ObjectEvent",
            Kind::Packed | Kind::Unpacked => "AggregationEvent",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Kind::Commissioned | Kind::Packed => "ADD",
            Kind::NonConformant => "OBSERVE",
            Kind::Unpacked => "DELETE",
        }
    }

    fn biz_step(self) -> &'static str {
        match self {
            Kind::Commissioned => "commissioning",
            Kind::NonConformant => "inspecting",
            Kind::Packed => "packing",
            Kind::Unpacked => "unpacking",
        }
    }

    fn disposition(self) -> &'static str {
        match self {
            Kind::Commissioned => "active",
            Kind::NonConformant => "non_conformant",
            Kind::Packed | Kind::Unpacked => "in_progress",
        }
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: Kind,
    pub at_ms: i64,
    /// The packs (ObjectEvent `epcList`) or the children (AggregationEvent `childEPCs`).
    pub epcs: Vec<String>,
    /// AggregationEvent: the parent's URI.
    pub parent: Option<String>,
    /// Where it happened (a GLN URI), from the line's configuration.
    pub read_point: Option<String>,
    pub business_location: Option<String>,
}

/// Event times: UTC to the millisecond, as CBV's hash also writes them.
fn utc(at_ms: i64) -> String {
    crate::store::rfc3339(at_ms)
}

/// The fields of an event that CBV 2.0's event hash covers, values as the document writes
/// them (vocabulary as bare CBV words).
struct HashInput<'a> {
    event_type: &'a str,
    /// UTC to the millisecond.
    time: &'a str,
    offset: &'a str,
    parent: Option<&'a str>,
    epcs: &'a [String],
    action: &'a str,
    biz_step: &'a str,
    disposition: &'a str,
    read_point: Option<&'a str>,
    business_location: Option<&'a str>,
}

/// CBV 2.0's pre-hash string: the fields in CBV's order as `name=value`, vocabulary as GS1 Web
/// URIs, the EPCs of a list sorted, joined without separators.
fn pre_hash_of(input: &HashInput) -> String {
    let mut text = format!(
        "eventType={}eventTime={}eventTimeZoneOffset={}",
        input.event_type, input.time, input.offset
    );
    if let Some(parent) = input.parent {
        text.push_str(&format!("parentID={parent}"));
    }
    let mut epcs: Vec<String> = input.epcs.iter().map(|e| format!("epc={e}")).collect();
    epcs.sort();
    if !epcs.is_empty() {
        text.push_str(if input.event_type == "ObjectEvent" {
            "epcList"
        } else {
            "childEPCs"
        });
        text.push_str(&epcs.concat());
    }
    text.push_str(&format!(
        "action={}bizStep=https://ref.gs1.org/cbv/BizStep-{}disposition=https://ref.gs1.org/cbv/Disp-{}",
        input.action, input.biz_step, input.disposition
    ));
    if let Some(id) = input.read_point {
        text.push_str(&format!("readPointid={id}"));
    }
    if let Some(id) = input.business_location {
        text.push_str(&format!("bizLocationid={id}"));
    }
    text
}

/// `ni:///sha-256;…?ver=CBV2.0` of a pre-hash string.
fn hash_id(pre_hash: &str) -> String {
    let digest = Sha256::digest(pre_hash.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("ni:///sha-256;{hex}?ver=CBV2.0")
}

impl Event {
    /// CBV 2.0's pre-hash string of the event (see [`Event::event_id`]).
    pub fn pre_hash(&self) -> String {
        pre_hash_of(&HashInput {
            event_type: self.kind.event_type(),
            time: &utc(self.at_ms),
            offset: "+00:00",
            parent: self.parent.as_deref(),
            epcs: &self.epcs,
            action: self.kind.action(),
            biz_step: self.kind.biz_step(),
            disposition: self.kind.disposition(),
            read_point: self.read_point.as_deref(),
            business_location: self.business_location.as_deref(),
        })
    }

    /// The CBV 2.0 event hash ID: the same event has the same ID in every export.
    pub fn event_id(&self) -> String {
        hash_id(&self.pre_hash())
    }

    pub fn to_json(&self) -> Value {
        let mut event = json!({
            "type": self.kind.event_type(),
            "eventID": self.event_id(),
            "eventTime": utc(self.at_ms),
            "eventTimeZoneOffset": "+00:00",
        });
        let object = event.as_object_mut().expect("an object");
        match self.kind.event_type() {
            "ObjectEvent" => {
                object.insert("epcList".into(), json!(self.epcs));
            }
            _ => {
                if let Some(parent) = &self.parent {
                    object.insert("parentID".into(), json!(parent));
                }
                object.insert("childEPCs".into(), json!(self.epcs));
            }
        }
        object.insert("action".into(), json!(self.kind.action()));
        object.insert("bizStep".into(), json!(self.kind.biz_step()));
        object.insert("disposition".into(), json!(self.kind.disposition()));
        if let Some(id) = &self.read_point {
            object.insert("readPoint".into(), json!({ "id": id }));
        }
        if let Some(id) = &self.business_location {
            object.insert("bizLocation".into(), json!({ "id": id }));
        }
        event
    }
}

/// Writes an `EPCISDocument` event by event: the header first, each event as it comes, the
/// closing brackets at [`DocumentWriter::finish`]. The document is never held in memory.
pub struct DocumentWriter<W: Write> {
    out: W,
    events: u64,
}

impl<W: Write> DocumentWriter<W> {
    /// Starts the document, created at `created_ms`.
    pub fn begin(mut out: W, created_ms: i64) -> io::Result<DocumentWriter<W>> {
        write!(
            out,
            "{{\"@context\":[\"{CONTEXT}\"],\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\",\
             \"creationDate\":\"{}\",\"epcisBody\":{{\"eventList\":[",
            utc(created_ms)
        )?;
        Ok(DocumentWriter { out, events: 0 })
    }

    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        if self.events > 0 {
            self.out.write_all(b",\n")?;
        } else {
            self.out.write_all(b"\n")?;
        }
        serde_json::to_writer(&mut self.out, &event.to_json())?;
        self.events += 1;
        Ok(())
    }

    /// Closes the document; how many events it holds.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.out.write_all(b"\n]}}\n")?;
        self.out.flush()?;
        Ok((self.out, self.events))
    }
}

/// The commissioned serials of an EPCIS document: every ObjectEvent ADD with bizStep
/// `commissioning`, its packs' GTIN and serial, in document order; an identifier that is
/// not a pack's Digital Link URI is an error naming it.
pub fn commissioned_serials(document: &Value) -> Result<Vec<(String, String)>, String> {
    let events = document
        .pointer("/epcisBody/eventList")
        .and_then(Value::as_array)
        .ok_or("not an EPCISDocument: epcisBody.eventList is missing")?;
    let mut serials = Vec::new();
    for event in events {
        let text = |field: &str| event.get(field).and_then(Value::as_str).unwrap_or("");
        let step = text("bizStep");
        let commissioning = step == "commissioning"
            || step.ends_with("BizStep-commissioning")
            || step.ends_with(":commissioning");
        if text("type") != "ObjectEvent" || text("action") != "ADD" || !commissioning {
            continue;
        }
        for epc in event
            .get("epcList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let uri = epc.as_str().unwrap_or_default();
            let pack = parse_pack_uri(uri)
                .ok_or_else(|| format!("{uri:?} is not a pack's Digital Link URI"))?;
            serials.push(pack);
        }
    }
    Ok(serials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digital_link_uris_escape_and_read_back() {
        let uri = pack_uri("09506000134352", "AB/12%&x");
        assert_eq!(
            uri,
            "https://id.gs1.org/01/09506000134352/21/AB%2F12%25%26x"
        );
        assert_eq!(
            parse_pack_uri(&uri),
            Some(("09506000134352".into(), "AB/12%&x".into()))
        );
        assert_eq!(
            parse_pack_uri("https://id.gs1.org/00/095060000000000015"),
            None
        );
    }

    /// An event of GS1's reference implementation of the CBV 2.0 event hash (its test
    /// `TimeStampRoundOff`, first event): the pre-hash string and the ID it publishes.
    #[test]
    fn the_event_hash_is_cbv_s() {
        let epcs = ["https://id.gs1.org/00/040123451111111110".to_string()];
        let pre_hash = pre_hash_of(&HashInput {
            event_type: "ObjectEvent",
            time: "2023-02-02T11:04:03.142Z",
            offset: "+01:00",
            parent: None,
            epcs: &epcs,
            action: "OBSERVE",
            biz_step: "shipping",
            disposition: "in_transit",
            read_point: Some("https://id.gs1.org/414/4012345000115"),
            business_location: None,
        });
        assert_eq!(
            pre_hash,
            "eventType=ObjectEventeventTime=2023-02-02T11:04:03.142ZeventTimeZoneOffset=+01:00\
             epcListepc=https://id.gs1.org/00/040123451111111110action=OBSERVE\
             bizStep=https://ref.gs1.org/cbv/BizStep-shipping\
             disposition=https://ref.gs1.org/cbv/Disp-in_transit\
             readPointid=https://id.gs1.org/414/4012345000115"
        );
        assert_eq!(
            hash_id(&pre_hash),
            "ni:///sha-256;af7658e711574363633f20b3dadc7bc4c13c6f612cf96d95e03c421c0e58f3c6?ver=CBV2.0"
        );
    }

    #[test]
    fn an_aggregation_hashes_its_parent_and_sorted_children() {
        let event = Event {
            kind: Kind::Packed,
            at_ms: 1_583_316_030_000,
            epcs: vec![
                "https://id.gs1.org/01/09506000134352/21/B".into(),
                "https://id.gs1.org/01/09506000134352/21/A".into(),
            ],
            parent: Some(sscc_uri("095060000000000015")),
            read_point: None,
            business_location: None,
        };
        assert_eq!(
            event.pre_hash(),
            "eventType=AggregationEventeventTime=2020-03-04T10:00:30.000ZeventTimeZoneOffset=+00:00\
             parentID=https://id.gs1.org/00/095060000000000015childEPCs\
             epc=https://id.gs1.org/01/09506000134352/21/Aepc=https://id.gs1.org/01/09506000134352/21/B\
             action=ADDbizStep=https://ref.gs1.org/cbv/BizStep-packing\
             disposition=https://ref.gs1.org/cbv/Disp-in_progress"
        );
        let id = event.event_id();
        assert!(id.starts_with("ni:///sha-256;") && id.ends_with("?ver=CBV2.0"));
        // The order of the children does not change the event, nor its ID.
        let mut reordered = event.clone();
        reordered.epcs.reverse();
        assert_eq!(reordered.event_id(), id);
    }
}
