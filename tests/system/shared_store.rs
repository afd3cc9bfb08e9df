//! Several nodes on one PostgreSQL database: one serial registry, one order of verdicts that
//! every node announces, and nothing answered lost when a node is killed or the database
//! restarts. Skipped, and said so, without a test server (`VERIGRADE_TEST_POSTGRES`).

use crate::support::{Process, data_dir, gs1_text, image_request, png};
use bytes::Bytes;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{Verdict, VerifyRequest, WatchAlarmsRequest, WatchVerdictsRequest};
use verigrade::store::test_database::{TestDatabase, server};
use verigrade::synth::GenSpec;

/// Serials each node is sent, all of them to both at once.
const SERIALS: usize = 10_000;

/// A small PNG of a pack carrying `serial`: 2 px/module, little beyond the quiet zone, so that
/// reading it costs the nodes little beside the store's work, which is what is measured.
fn small_pack(serial: &str) -> Bytes {
    png(&GenSpec {
        text: gs1_text(serial),
        gs1: true,
        module_px: 3.0,
        ..GenSpec::default()
    })
}

/// A node of the shared store: `verigrade serve` with its own data folder.
fn node(name: &str, database: &TestDatabase) -> Process {
    Process::start(
        &data_dir(&format!("shared-{name}")),
        &[("VERIGRADE_STORE", database.url.clone())],
    )
}

async fn verifier(url: &str) -> VerifierClient<tonic::transport::Channel> {
    VerifierClient::connect(url.to_string())
        .await
        .unwrap()
        .max_encoding_message_size(usize::MAX)
}

/// Sends `requests` on one stream and returns every answer.
async fn stream_all(url: String, requests: Vec<VerifyRequest>) -> Vec<Verdict> {
    let mut client = verifier(&url).await;
    let mut answers = client
        .verify_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut verdicts = Vec::new();
    while let Some(verdict) = answers.next().await {
        verdicts.push(verdict.unwrap());
    }
    verdicts
}

#[test]
fn two_nodes_sent_the_same_serials_at_once_pass_each_exactly_once() {
    let Some(database) = TestDatabase::create("race") else {
        return;
    };
    let (a, b) = (node("race-a", &database), node("race-b", &database));
    let images: Vec<Bytes> = (0..SERIALS).map(|i| small_pack(&format!("R{i}"))).collect();
    let requests = |prefix: &str| -> Vec<VerifyRequest> {
        images
            .iter()
            .enumerate()
            .map(|(i, png)| image_request("RACE", &format!("{prefix}{i}"), png.clone()))
            .collect()
    };
    let (to_a, to_b) = (requests("a"), requests("b"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let alarms_on_a = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (from_a, from_b, watched) = runtime.block_on(async {
        // And one watching node A's alarms: each node raises its own line monitor's.
        let mut alarm_watch = AlarmsClient::connect(a.url.clone())
            .await
            .unwrap()
            .watch_alarms(WatchAlarmsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let seen_alarms = alarms_on_a.clone();
        let alarm_watching = tokio::spawn(async move {
            while let Some(Ok(alarm)) = alarm_watch.next().await {
                seen_alarms.lock().unwrap().push(alarm.alarm_id);
            }
        });
        // A controller watching node B, from before the first frame.
        let mut watch = VerdictsClient::connect(b.url.clone())
            .await
            .unwrap()
            .watch_verdicts(WatchVerdictsRequest {
                line_id: "RACE".into(),
                ..WatchVerdictsRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        let watching = tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < 2 * SERIALS {
                match tokio::time::timeout(Duration::from_secs(60), watch.next()).await {
                    Ok(Some(Ok(verdict))) => seen.push(verdict),
                    _ => break,
                }
            }
            seen
        });
        let started = Instant::now();
        let (from_a, from_b) = tokio::join!(
            tokio::spawn(stream_all(a.url.clone(), to_a)),
            tokio::spawn(stream_all(b.url.clone(), to_b))
        );
        eprintln!(
            "2 nodes, {} frames on one PostgreSQL in {:.1} s",
            2 * SERIALS,
            started.elapsed().as_secs_f64()
        );
        let watched = watching.await.unwrap();
        // The alarms of the last frames are raised just after their answers.
        tokio::time::sleep(Duration::from_secs(2)).await;
        alarm_watching.abort();
        (from_a.unwrap(), from_b.unwrap(), watched)
    });
    assert_eq!((from_a.len(), from_b.len()), (SERIALS, SERIALS));
    // Exactly one pass per serial; the other node's frame is its duplicate, naming the first.
    let mut passed: BTreeMap<String, &Verdict> = BTreeMap::new();
    let mut duplicates = 0;
    for verdict in from_a.iter().chain(&from_b) {
        if verdict.pass {
            let earlier = passed.insert(verdict.serial.clone(), verdict);
            assert!(earlier.is_none(), "{} passed twice", verdict.serial);
        } else {
            assert!(verdict.duplicate, "{verdict:?}");
            duplicates += 1;
        }
    }
    assert_eq!((passed.len(), duplicates), (SERIALS, SERIALS));
    for verdict in from_a.iter().chain(&from_b).filter(|v| v.duplicate) {
        let first = passed[&verdict.serial];
        let named = format!("frame {}", first.frame_id);
        assert!(
            verdict.reasons.iter().any(|r| r.contains(&named)),
            "{:?} names {named}",
            verdict.reasons
        );
    }
    // Node B's watcher saw every verdict of both nodes, once, in the store's order.
    let sequences: Vec<u64> = watched.iter().map(|v| v.sequence).collect();
    assert_eq!(sequences.len(), 2 * SERIALS, "watched on node B");
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "in order");
    let from_a_frames: HashSet<&str> = from_a.iter().map(|v| v.frame_id.as_str()).collect();
    assert_eq!(
        watched
            .iter()
            .filter(|v| from_a_frames.contains(v.frame_id.as_str()))
            .count(),
        SERIALS,
        "node B announced every verdict node A made"
    );
    // Node A's alarm watcher saw every alarm raised, node B's monitor's too.
    let mut database_client = postgres::Client::connect(&database.url, postgres::NoTls).unwrap();
    let raised: Vec<String> = database_client
        .query("SELECT id FROM alarms ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get::<_, i64>(0).to_string())
        .collect();
    let seen: HashSet<String> = alarms_on_a.lock().unwrap().iter().cloned().collect();
    assert!(!raised.is_empty(), "duplicates raise STOP alarms");
    for id in &raised {
        assert!(
            seen.contains(id),
            "alarm {id} not announced on node A: {seen:?}"
        );
    }
    // One audit trail for both nodes, intact.
    let verify = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args(["audit", "verify", "--store", &database.url, "--data-dir"])
        .arg(data_dir("shared-race-verify"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{printed}");
    assert!(printed.contains("intact"), "{printed}");
    a.terminate();
    b.terminate();
}

/// A PostgreSQL server of the test's own, which it stops and starts (`.ci/postgres`).
struct OwnServer {
    dir: PathBuf,
    port: u16,
}

impl OwnServer {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres")
    }

    fn start(name: &str) -> OwnServer {
        // Under the system's temporary folder: the server's own user must reach it.
        let dir =
            std::env::temp_dir().join(format!("verigrade-postgres-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = OwnServer { dir, port };
        server.up();
        server
    }

    fn admin_url(&self) -> String {
        format!("postgres://verigrade@127.0.0.1:{}/postgres", self.port)
    }

    fn up(&self) {
        let status = Command::new(OwnServer::script())
            .arg("start")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "PostgreSQL starts");
    }

    fn down(&self) {
        let status = Command::new(OwnServer::script())
            .arg("stop")
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "PostgreSQL stops");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(OwnServer::script())
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends frame `i` by itself; its verdict, or the status it was refused with.
async fn send(url: &str, i: usize, png: Bytes) -> Result<Verdict, tonic::Status> {
    let mut client = verifier(url).await;
    client
        .verify(image_request("FAULT", &format!("f{i}"), png))
        .await
        .map(tonic::Response::into_inner)
}

#[test]
fn with_the_database_restarted_and_a_node_killed_nothing_answered_is_lost() {
    if server("database restart").is_none() {
        return;
    }
    let postgres = OwnServer::start("restart");
    let database = TestDatabase::on(&postgres.admin_url(), "restart");
    let dir = data_dir("shared-restart");
    let env = [("VERIGRADE_STORE", database.url.clone())];
    let node = Process::start(&dir, &env);
    const FRAMES: usize = 300;
    let images: Vec<Bytes> = (0..FRAMES).map(|i| small_pack(&format!("F{i}"))).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut answered: BTreeMap<String, Verdict> = BTreeMap::new();
    let mut refused = Vec::new();
    // Frames one by one, the database stopped for frames 100 to 119.
    for (i, png) in images.iter().enumerate().take(200) {
        if i == 100 {
            postgres.down();
        }
        if i == 120 {
            postgres.up();
        }
        match runtime.block_on(send(&node.url, i, png.clone())) {
            Ok(verdict) => {
                answered.insert(verdict.frame_id.clone(), verdict);
            }
            Err(status) => refused.push((i, status)),
        }
    }
    // The rest on one stream, the node killed while it runs; then resent, as a gateway would,
    // to the node started again.
    let streamed: Vec<VerifyRequest> = (200..FRAMES)
        .map(|i| image_request("FAULT", &format!("f{i}"), images[i].clone()))
        .collect();
    let before_kill = runtime.block_on(async {
        let url = node.url.clone();
        let running = tokio::spawn(async move {
            let mut client = verifier(&url).await;
            let mut got = Vec::new();
            let throttled = tokio_stream::iter(streamed).throttle(Duration::from_millis(5));
            if let Ok(answers) = client.verify_stream(throttled).await {
                let mut answers = answers.into_inner();
                while let Some(Ok(verdict)) = answers.next().await {
                    got.push(verdict);
                }
            }
            got
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
        node.kill();
        running.await.unwrap()
    });
    assert!(
        !before_kill.is_empty() && before_kill.len() < FRAMES - 200,
        "killed mid-stream: {} answered",
        before_kill.len()
    );
    for verdict in before_kill {
        answered.insert(verdict.frame_id.clone(), verdict);
    }
    let node = Process::start(&dir, &env);
    for (i, png) in images.iter().enumerate().skip(200) {
        if answered.contains_key(&format!("f{i}")) {
            continue;
        }
        let verdict = runtime
            .block_on(send(&node.url, i, png.clone()))
            .unwrap_or_else(|status| panic!("frame {i} resent: {status:?}"));
        answered.insert(verdict.frame_id.clone(), verdict);
    }
    // While the database was down frames were refused as unavailable, never answered as
    // stored; once it was back the node stored again by itself.
    assert!(!refused.is_empty(), "no frame met the stopped database");
    for (i, status) in &refused {
        assert!(
            (100..125).contains(i),
            "frame {i} refused with the database up: {status:?}"
        );
        assert_eq!(
            status.code(),
            tonic::Code::Unavailable,
            "frame {i}: {status:?}"
        );
    }
    assert!(
        (125..FRAMES).all(|i| answered.contains_key(&format!("f{i}"))),
        "the node recovered: {} refused",
        refused.len()
    );
    assert_eq!(answered.len() + refused.len(), FRAMES);
    // Every verdict answered is stored, as answered.
    let mut client = postgres::Client::connect(&database.url, postgres::NoTls).unwrap();
    let stored: BTreeMap<String, i64> = client
        .query(
            "SELECT frame_id, seq FROM verdicts WHERE line_id = 'FAULT'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for (frame, verdict) in &answered {
        assert_eq!(
            stored.get(frame).copied(),
            Some(verdict.sequence as i64),
            "answered {frame} as #{}, not stored so",
            verdict.sequence
        );
    }
    node.terminate();
}

#[test]
fn an_embedded_store_moves_into_postgres_with_its_trail_and_evidence() {
    let Some(database) = TestDatabase::create("migrate") else {
        return;
    };
    let dir = data_dir("shared-migrate");
    let verigrade = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args(args)
            .output()
            .unwrap()
    };
    let dir_arg = dir.to_str().unwrap();
    let token = verigrade(&[
        "token",
        "create",
        "--data-dir",
        dir_arg,
        "--role",
        "admin",
        "--user",
        "ida",
    ]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let auth = || tonic::metadata::MetadataValue::try_from(format!("Bearer {token}")).unwrap();
    // On SQLite: two packs, one of them again (a duplicate), and a blank (kept as evidence).
    let embedded = Process::start(&dir, &[]);
    let frames = [
        ("m1", small_pack("M1")),
        ("m2", small_pack("M2")),
        ("m3", small_pack("M1")),
        ("m4", crate::support::blank_png()),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let send_all = |url: String, frames: Vec<(&'static str, Bytes)>| {
        runtime.block_on(async {
            let mut client = verifier(&url).await;
            let mut verdicts = Vec::new();
            for (frame, png) in frames {
                let mut request = tonic::Request::new(image_request("MIG", frame, png));
                request.metadata_mut().insert("authorization", auth());
                verdicts.push(client.verify(request).await.unwrap().into_inner());
            }
            verdicts
        })
    };
    let before = send_all(embedded.url.clone(), frames.to_vec());
    assert_eq!(
        before.iter().map(|v| v.pass).collect::<Vec<_>>(),
        [true, true, false, false]
    );
    let kept = std::fs::read(dir.join("evidence").join(&before[3].evidence)).unwrap();
    let (status, _) = embedded.terminate();
    assert!(status.success());

    let migrated = verigrade(&["store", "migrate", "--from", dir_arg, "--to", &database.url]);
    let printed = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(printed.contains("intact"), "{printed}");
    assert!(
        printed.contains("verdicts                      4 rows"),
        "{printed}"
    );
    let again = verigrade(&["store", "migrate", "--from", dir_arg, "--to", &database.url]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a second migration into it is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));

    // A node on PostgreSQL, with a fresh folder: the records, the token, the registry and the
    // evidence all came along.
    let shared = node("migrated", &database);
    let after = send_all(shared.url.clone(), vec![("m5", small_pack("M2"))]);
    assert!(after[0].duplicate, "M2 was registered on SQLite");
    assert_eq!(after[0].sequence, 5);
    let evidence = runtime.block_on(async {
        let mut client = VerdictsClient::connect(shared.url.clone()).await.unwrap();
        let mut request = tonic::Request::new(verigrade::proto::GetVerdictRequest {
            line_id: "MIG".into(),
            frame_id: "m4".into(),
        });
        request.metadata_mut().insert("authorization", auth());
        client.get_evidence(request).await.unwrap().into_inner()
    });
    assert_eq!(evidence.image, kept, "the kept frame, from the database");
    shared.terminate();
}
