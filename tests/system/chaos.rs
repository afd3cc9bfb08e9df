//! Chaos in one bounded run (well under a minute): concurrent streams, a SIGKILL of the server
//! mid-stream and a restart on the same data dir, frames sent again after their answer,
//! oversized frames, a SIGTERM while a client that reads slowly still sends, and a disk too
//! full to commit anything (a small tmpfs; SKIPPED without the right to mount one).
//! Afterwards the store must hold every verdict a client was answered, exactly as answered,
//! and nothing for a frame whose last answer was an error; its counts must be those answers',
//! and its own audit (PRAGMA integrity_check, counts, serial index, sequence, evidence files)
//! must find nothing wrong, before a reopened store could sweep an orphan evidence file away.
//!
//! Each part is there to catch a real fault (each was applied to the service by hand, and made
//! this test fail in every run): an answer sent before its batch commits (the full disk refuses every commit); a batch that
//! goes on after a failed statement, in autocommit once SQLite rolled it back (the full disk
//! with a small page cache, which fails batches part way through); a failed batch that leaves
//! its evidence files (the audit before reopening); a retried frame counted again (frames sent
//! again after their answer); a stream that ends OK with frames unread (the SIGTERM, the
//! oversized message).

use crate::support::wait_for_health;
use crate::support::{Process, Tmpfs, blank_png, data_dir, fill, image_request, pack_png};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{Verdict, VerifyRequest};
use verigrade::store::{LineCounts, Store};

const STREAMS: usize = 4;
const FRAMES_PER_STREAM: usize = 40;
/// The server's `max_frame_bytes`; a message over twice this (plus 1 MiB) is refused whole.
const MAX_FRAME_BYTES: usize = 256 << 10;
/// Frames the slow client sends: more than the server reads while its answers are not read.
const SLOW_FRAMES: usize = 64;
/// The slow client's HTTP/2 receive window: room for a few answers it has not read.
const SLOW_WINDOW: u32 = 4 << 10;
/// Bytes left free on the full disk: room for an evidence file or two, not for a commit (a
/// verdict changes seven pages of the store, each 4 KiB in its log).
const ROOM_LEFT: u64 = 8 << 10;
/// Streams, and frames on each, sent to the full disk.
const FULL_STREAMS: usize = 3;
const FULL_FRAMES: usize = 8;

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

/// Frames for the full disk, on stream `s`: blanks (with evidence) and packs in turn.
fn full_frames(s: usize) -> Vec<VerifyRequest> {
    (0..FULL_FRAMES)
        .map(|i| {
            let image = if i % 2 == 0 {
                blank_png()
            } else {
                pack_png(&format!("FULL{s}N{i}"))
            };
            image_request("FULL", &format!("d{s}-{i}"), image)
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

/// Sends each group of `requests` on its own stream, all at once; how each stream ended.
async fn streams(
    url: &str,
    requests: &[Vec<VerifyRequest>],
    answers: &Answers,
) -> Vec<Option<Status>> {
    let running: Vec<_> = requests
        .iter()
        .map(|group| {
            let (url, group, answers) = (url.to_string(), group.clone(), answers.clone());
            tokio::spawn(stream(url, group, Duration::ZERO, answers))
        })
        .collect();
    let mut endings = Vec::new();
    for ending in running {
        endings.push(ending.await.unwrap());
    }
    endings
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

/// The answers of `line` that are verdicts (not errors).
fn verdicts_of(answers: &Answers, line: &str) -> BTreeMap<String, Verdict> {
    let answers = answers.lock().unwrap();
    answers
        .iter()
        .filter(|((l, _), v)| l == line && v.error.is_none())
        .map(|((_, frame), v)| (frame.clone(), v.clone()))
        .collect()
}

/// What a line's counts must be when it stored exactly these verdicts.
fn counts_of(verdicts: &BTreeMap<String, Verdict>) -> (u64, u64, u64, u64, u64) {
    let count = |f: fn(&Verdict) -> bool| verdicts.values().filter(|v| f(v)).count() as u64;
    (
        verdicts.len() as u64,
        count(|v| v.pass),
        count(|v| !v.pass),
        count(|v| !v.decoded),
        count(|v| v.duplicate),
    )
}

fn counts_tuple(counts: &LineCounts) -> (u64, u64, u64, u64, u64) {
    (
        counts.total,
        counts.passed,
        counts.failed,
        counts.no_read,
        counts.duplicates,
    )
}

/// Sends `full` (a group per stream, at once) to a server whose disk has no room for a commit:
/// each stream ends OK and each frame is answered with the store's error.
async fn refused_on_a_full_disk(url: &str, full: &[Vec<VerifyRequest>], answers: &Answers) {
    for ending in streams(url, full, answers).await {
        assert!(
            ending.is_none(),
            "store errors are answered in-band: {ending:?}"
        );
    }
    let answers = answers.lock().unwrap();
    for request in full.iter().flatten() {
        let answer = &answers[&(request.line_id.clone(), request.frame_id.clone())];
        let code = answer.error.as_ref().map(|e| e.code);
        assert!(
            code == Some(Code::ResourceExhausted as i32) || code == Some(Code::Unavailable as i32),
            "no commit fits on the full disk, yet {answer:?}"
        );
    }
}

/// Fills the filesystem of `dir` but for `room` bytes; the file to remove to give it back.
fn fill_but(dir: &Path, room: u64) -> PathBuf {
    let filler = dir.join("filler");
    fill(&filler);
    let filled = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .and_then(|file| file.set_len(filled - room))
        .unwrap();
    filler
}

/// SIGTERM: the server exits 0 and says what it stored.
fn stop(server: Process) {
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("verigrade: stopped; "), "{stderr}");
}

/// The store's invariants, on a plain connection (opening a `Store` would first sweep away the
/// evidence files no verdict names, and hide them), then its audit trail: a kill, a full disk
/// or a refused batch must leave no record the trail does not match.
fn audit_as_left(data: &Path) -> Vec<String> {
    let conn = verigrade::store::open_read_only(data).unwrap();
    let mut problems = verigrade::store::check_invariants(&conn, &data.join("evidence")).unwrap();
    problems.extend(verigrade::store::verify_trail(data).unwrap().problems);
    problems
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
    let running: Vec<_> = requests
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
    for ending in running {
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

    // A client that sends frames and does not read its answers (yet); its small window lets
    // only a few answers wait for it, so the server stops reading its frames.
    let slow_frames: Vec<VerifyRequest> = (0..SLOW_FRAMES)
        .map(|i| image_request("SLOW", &format!("s{i}"), pack_png(&format!("SLOW{i}"))))
        .collect();
    let (slow_tx, slow_rx) = mpsc::channel(SLOW_FRAMES);
    for request in &slow_frames {
        slow_tx.send(request.clone()).await.unwrap();
    }
    let slow_channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .initial_stream_window_size(SLOW_WINDOW)
        .connect()
        .await
        .unwrap();
    let mut slow = VerifierClient::new(slow_channel)
        .verify_stream(ReceiverStream::new(slow_rx))
        .await
        .unwrap()
        .into_inner();

    // Every frame left unanswered by the kill is sent again, and all of the first stream's
    // frames, answered or not: a frame sent again gets its stored verdict, counted once.
    let first_answers = verdicts_of(&answers, "C0");
    let again: Vec<Vec<VerifyRequest>> = requests
        .iter()
        .enumerate()
        .map(|(s, frames)| match s {
            0 => frames.clone(),
            _ => unanswered(frames, &answers),
        })
        .collect();
    let retries = {
        let (url, answers) = (url.clone(), answers.clone());
        tokio::spawn(async move { streams(&url, &again, &answers).await })
    };
    // Meanwhile, oversized frames.
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
    for ending in retries.await.unwrap() {
        assert!(ending.is_none(), "retries end OK: {ending:?}");
    }
    for frames in &requests {
        assert!(unanswered(frames, &answers).is_empty());
    }
    let first_again = verdicts_of(&answers, "C0");
    for (frame, answer) in &first_answers {
        assert_eq!(
            first_again.get(frame),
            Some(answer),
            "C0/{frame} sent again: its stored verdict, as first answered"
        );
    }

    // 3. SIGTERM while the slow client still sends: it reads at last, gets the frames the
    // server had read, and a stream that ends UNAVAILABLE, not OK.
    server.sigterm();
    let slow_ending = loop {
        match slow.next().await {
            Some(Ok(verdict)) => record(&answers, verdict),
            Some(Err(status)) => break Some(status),
            None => break None,
        }
    };
    drop(slow_tx);
    let slow_left = unanswered(&slow_frames, &answers).len();
    assert!(
        slow_left > 0,
        "the slow client's frames were all answered before the SIGTERM: it proves nothing"
    );
    let slow_ending = slow_ending.expect("a stream cut by a shutdown with frames unread ends");
    assert_eq!(slow_ending.code(), Code::Unavailable, "{slow_ending:?}");
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("verigrade: stopped; "), "{stderr}");

    // 4. A disk too full for any commit, with room for an evidence file or two: every frame is
    // answered with the store's error, in-band, and nothing of them is kept. Twice: with the
    // default page cache a batch fails at its commit; with a small one it spills to the log
    // and fails part way through (SQLite then rolls the transaction back itself). Then space
    // returns and they are stored on their retry, with the slow client's frames left unread.
    let full: Vec<Vec<VerifyRequest>> = (0..FULL_STREAMS).map(full_frames).collect();
    let small_cache: Vec<(&str, String)> = env
        .iter()
        .cloned()
        .chain([("VERIGRADE_STORE_CACHE_BYTES", "16384".to_string())])
        .collect();
    let server = match &tmpfs {
        Err(why) => {
            eprintln!("SKIPPED: the full-disk part of the chaos test: {why}");
            Process::start(&data, &env)
        }
        Ok(tmpfs) => {
            // Each server starts (its log empty after a clean stop, its start recorded in the
            // trail: it serves only then) before the disk fills: a store cannot even open on a
            // full disk.
            let server = Process::start(&data, &env);
            wait_for_health(&server.url, ServingStatus::Serving).await;
            let filler = fill_but(tmpfs.path(), ROOM_LEFT);
            refused_on_a_full_disk(&server.url, &full, &answers).await;
            std::fs::remove_file(&filler).unwrap();
            stop(server);
            let server = Process::start(&data, &small_cache);
            wait_for_health(&server.url, ServingStatus::Serving).await;
            let filler = fill_but(tmpfs.path(), ROOM_LEFT);
            refused_on_a_full_disk(&server.url, &full, &answers).await;
            std::fs::remove_file(&filler).unwrap();
            wait_for_health(&server.url, ServingStatus::Serving).await;
            server
        }
    };
    let url = server.url.clone();
    let mut again: Vec<Vec<VerifyRequest>> = full.iter().map(|f| unanswered(f, &answers)).collect();
    again.push(unanswered(&slow_frames, &answers));
    for ending in streams(&url, &again, &answers).await {
        assert!(ending.is_none(), "{ending:?}");
    }
    for frames in full.iter().chain([&slow_frames]) {
        assert!(unanswered(frames, &answers).is_empty());
    }
    stop(server);

    // The store against itself as the server left it, then every answer against the store.
    assert_eq!(audit_as_left(&data), Vec::<String>::new());
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
            counts_tuple(&store.counts(&line).unwrap()),
            counts_of(&verdicts_of(&answers, &line)),
            "{line}: (total, passed, failed, no-read, duplicates) are those of the answers"
        );
    }
    store.close();
    eprintln!(
        "chaos: {} frames answered ({before_kill} before the kill, {} of {SLOW_FRAMES} slow ones \
         by the server stopping) in {:.1} s",
        answers.lock().unwrap().len(),
        SLOW_FRAMES - slow_left,
        started.elapsed().as_secs_f64()
    );
}
