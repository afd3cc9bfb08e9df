//! Chaos in one bounded run (well under a minute): concurrent streams, a SIGKILL of the server
//! mid-stream and a restart on the same data dir, a full disk (a small tmpfs; SKIPPED without
//! the right to mount one), a client that does not read its answers, and oversized frames.
//! Afterwards the store must hold every verdict a client was answered, exactly as answered,
//! and nothing for a frame whose last answer was an error; its counts must be those answers',
//! and its own audit (PRAGMA integrity_check, counts, serial index, sequence, evidence files)
//! must find nothing wrong.

mod support;

use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::wait_for_health;
use support::{Process, Tmpfs, blank_png, data_dir, fill, image_request, pack_png};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{Verdict, VerifyRequest};
use verigrade::store::Store;

const STREAMS: usize = 4;
const FRAMES_PER_STREAM: usize = 40;
/// The server's `max_frame_bytes`; a message over twice this (plus 1 MiB) is refused whole.
const MAX_FRAME_BYTES: usize = 256 << 10;
/// Bytes left free on the full disk: room for a few evidence files and store pages.
const ROOM_LEFT: u64 = 48 << 10;
/// Frames sent to the nearly full disk, at most.
const FULL_FRAMES: usize = 96;

/// The last answer each frame got, by (line, frame id).
type Answers = Arc<Mutex<BTreeMap<(String, String), Verdict>>>;

/// The frames of stream `s`: packs with their own serial; every fifth a blank (fails, kept as
/// evidence), every seventh the serial of the frame before it again (a duplicate).
fn frames(s: usize) -> Vec<VerifyRequest> {
    (0..FRAMES_PER_STREAM)
        .map(|i| {
            let image = if i % 5 == 4 {
                blank_png()
            } else {
                let serial = if i % 7 == 6 { i - 1 } else { i };
                pack_png(&format!("CH{s}N{serial}"))
            };
            image_request(&format!("C{s}"), &format!("f{i}"), image)
        })
        .collect()
}

async fn client(url: &str) -> Result<VerifierClient<tonic::transport::Channel>, Status> {
    let client = VerifierClient::connect(url.to_string())
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    Ok(client.max_encoding_message_size(usize::MAX))
}

/// Sends `requests` on one stream, `pace` apart, and records every answer; how the stream
/// ended: `None` when OK.
async fn stream(
    url: String,
    requests: Vec<VerifyRequest>,
    pace: Duration,
    answers: Answers,
) -> Option<Status> {
    let mut client = match client(&url).await {
        Ok(client) => client,
        Err(status) => return Some(status),
    };
    let requests = tokio_stream::iter(requests).throttle(pace);
    let mut responses = match client.verify_stream(requests).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Some(status),
    };
    while let Some(next) = responses.next().await {
        match next {
            Ok(verdict) => record(&answers, verdict),
            Err(status) => return Some(status),
        }
    }
    None
}

fn record(answers: &Answers, verdict: Verdict) {
    let key = (verdict.line_id.clone(), verdict.frame_id.clone());
    answers.lock().unwrap().insert(key, verdict);
}

/// The frames of `requests` whose last answer is missing or an error.
fn unanswered(requests: &[VerifyRequest], answers: &Answers) -> Vec<VerifyRequest> {
    let answers = answers.lock().unwrap();
    requests
        .iter()
        .filter(|r| {
            answers
                .get(&(r.line_id.clone(), r.frame_id.clone()))
                .is_none_or(|v| v.error.is_some())
        })
        .cloned()
        .collect()
}

fn answered_ok(answers: &Answers, line: &str) -> usize {
    let answers = answers.lock().unwrap();
    answers
        .iter()
        .filter(|((l, _), v)| l == line && v.error.is_none())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_kill_a_full_disk_a_slow_client_and_oversized_frames_lose_nothing_answered() {
    let started = Instant::now();
    let tmpfs = Tmpfs::mount("chaos", "24m");
    let data: PathBuf = match &tmpfs {
        Ok(tmpfs) => tmpfs.path().join("data"),
        Err(_) => data_dir("chaos"),
    };
    let env = [
        ("VERIGRADE_MAX_FRAME_BYTES", MAX_FRAME_BYTES.to_string()),
        ("VERIGRADE_STREAM_WINDOW", "4".to_string()),
        ("VERIGRADE_WORKERS", "2".to_string()),
    ];
    let requests: Vec<Vec<VerifyRequest>> = (0..STREAMS).map(frames).collect();
    let answers = Answers::default();

    // 1. Concurrent streams, and a SIGKILL once a third of their frames are answered.
    let server = Process::start(&data, &env);
    let streams: Vec<_> = requests
        .iter()
        .map(|frames| {
            let (url, answers) = (server.url.clone(), answers.clone());
            tokio::spawn(stream(
                url,
                frames.clone(),
                Duration::from_millis(10),
                answers,
            ))
        })
        .collect();
    let third = STREAMS * FRAMES_PER_STREAM / 3;
    while answers.lock().unwrap().len() < third {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "streams stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for ending in streams {
        let ending = ending.await.unwrap();
        assert!(ending.is_some(), "a stream cut by SIGKILL must not end OK");
    }
    let before_kill = answers.lock().unwrap().len();
    assert!(
        before_kill < STREAMS * FRAMES_PER_STREAM,
        "every frame was answered before the kill: the kill proves nothing"
    );

    // 2. Restarted on the same data dir.
    let server = Process::start(&data, &env);
    let url = server.url.clone();

    // A client that sends frames and does not read its answers (yet).
    let (slow_tx, slow_rx) = mpsc::channel(64);
    for i in 0..12 {
        let request = image_request("SLOW", &format!("s{i}"), pack_png(&format!("SLOW{i}")));
        slow_tx.send(request).await.unwrap();
    }
    let mut slow = client(&url)
        .await
        .unwrap()
        .verify_stream(ReceiverStream::new(slow_rx))
        .await
        .unwrap()
        .into_inner();

    // Every frame left unanswered by the kill is sent again, on concurrent streams, while
    // another stream sends oversized frames; the slow client holds its stream meanwhile.
    let retries: Vec<_> = requests
        .iter()
        .map(|frames| {
            let again = unanswered(frames, &answers);
            tokio::spawn(stream(url.clone(), again, Duration::ZERO, answers.clone()))
        })
        .collect();
    let pack = pack_png("BIG0");
    let garbage = |bytes: usize| Bytes::from(vec![0x5a; bytes]);
    let oversized = vec![
        image_request("BIG", "b0", pack.clone()),
        // Over max_frame_bytes: refused in-band, the stream goes on.
        image_request("BIG", "b1", garbage(MAX_FRAME_BYTES + 1)),
        image_request("BIG", "b2", pack.clone()),
        // Over the largest message: the transport refuses it, the stream ends.
        image_request("BIG", "b3", garbage(2 * MAX_FRAME_BYTES + (2 << 20))),
        image_request("BIG", "b4", pack.clone()),
    ];
    let ending = stream(url.clone(), oversized, Duration::ZERO, answers.clone())
        .await
        .expect("a refused message ends the stream with its code");
    assert_eq!(ending.code(), Code::ResourceExhausted, "{ending:?}");
    {
        let answers = answers.lock().unwrap();
        let big = |frame: &str| answers.get(&("BIG".to_string(), frame.to_string()));
        assert!(big("b0").is_some_and(|v| v.error.is_none() && v.decoded));
        let refused = big("b1").and_then(|v| v.error.clone());
        assert_eq!(
            refused.map(|e| e.code),
            Some(Code::InvalidArgument as i32),
            "over max_frame_bytes"
        );
        assert!(big("b2").is_some_and(|v| v.error.is_none()));
        assert!(big("b3").is_none() && big("b4").is_none());
    }
    for retry in retries {
        let ending = retry.await.unwrap();
        assert!(ending.is_none(), "retries end OK: {ending:?}");
    }
    for frames in &requests {
        assert!(unanswered(frames, &answers).is_empty());
    }

    // 3. A full disk: frames answered with the store's error, then stored on their retry once
    // space returns.
    match &tmpfs {
        Err(why) => eprintln!("SKIPPED: the full-disk part of the chaos test: {why}"),
        Ok(tmpfs) => {
            let full: Vec<VerifyRequest> = (0..FULL_FRAMES)
                .map(|i| {
                    let image = if i % 2 == 0 {
                        pack_png(&format!("FULL{i}"))
                    } else {
                        blank_png()
                    };
                    image_request("FULL", &format!("d{i}"), image)
                })
                .collect();
            // Full but for a few pages: the first frames' evidence files and batches fit,
            // then writes fail part way through. Frames go in groups until one fails.
            let (filler, last_bytes) = (tmpfs.path().join("filler"), tmpfs.path().join("last"));
            fill(&filler);
            let filled = std::fs::metadata(&filler).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&filler)
                .and_then(|file| file.set_len(filled - ROOM_LEFT))
                .unwrap();
            for group in full.chunks(8) {
                let ending = stream(url.clone(), group.to_vec(), Duration::ZERO, answers.clone());
                let ending = ending.await;
                assert!(
                    ending.is_none(),
                    "store errors are answered in-band: {ending:?}"
                );
                if !unanswered(group, &answers).is_empty() {
                    break;
                }
                // The store found room (SQLite reuses its log's pages): no room left at all.
                fill(&last_bytes);
            }
            let failed = unanswered(&full, &answers);
            if failed.is_empty() {
                // SQLite can go on reusing its log's pages on a full disk; tests/full_disk.rs
                // proves the store's side of a full disk on its own.
                eprintln!("NOTE: the store found room for every frame on the full disk");
            }
            for request in &failed {
                let answers = answers.lock().unwrap();
                // Frames of the groups after the first failure were not sent.
                if let Some(answer) = answers.get(&("FULL".to_string(), request.frame_id.clone())) {
                    let code = answer.error.as_ref().map(|e| e.code);
                    assert!(
                        code == Some(Code::ResourceExhausted as i32)
                            || code == Some(Code::Unavailable as i32),
                        "{answer:?}"
                    );
                }
            }
            std::fs::remove_file(&filler).unwrap();
            let _ = std::fs::remove_file(&last_bytes);
            wait_for_health(&url, ServingStatus::Serving).await;
            let ending = stream(url.clone(), failed, Duration::ZERO, answers.clone()).await;
            assert!(ending.is_none(), "{ending:?}");
            assert!(unanswered(&full, &answers).is_empty());
        }
    }

    // 4. The slow client reads at last: every frame it sent is answered, and its stream ends OK.
    drop(slow_tx);
    let mut slow_answers = 0;
    while let Some(next) = slow.next().await {
        record(&answers, next.expect("the slow stream ends OK"));
        slow_answers += 1;
    }
    assert_eq!(slow_answers, 12);

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("verigrade: stopped; "), "{stderr}");

    // Every answer against the store, and the store against itself.
    let store = Store::open(&data, 1 << 30, 1 << 20).unwrap();
    for ((line, frame), answer) in answers.lock().unwrap().iter() {
        let stored = store.get(line, frame).unwrap();
        match &answer.error {
            None => assert_eq!(
                stored.as_ref(),
                Some(answer),
                "{line}/{frame} was answered, so it is stored as answered"
            ),
            Some(error) => assert_eq!(stored, None, "{line}/{frame} answered {error:?} but stored"),
        }
    }
    let lines = (0..STREAMS).map(|s| format!("C{s}"));
    for line in lines.chain(["BIG", "FULL", "SLOW"].map(String::from)) {
        assert_eq!(
            store.counts(&line).unwrap().total as usize,
            answered_ok(&answers, &line),
            "{line}: the store counts exactly the frames answered with a verdict"
        );
    }
    assert_eq!(store.audit().unwrap(), Vec::<String>::new());
    store.close();
    eprintln!(
        "chaos: {} frames answered ({before_kill} before the kill) in {:.1} s",
        answers.lock().unwrap().len(),
        started.elapsed().as_secs_f64()
    );
}
