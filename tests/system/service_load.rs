//! The service under load: several cameras streaming full-size frames at once, a client that
//! stops reading, and a shutdown in the middle of a stream. Bounded in time: about 1000 frames.

use crate::support::{Process, Server, config, data_dir, gs1_text, image_request, pack_png};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{GetLineStatsRequest, RawImage, VerifyRequest, verify_request};
use verigrade::synth::{GenSpec, render};

/// A 1280x1024 raw camera frame: cluttered carton, one GS1 symbol at 6 px/module, rotated.
fn camera_frame(serial: &str, rotation_deg: f64) -> RawImage {
    let spec = GenSpec {
        text: gs1_text(serial),
        gs1: true,
        module_px: 6.0,
        rotation_deg,
        blur: 0.8,
        noise: 4.0,
        canvas: Some((1280, 1024)),
        offset: (180.0, -120.0),
        carton: true,
        ..GenSpec::default()
    };
    let image = render(&spec).unwrap().image;
    RawImage {
        width: 1280,
        height: 1024,
        stride: 1280,
        data: Bytes::from(image.into_raw()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_frames_from_four_cameras_all_get_their_verdicts_in_bounded_memory() {
    const CAMERAS: usize = 4;
    const FRAMES_PER_CAMERA: usize = 250;
    let dir = data_dir("load");
    // Its own process, so that the memory read is the service's alone: tests running beside
    // this one in the test binary allocate too.
    let server = Process::start(&dir, &[]);
    let frames: Vec<RawImage> = (0..CAMERAS)
        .map(|c| camera_frame(&format!("CAM{c}"), 17.0 + 40.0 * c as f64))
        .collect();
    let idle = server.peak_resident_bytes();

    let started = Instant::now();
    let mut cameras = Vec::new();
    for (c, frame) in frames.into_iter().enumerate() {
        let mut client = VerifierClient::connect(server.url.clone())
            .await
            .unwrap()
            .max_encoding_message_size(usize::MAX);
        cameras.push(tokio::spawn(async move {
            let requests = (0..FRAMES_PER_CAMERA).map(move |i| VerifyRequest {
                line_id: "LOAD".into(),
                camera_id: format!("cam{c}"),
                frame_id: format!("cam{c}-{i}"),
                frame: Some(verify_request::Frame::Raw(frame.clone())),
                ..VerifyRequest::default()
            });
            let mut answers = client
                .verify_stream(tokio_stream::iter(requests))
                .await
                .unwrap()
                .into_inner();
            let mut received = Vec::new();
            while let Some(answer) = answers.next().await {
                received.push((answer.unwrap(), Instant::now()));
            }
            (c, received)
        }));
    }
    let mut answered = 0;
    for camera in cameras {
        let (c, received) = camera.await.unwrap();
        assert_eq!(
            received.len(),
            FRAMES_PER_CAMERA,
            "camera {c} lost verdicts"
        );
        for (i, (verdict, _)) in received.iter().enumerate() {
            assert_eq!(verdict.frame_id, format!("cam{c}-{i}"), "out of order");
            assert!(verdict.decoded, "cam{c}-{i} not decoded");
            assert_eq!(verdict.serial, format!("CAM{c}"));
            // The first frame of each camera carries a new serial; the rest repeat it.
            assert_eq!(verdict.duplicate, i > 0, "cam{c}-{i}");
        }
        answered += received.len();
    }
    let seconds = started.elapsed().as_secs_f64();

    let stats = VerdictsClient::connect(server.url.clone())
        .await
        .unwrap()
        .get_line_stats(GetLineStatsRequest {
            line_id: "LOAD".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total as usize, CAMERAS * FRAMES_PER_CAMERA);
    assert_eq!(stats.duplicates as usize, CAMERAS * (FRAMES_PER_CAMERA - 1));
    println!(
        "load: {answered} frames from {CAMERAS} streams in {seconds:.2} s = {:.0} frames/s",
        answered as f64 / seconds
    );
    if let (Some(idle), Some(peak)) = (idle, server.peak_resident_bytes()) {
        let growth = peak as f64 - idle as f64;
        println!(
            "load: the service's peak resident growth {:.0} MB",
            growth / 1e6
        );
        // 1000 frames of 1.3 MB: holding them all would take 1.3 GB. Bounded stages hold a
        // few windows' worth per stream.
        assert!(growth < 400e6, "memory grew by {:.0} MB", growth / 1e6);
    }
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_slows_its_own_stream() {
    const FRAMES: usize = 200;
    let dir = data_dir("slow-reader");
    let server = Server::start(config(&dir)).await;
    // Full-size raw frames, so transport buffers (sized in bytes) hold only a few of them.
    let frame = camera_frame("SLOW0001", 0.0);
    let pulled = Arc::new(AtomicUsize::new(0));
    let requests = {
        let pulled = pulled.clone();
        tokio_stream::iter(0..FRAMES).map(move |i| {
            pulled.fetch_add(1, Ordering::Relaxed);
            VerifyRequest {
                line_id: "SLOW".into(),
                frame_id: format!("s{i}"),
                frame: Some(verify_request::Frame::Raw(frame.clone())),
                ..VerifyRequest::default()
            }
        })
    };
    // A small receive window: the client's transport buffers only a few unread answers (by
    // default it would take megabytes of them before the server noticed).
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .initial_stream_window_size(8192)
        .connect()
        .await
        .unwrap();
    let mut answers = verigrade::proto::verifier_client::VerifierClient::new(channel)
        .max_encoding_message_size(usize::MAX)
        .verify_stream(requests)
        .await
        .unwrap()
        .into_inner();
    // Read nothing for a while: the server must stop taking frames from this stream.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let taken_while_stalled = pulled.load(Ordering::Relaxed);
    println!("slow reader: {taken_while_stalled} of {FRAMES} frames taken while it read nothing");
    assert!(
        taken_while_stalled < FRAMES / 2,
        "the server took {taken_while_stalled} of {FRAMES} frames from a client that read no answers"
    );
    // Reading again lets the stream finish, with every verdict.
    let mut count = 0;
    while let Some(answer) = answers.next().await {
        assert_eq!(answer.unwrap().frame_id, format!("s{count}"));
        count += 1;
    }
    assert_eq!(count, FRAMES);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_stream_answers_what_it_took_ends_unavailable_and_stores_every_answer() {
    let dir = data_dir("shutdown");
    let server = Server::start(config(&dir)).await;
    let png = pack_png("STOP0001");
    let requests = tokio_stream::iter(0..10_000)
        .map(move |i| image_request("STOP", &format!("t{i}"), png.clone()))
        .throttle(Duration::from_millis(2));
    let mut answers = server
        .verifier()
        .await
        .verify_stream(requests)
        .await
        .unwrap()
        .into_inner();
    let reader = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(answer) = answers.next().await {
            match answer {
                Ok(verdict) => frames.push(verdict.frame_id),
                Err(ending) => return (frames, Some(ending)),
            }
        }
        (frames, None)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stop().await;
    let (frames, ending) = reader.await.unwrap();
    assert!(!frames.is_empty() && frames.len() < 10_000);
    // The client was still sending: a stream cut short must not look finished.
    let ending = ending.expect("a stream cut by a shutdown does not end OK");
    assert_eq!(ending.code(), tonic::Code::Unavailable, "{ending:?}");
    assert!(ending.message().contains("send them again"), "{ending:?}");
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame, &format!("t{i}"));
    }

    // Restarted on the same store: exactly the answered frames are there.
    let server = Server::start(config(&dir)).await;
    let stats = server
        .verdicts()
        .await
        .get_line_stats(GetLineStatsRequest {
            line_id: "STOP".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total as usize, frames.len());
    server.stop().await;
}
