//! OPC UA as a PLC sees it: `verigrade serve --opcua-listen`, a stream of packs over gRPC, and
//! an OPC UA client (async-opcua's) that browses Objects/Lines/<line>, reads the line's state
//! and counts, sees it STOPPED by three failures in a row, calls `Acknowledge` and reads
//! RUNNING.

mod support;

use opcua::client::{ClientBuilder, IdentityToken, Session};
use opcua::types::{
    BrowseDescription, BrowseDirection, BrowseResultMask, CallMethodRequest, DataValue,
    EndpointDescription, MessageSecurityMode, NodeClassMask, NodeId, ObjectId, ReadValueId,
    ReferenceTypeId, StatusCode, TimestampsToReturn, UserTokenPolicy, Variant,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Process, blank_png, data_dir, image_request, pack_png};
use verigrade::proto::verifier_client::VerifierClient;

const LINE: &str = "OPC1";

/// The OPC UA address the server printed once it listened.
fn opcua_address(server: &Process) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let printed = server.printed();
        if let Some(address) = printed
            .split_whitespace()
            .find(|w| w.starts_with("opc.tcp://"))
        {
            return address.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no OPC UA address in {printed:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn connect(url: &str, pki: &std::path::Path) -> Arc<Session> {
    let mut client = ClientBuilder::new()
        .application_name("verigrade test PLC")
        .application_uri("urn:verigrade:test-plc")
        .pki_dir(pki)
        .create_sample_keypair(false)
        .trust_server_certs(true)
        .session_retry_limit(3)
        .client()
        .unwrap();
    let endpoint: EndpointDescription = (
        url,
        "None",
        MessageSecurityMode::None,
        UserTokenPolicy::anonymous(),
    )
        .into();
    let (session, event_loop) = client
        .connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous)
        .await
        .unwrap();
    event_loop.spawn();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), session.wait_for_connection())
            .await
            .unwrap(),
        "connected"
    );
    session
}

/// The forward hierarchical children of `node`: browse name → node id.
async fn children(session: &Session, node: NodeId) -> Vec<(String, NodeId)> {
    let results = session
        .browse(
            &[BrowseDescription {
                node_id: node,
                browse_direction: BrowseDirection::Forward,
                reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                include_subtypes: true,
                node_class_mask: NodeClassMask::all().bits(),
                result_mask: BrowseResultMask::All as u32,
            }],
            1000,
            None,
        )
        .await
        .unwrap();
    results[0]
        .references
        .iter()
        .flatten()
        .map(|r| (r.browse_name.name.to_string(), r.node_id.node_id.clone()))
        .collect()
}

fn child(children: &[(String, NodeId)], name: &str) -> NodeId {
    children
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} among {children:?}"))
        .1
        .clone()
}

async fn read(session: &Session, nodes: &[NodeId]) -> Vec<DataValue> {
    let ids: Vec<ReadValueId> = nodes.iter().cloned().map(ReadValueId::from).collect();
    session
        .read(&ids, TimestampsToReturn::Both, 0.0)
        .await
        .unwrap()
}

fn text(value: &DataValue) -> String {
    match &value.value {
        Some(Variant::String(s)) => s.as_ref().to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

fn number(value: &DataValue) -> u64 {
    match &value.value {
        Some(Variant::UInt64(n)) => *n,
        other => panic!("not a UInt64: {other:?}"),
    }
}

/// Reads `State` until it is `wanted` (the address space follows the store within a tenth of
/// a second).
async fn wait_for_state(session: &Session, state: &NodeId, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = text(&read(session, std::slice::from_ref(state)).await[0]);
        if now == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "State stayed {now}, not {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn acknowledge(
    session: &Session,
    line: &NodeId,
    method: &NodeId,
    alarm_id: &str,
    comment: &str,
) -> (StatusCode, Vec<Variant>) {
    let result = session
        .call_one(CallMethodRequest {
            object_id: line.clone(),
            method_id: method.clone(),
            input_arguments: Some(vec![
                Variant::from(alarm_id),
                Variant::from("ana"),
                Variant::from(comment),
            ]),
        })
        .await
        .unwrap();
    (
        result.status_code,
        result.output_arguments.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plc_browses_a_line_sees_it_stopped_acknowledges_and_sees_it_running() {
    let dir = data_dir("opcua");
    let server = Process::start(
        &dir,
        &[("VERIGRADE_OPCUA_LISTEN", "127.0.0.1:0".to_string())],
    );
    let url = opcua_address(&server);

    // One good pack, then three frames without a symbol: three failures in a row stop the line.
    let mut verifier = VerifierClient::connect(server.url.clone()).await.unwrap();
    let mut frames = vec![image_request(LINE, "good-1", pack_png("OPC0001"))];
    frames.extend((1..=3).map(|i| image_request(LINE, &format!("blank-{i}"), blank_png())));
    for frame in frames {
        verifier.verify(frame).await.unwrap();
    }

    let session = connect(&url, &dir.join("client-pki")).await;
    let objects = children(&session, ObjectId::ObjectsFolder.into()).await;
    let lines = children(&session, child(&objects, "Lines")).await;
    let line = child(&lines, LINE);
    let nodes = children(&session, line.clone()).await;
    let names = [
        "State",
        "Total",
        "Passed",
        "Failed",
        "NoRead",
        "Duplicates",
        "LastGrade",
        "LastVerdict",
        "ActiveAlarm",
        "ActiveAlarmId",
    ];
    let ids: Vec<NodeId> = names.iter().map(|n| child(&nodes, n)).collect();
    let method = child(&nodes, "Acknowledge");
    assert!(
        ids.iter()
            .chain([&line, &method])
            .all(|id| id.namespace == ids[0].namespace && ids[0].namespace > 0),
        "verigrade's nodes share their own namespace"
    );

    wait_for_state(&session, &ids[0], "STOPPED").await;
    let values = read(&session, &ids).await;
    let counts: Vec<u64> = values[1..6].iter().map(number).collect();
    assert_eq!(
        counts,
        [4, 1, 3, 3, 0],
        "Total, Passed, Failed, NoRead, Duplicates"
    );
    assert_eq!(text(&values[6]), "F", "the last frame had no symbol");
    assert!(
        text(&values[7]).starts_with(&format!("{LINE}/blank-3 ")),
        "{}",
        text(&values[7])
    );
    let alarm_id = text(&values[9]);
    let active = text(&values[8]);
    assert!(
        active.starts_with(&format!(
            "{alarm_id} STOP consecutive_failures: 3 failed verdicts"
        )),
        "{active}"
    );

    // Refusals carry OPC UA's status codes and leave the line stopped.
    let (status, _) = acknowledge(&session, &line, &method, &alarm_id, "").await;
    assert_eq!(
        status,
        StatusCode::BadInvalidState,
        "a STOP needs a comment"
    );
    let (status, _) = acknowledge(&session, &line, &method, "99999", "x").await;
    assert_eq!(status, StatusCode::BadNotFound);
    let (status, _) = acknowledge(&session, &line, &method, "one", "x").await;
    assert_eq!(status, StatusCode::BadInvalidArgument);
    wait_for_state(&session, &ids[0], "STOPPED").await;

    let (status, outcome) = acknowledge(
        &session,
        &line,
        &method,
        &alarm_id,
        "cleared a jam at the printer",
    )
    .await;
    assert_eq!(status, StatusCode::Good);
    assert_eq!(
        outcome,
        [Variant::from(format!(
            "alarm {alarm_id} acknowledged by ana; line {LINE} RUNNING"
        ))]
    );
    wait_for_state(&session, &ids[0], "RUNNING").await;
    let values = read(&session, &ids).await;
    assert_eq!(text(&values[9]), "", "no alarm stops the line");

    // The next pack is counted as it is stored.
    verifier
        .verify(image_request(LINE, "good-2", pack_png("OPC0002")))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while number(&read(&session, &ids[1..3]).await[1]) != 2 {
        assert!(Instant::now() < deadline, "Passed never reached 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = session.disconnect().await;
    let (status, printed) = server.terminate();
    assert!(status.success(), "{printed}");
}
