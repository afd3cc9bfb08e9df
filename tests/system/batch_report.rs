//! `verigrade batch report` on a batch whose story is known: six serials commissioned, three
//! verified, one duplicate that stops the line and is acknowledged, one pack whose print and
//! serial both fail, the signature, and a pack after it. The report must say each of these as
//! the service does: its reconciliation is the Reconcile answer, its grades the packs' grades,
//! its deviations and alarms the ones that happened, every failed pack listed with its frame.

use crate::support::{Server, config, data_dir, first_alarm, image_request, pack_png};
use bytes::Bytes;
use std::process::Command;
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::{
    AcknowledgeAlarmRequest, CloseBatchRequest, CommissionRequest, ListAlarmsRequest,
    ReconcileRequest,
};

const LINE: &str = "R1";
/// The batch `support::gs1_text` and `samples/failing.png` print.
const BATCH: &str = "12AB34";

/// A table row of the report: its header cell and its number.
fn row(name: &str, n: u64) -> String {
    format!("<tr><th>{name}</th><td class=num>{n}</td>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_report_tells_the_batch_as_the_service_recorded_it() {
    let dir = data_dir("batch-report");
    let server = Server::start(config(&dir)).await;
    server
        .serials()
        .await
        .commission(tokio_stream::iter(vec![CommissionRequest {
            line_id: LINE.into(),
            batch: BATCH.into(),
            gtin: "09506000134352".into(),
            serials: (1..=6).map(|i| format!("S{i}")).collect(),
        }]))
        .await
        .unwrap();
    let mut verifier = server.verifier().await;
    let failing = Bytes::from(std::fs::read("samples/failing.png").unwrap());
    let frames = [
        ("f1", pack_png("S1")),
        ("f2", pack_png("S2")),
        ("f3", pack_png("S3")),
        ("f4", pack_png("S1")),
        // Grade D, and its serial SN00001004 was never commissioned.
        ("f5", failing),
    ];
    for (frame, image) in frames {
        verifier
            .verify(image_request(LINE, frame, image))
            .await
            .unwrap();
    }
    let mut alarms = AlarmsClient::connect(server.url.clone()).await.unwrap();
    let list = || {
        tonic::Request::new(ListAlarmsRequest {
            line_id: LINE.into(),
            ..ListAlarmsRequest::default()
        })
    };
    let raised = first_alarm(&mut alarms, list).await;
    alarms
        .acknowledge_alarm(AcknowledgeAlarmRequest {
            alarm_id: raised.alarm_id,
            user: "ana".into(),
            comment: "pack removed from the line".into(),
        })
        .await
        .unwrap();
    server
        .serials()
        .await
        .close_batch(CloseBatchRequest {
            line_id: LINE.into(),
            batch: BATCH.into(),
            meaning: "approved".into(),
        })
        .await
        .unwrap();
    verifier
        .verify(image_request(LINE, "f6", pack_png("S5")))
        .await
        .unwrap();
    let reconciliation = server
        .serials()
        .await
        .reconcile(ReconcileRequest {
            line_id: LINE.into(),
            batch: BATCH.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .batches
        .remove(0);

    let file = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args(["batch", "report", "--server", &server.url, "--line", LINE])
        .args(["--batch", BATCH, "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&file).unwrap();

    // The reconciliation is the service's, frozen at the signature, with the late pack apart.
    let r = &reconciliation;
    for (name, n) in [
        ("commissioned", r.commissioned),
        ("verified on a passing pack", r.verified),
        ("outstanding", r.outstanding),
        ("frames", r.frames),
        ("passed", r.passed),
        ("failed", r.failed),
        ("no-read", r.no_read),
        ("duplicate", r.duplicate),
        ("not commissioned", r.not_commissioned),
        ("rejected for quality or data", r.rejected),
        ("stored after signing", r.after_close),
    ] {
        assert!(html.contains(&row(name, n)), "{name} {n}: {html}");
    }
    assert_eq!(
        (
            r.commissioned,
            r.verified,
            r.outstanding,
            r.frames,
            r.passed
        ),
        (6, 3, 3, 5, 3)
    );
    assert_eq!((r.duplicate, r.after_close), (1, 1));
    assert!(html.contains("Signed <b>approved</b>"), "{html}");
    // Grades of all six packs: five clean ones A, the failing print D.
    assert!(
        html.contains("<tr><th>A</th><td class=num>5</td>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><th>D</th><td class=num>1</td>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><th>F</th><td class=num>0</td>"),
        "{html}"
    );
    // What needs explaining.
    for deviation in [
        "3 commissioned serials were not verified on a passing pack",
        "1 pack carried a serial already seen (duplicate)",
        "1 pack of the batch came after it was signed",
    ] {
        assert!(html.contains(deviation), "{deviation}: {html}");
    }
    // The duplicate's alarm, with who acknowledged it and why.
    assert!(
        html.contains("duplicate_serial") && html.contains("<td>ana</td>"),
        "{html}"
    );
    assert!(html.contains("pack removed from the line"), "{html}");
    // Every failed pack; the frame of the one that failed its grading (the duplicate and the
    // late pack were read cleanly and failed at the store: their frames are not kept).
    let failures = html.split("id=failures").nth(1).unwrap();
    let failures = failures.split("</table>").next().unwrap();
    for frame in ["f4", "f5", "f6"] {
        assert!(failures.contains(&format!("<td>{frame}</td>")), "{frame}");
    }
    let frames = html.split("Frames of failed packs").nth(1).unwrap();
    assert_eq!(
        frames.matches("<img src=\"data:image/png;base64,").count(),
        1
    );
    assert!(frames.contains("alt=\"frame f5\""), "{frames}");

    let unknown = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args(["batch", "report", "--server", &server.url, "--line", LINE])
        .args(["--batch", "NOPE"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no batch \"NOPE\""), "{stderr}");
    server.stop().await;
}
