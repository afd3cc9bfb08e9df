//! Prometheus metrics at `/metrics` on the real binary: after a known mix of frames, the
//! counts by result, the latency histogram, the store's commit times and the open STOP alarms
//! are what the frames make them, read with a Prometheus parser, and agree with GetLineStats;
//! once tokens exist a scrape, and a dashboard page, needs one that may read.

use crate::support::{Process, blank_png, data_dir, image_request, pack_png};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use verigrade::access::{Actor, Role};
use verigrade::proto::GetLineStatsRequest;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::store::{self, tokens};

const LINE: &str = "M1";

/// An HTTP/1.1 request (`GET /metrics`) with extra header lines and a form body: the status
/// code and the body of the answer.
fn http(address: &str, request: &str, headers: &[String], form: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let headers: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let body = if form.is_empty() {
        String::new()
    } else {
        format!(
            "content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n",
            form.len()
        )
    };
    write!(
        stream,
        "{request} HTTP/1.1\r\nhost: {address}\r\n{headers}{body}connection: close\r\n\r\n{form}"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

/// `GET /metrics` with an optional bearer token.
fn scrape(address: &str, token: Option<&str>) -> (u16, String) {
    let authorization: Vec<String> = token
        .map(|t| format!("authorization: Bearer {t}"))
        .into_iter()
        .collect();
    http(address, "GET /metrics", &authorization, "")
}

/// The exposition read by a Prometheus text-format parser, as a scraper reads it.
fn parse(metrics: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `name` with exactly `labels`, if there is one.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::Value;
    let found = scrape.samples.iter().find(|s| {
        s.metric == name
            && s.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
    })?;
    match &found.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(buckets) => buckets.last().map(|b| b.count),
        Value::Summary(_) => None,
    }
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
    let line = [("line", LINE)];
    let stop = [("line", LINE), ("severity", "stop"), ("state", "active")];
    let (text, metrics) = loop {
        let (status, text) = scrape(address, None);
        assert_eq!(status, 200, "{text}");
        let metrics = parse(&text);
        if sample(&metrics, "verigrade_alarms_open", &stop) == Some(2.0)
            || Instant::now() > deadline
        {
            break (text, metrics);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let verdicts = |result: &str| {
        sample(
            &metrics,
            "verigrade_verdicts_total",
            &[("line", LINE), ("result", result)],
        )
    };
    assert_eq!(verdicts("pass"), Some(3.0), "{text}");
    assert_eq!(verdicts("duplicate"), Some(1.0), "{text}");
    assert_eq!(verdicts("no_read"), Some(3.0), "{text}");
    assert_eq!(verdicts("refused"), Some(1.0), "{text}");
    // The counters say what GetLineStats says of the store: every stored verdict once.
    let stats = VerdictsClient::connect(server.url.clone())
        .await
        .unwrap()
        .get_line_stats(GetLineStatsRequest {
            line_id: LINE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let stored: f64 = ["pass", "fail", "no_read", "duplicate", "not_commissioned"]
        .iter()
        .filter_map(|r| verdicts(r))
        .sum();
    assert_eq!(stored, stats.total as f64, "{text}");
    assert_eq!(verdicts("pass"), Some(stats.passed as f64));
    assert_eq!(stored - stats.passed as f64, stats.failed as f64);
    assert_eq!(verdicts("no_read"), Some(stats.no_read as f64));
    assert_eq!(verdicts("duplicate"), Some(stats.duplicates as f64));
    // The latency histogram counts every frame answered, refused ones too.
    assert_eq!(
        sample(&metrics, "verigrade_verdict_duration_seconds", &line),
        Some(8.0),
        "{text}"
    );
    assert!(
        sample(&metrics, "verigrade_store_commit_duration_seconds", &[]) >= Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&metrics, "verigrade_alarms_open", &stop), Some(2.0));
    assert_eq!(sample(&metrics, "verigrade_inflight_bytes", &[]), Some(0.0));
    assert!(text.ends_with("# EOF\n"), "{text}");

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

    // The dashboard keeps the same rules, its token in a cookie: a page needs one that may
    // read, acknowledging one that may operate.
    let cookie = |token: &str| vec![format!("cookie: verigrade_token={token}")];
    let (status, body) = http(address, "GET /", &[], "");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("href=\"/login\""), "{body}");
    let (status, body) = http(
        address,
        &format!("GET /lines/{LINE}"),
        &cookie(&prometheus),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("<h1>Line {LINE}</h1>")), "{body}");
    let (status, body) = http(
        address,
        "POST /alarms/1/acknowledge",
        &cookie(&gateway),
        "user=camera-1&comment=x",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("may not acknowledge alarms"), "{body}");
    let (status, body) = http(address, "POST /login", &[], &format!("token={prometheus}"));
    assert_eq!(status, 303, "{body}");
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
        stderr.starts_with("verigrade: invalid configuration http_listen: HTTP: 0.0.0.0:")
            && stderr.contains("--insecure")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}
