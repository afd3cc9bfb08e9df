//! The store and the service on a filesystem that really fills up: a small tmpfs. Needs root
//! (or the right to mount); without it each test says SKIPPED and why.

use crate::support::{Server, Tmpfs, blank_png, config, fill, image_request, wait_for_health};
use tonic_health::pb::health_check_response::ServingStatus;
use verigrade::access::Actor;
use verigrade::proto::Verdict;
use verigrade::store::{Pending, Store};

/// A pack verdict whose record is about `bytes` long, carrying `serial`.
fn verdict(frame: usize, serial: &str, bytes: usize) -> Pending {
    Pending {
        actor: Actor::open("camera"),
        verdict: Verdict {
            line_id: "L1".into(),
            frame_id: format!("f{frame}"),
            gtin: "09506000134352".into(),
            serial: serial.into(),
            batch: "B1".into(),
            pass: true,
            decoded: true,
            overall_grade: 4.0,
            text: "x".repeat(bytes),
            ..Verdict::default()
        },
        evidence: None,
    }
}

/// Frame `i` of the test: one in eight with an 8 KiB record, one in eight a repeated serial.
fn frame(i: usize) -> Pending {
    let bytes = if i % 8 == 7 { 8 * 1024 } else { 200 };
    verdict(i, &format!("S{}", i % 700), bytes)
}

/// Submits every frame at once (so the writer batches them) and waits for each answer.
async fn store_all(
    store: &Store,
    frames: Vec<Pending>,
) -> Vec<(String, verigrade::Result<Verdict>)> {
    let mut waiting = Vec::new();
    for pending in frames {
        let frame = pending.verdict.frame_id.clone();
        waiting.push((frame, store.submit(pending).await.unwrap()));
    }
    let mut answers = Vec::new();
    for (frame, answer) in waiting {
        let answer = answer.await.expect("every frame is answered");
        answers.push((frame, answer.map(|v| Verdict::clone(&v))));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stores_whole_batches_or_nothing_and_recovers_when_space_returns() {
    let tmpfs = match Tmpfs::mount("store", "6m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!("SKIPPED: full-disk store test: {why}");
            return;
        }
    };
    let data = tmpfs.path().join("data");
    let store = Store::open(&data, 1 << 30, 16 * 1024).unwrap();
    // Leave about 0.5 MB free, then write about 1 MB: big records among small ones, some
    // serials repeated (duplicates), as on a line.
    let filler = tmpfs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 5_700_000]).unwrap();
    let frames: Vec<Pending> = (0..800).map(frame).collect();
    let answers = store_all(&store, frames).await;

    let failed = answers.iter().filter(|(_, a)| a.is_err()).count();
    assert!(failed > 0, "the disk never filled: the test proves nothing");
    for (frame, answer) in &answers {
        let stored = store.get("L1", frame).unwrap();
        match answer {
            Ok(verdict) => assert_eq!(
                stored.as_ref(),
                Some(verdict),
                "{frame}: answered, so stored as answered"
            ),
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        verigrade::Error::StoreFull(_) | verigrade::Error::Store(_)
                    ),
                    "{frame}: {e}"
                );
                assert!(!e.to_string().contains("store: store:"), "{e}");
                assert_eq!(stored, None, "{frame} was answered with {e} but stored");
            }
        }
    }
    assert_eq!(store.check_invariants().unwrap(), Vec::<String>::new());
    let stored = answers.iter().filter(|(_, a)| a.is_ok()).count();
    eprintln!(
        "full disk: {stored} of {} frames stored, {failed} answered 'store is full'",
        answers.len()
    );

    // Space returns: the frames that failed go in on their retry, and everything adds up.
    std::fs::remove_file(&filler).unwrap();
    let retries: Vec<Pending> = answers
        .iter()
        .filter(|(_, a)| a.is_err())
        .map(|(id, _)| frame(id[1..].parse().unwrap()))
        .collect();
    for (frame, answer) in store_all(&store, retries).await {
        assert!(answer.is_ok(), "{frame} after space returned: {answer:?}");
    }
    assert_eq!(store.counts("L1").unwrap().total, 800);
    assert_eq!(store.check_invariants().unwrap(), Vec::<String>::new());
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_makes_the_verifier_not_serving_until_space_returns() {
    let tmpfs = match Tmpfs::mount("service", "6m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!("SKIPPED: full-disk service test: {why}");
            return;
        }
    };
    let data = tmpfs.path().join("data");
    let server = Server::start(config(&data)).await;
    let mut verifier = server.verifier().await;
    verifier
        .verify(image_request("L1", "before", blank_png()))
        .await
        .unwrap();
    wait_for_health(&server.url, ServingStatus::Serving).await;

    let filler = tmpfs.path().join("filler");
    fill(&filler);
    let refused = verifier
        .verify(image_request("L1", "full", blank_png()))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused.message().starts_with("store is full: "),
        "one prefix, saying what: {}",
        refused.message()
    );
    wait_for_health(&server.url, ServingStatus::NotServing).await;
    let evidence: Vec<_> = std::fs::read_dir(data.join("evidence"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        evidence.len(),
        1,
        "only the stored frame's evidence: {evidence:?}"
    );

    // Space returns: the service finds out by itself and stores again.
    std::fs::remove_file(&filler).unwrap();
    wait_for_health(&server.url, ServingStatus::Serving).await;
    let stored = verifier
        .verify(image_request("L1", "after", blank_png()))
        .await
        .unwrap()
        .into_inner();
    assert!(stored.sequence > 0);
    let stopped = server.stop().await;
    assert_eq!((stopped.stored, stopped.refused), (2, 1));
    assert_eq!(
        stopped.to_string(),
        "2 verdicts stored; 1 frames were answered with a store error and not stored"
    );
    let store = Store::open(&data, 1 << 30, 1 << 20).unwrap();
    assert_eq!(store.check_invariants().unwrap(), Vec::<String>::new());
    assert!(store.get("L1", "full").unwrap().is_none());
    store.close();
}
