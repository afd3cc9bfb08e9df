//! Serialization checks through the service: commissioned serials, packs that were never
//! commissioned, duplicates, data that differs from what the line was told to print, and a
//! reconciliation whose counts match what was sent.

use crate::support::{Server, config, data_dir, gs1_png, gs1_text, image_request, pack_png};
use bytes::Bytes;
use tonic::Code;
use verigrade::proto::{CommissionRequest, Expected, ReconcileRequest, Verdict};

const GTIN: &str = "09506000134352";
const BATCH: &str = "12AB34";

fn commission(line: &str, batch: &str, serials: &[&str]) -> CommissionRequest {
    CommissionRequest {
        line_id: line.into(),
        batch: batch.into(),
        gtin: GTIN.into(),
        serials: serials.iter().map(|s| s.to_string()).collect(),
    }
}

fn blank_png() -> Bytes {
    let image = image::GrayImage::from_pixel(320, 240, image::Luma([230]));
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    Bytes::from(png)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commissioned_duplicate_and_uncommissioned_serials_reconcile() {
    let dir = data_dir("serialization");
    let server = Server::start(config(&dir)).await;
    let mut serials = server.serials().await;

    // Six serials for line L1, batch 12AB34, loaded in two chunks of one stream.
    let loaded = serials
        .commission(tokio_stream::iter(vec![
            commission("L1", BATCH, &["S1", "S2", "S3", "S4", "S5"]),
            commission("L1", BATCH, &["S1", "S6"]),
        ]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((loaded.added, loaded.already, loaded.conflicts), (6, 1, 0));
    // A serial of L1 cannot be commissioned again for another line.
    let conflict = serials
        .commission(tokio_stream::iter(vec![commission("L2", "X9", &["S1"])]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((conflict.added, conflict.conflicts), (0, 1));
    assert!(
        conflict.conflict_examples[0].contains("batch 12AB34 on line L1"),
        "{:?}",
        conflict.conflict_examples
    );

    let expected = Expected {
        gtin: GTIN.into(),
        batch: BATCH.into(),
        ..Expected::default()
    };
    let wrong_check_digit = gs1_text("S4").replace("09506000134352", "09506000134353");
    let frames: Vec<(&str, Bytes, Expected)> = vec![
        ("f1", pack_png("S1"), expected.clone()),
        ("f2", pack_png("S2"), expected.clone()),
        ("f3", pack_png("S1"), expected.clone()),
        ("f4", pack_png("S9"), expected.clone()),
        ("f5", blank_png(), expected.clone()),
        (
            "f6",
            pack_png("S3"),
            Expected {
                expiry: "281130".into(),
                ..expected.clone()
            },
        ),
        ("f7", gs1_png(&wrong_check_digit), expected.clone()),
    ];
    let mut verifier = server.verifier().await;
    let mut verdicts: Vec<Verdict> = Vec::new();
    for (frame, image, expected) in frames {
        let mut request = image_request("L1", frame, image);
        request.expected = Some(expected);
        verdicts.push(verifier.verify(request).await.unwrap().into_inner());
    }
    let [f1, f2, f3, f4, f5, f6, f7] = &verdicts[..] else {
        unreachable!()
    };
    assert!(f1.pass && f2.pass, "{:?} {:?}", f1.reasons, f2.reasons);
    assert_eq!(f1.batch, BATCH);
    assert!(!f3.pass && f3.duplicate, "{:?}", f3.reasons);
    assert!(f3.reasons[0].starts_with("duplicate serial (21) S1"));
    assert!(!f4.pass && f4.not_commissioned);
    assert_eq!(f4.reasons, ["serial (21) S9 was never commissioned"]);
    assert!(!f5.pass && !f5.decoded);
    assert!(!f6.pass && !f6.not_commissioned);
    assert_eq!(
        f6.reasons,
        ["expiry (17) is 281231, the line expects 281130"]
    );
    assert!(!f7.pass);
    assert!(
        f7.reasons
            .contains(&"GS1: check digit of (01) is wrong: 3, should be 2".to_string()),
        "{:?}",
        f7.reasons
    );
    assert!(
        f7.reasons
            .contains(&"GTIN (01) is 09506000134353, the line expects 09506000134352".to_string()),
        "{:?}",
        f7.reasons
    );

    // Counts from construction: 7 frames, 2 good packs of commissioned serials.
    let report = serials
        .reconcile(ReconcileRequest {
            line_id: "L1".into(),
            batch: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.batches.len(), 1);
    let b = &report.batches[0];
    assert_eq!((b.line_id.as_str(), b.batch.as_str()), ("L1", BATCH));
    assert_eq!((b.commissioned, b.verified, b.outstanding), (6, 2, 4));
    assert_eq!((b.frames, b.passed, b.failed), (7, 2, 5));
    // f3 duplicate; f4 and f7 (another GTIN) not commissioned; f5 no read; f6 rejected.
    assert_eq!(
        (b.no_read, b.duplicate, b.not_commissioned, b.rejected),
        (1, 1, 2, 1)
    );
    assert_eq!(b.commissioned, b.verified + b.outstanding);
    assert_eq!(
        b.failed,
        b.no_read + b.duplicate + b.not_commissioned + b.rejected
    );

    // A serial commissioned for L1 fails on L2, which has a list of its own.
    let mut request = image_request("L2", "g1", pack_png("S5"));
    request.expected = Some(Expected {
        batch: "X9".into(),
        ..Expected::default()
    });
    let on_l2 = verifier.verify(request).await.unwrap().into_inner();
    assert!(on_l2.not_commissioned);
    assert_eq!(
        on_l2.reasons,
        [
            "batch (10) is 12AB34, the line expects X9",
            "serial (21) S5 was commissioned for batch 12AB34 on line L1, not batch X9 on line L2"
        ]
    );
    // A line without a commissioned list does not check serials.
    let on_l3 = verifier
        .verify(image_request("L3", "h1", pack_png("S77")))
        .await
        .unwrap()
        .into_inner();
    assert!(on_l3.pass, "{:?}", on_l3.reasons);
    assert_eq!(
        on_l3.batch, BATCH,
        "without an expected batch, the pack's (10)"
    );

    let everything = serials
        .reconcile(ReconcileRequest::default())
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<(&str, &str)> = everything
        .batches
        .iter()
        .map(|b| (b.line_id.as_str(), b.batch.as_str()))
        .collect();
    assert_eq!(keys, [("L1", BATCH), ("L2", "X9"), ("L3", BATCH)]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_serialization_input_is_invalid_argument() {
    let dir = data_dir("serialization-bad-input");
    let server = Server::start(config(&dir)).await;
    let mut serials = server.serials().await;
    let cases = [
        (
            CommissionRequest {
                gtin: "09506000134353".into(),
                ..commission("L1", BATCH, &["S1"])
            },
            "check digit of (01) is wrong",
        ),
        (commission("L1", BATCH, &["S 1"]), "\"S 1\""),
        (commission("L1", "", &["S1"]), "batch is required"),
        (
            commission("L1", BATCH, &["ABCDEFGHIJKLMNOPQRSTU"]),
            "too long",
        ),
    ];
    for (request, message) in cases {
        let status = serials
            .commission(tokio_stream::iter(vec![request]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains(message), "{}", status.message());
    }
    let mut verifier = server.verifier().await;
    let mut request = image_request("L1", "f1", pack_png("S1"));
    request.expected = Some(Expected {
        expiry: "281341".into(),
        ..Expected::default()
    });
    let status = verifier.verify(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("expected expiry"),
        "{}",
        status.message()
    );
    // The service goes on.
    let ok = verifier
        .verify(image_request("L1", "f2", pack_png("S1")))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.pass, "{:?}", ok.reasons);
    // A market profile's data rules apply in the service.
    let mut request = image_request("L1", "f3", pack_png("S2"));
    request.profile = "dscsa".into();
    let dscsa = verifier.verify(request).await.unwrap().into_inner();
    assert_eq!(
        dscsa.reasons,
        [
            "GS1: (01) 09506000134352 is not an NDC-based GTIN (after the indicator digit it must start with 03)"
        ]
    );
    server.stop().await;
}
