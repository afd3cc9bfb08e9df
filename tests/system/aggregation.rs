//! Aggregation through the service, on rendered case frames whose every pack is known: a
//! complete case aggregates; a missing, foreign, already-packed or repeated pack and a bad or
//! used SSCC each fail with their reason and store nothing; disaggregation and re-aggregation;
//! a pallet of cases returns its tree; the EPCIS export of it all validates by GS1's schema
//! and gives back the serials commissioned; the audit trail covers all of it.

use crate::support::{Server, config, data_dir};
use bytes::Bytes;
use serde_json::Value;
use tonic::Code;
use verigrade::proto::aggregation_client::AggregationClient;
use verigrade::proto::events_client::EventsClient;
use verigrade::proto::{
    AggregateRequest, AggregationResult, CommissionRequest, DisaggregateRequest,
    ExportEpcisRequest, GetAggregationRequest, ReconcileRequest, aggregate_request,
};
use verigrade::synth::{CrowdSpec, crowd_text, render_crowd};

const LINE: &str = "PACK1";
const GTIN: &str = "09506000134352";
/// The batch [`crowd_text`] gives seed 1's packs.
const BATCH: &str = "B00001";
/// Case labels, pallet label (valid check digits).
const CASE_1: &str = "095060000000000015";
const CASE_2: &str = "095060000000000022";
const CASE_3: &str = "095060000000000039";
const PALLET: &str = "095060000000000046";
/// Packs per case.
const PATTERN: usize = 12;

/// Pack `i` of the batch: its data, and its HRI as a child.
fn pack(i: usize) -> String {
    crowd_text(1, i)
}

fn serial_of(text: &str) -> String {
    text.split("\u{1d}21").nth(1).unwrap().to_string()
}

fn hri(text: &str) -> String {
    format!("(01){GTIN}(21){}", serial_of(text))
}

/// An open case: these packs, and a label when `sscc` is given, rendered as the station's
/// camera sees it.
fn case_png(texts: Vec<String>, sscc: Option<&str>, seed: u64) -> Bytes {
    let spec = CrowdSpec {
        count: texts.len(),
        canvas: (1400, 1100),
        texts,
        sscc: sscc.map(str::to_string),
        seed,
        ..CrowdSpec::default()
    };
    let rendered = render_crowd(&spec).unwrap();
    let mut png = Vec::new();
    rendered
        .image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    Bytes::from(png)
}

fn request(frame: &str, png: Bytes, parent: &str, expected: usize) -> AggregateRequest {
    AggregateRequest {
        line_id: LINE.into(),
        frame_id: frame.into(),
        frame: Some(aggregate_request::Frame::Image(png)),
        parent: parent.into(),
        expected_count: expected as u32,
        ..AggregateRequest::default()
    }
}

async fn client(server: &Server) -> AggregationClient<tonic::transport::Channel> {
    AggregationClient::connect(server.url.clone())
        .await
        .unwrap()
        .max_encoding_message_size(usize::MAX)
}

fn assert_refused(result: &AggregationResult, words: &str) {
    assert!(!result.pass, "passed: {result:?}");
    assert!(
        result.reasons.iter().any(|r| r.contains(words)),
        "no reason says {words:?}: {:?}",
        result.reasons
    );
}

async fn get(
    client: &mut AggregationClient<tonic::transport::Channel>,
    parent: &str,
) -> Result<AggregationResult, tonic::Status> {
    client
        .get_aggregation(GetAggregationRequest {
            parent: parent.into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// The EPCIS document of the line, as `Events.ExportEpcis` streams it.
async fn export(server: &Server) -> Value {
    let mut client = EventsClient::connect(server.url.clone()).await.unwrap();
    let mut chunks = client
        .export_epcis(ExportEpcisRequest {
            line_id: LINE.into(),
            ..ExportEpcisRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.message().await.unwrap() {
        bytes.extend_from_slice(&chunk.data);
    }
    serde_json::from_slice(&bytes).unwrap()
}

fn event_ids(document: &Value) -> Vec<String> {
    document["epcisBody"]["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect()
}

/// Validates against GS1's EPCIS 2.0 JSON Schema in ../shared/spec, when it is there.
fn check_schema(document: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/spec/epcis/EPCIS-JSON-Schema.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipped: the EPCIS schema check ({} not found)",
            path.display()
        );
        return;
    };
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "not a valid EPCIS document: {errors:#?}");
    // The schema does refuse what is not EPCIS: an action it does not know.
    let mut broken = document.clone();
    broken["epcisBody"]["eventList"][0]["action"] = Value::from("PACK");
    assert!(
        !validator.is_valid(&broken),
        "the schema took an unknown action"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_aggregate_only_when_every_pack_belongs() {
    let dir = data_dir("aggregation");
    let server = Server::start(config(&dir)).await;
    let mut serials = server.serials().await;
    let commissioned: Vec<String> = (0..60).map(|i| serial_of(&pack(i))).collect();
    serials
        .commission(tokio_stream::iter(vec![CommissionRequest {
            line_id: LINE.into(),
            batch: BATCH.into(),
            gtin: GTIN.into(),
            serials: commissioned,
        }]))
        .await
        .unwrap();
    let mut aggregation = client(&server).await;
    let packs = |range: std::ops::Range<usize>| range.map(pack).collect::<Vec<_>>();

    // A complete case, its label read from the frame.
    let complete = aggregation
        .aggregate(request(
            "c1",
            case_png(packs(0..12), Some(CASE_1), 1),
            "",
            PATTERN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(complete.pass, "{:?}", complete.reasons);
    assert_eq!(complete.parent, CASE_1);
    let mut children = complete.children.clone();
    children.sort();
    let mut expected: Vec<String> = packs(0..12).iter().map(|t| hri(t)).collect();
    expected.sort();
    assert_eq!(children, expected);
    assert_eq!(
        complete.symbols.len(),
        PATTERN + 1,
        "the packs and the label"
    );
    let stored = get(&mut aggregation, CASE_1).await.unwrap();
    assert_eq!((stored.count, stored.batch.as_str()), (12, BATCH));

    // One pack missing.
    let missing = aggregation
        .aggregate(request(
            "c2",
            case_png(packs(12..23), Some(CASE_2), 2),
            "",
            PATTERN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_refused(&missing, "case holds 11 of 12 packs");
    // A foreign pack: never commissioned, and one of another batch.
    let mut foreign = packs(12..22);
    foreign.push(crowd_text(1, 500));
    foreign.push(crowd_text(2, 0));
    let foreign = aggregation
        .aggregate(request(
            "c3",
            case_png(foreign, Some(CASE_2), 3),
            "",
            PATTERN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_refused(
        &foreign,
        &format!("{} was never commissioned", hri(&crowd_text(1, 500))),
    );
    assert_refused(&foreign, "belongs to batch B00002, not B00001");
    // A pack already in the first case.
    let mut taken = packs(12..23);
    taken.push(pack(0));
    let taken = aggregation
        .aggregate(request("c4", case_png(taken, Some(CASE_2), 4), "", PATTERN))
        .await
        .unwrap()
        .into_inner();
    assert_refused(
        &taken,
        &format!("pack {} is already in case (00){CASE_1}", hri(&pack(0))),
    );
    // One serial on two packs.
    let mut repeated = packs(12..23);
    repeated.push(pack(12));
    let repeated = aggregation
        .aggregate(request(
            "c5",
            case_png(repeated, Some(CASE_2), 5),
            "",
            PATTERN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_refused(&repeated, "appears twice");
    // The first case's label again.
    let used = aggregation
        .aggregate(request(
            "c6",
            case_png(packs(12..24), None, 6),
            CASE_1,
            PATTERN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_refused(
        &used,
        &format!("SSCC (00){CASE_1} is already used: it holds 12 packs"),
    );
    // A malformed SSCC is bad input.
    let bad = aggregation
        .aggregate(request(
            "c7",
            case_png(packs(12..24), None, 7),
            "095060000000000018",
            PATTERN,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().contains("check digit"), "{}", bad.message());

    // Nothing refused was stored: the second case is empty, its packs free.
    assert_eq!(
        get(&mut aggregation, CASE_2).await.unwrap_err().code(),
        Code::NotFound
    );
    let second = aggregation
        .aggregate(request(
            "c8",
            case_png(packs(12..24), Some(CASE_2), 8),
            "",
            PATTERN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(second.pass, "{:?}", second.reasons);

    // Rework: pack 0 out of the first case, then into a third with eleven more.
    let left = aggregation
        .disaggregate(DisaggregateRequest {
            parent: CASE_1.into(),
            children: vec![hri(&pack(0))],
            reason: "damaged carton".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(left.count, 11);
    let not_there = aggregation
        .disaggregate(DisaggregateRequest {
            parent: CASE_1.into(),
            children: vec![hri(&pack(0))],
            reason: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_there.code(), Code::FailedPrecondition, "{not_there:?}");
    let mut third = packs(24..35);
    third.push(pack(0));
    let third = aggregation
        .aggregate(request("c9", case_png(third, Some(CASE_3), 9), "", PATTERN))
        .await
        .unwrap()
        .into_inner();
    assert!(third.pass, "{:?}", third.reasons);

    // A pallet of the three cases: a frame of their labels, the pallet named.
    let labels: Vec<String> = [CASE_1, CASE_2, CASE_3]
        .iter()
        .map(|sscc| format!("00{sscc}"))
        .collect();
    let pallet = aggregation
        .aggregate(request("p1", case_png(labels, None, 10), PALLET, 3))
        .await
        .unwrap()
        .into_inner();
    assert!(pallet.pass, "{:?}", pallet.reasons);
    let tree = get(&mut aggregation, PALLET).await.unwrap();
    assert_eq!(tree.count, 3);
    let mut cases: Vec<(String, u32)> = tree
        .tree
        .iter()
        .map(|t| (t.parent.clone(), t.count))
        .collect();
    cases.sort();
    assert_eq!(
        cases,
        vec![
            (CASE_1.to_string(), 11),
            (CASE_2.to_string(), 12),
            (CASE_3.to_string(), 12)
        ]
    );

    // Reconciliation: 35 packs in 3 cases; none was verified on the line.
    let batches = serials
        .reconcile(ReconcileRequest {
            line_id: LINE.into(),
            batch: BATCH.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .batches;
    assert_eq!((batches[0].aggregated, batches[0].cases), (35, 3));

    // The line's EPCIS document: valid by GS1's schema, the same event IDs in every export,
    // and its commissioning events give back the serials commissioned.
    let document = export(&server).await;
    assert_eq!(event_ids(&document), event_ids(&export(&server).await));
    check_schema(&document);
    let mut exported: Vec<(String, String)> =
        verigrade::epcis::commissioned_serials(&document).unwrap();
    exported.sort();
    let mut expected: Vec<(String, String)> = (0..60)
        .map(|i| (GTIN.to_string(), serial_of(&pack(i))))
        .collect();
    expected.sort();
    assert_eq!(exported, expected);
    let count = |kind: &str, action: &str| {
        document["epcisBody"]["eventList"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind && e["action"] == action)
            .count()
    };
    assert_eq!(
        count("AggregationEvent", "ADD"),
        4,
        "three cases and the pallet"
    );
    assert_eq!(
        count("AggregationEvent", "DELETE"),
        1,
        "the damaged carton's pack"
    );
    let pallet = document["epcisBody"]["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["parentID"] == format!("https://id.gs1.org/00/{PALLET}"))
        .unwrap();
    assert_eq!(pallet["childEPCs"].as_array().unwrap().len(), 3);

    server.stop().await;
    // Every refused frame was kept as evidence, and the trail covers every event.
    let evidence = std::fs::read_dir(dir.join("evidence")).unwrap().count();
    assert_eq!(evidence, 5, "the five refused frames");
    let verification = verigrade::store::verify_trail(&dir).unwrap();
    assert!(
        verification.problems.is_empty(),
        "{:?}",
        verification.problems
    );
}
