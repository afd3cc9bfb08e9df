//! The audit trail against tampering: a store made by a real server run (commissioning,
//! passing packs, a duplicate that raises an alarm, its acknowledgement, a batch signature, a
//! pack after it, a token), then changed behind verigrade's back one way at a time, as someone
//! with the database file in hand would. `verigrade audit verify` must pass the untouched store
//! (exit 0) and catch every change (exit 1), naming what broke first.

use crate::support::{Server, config, data_dir, first_alarm, image_request, pack_png};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::process::Command;
use verigrade::access::{Actor, Role};
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::{
    AcknowledgeAlarmRequest, CloseBatchRequest, CommissionRequest, ListAlarmsRequest,
};
use verigrade::store::{self, tokens};

const LINE: &str = "L1";
/// The batch `support::gs1_text` prints.
const BATCH: &str = "12AB34";
const GTIN: &str = "09506000134352";

/// A store as a day on a line leaves it; built once, copied for each tampering.
async fn build_store(dir: &Path) {
    let server = Server::start(config(dir)).await;
    let chunk = CommissionRequest {
        line_id: LINE.into(),
        batch: BATCH.into(),
        gtin: GTIN.into(),
        serials: (1..=6).map(|i| format!("S{i}")).collect(),
    };
    server
        .serials()
        .await
        .commission(tokio_stream::iter(vec![chunk]))
        .await
        .unwrap();
    let mut verifier = server.verifier().await;
    for (frame, serial) in [("f1", "S1"), ("f2", "S2"), ("f3", "S3"), ("f4", "S1")] {
        verifier
            .verify(image_request(LINE, frame, pack_png(serial)))
            .await
            .unwrap();
    }
    let mut alarms = AlarmsClient::connect(server.url.clone()).await.unwrap();
    let raised = first_alarm(&mut alarms, || {
        tonic::Request::new(ListAlarmsRequest {
            line_id: LINE.into(),
            ..ListAlarmsRequest::default()
        })
    })
    .await;
    alarms
        .acknowledge_alarm(AcknowledgeAlarmRequest {
            alarm_id: raised.alarm_id,
            user: "ana".into(),
            comment: "pack removed from the line".into(),
        })
        .await
        .unwrap();
    server
        .serials()
        .await
        .close_batch(CloseBatchRequest {
            line_id: LINE.into(),
            batch: BATCH.into(),
            meaning: "approved".into(),
        })
        .await
        .unwrap();
    let late = verifier
        .verify(image_request(LINE, "f5", pack_png("S5")))
        .await
        .unwrap()
        .into_inner();
    assert!(!late.pass, "a pack of a closed batch fails");
    assert!(
        late.reasons.iter().any(|r| r.contains("was closed by")),
        "{:?}",
        late.reasons
    );
    server.stop().await;
    let conn = store::open_local(dir).unwrap();
    tokens::create(&conn, "gw-1", Role::Gateway, &Actor::local()).unwrap();
    store::trail::save_head(&conn, dir).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `verigrade audit verify` on `dir`: its exit code and what it printed.
fn audit_verify(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), printed)
}

/// The first break `audit verify` names.
fn first_break(printed: &str) -> &str {
    printed
        .lines()
        .find_map(|line| line.strip_prefix("BROKEN: "))
        .unwrap_or_else(|| panic!("no break named in:\n{printed}"))
}

/// Applies `tamper` to a copy of the store; what `audit verify` then says first.
fn tampered(base: &Path, name: &str, tamper: impl FnOnce(&Connection)) -> String {
    let dir: PathBuf = base.with_file_name(format!("tampered-{name}"));
    copy_dir(base, &dir);
    let conn = Connection::open(dir.join("verdicts.sqlite")).unwrap();
    tamper(&conn);
    drop(conn);
    let (code, printed) = audit_verify(&dir);
    assert_eq!(code, 1, "{name}: verify must fail:\n{printed}");
    first_break(&printed).to_string()
}

fn seq_of(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_passes_the_untouched_store_and_names_each_change_made_behind_its_back() {
    let base = data_dir("audit-trail");
    build_store(&base).await;

    let (code, printed) = audit_verify(&base);
    assert_eq!(code, 0, "untouched store:\n{printed}");
    assert!(printed.contains("intact"), "{printed}");
    let conn = Connection::open(base.join("verdicts.sqlite")).unwrap();
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for expected in [
        "server.started",
        "serials.commissioned",
        "verdict.stored",
        "alarm.raised",
        "alarm.acknowledged",
        "batch.closed",
        "server.stopped",
        "token.created",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    drop(conn);

    // A failed verdict (the duplicate) made to pass.
    let first = tampered(&base, "flip", |c| {
        let seq = seq_of(c, "SELECT seq FROM verdicts WHERE frame_id = 'f4'");
        c.execute("UPDATE verdicts SET pass = 1 WHERE seq = ?1", params![seq])
            .unwrap();
    });
    assert!(
        first.starts_with("verdict 4 (line L1, frame f4): differs"),
        "{first}"
    );

    // An alarm deleted.
    let first = tampered(&base, "alarm", |c| {
        c.execute("DELETE FROM alarms", []).unwrap();
    });
    assert!(first.starts_with("alarm 1: missing"), "{first}");

    // A serial commissioned without verigrade: on its own, and slipped into a commissioning.
    let first = tampered(&base, "serial", |c| {
        c.execute(
            "INSERT INTO commissioned (gtin, serial, line_id, batch) VALUES (?1, 'S99', ?2, ?3)",
            params![GTIN, LINE, BATCH],
        )
        .unwrap();
    });
    assert!(
        first.contains("1 commissioned serials name no audit entry"),
        "{first}"
    );
    let first = tampered(&base, "serial-in-entry", |c| {
        let entry = seq_of(c, "SELECT MIN(audit_seq) FROM commissioned");
        c.execute(
            "INSERT INTO commissioned (gtin, serial, line_id, batch, audit_seq)
             VALUES (?1, 'S98', ?2, ?3, ?4)",
            params![GTIN, LINE, BATCH, entry],
        )
        .unwrap();
    });
    assert!(
        first.contains("were changed, removed or added to"),
        "{first}"
    );

    // An audit entry edited: its content no longer matches its hash; a hash edited no longer
    // matches its content.
    let first = tampered(&base, "entry", |c| {
        c.execute(
            "UPDATE audit SET user = 'mallory' WHERE action = 'alarm.acknowledged'",
            [],
        )
        .unwrap();
    });
    assert!(
        first.contains("(alarm.acknowledged alarm 1): its content does not match its hash"),
        "{first}"
    );
    let first = tampered(&base, "hash", |c| {
        c.execute(
            // Always a change: a hash that already begins with 00 (1 in 256) gets ff.
            "UPDATE audit SET hash = CASE WHEN hash LIKE '00%' THEN 'ff' ELSE '00' END \
             || substr(hash, 3) WHERE action = 'batch.closed'",
            [],
        )
        .unwrap();
    });
    assert!(first.contains("batch.closed"), "{first}");

    // The chain cut short at its end (its last entries, and the token they recorded).
    let first = tampered(&base, "truncate", |c| {
        let last = seq_of(c, "SELECT MAX(seq) FROM audit");
        c.execute("DELETE FROM audit WHERE seq > ?1", params![last - 3])
            .unwrap();
        c.execute("DELETE FROM tokens", []).unwrap();
    });
    assert!(first.contains("removed from its end"), "{first}");

    // A verdict deleted, and one inserted outside verigrade.
    let first = tampered(&base, "insert", |c| {
        c.execute(
            "INSERT INTO verdicts (seq, line_id, frame_id, stored_ms, pass, record)
             SELECT seq + 100, line_id, 'forged', stored_ms, 1, record FROM verdicts WHERE seq = 1",
            [],
        )
        .unwrap();
    });
    assert!(
        first.contains("frame forged): no audit entry records it"),
        "{first}"
    );
    let first = tampered(&base, "delete", |c| {
        c.execute("DELETE FROM verdicts WHERE frame_id = 'f2'", [])
            .unwrap();
    });
    assert!(first.starts_with("verdict 2: missing"), "{first}");
}

#[test]
fn commands_on_a_folder_without_a_store_say_so_and_create_nothing() {
    let missing = std::env::temp_dir().join("verigrade-no-store-here");
    let _ = std::fs::remove_dir_all(&missing);
    let dir = missing.display().to_string();
    for args in [
        &["audit", "verify", "--data-dir", &dir][..],
        &["token", "list", "--data-dir", &dir],
        &["token", "revoke", "1", "--data-dir", &dir],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains("holds no verigrade store") && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
        assert!(!missing.exists(), "{args:?} created {dir}");
    }
}
