//! OPC UA as a PLC sees it: `verigrade serve --opcua-listen`, a stream of packs over gRPC, and
//! an OPC UA client (async-opcua's) that browses Objects/Lines/<line>, reads the line's state
//! and counts, sees it STOPPED by three failures in a row, calls `Acknowledge` and reads
//! RUNNING.

use crate::support::authority::Authority;
use crate::support::{Process, blank_png, data_dir, image_request, pack_png};
use opcua::client::{Client, ClientBuilder, IdentityToken, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    BrowseDescription, BrowseDirection, BrowseResultMask, CallMethodRequest, DataValue,
    EndpointDescription, MessageSecurityMode, NodeClassMask, NodeId, ObjectId, ReadValueId,
    ReferenceTypeId, StatusCode, TimestampsToReturn, UserTokenPolicy, UserTokenType, Variant,
};
use rcgen::ExtendedKeyUsagePurpose;
use std::sync::Arc;
use std::time::{Duration, Instant};
use verigrade::access::{Actor, Role};
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::store::trail::{self, AuditQuery};
use verigrade::store::{self, tokens};

const LINE: &str = "OPC1";

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
    let url = server.printed_url("opc.tcp://");

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

/// An OPC UA client with its own application certificate (made in `pki` on first use), which
/// trusts the server's.
fn plc_client(pki: &std::path::Path) -> Client {
    ClientBuilder::new()
        .application_name("verigrade test PLC")
        .application_uri("urn:verigrade:test-plc")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .client()
        .unwrap()
}

/// Opens a session on the server's `policy` SignAndEncrypt endpoint as `identity`: the
/// session, or the status its event loop ended with.
async fn sign_in(
    client: &mut Client,
    url: &str,
    policy: SecurityPolicy,
    identity: IdentityToken,
) -> Result<Arc<Session>, StatusCode> {
    let endpoint: EndpointDescription = (
        url,
        policy.to_uri(),
        MessageSecurityMode::SignAndEncrypt,
        UserTokenPolicy::anonymous(),
    )
        .into();
    let (session, event_loop) = client
        .connect_to_matching_endpoint(endpoint, identity)
        .await
        .map_err(|e| e.status())?;
    let running = event_loop.spawn();
    tokio::select! {
        connected = session.wait_for_connection() => {
            assert!(connected, "the session came up");
            Ok(session)
        }
        ended = running => Err(ended.unwrap()),
    }
}

/// The `.der` files in `folder` (a PKI store's trusted or rejected certificates).
fn certificates(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "der"))
        .collect()
}

/// `VerifyRequest`s over TLS with `token`.
async fn tls_verifier(
    url: &str,
    ca_pem: &str,
    token: &str,
) -> VerifierClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        impl tonic::service::Interceptor,
    >,
> {
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(url.replace("http://", "https://"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    VerifierClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        Ok(request)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_an_encrypted_channel_a_plc_signs_in_with_its_token_and_acts_as_its_user() {
    let dir = data_dir("opcua-secure");
    let conn = store::open_local(&dir).unwrap();
    let local = Actor::local();
    let (_, gateway) = tokens::create(&conn, "camera-1", Role::Gateway, &local).unwrap();
    let (ana_id, ana) = tokens::create(&conn, "ana", Role::Controller, &local).unwrap();
    drop(conn);
    let plant = Authority::new("plant CA");
    let [cert, key] = plant.sign(
        "verigrade",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (cert_file, key_file) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    // The service has TLS and tokens: OPC UA offers encrypted endpoints only.
    let server = Process::start(
        &dir,
        &[
            ("VERIGRADE_OPCUA_LISTEN", "127.0.0.1:0".to_string()),
            ("VERIGRADE_TLS_CERT", cert_file.display().to_string()),
            ("VERIGRADE_TLS_KEY", key_file.display().to_string()),
        ],
    );
    let url = server.printed_url("opc.tcp://");
    let mut verifier = tls_verifier(&server.url, &plant.pem, &gateway).await;
    for i in 1..=3 {
        let frame = image_request(LINE, &format!("blank-{i}"), blank_png());
        verifier.verify(frame).await.unwrap();
    }

    let mut client = plc_client(&dir.join("plc-pki"));
    let endpoints = client
        .get_server_endpoints_from_url(url.as_str())
        .await
        .unwrap();
    let mut policies: Vec<String> = endpoints
        .iter()
        .map(|e| {
            assert_eq!(e.security_mode, MessageSecurityMode::SignAndEncrypt);
            let identities = e.user_identity_tokens.as_deref().unwrap_or_default();
            assert!(
                identities
                    .iter()
                    .any(|t| t.token_type == UserTokenType::UserName),
                "a user name and token are taken on {}",
                e.security_policy_uri
            );
            e.security_policy_uri.to_string()
        })
        .collect();
    policies.sort();
    assert_eq!(
        policies,
        [
            SecurityPolicy::Aes128Sha256RsaOaep.to_uri(),
            SecurityPolicy::Basic256Sha256.to_uri(),
            SecurityPolicy::Aes256Sha256RsaPss.to_uri(),
        ]
        .map(String::from)
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );

    // A PLC the server does not know yet is refused, and its certificate kept for an
    // administrator to trust.
    let ana_identity = || IdentityToken::new_user_name("ana", ana.clone());
    let pki = dir.join("opcua-pki");
    assert!(
        sign_in(
            &mut client,
            &url,
            SecurityPolicy::Basic256Sha256,
            ana_identity()
        )
        .await
        .is_err(),
        "an untrusted client certificate is refused"
    );
    let rejected = certificates(&pki.join("rejected"));
    assert_eq!(rejected.len(), 1, "the PLC's certificate is in rejected/");
    std::fs::create_dir_all(pki.join("trusted")).unwrap();
    let trusted = pki.join("trusted").join(rejected[0].file_name().unwrap());
    std::fs::rename(&rejected[0], &trusted).unwrap();

    // Trusted now; yet no session without a token, with a role that may not read the line, or
    // with another user's token.
    for (identity, who) in [
        (IdentityToken::Anonymous, "anonymous"),
        (
            IdentityToken::new_user_name("camera-1", gateway.clone()),
            "a gateway",
        ),
        (
            IdentityToken::new_user_name("bob", ana.clone()),
            "ana's token as bob",
        ),
    ] {
        assert!(
            sign_in(&mut client, &url, SecurityPolicy::Basic256Sha256, identity)
                .await
                .is_err(),
            "{who} is refused"
        );
    }

    let session = sign_in(
        &mut client,
        &url,
        SecurityPolicy::Aes256Sha256RsaPss,
        ana_identity(),
    )
    .await
    .expect("ana signs in with her token");
    let objects = children(&session, ObjectId::ObjectsFolder.into()).await;
    let line = child(&children(&session, child(&objects, "Lines")).await, LINE);
    let nodes = children(&session, line.clone()).await;
    let (state, alarm, method) = (
        child(&nodes, "State"),
        child(&nodes, "ActiveAlarmId"),
        child(&nodes, "Acknowledge"),
    );
    wait_for_state(&session, &state, "STOPPED").await;
    let alarm_id = text(&read(&session, std::slice::from_ref(&alarm)).await[0]);

    // `acknowledge` names "ana": her own name is what the token says.
    let (status, outcome) = acknowledge(&session, &line, &method, &alarm_id, "jam cleared").await;
    assert_eq!(status, StatusCode::Good);
    assert_eq!(
        outcome,
        [Variant::from(format!(
            "alarm {alarm_id} acknowledged by ana; line {LINE} RUNNING"
        ))]
    );

    // Her token revoked, her open session acts no more.
    let conn = store::open_local(&dir).unwrap();
    tokens::revoke(&conn, ana_id, &local, "left the plant").unwrap();
    drop(conn);
    let (status, _) = acknowledge(&session, &line, &method, &alarm_id, "again").await;
    assert_eq!(status, StatusCode::BadUserAccessDenied);
    let _ = session.disconnect().await;
    drop(verifier);

    let (status, printed) = server.terminate();
    assert!(status.success(), "{printed}");
    let conn = store::open_local(&dir).unwrap();
    let entries = trail::list(
        &conn,
        &AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        },
    )
    .unwrap();
    let acknowledged = entries
        .iter()
        .find(|e| e.action == "alarm.acknowledged")
        .expect("the acknowledgement is in the audit trail");
    assert_eq!(
        (acknowledged.user.as_str(), acknowledged.role.as_str()),
        ("ana", "controller")
    );
    let refused: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.action == "access.denied")
        .map(|e| (e.user.as_str(), e.record.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            ("", "opc.tcp sign-in"),
            ("camera-1", "opc.tcp sign-in"),
            ("ana", "opc.tcp sign-in"),
            ("ana", &*format!("opc.tcp Lines/{LINE}/Acknowledge")),
        ],
        "{printed}"
    );
}
