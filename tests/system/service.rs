//! The gRPC service end to end: a real server on a loopback port, driven by a tonic client.

use crate::support::{Process, Server, config, data_dir, gs1_text, image_request, pack_png};
use bytes::Bytes;
use prost::Message as _;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;
use verigrade::proto::{
    GetLineStatsRequest, GetVerdictRequest, ListVerdictsRequest, RawImage, VerifyRequest,
    WatchVerdictsRequest, verify_request,
};

/// `status` has `code`, and its message names `mentions`.
fn assert_status(status: &tonic::Status, code: Code, mentions: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(mentions), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_gets_its_verdicts_in_order_and_a_corrupt_frame_does_not_end_it() {
    let dir = data_dir("stream-order");
    let server = Server::start(config(&dir)).await;
    let serials: Vec<String> = (0..12).map(|i| format!("ORDER{i:04}")).collect();
    let corrupt_at = 5;
    let mut requests: Vec<VerifyRequest> = serials
        .iter()
        .enumerate()
        .map(|(i, s)| image_request("L1", &format!("f{i}"), pack_png(s)))
        .collect();
    requests[corrupt_at].frame = Some(verify_request::Frame::Image(Bytes::from_static(
        b"\x89PNG\r\n\x1a\n truncated",
    )));
    let answers: Vec<_> = server
        .verifier()
        .await
        .verify_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;

    assert_eq!(answers.len(), serials.len());
    for (i, answer) in answers.into_iter().enumerate() {
        let verdict = answer.unwrap();
        assert_eq!(verdict.frame_id, format!("f{i}"));
        if i == corrupt_at {
            let error = verdict
                .error
                .expect("the corrupt frame is answered in band");
            assert_eq!(error.code, Code::InvalidArgument as i32);
            assert!(error.message.contains("image"), "{}", error.message);
            assert!(!verdict.pass);
        } else {
            assert!(verdict.error.is_none());
            assert!(verdict.decoded);
            assert_eq!(verdict.text, gs1_text(&serials[i]));
            assert_eq!(verdict.serial, serials[i]);
            assert_eq!(verdict.gtin, "09506000134352");
            assert!(verdict.pass, "{:?}", verdict.reasons);
            assert_eq!(verdict.grade_letter, "A");
            assert_eq!(verdict.parameters.len(), 8);
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_serial_fails_as_a_duplicate_and_a_retried_frame_is_not_counted_twice() {
    let dir = data_dir("duplicate");
    let server = Server::start(config(&dir)).await;
    let mut client = server.verifier().await;
    let png = pack_png("DUP000001");
    let first = client
        .verify(image_request("L1", "a", png.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(first.pass && !first.duplicate);
    // Same frame id again: a gateway's retry gets the stored verdict back.
    let retry = client
        .verify(image_request("L1", "a", png.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first);
    // Same serial on another frame, even of another line: a duplicate.
    let second = client
        .verify(image_request("L2", "b", png))
        .await
        .unwrap()
        .into_inner();
    assert!(second.duplicate && !second.pass);
    assert!(
        second
            .reasons
            .iter()
            .any(|r| r.contains("duplicate serial (21) DUP000001") && r.contains("frame a")),
        "{:?}",
        second.reasons
    );
    let mut verdicts = server.verdicts().await;
    let l1 = verdicts
        .get_line_stats(GetLineStatsRequest {
            line_id: "L1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((l1.total, l1.passed, l1.duplicates), (1, 1, 0));
    let all = verdicts
        .get_line_stats(GetLineStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (all.total, all.passed, all.failed, all.duplicates),
        (2, 1, 1, 1)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_with_a_message_and_the_service_goes_on() {
    let dir = data_dir("bad-input");
    let mut settings = config(&dir);
    settings.limits.max_frame_bytes = 200_000;
    settings.limits.max_pixels = 1_000_000;
    let server = Server::start(settings).await;
    let mut client = server.verifier().await;
    let raw = |width, height, stride, len: usize| VerifyRequest {
        line_id: "L1".into(),
        frame: Some(verify_request::Frame::Raw(RawImage {
            width,
            height,
            stride,
            data: Bytes::from(vec![255u8; len]),
        })),
        ..VerifyRequest::default()
    };
    let cases: Vec<(VerifyRequest, &str)> = vec![
        (
            image_request("L1", "", Bytes::from_static(b"not an image at all")),
            "not a readable image",
        ),
        (raw(0, 10, 10, 100), "zero size"),
        (
            raw(100, 10, 50, 1000),
            "stride 50 is smaller than the width 100",
        ),
        (raw(100, 100, 100, 5000), "truncated"),
        (raw(2000, 1000, 2000, 100), "exceeds the limit"),
        (
            image_request("L1", "", Bytes::from(vec![0u8; 300_000])),
            "exceeds the limit of 200000",
        ),
        (
            VerifyRequest {
                profile: "no-such-profile".into(),
                ..image_request("L1", "", pack_png("X1"))
            },
            "unknown profile",
        ),
        (image_request("", "", pack_png("X2")), "line_id is required"),
        (
            image_request(&"L".repeat(129), "", pack_png("X3")),
            "line_id is 129 bytes, over the limit of 128",
        ),
        (
            VerifyRequest {
                camera_id: "cam\0".into(),
                ..image_request("L1", "", pack_png("X4"))
            },
            "camera_id holds control character U+0000",
        ),
        (
            image_request("L1", "f\u{7}", pack_png("X5")),
            "frame_id holds control character U+0007",
        ),
        (
            VerifyRequest {
                profile: "iso15415\n".into(),
                ..image_request("L1", "", pack_png("X6"))
            },
            "profile holds control character U+000A",
        ),
        (
            VerifyRequest {
                line_id: "L1".into(),
                ..VerifyRequest::default()
            },
            "image or raw is required",
        ),
    ];
    for (request, message) in cases {
        let status = client.verify(request).await.unwrap_err();
        assert_status(&status, Code::InvalidArgument, message);
    }
    let good = client
        .verify(image_request("L1", "", pack_png("AFTER0001")))
        .await
        .unwrap()
        .into_inner();
    assert!(good.pass);
    assert_eq!(good.frame_id, "auto-1", "rejected frames are not stored");
    let longest = client
        .verify(image_request(&"L".repeat(128), "", pack_png("AFTER0002")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(longest.line_id.len(), 128, "an id at the limit is taken");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_verdicts_are_listed_by_page_and_filter_and_watched_live() {
    let dir = data_dir("list-watch");
    let server = Server::start(config(&dir)).await;
    let mut verdicts = server.verdicts().await;
    let mut watch = verdicts
        .watch_verdicts(WatchVerdictsRequest {
            line_id: "L7".into(),
            ..WatchVerdictsRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut client = server.verifier().await;
    let blank = {
        let mut png = Vec::new();
        image::GrayImage::from_pixel(200, 150, image::Luma([200u8]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        Bytes::from(png)
    };
    for i in 0..7 {
        let image = if i % 3 == 2 {
            blank.clone()
        } else {
            pack_png(&format!("LIST{i:03}"))
        };
        client
            .verify(image_request("L7", &format!("p{i}"), image))
            .await
            .unwrap();
    }
    client
        .verify(image_request("other", "x", pack_png("OTHER1")))
        .await
        .unwrap();

    // The live feed saw every L7 verdict, in order, and not the other line's.
    for i in 0..7 {
        let seen = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watcher is fed")
            .unwrap()
            .unwrap();
        assert_eq!(seen.frame_id, format!("p{i}"));
    }

    let one = verdicts
        .get_verdict(GetVerdictRequest {
            line_id: "L7".into(),
            frame_id: "p2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!one.decoded && !one.pass);
    assert!(!one.evidence.is_empty(), "a failed frame is kept");
    assert_eq!(
        std::fs::read(dir.join("evidence").join(&one.evidence)).unwrap(),
        blank
    );
    let missing = verdicts
        .get_verdict(GetVerdictRequest {
            line_id: "L7".into(),
            frame_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Pages of three, newest first, until the token runs out.
    let mut frames = Vec::new();
    let mut token = String::new();
    loop {
        let page = verdicts
            .list_verdicts(ListVerdictsRequest {
                line_id: "L7".into(),
                page_size: 3,
                page_token: token,
                ..ListVerdictsRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        frames.extend(page.verdicts.into_iter().map(|v| v.frame_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(frames, ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]);
    let failed = verdicts
        .list_verdicts(ListVerdictsRequest {
            line_id: "L7".into(),
            only_failed: true,
            ..ListVerdictsRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let failed: Vec<_> = failed
        .verdicts
        .iter()
        .map(|v| v.frame_id.as_str())
        .collect();
    assert_eq!(failed, ["p5", "p2"]);
    let bad_token = verdicts
        .list_verdicts(ListVerdictsRequest {
            page_token: "xyz".into(),
            ..ListVerdictsRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);

    let stats = verdicts
        .get_line_stats(GetLineStatsRequest {
            line_id: "L7".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (stats.total, stats.passed, stats.failed, stats.no_read),
        (7, 5, 2, 2)
    );
    let grades: Vec<(String, u64)> = stats
        .grade_distribution
        .into_iter()
        .map(|g| (g.letter, g.count))
        .collect();
    assert_eq!(grades[0], ("A".to_string(), 5));
    assert_eq!(grades[4], ("F".to_string(), 2));
    assert!((stats.mean_grade - 20.0 / 7.0).abs() < 1e-9);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = data_dir("health");
    let server = Server::start(config(&dir)).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "verigrade.v1.Verifier", "verigrade.v1.Verdicts"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("no service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "verigrade.v1.Verifier",
        "verigrade.v1.Verdicts",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    server.stop().await;
}

/// The binary, killed with SIGKILL mid-run and started again on the same data dir, still has
/// every verdict it answered.
#[cfg(unix)]
#[test]
fn every_answered_verdict_survives_a_kill_and_restart() {
    let dir = data_dir("kill");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let server = Process::start(&dir, &[]);
    let answered = runtime.block_on(async {
        let mut client =
            verigrade::proto::verifier_client::VerifierClient::connect(server.url.clone())
                .await
                .unwrap();
        let mut answered = Vec::new();
        for i in 0..6 {
            let v = client
                .verify(image_request(
                    "K",
                    &format!("k{i}"),
                    pack_png(&format!("KILL{i}")),
                ))
                .await
                .unwrap()
                .into_inner();
            answered.push(v);
        }
        answered
    });
    server.kill();

    let server = Process::start(&dir, &[]);
    let url = server.url.clone();
    runtime.block_on(async {
        let mut verdicts = verigrade::proto::verdicts_client::VerdictsClient::connect(url.clone())
            .await
            .unwrap();
        for v in &answered {
            let stored = verdicts
                .get_verdict(GetVerdictRequest {
                    line_id: "K".into(),
                    frame_id: v.frame_id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(&stored, v);
        }
        let stats = verdicts
            .get_line_stats(GetLineStatsRequest {
                line_id: "K".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.total, 6);
        // The serial index survived too: printing KILL0 again is a duplicate.
        let mut client = verigrade::proto::verifier_client::VerifierClient::connect(url)
            .await
            .unwrap();
        let again = client
            .verify(image_request("K", "k-again", pack_png("KILL0")))
            .await
            .unwrap()
            .into_inner();
        assert!(again.duplicate);
    });
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_region_of_interest_limits_the_search_and_a_camera_can_have_its_own() {
    let dir = data_dir("roi");
    let mut config = config(&dir);
    config.lines = verigrade::serve::config::Config::parse(
        "[lines.ROI]\nroi = [0, 0, 60, 60]\n[lines.ROI.cameras.wide]\nroi = [0, 0, 320, 240]\n",
        "test",
    )
    .unwrap()
    .lines;
    let server = Server::start(config).await;
    let mut client = server.verifier().await;
    let verdict = |camera: &str, frame: &str| {
        let mut request = image_request("ROI", frame, pack_png(&format!("ROI{frame}")));
        request.camera_id = camera.into();
        request
    };
    // The symbol is centred on the canvas, outside the line's corner region.
    let corner = client
        .verify(verdict("narrow", "1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!corner.decoded && !corner.pass, "{corner:?}");
    // Twice on the wide camera: the second frame starts where the first symbol was.
    for frame in ["2", "3"] {
        let wide = client
            .verify(verdict("wide", frame))
            .await
            .unwrap()
            .into_inner();
        assert!(wide.decoded, "{wide:?}");
        assert_eq!(wide.serial, format!("ROI{frame}"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_frame_answers_every_symbol_and_its_count() {
    let dir = data_dir("crowd");
    let server = Server::start(config(&dir)).await;
    let mut client = server.verifier().await;
    let spec = verigrade::synth::CrowdSpec {
        count: 6,
        canvas: (960, 640),
        size: Some("22x22".into()),
        module_px: 5.0,
        seed: 7,
        ..verigrade::synth::CrowdSpec::default()
    };
    let rendered = verigrade::synth::render_crowd(&spec).unwrap();
    let truth = rendered.truth.symbols;
    let mut png = Vec::new();
    rendered
        .image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let request = |frame: &str, count: u32| {
        let mut request = image_request("CASE", frame, Bytes::from(png.clone()));
        request.expected = Some(verigrade::proto::Expected {
            count,
            ..Default::default()
        });
        request
    };
    let verdict = client.verify(request("1", 6)).await.unwrap().into_inner();
    assert!(verdict.pass, "{:?}", verdict.reasons);
    assert_eq!(verdict.symbols.len(), 6);
    let mut serials: Vec<&str> = verdict.symbols.iter().map(|s| s.serial.as_str()).collect();
    let mut expected: Vec<String> = truth
        .iter()
        .map(|s| s.text.rsplit("\u{1d}21").next().unwrap().to_string())
        .collect();
    serials.sort_unstable();
    expected.sort_unstable();
    assert_eq!(serials, expected);
    for symbol in &verdict.symbols {
        assert!(symbol.pass && symbol.decoded && symbol.corners.len() == 4);
        assert_eq!(symbol.parameters.len(), 8);
    }
    // The same case held up as seven: the frame fails and says what it held.
    let short = client.verify(request("2", 7)).await.unwrap().into_inner();
    assert!(!short.pass);
    assert!(
        short
            .reasons
            .contains(&"the frame holds 6 symbols, the line expects 7".to_string()),
        "{:?}",
        short.reasons
    );
    server.stop().await;
}

/// A message the transport refuses (too large; a string that is not UTF-8) ends the stream with
/// its own code once the frames before it are answered: never OK with frames unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_ends_the_stream_with_its_code_after_the_frames_before_it() {
    let dir = data_dir("refused");
    let mut settings = config(&dir);
    settings.limits.max_frame_bytes = 100_000;
    let server = Server::start(settings).await;

    // Past the transport's limit (twice max_frame_bytes, plus 1 MiB).
    let requests = vec![
        image_request("L1", "a1", pack_png("REF0001")),
        image_request("L1", "a2", Bytes::from(vec![0u8; 2 << 20])),
        image_request("L1", "a3", pack_png("REF0003")),
    ];
    let answers: Vec<_> = server
        .verifier()
        .await
        .verify_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].as_ref().unwrap().frame_id, "a1");
    let ending = answers[1].as_ref().unwrap_err();
    assert_eq!(ending.code(), Code::ResourceExhausted, "{ending:?}");

    // A line_id that is not UTF-8, from a client that does not check its strings.
    #[derive(Clone, PartialEq, prost::Message)]
    struct LooseRequest {
        #[prost(bytes = "vec", tag = "1")]
        line_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        frame_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        image: Vec<u8>,
    }
    let loose = |line: &[u8], frame: &str| LooseRequest {
        line_id: line.to_vec(),
        frame_id: frame.as_bytes().to_vec(),
        image: pack_png(frame).to_vec(),
    };
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let requests = vec![
        loose(b"L1", "U1"),
        loose(&[b'L', 0xff, 0xfe], "U2"),
        loose(b"L1", "U3"),
    ];
    let answers: Vec<_> = grpc
        .streaming(
            tonic::Request::new(tokio_stream::iter(requests)),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/verigrade.v1.Verifier/VerifyStream",
            ),
            tonic_prost::ProstCodec::<LooseRequest, verigrade::proto::Verdict>::default(),
        )
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].as_ref().unwrap().frame_id, "U1");
    let ending = answers[1].as_ref().unwrap_err();
    assert_eq!(ending.code(), Code::InvalidArgument, "{ending:?}");
    server.stop().await;
}

/// Idle streams close; one client cannot hold every stream or unary call; a frame budget of one and a half
/// frames still answers every frame (each waits for the budget), and a frame the whole budget
/// cannot hold is refused, on a stream and in a unary call, naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_close_one_client_gets_its_share_and_the_frame_budget_holds_frames_back() {
    let dir = data_dir("limits");
    let mut settings = config(&dir);
    settings.limits.stream_idle_timeout = 1;
    settings.limits.max_streams_per_client = 2;
    let big: Vec<VerifyRequest> = (0..6)
        .map(|i| image_request("L1", &format!("big{i}"), pack_png(&format!("BIG{i}"))))
        .collect();
    let largest = big.iter().map(|r| r.encoded_len()).max().unwrap();
    settings.limits.max_inflight_bytes = (largest + largest / 2) as u64;
    let server = Server::start(settings).await;

    // Two streams held open by this client: a third is refused with the per-client limit.
    let mut held = Vec::new();
    for i in 0..2 {
        let (tx, rx) = tokio::sync::mpsc::channel::<VerifyRequest>(4);
        let frame = image_request("L1", &format!("held{i}"), pack_png(&format!("HELD{i}")));
        tx.send(frame).await.unwrap();
        let answers = server
            .verifier()
            .await
            .verify_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        held.push((tx, answers));
    }
    let refused = server
        .verifier()
        .await
        .verify_stream(tokio_stream::iter(Vec::<VerifyRequest>::new()))
        .await
        .unwrap_err();
    // A unary call is an open call too: refused alike while both streams are held.
    let unary = server
        .verifier()
        .await
        .verify(image_request("L1", "third", pack_png("THIRD")))
        .await
        .unwrap_err();
    for refused in [refused, unary] {
        assert_status(
            &refused,
            Code::ResourceExhausted,
            "max_streams_per_client 2",
        );
    }

    // Each held stream answers its frame, then closes for idleness: UNAVAILABLE, not OK.
    for (tx, mut answers) in held {
        assert!(answers.next().await.unwrap().unwrap().pass);
        let ending = answers.next().await.unwrap().unwrap_err();
        assert_status(&ending, Code::Unavailable, "stream_idle_timeout");
        assert!(answers.next().await.is_none());
        drop(tx);
    }

    // Frames of which the budget holds one at a time, on a new stream: all answered, in order.
    let answers: Vec<_> = server
        .verifier()
        .await
        .verify_stream(tokio_stream::iter(big.clone()))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let frames: Vec<String> = answers.into_iter().map(|a| a.unwrap().frame_id).collect();
    assert_eq!(frames, ["big0", "big1", "big2", "big3", "big4", "big5"]);

    // A frame of twice the budget: the stream answers the frame before it, then ends
    // RESOURCE_EXHAUSTED; a unary call with it is refused alike; the server goes on.
    let mut too_big = image_request("L1", "too-big", pack_png("TOOBIG"));
    too_big.frame = Some(verify_request::Frame::Image(Bytes::from(vec![
        0u8;
        3 * largest
    ])));
    let mut answers = server
        .verifier()
        .await
        .verify_stream(tokio_stream::iter([
            image_request("L1", "before", pack_png("BEFORE")),
            too_big.clone(),
        ]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answers.next().await.unwrap().unwrap().frame_id, "before");
    let ending = answers.next().await.unwrap().unwrap_err();
    for refused in [
        ending,
        server.verifier().await.verify(too_big).await.unwrap_err(),
    ] {
        assert_status(&refused, Code::ResourceExhausted, "max_inflight_bytes");
    }
    let after = server
        .verifier()
        .await
        .verify(image_request("L1", "after", pack_png("AFTER")))
        .await
        .unwrap();
    assert!(after.into_inner().pass);
    server.stop().await;
}
