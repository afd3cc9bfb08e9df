//! Access control end to end: tokens created on the data directory, a real server, each role
//! calling what it may and may not. No token → UNAUTHENTICATED; a call outside the role →
//! PERMISSION_DENIED; a revoked token refused; the acting user taken from the token, never
//! from a request field; every refusal in the audit trail.

use crate::support::{Server, config, data_dir, first_alarm, image_request, pack_png};
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use verigrade::access::{Actor, Role};
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::audit_client::AuditClient;
use verigrade::proto::{
    AcknowledgeAlarmRequest, CloseBatchRequest, CommissionRequest, ListAlarmsRequest,
    ListAuditRequest, ListVerdictsRequest, ReconcileRequest, ReopenBatchRequest, VerifyRequest,
};
use verigrade::store::{self, tokens};

const LINE: &str = "L1";
const BATCH: &str = "12AB34";

/// `message` with `authorization: Bearer token`.
fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn frame(id: &str, serial: &str) -> VerifyRequest {
    image_request(LINE, id, pack_png(serial))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_does_what_it_may_and_is_refused_the_rest_by_name() {
    let dir = data_dir("access-roles");
    let conn = store::open_local(&dir).unwrap();
    let local = Actor::local();
    let (_, gateway) = tokens::create(&conn, "camera-1", Role::Gateway, &local).unwrap();
    let (_, controller) = tokens::create(&conn, "ana", Role::Controller, &local).unwrap();
    let (_, qa) = tokens::create(&conn, "quinn", Role::Qa, &local).unwrap();
    let (revoked_id, revoked) = tokens::create(&conn, "old-cam", Role::Gateway, &local).unwrap();
    drop(conn);
    let server = Server::start(config(&dir)).await;
    let mut verifier = server.verifier().await;

    // Health needs no token; everything else does.
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    health.check(HealthCheckRequest::default()).await.unwrap();
    let refused = verifier.verify(frame("f0", "S0")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("requires a token"),
        "{}",
        refused.message()
    );
    let forged = verifier
        .verify(authed(frame("f0", "S0"), "vgt_not-a-real-token"))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);

    // The gateway sends frames, and nothing else.
    let verdict = verifier
        .verify(authed(frame("f1", "S1"), &gateway))
        .await
        .unwrap()
        .into_inner();
    assert!(verdict.pass, "{:?}", verdict.reasons);
    let chunk = CommissionRequest {
        line_id: LINE.into(),
        batch: BATCH.into(),
        gtin: "09506000134352".into(),
        serials: vec!["S1".into(), "S2".into()],
    };
    let denied = server
        .serials()
        .await
        .commission(authed(tokio_stream::iter(vec![chunk.clone()]), &gateway))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "camera-1 (gateway) may not commission serials: /verigrade.v1.Serials/Commission needs the role qa, admin"
    );
    let denied = server
        .verdicts()
        .await
        .list_verdicts(authed(ListVerdictsRequest::default(), &gateway))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The controller reads and acknowledges, as itself only; it may not send frames.
    let listed = server
        .verdicts()
        .await
        .list_verdicts(authed(ListVerdictsRequest::default(), &controller))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.verdicts.len(), 1);
    let denied = verifier
        .verify(authed(frame("f2", "S2"), &controller))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    verifier
        .verify(authed(frame("f3", "S1"), &gateway))
        .await
        .unwrap(); // a duplicate: raises an alarm
    let mut alarms = AlarmsClient::connect(server.url.clone()).await.unwrap();
    let alarm = first_alarm(&mut alarms, || {
        authed(ListAlarmsRequest::default(), &controller)
    })
    .await;
    let as_someone_else = alarms
        .acknowledge_alarm(authed(
            AcknowledgeAlarmRequest {
                alarm_id: alarm.alarm_id.clone(),
                user: "bob".into(),
                comment: "removed".into(),
            },
            &controller,
        ))
        .await
        .unwrap_err();
    assert_eq!(as_someone_else.code(), Code::PermissionDenied);
    assert!(as_someone_else.message().contains("cannot act as bob"));
    let acknowledged = alarms
        .acknowledge_alarm(authed(
            AcknowledgeAlarmRequest {
                alarm_id: alarm.alarm_id,
                user: String::new(),
                comment: "removed".into(),
            },
            &controller,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acknowledged.acknowledged_by, "ana", "the token's user");

    // qa commissions, signs a batch, reads the trail; the controller may do neither.
    let mut serials = server.serials().await;
    serials
        .commission(authed(tokio_stream::iter(vec![chunk]), &qa))
        .await
        .unwrap();
    let close = CloseBatchRequest {
        line_id: LINE.into(),
        batch: BATCH.into(),
        meaning: "approved".into(),
    };
    let denied = serials
        .close_batch(authed(close.clone(), &controller))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let closure = serials
        .close_batch(authed(close.clone(), &qa))
        .await
        .unwrap()
        .into_inner();
    assert!(closure.closed);
    assert_eq!(closure.user, "quinn");
    assert_eq!(closure.records_sha256.len(), 64);
    let again = serials.close_batch(authed(close, &qa)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(
        again.message().contains("closed already, by quinn"),
        "{}",
        again.message()
    );
    let late = verifier
        .verify(authed(frame("f4", "S2"), &gateway))
        .await
        .unwrap()
        .into_inner();
    assert!(!late.pass);
    assert!(
        late.reasons[0].starts_with("batch 12AB34 was closed by quinn at "),
        "{:?}",
        late.reasons
    );
    let reconciled = serials
        .reconcile(authed(
            ReconcileRequest {
                line_id: LINE.into(),
                batch: BATCH.into(),
            },
            &controller,
        ))
        .await
        .unwrap()
        .into_inner()
        .batches;
    assert!(reconciled[0].closed);
    assert_eq!(reconciled[0].frames, 2, "frozen at signing");
    assert_eq!(reconciled[0].after_close, 1);
    let no_reason = serials
        .reopen_batch(authed(
            ReopenBatchRequest {
                line_id: LINE.into(),
                batch: BATCH.into(),
                reason: String::new(),
            },
            &qa,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    serials
        .reopen_batch(authed(
            ReopenBatchRequest {
                line_id: LINE.into(),
                batch: BATCH.into(),
                reason: "deviation 17: re-inspection".into(),
            },
            &qa,
        ))
        .await
        .unwrap();

    // A revoked token is refused at once, while the server runs.
    let conn = store::open_local(&dir).unwrap();
    tokens::revoke(&conn, revoked_id, &local, "camera replaced").unwrap();
    drop(conn);
    let gone = verifier
        .verify(authed(frame("f5", "S5"), &revoked))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::Unauthenticated);
    assert!(gone.message().contains("was revoked"), "{}", gone.message());

    // The trail: qa reads it; each refusal is in it, and the acting users are the tokens'.
    let mut audit = AuditClient::connect(server.url.clone()).await.unwrap();
    let denied = audit
        .list_audit(authed(ListAuditRequest::default(), &controller))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let entries = audit
        .list_audit(authed(
            ListAuditRequest {
                page_size: 1000,
                ..ListAuditRequest::default()
            },
            &qa,
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let of = |action: &str| -> Vec<(String, String)> {
        entries
            .iter()
            .filter(|e| e.action == action)
            .map(|e| (e.user.clone(), e.role.clone()))
            .collect()
    };
    assert_eq!(
        of("verdict.stored"),
        vec![("camera-1".to_string(), "gateway".to_string()); 3]
    );
    assert_eq!(
        of("alarm.acknowledged"),
        vec![("ana".into(), "controller".into())]
    );
    assert_eq!(of("batch.closed"), vec![("quinn".into(), "qa".into())]);
    assert_eq!(of("batch.reopened"), vec![("quinn".into(), "qa".into())]);
    let denials = of("access.denied");
    assert_eq!(denials.len(), 9, "{denials:?}");
    assert!(denials.contains(&("old-cam".into(), "open".into())));
    server.stop().await;
}
