//! Memory under the in-flight budget (`max_inflight_bytes`): streams and concurrent unary
//! `Verify` calls sending 5000×5000 raw frames (24 MiB each) at once. The server's peak
//! resident memory (VmHWM, read from /proc) may grow past its idle size by the budget plus a
//! constant that depends on the server's caps, not on the frames sent nor on the mix of calls:
//! see [`allowed_growth`]. On 2 cores it grows by 96–104 MiB of the 175 allowed. Before unary
//! calls were read within the budget, tonic decoded each whole and it waited for its share
//! outside the budget: this run grew by 423–431 MiB.
//!
//! Every frame here fails (no symbol in it) and is kept as evidence, a raw frame as PNG. The
//! second test sends noise, whose PNG is larger than the frame and which is the dearest to
//! search: it grows by 140–144 MiB, as much as with no evidence kept at all (141–143). While
//! each failed frame's PNG was made in memory (with a copy of the frame to encode from), the
//! first grew by 126–152 MiB and the second by 235.

use crate::support::{Process, data_dir};
use bytes::Bytes;
use tokio_stream::StreamExt;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{RawImage, Verdict, VerifyRequest, verify_request};

const SIDE: usize = 5000;
const FRAME_BYTES: usize = SIDE * SIDE;
const STREAMS: usize = 6;
const FRAMES_PER_STREAM: usize = 4;
/// Clients calling unary `Verify`, each one call at a time.
const CALLERS: usize = 10;
const FRAMES_PER_CALLER: usize = 2;
/// The server's cap on open calls (`max_concurrent_streams`): exactly the streams and callers.
const CALL_CAP: usize = STREAMS + CALLERS;
/// The largest frame the server accepts (`max_pixels`): the frames sent are that large.
const MAX_PIXELS: usize = SIDE * SIDE;
const BUDGET: usize = 64 << 20;
/// What an open call may hold outside the budget: what HTTP/2 buffers of its next message
/// while the message waits for its share (the 1 MiB receive window) and its connection's own
/// buffers: 1.2–1.4 MiB measured, from 8 to 32 streams or unary callers.
const PER_CALL: usize = 2 << 20;
/// What the process itself may add while it serves: threads' stacks and allocator arenas, the
/// store's pages, the rows and output chunk a failed frame's PNG is streamed through.
const PROCESS: usize = 32 << 20;

/// The growth the budget allows: the budget, [`PER_CALL`] for each call the server lets open,
/// and the frames being graded outside it, one per worker (the server grades on as many as
/// this machine has cores), each with what grading makes of it, at most a byte per pixel of
/// the largest frame accepted. A constant of the server's configuration: whatever frames the
/// calls send, a message is read from the transport only once its share is taken, so frames
/// waiting are in the budget, and a message the whole budget cannot hold is refused.
fn allowed_growth() -> usize {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    BUDGET + CALL_CAP * PER_CALL + workers * MAX_PIXELS + PROCESS
}

/// A flat light frame with one dark band: cheap to read, and the same size as a real one.
fn banded() -> Bytes {
    let mut data = vec![200u8; FRAME_BYTES];
    for row in data.chunks_exact_mut(SIDE).skip(2000).take(100) {
        row[1000..4000].fill(30);
    }
    Bytes::from(data)
}

/// A frame of pseudo-random grey levels (xorshift): no symbol to read, and no compression
/// makes it smaller, so its evidence is a PNG at least as large as the frame.
fn noise() -> Bytes {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut data = Vec::with_capacity(FRAME_BYTES);
    while data.len() < FRAME_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(FRAME_BYTES);
    Bytes::from(data)
}

/// A 5000×5000 raw frame request.
fn request(line: String, frame_id: String, frame: &Bytes) -> VerifyRequest {
    VerifyRequest {
        line_id: line,
        frame_id,
        frame: Some(verify_request::Frame::Raw(RawImage {
            width: SIDE as u32,
            height: SIDE as u32,
            stride: SIDE as u32,
            data: frame.clone(),
        })),
        ..VerifyRequest::default()
    }
}

async fn client(url: &str) -> VerifierClient<tonic::transport::Channel> {
    VerifierClient::connect(url.to_string())
        .await
        .unwrap()
        .max_decoding_message_size(64 << 20)
}

/// Sends every stream's frames and every caller's unary calls at once, each on a connection
/// of its own; returns the answers received and how many calls and streams ended with an
/// error.
async fn send_all(url: &str, frame: &Bytes) -> (Vec<Verdict>, usize) {
    let mut calls = Vec::new();
    for s in 0..STREAMS {
        let mut client = client(url).await;
        let frame = frame.clone();
        calls.push(tokio::spawn(async move {
            let requests = (0..FRAMES_PER_STREAM)
                .map(move |i| request(format!("L{s}"), format!("s{s}-f{i}"), &frame));
            let mut answers = match client.verify_stream(tokio_stream::iter(requests)).await {
                Ok(response) => response.into_inner(),
                Err(_) => return (Vec::new(), 1),
            };
            let mut received = Vec::new();
            while let Some(answer) = answers.next().await {
                match answer {
                    Ok(verdict) => received.push(verdict),
                    Err(_) => return (received, 1),
                }
            }
            (received, 0)
        }));
    }
    for c in 0..CALLERS {
        let mut client = client(url).await;
        let frame = frame.clone();
        calls.push(tokio::spawn(async move {
            let (mut received, mut failed) = (Vec::new(), 0);
            for i in 0..FRAMES_PER_CALLER {
                let call = client.verify(request(format!("U{c}"), format!("u{c}-f{i}"), &frame));
                match call.await {
                    Ok(verdict) => received.push(verdict.into_inner()),
                    Err(_) => failed += 1,
                }
            }
            (received, failed)
        }));
    }
    let (mut answers, mut failed) = (Vec::new(), 0);
    for call in calls {
        let (received, call_failed) = call.await.unwrap();
        answers.extend(received);
        failed += call_failed;
    }
    (answers, failed)
}

/// The servers' memory is measured one test at a time: two at once would share 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sends [`send_all`]'s mix of `frame` to a server of its own in `dir` and checks that every
/// frame is answered and that the server's peak memory grew by no more than
/// [`allowed_growth`]; returns the answers. `None` where /proc cannot be read.
async fn mix_within_budget(
    dir: &std::path::Path,
    what: &str,
    frame: &Bytes,
) -> Option<Vec<Verdict>> {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = Process::start(
        dir,
        &[
            ("VERIGRADE_MAX_INFLIGHT_BYTES", BUDGET.to_string()),
            ("VERIGRADE_MAX_CONCURRENT_STREAMS", CALL_CAP.to_string()),
            ("VERIGRADE_MAX_STREAMS_PER_CLIENT", CALL_CAP.to_string()),
            ("VERIGRADE_MAX_PIXELS", MAX_PIXELS.to_string()),
        ],
    );
    let Some(idle) = server.peak_resident_bytes() else {
        eprintln!("SKIPPED: no /proc/PID/status to read the server's memory from");
        return None;
    };
    let (answers, failed) = send_all(&server.url, frame).await;
    let peak = server.peak_resident_bytes().unwrap();
    let grown = peak.saturating_sub(idle) as usize;
    let allowed = allowed_growth();
    let sent = STREAMS * FRAMES_PER_STREAM + CALLERS * FRAMES_PER_CALLER;
    eprintln!(
        "{what}: {STREAMS} streams × {FRAMES_PER_STREAM} frames and {CALLERS} callers × \
         {FRAMES_PER_CALLER} unary calls, frames of {SIDE}x{SIDE}, budget {} MiB: {} of {sent} \
         answered, {failed} calls ended with an error; idle {} MiB, peak {} MiB (grew {} MiB, \
         allowed {} MiB; without a budget the frames alone are {} MiB)",
        BUDGET >> 20,
        answers.len(),
        idle >> 20,
        peak >> 20,
        grown >> 20,
        allowed >> 20,
        (sent * FRAME_BYTES) >> 20,
    );
    assert_eq!(
        (answers.len(), failed),
        (sent, 0),
        "every frame is answered (the budget holds frames back, it drops none)"
    );
    assert!(
        grown <= allowed,
        "peak memory grew {} MiB, more than the budget's {} MiB allows",
        grown >> 20,
        allowed >> 20
    );
    Some(answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_unary_calls_of_5000x5000_frames_stay_within_the_inflight_budget() {
    let dir = data_dir("inflight-memory");
    mix_within_budget(&dir, "banded frames", &banded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_frames_kept_as_evidence_that_does_not_compress_stay_within_the_inflight_budget() {
    let dir = data_dir("inflight-memory-evidence");
    let Some(answers) = mix_within_budget(&dir, "noise", &noise()).await else {
        return;
    };
    // The evidence was written, each file a PNG larger than the frame (the evidence budget
    // keeps the newest 1 GiB of it).
    let evidence = dir.join("evidence");
    let mut kept = 0;
    for verdict in &answers {
        assert!(!verdict.pass && verdict.error.is_none(), "{verdict:?}");
        assert!(
            !verdict.evidence.is_empty(),
            "{} kept no evidence",
            verdict.frame_id
        );
        if let Ok(file) = std::fs::metadata(evidence.join(&verdict.evidence)) {
            assert!(
                file.len() > FRAME_BYTES as u64,
                "{}: {} bytes",
                verdict.evidence,
                file.len()
            );
            kept += 1;
        }
    }
    assert!(kept > 0, "no evidence file is left");
    let _ = std::fs::remove_dir_all(&dir);
}
