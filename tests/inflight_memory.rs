//! Memory under the in-flight budget (`max_inflight_bytes`): many streams sending 5000×5000
//! raw frames at once. The server's peak resident memory (VmHWM, read from /proc) may grow
//! past its idle size by the budget, plus a few MiB per open stream whatever its frames' size
//! (a stream's next message is not read from the transport until its share of the budget is
//! free, so what it holds outside the budget is HTTP/2's 4 MiB receive window and the
//! connection's buffers: about 10 MiB per stream measured), plus the frames being read; not by
//! streams × frame size. Before messages were read within the budget, tonic's decode buffer
//! kept each stream's largest frame outside it: the same run grew by 382–465 MiB, and by
//! 694 MiB without a budget.

mod support;

use bytes::Bytes;
use support::{Process, data_dir};
use tokio_stream::StreamExt;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{RawImage, VerifyRequest, verify_request};

const SIDE: usize = 5000;
const FRAME_BYTES: usize = SIDE * SIDE;
const STREAMS: usize = 8;
const FRAMES_PER_STREAM: usize = 4;
const BUDGET: usize = 64 << 20;
/// What an open stream may hold outside the budget: HTTP/2's 4 MiB receive window and the
/// connection's buffers (measured about 10 MiB), whatever the size of its frames.
const PER_STREAM: usize = 16 << 20;
/// Frames being read at once: the server reads on as many workers as this machine has cores.
fn readers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A flat light frame with one dark band: cheap to read, and the same size as a real one.
fn frame() -> Bytes {
    let mut data = vec![200u8; FRAME_BYTES];
    for row in data.chunks_exact_mut(SIDE).skip(2000).take(100) {
        row[1000..4000].fill(30);
    }
    Bytes::from(data)
}

/// Sends every stream's frames at once; returns (answers received, streams ended non-OK).
async fn send_all(url: &str, frame: &Bytes) -> (usize, usize) {
    let streams: Vec<_> = (0..STREAMS)
        .map(|s| {
            let (url, frame) = (url.to_string(), frame.clone());
            tokio::spawn(async move {
                let mut client = VerifierClient::connect(url)
                    .await
                    .unwrap()
                    .max_decoding_message_size(64 << 20);
                let requests = (0..FRAMES_PER_STREAM).map(move |i| VerifyRequest {
                    line_id: format!("L{s}"),
                    frame_id: format!("s{s}-f{i}"),
                    frame: Some(verify_request::Frame::Raw(RawImage {
                        width: SIDE as u32,
                        height: SIDE as u32,
                        stride: SIDE as u32,
                        data: frame.clone(),
                    })),
                    ..VerifyRequest::default()
                });
                let mut answers = match client.verify_stream(tokio_stream::iter(requests)).await {
                    Ok(response) => response.into_inner(),
                    Err(_) => return (0, 1),
                };
                let mut received = 0;
                while let Some(answer) = answers.next().await {
                    match answer {
                        Ok(_) => received += 1,
                        Err(_) => return (received, 1),
                    }
                }
                (received, 0)
            })
        })
        .collect();
    let mut totals = (0, 0);
    for stream in streams {
        let (received, failed) = stream.await.unwrap();
        totals = (totals.0 + received, totals.1 + failed);
    }
    totals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_of_5000x5000_frames_stay_within_the_inflight_budget() {
    let dir = data_dir("inflight-memory");
    let server = Process::start(
        &dir,
        &[("VERIGRADE_MAX_INFLIGHT_BYTES", BUDGET.to_string())],
    );
    let Some(idle) = server.peak_resident_bytes() else {
        eprintln!("SKIPPED: no /proc/PID/status to read the server's memory from");
        return;
    };
    let frame = frame();
    let (answered, failed) = send_all(&server.url, &frame).await;
    let peak = server.peak_resident_bytes().unwrap();
    let grown = peak.saturating_sub(idle) as usize;
    let allowed = BUDGET + STREAMS * PER_STREAM + readers() * FRAME_BYTES + (64 << 20);
    eprintln!(
        "{STREAMS} streams × {FRAMES_PER_STREAM} frames of {SIDE}x{SIDE}, budget {} MiB: \
         {answered} answered, {failed} streams ended with an error; idle {} MiB, peak {} MiB \
         (grew {} MiB, allowed {} MiB; without a budget the frames alone are {} MiB)",
        BUDGET >> 20,
        idle >> 20,
        peak >> 20,
        grown >> 20,
        allowed >> 20,
        (STREAMS * FRAMES_PER_STREAM * FRAME_BYTES) >> 20,
    );
    assert_eq!(
        (answered, failed),
        (STREAMS * FRAMES_PER_STREAM, 0),
        "every frame is answered (the budget holds frames back, it drops none)"
    );
    assert!(
        grown <= allowed,
        "peak memory grew {} MiB, more than the budget's {} MiB allows",
        grown >> 20,
        allowed >> 20
    );
}
