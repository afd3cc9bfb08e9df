//! Prometheus metrics at `/metrics` on the real binary: after a known mix of frames, the
//! counts by result, the latency histogram, the store's commit times and the open STOP alarms
//! are what the frames make them; once tokens exist a scrape needs one that may read.

use crate::support::{Process, blank_png, data_dir, image_request, pack_png};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use verigrade::access::{Actor, Role};
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::store::{self, tokens};

const LINE: &str = "M1";

/// `GET /metrics` with an optional bearer token: the status code and the body.
fn scrape(address: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let authorization = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: {address}\r\n{authorization}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

/// The value of the sample named exactly `series` (name and labels), if there is one.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_frames_were_and_need_a_reading_token_once_tokens_exist() {
    let dir = data_dir("metrics");
    let server = Process::start(&dir, &[]);
    let address = server.printed_url("http://");
    let address = address.trim_start_matches("http://").trim_end_matches('/');
    let mut verifier = VerifierClient::connect(server.url.clone()).await.unwrap();
    // Three good packs, one of them again (a duplicate), then three frames without a symbol:
    // the line stops (consecutive failures).
    let mut frames: Vec<_> = (1..=3)
        .map(|i| image_request(LINE, &format!("good-{i}"), pack_png(&format!("MT{i}"))))
        .collect();
    frames.push(image_request(LINE, "again-1", pack_png("MT1")));
    frames.extend((1..=3).map(|i| image_request(LINE, &format!("blank-{i}"), blank_png())));
    for frame in frames {
        verifier.verify(frame).await.unwrap();
    }
    // Two STOP alarms: the duplicate serial, and three failures in a row.
    // A malformed frame, answered INVALID_ARGUMENT.
    let mut bad = image_request(LINE, "bad-1", pack_png("MT9"));
    bad.frame_id = "bad\nid".into();
    assert!(verifier.verify(bad).await.is_err());

    // An alarm is raised as its frame is committed, just after the answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stop =
        format!("verigrade_alarms_open{{line=\"{LINE}\",severity=\"stop\",state=\"active\"}}");
    let metrics = loop {
        let (status, metrics) = scrape(address, None);
        assert_eq!(status, 200, "{metrics}");
        if sample(&metrics, &stop) == Some(2.0) || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let verdicts = |result: &str| {
        sample(
            &metrics,
            &format!("verigrade_verdicts_total{{line=\"{LINE}\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(verdicts("pass"), Some(3.0), "{metrics}");
    assert_eq!(verdicts("duplicate"), Some(1.0), "{metrics}");
    assert_eq!(verdicts("no_read"), Some(3.0), "{metrics}");
    assert_eq!(verdicts("refused"), Some(1.0), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            &format!("verigrade_verdict_duration_seconds_count{{line=\"{LINE}\"}}")
        ),
        Some(8.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "verigrade_store_commit_duration_seconds_count") >= Some(1.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, &stop), Some(2.0), "{metrics}");
    assert_eq!(sample(&metrics, "verigrade_inflight_bytes"), Some(0.0));
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    // Tokens, made while the service runs: a scrape needs one whose role may read.
    let conn = store::open_local(&dir).unwrap();
    let local = Actor::local();
    let (_, gateway) = tokens::create(&conn, "camera-1", Role::Gateway, &local).unwrap();
    let (_, prometheus) = tokens::create(&conn, "prometheus", Role::Controller, &local).unwrap();
    drop(conn);
    let (status, body) = scrape(address, None);
    assert_eq!(
        (status, body.starts_with("this server requires a token")),
        (401, true),
        "{body}"
    );
    let (status, body) = scrape(address, Some(&gateway));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("camera-1 (gateway) may not read"), "{body}");
    let (status, body) = scrape(address, Some(&prometheus));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("verigrade_verdicts_total"), "{body}");
    let (status, printed) = server.terminate();
    assert!(status.success(), "{printed}");
}

#[test]
fn http_beyond_loopback_is_refused_without_insecure() {
    let dir = data_dir("metrics-exposure");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "0.0.0.0:0",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("verigrade: invalid configuration http_listen: HTTP on 0.0.0.0:")
            && stderr.contains("--insecure")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}
