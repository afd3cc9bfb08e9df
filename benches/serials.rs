//! Serial uniqueness at scale: ten million (GTIN, serial) pairs put into the store's serial
//! index the way its writer does (batches of 512, WAL, `synchronous=FULL`), then the cost of
//! the duplicate check for a new serial and for a repeated one, and the size on disk.
//!
//! `VERIGRADE_BENCH_SERIALS` sets the count (default 10 000 000); `VERIGRADE_BENCH_STORE` a
//! PostgreSQL store to measure instead of SQLite (an empty database). Prints the insert rate, the
//! p50/p99 of 100 000 single checks and the database size, then criterion's medians.

use criterion::Criterion;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;
use verigrade::store::sql::Value;
use verigrade::store::{Db, WriteTx, open_database, open_postgres, register_serial};

/// Products on the line: serials are unique per GTIN.
const GTINS: [&str; 4] = [
    "09506000134352",
    "09506000134369",
    "00301234567896",
    "10301234567893",
];
/// Verdicts per transaction, as the store's writer commits them.
const BATCH: usize = 512;
const CHECKS: usize = 100_000;

/// The serial index filled the way the writer fills it: `count` random serials in batches of
/// [`BATCH`], each transaction synced. The store, the last sequence, and serials to repeat.
fn load_sqlite(count: usize) -> (Db, i64, Vec<(usize, String)>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-serials");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench folder");
    let path = dir.join("verdicts.sqlite");
    let conn = open_database(
        &path,
        verigrade::serve::config::Limits::default().store_cache_bytes,
    )
    .expect("database");
    let mut rng = StdRng::seed_from_u64(7);
    let mut seen: Vec<(usize, String)> = Vec::with_capacity(CHECKS);
    let started = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < count {
        let tx = WriteTx::begin(&conn).expect("transaction");
        for _ in 0..BATCH.min(count - seq as usize) {
            seq += 1;
            let product = seq as usize % GTINS.len();
            let serial = random_serial(&mut rng);
            let first = register_serial(&tx, GTINS[product], &serial, seq).expect("insert");
            assert!(first.is_none() || seen.iter().any(|(_, s)| *s == serial));
            if (seq as usize).is_multiple_of((count / CHECKS).max(1)) && seen.len() < CHECKS {
                seen.push((product, serial));
            }
        }
        tx.commit().expect("commit");
    }
    let insert_s = started.elapsed().as_secs_f64();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "serials: {count} inserted in {insert_s:.1} s ({:.0}/s, batches of {BATCH}, synchronous=FULL); database {:.0} MiB ({:.1} bytes/serial)",
        count as f64 / insert_s,
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / count as f64
    );
    (conn, seq, seen)
}

/// The serial index of an empty PostgreSQL store (`VERIGRADE_BENCH_STORE`), filled in bulk by
/// the server (12 hex digits of an MD5 per serial: random as far as the index can tell).
fn load_postgres(url: &str, count: usize) -> (Db, i64, Vec<(usize, String)>) {
    let conn = open_postgres(url).expect("PostgreSQL store");
    let started = Instant::now();
    conn.execute_batch(&format!(
        "TRUNCATE serials;
         INSERT INTO serials (gtin, serial, seq)
         SELECT (ARRAY['{}', '{}', '{}', '{}'])[1 + i % 4], substr(md5(i::text), 1, 12), i
         FROM generate_series(1, {count}) AS i;
         ANALYZE serials",
        GTINS[0], GTINS[1], GTINS[2], GTINS[3]
    ))
    .expect("bulk load");
    let load_s = started.elapsed().as_secs_f64();
    let every = (count / CHECKS).max(1);
    let seen: Vec<(usize, String)> = conn
        .rows(
            "SELECT seq, serial FROM serials WHERE seq % ?1 = 0 ORDER BY seq LIMIT ?2",
            &[Value::Integer(every as i64), Value::Integer(CHECKS as i64)],
            |r| Ok(((r.get::<i64>(0)? % 4) as usize, r.get(1)?)),
        )
        .expect("sample");
    let bytes: i64 = conn
        .row("SELECT pg_total_relation_size('serials')", &[], |r| {
            r.get(0)
        })
        .expect("size");
    println!(
        "serials: {count} loaded in bulk in {load_s:.1} s; table and index {:.0} MiB ({:.1} bytes/serial)",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / count as f64
    );
    (conn, count as i64, seen)
}

/// A randomised 12-character serial, as EU FMD asks for.
fn random_serial(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let count: usize = std::env::var("VERIGRADE_BENCH_SERIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let (conn, mut seq, seen) = match std::env::var("VERIGRADE_BENCH_STORE") {
        Ok(url) => load_postgres(&url, count),
        Err(_) => load_sqlite(count),
    };

    // Single checks, each timed, inside one transaction as in a writer batch.
    let tx = WriteTx::begin(&conn).expect("transaction");
    let mut timings = |label: &str, serials: &mut dyn FnMut(usize) -> (usize, String)| {
        let mut ms: Vec<f64> = (0..CHECKS)
            .map(|i| {
                let (product, serial) = serials(i);
                seq += 1;
                let t = Instant::now();
                black_box(register_serial(&tx, GTINS[product], &serial, seq).expect("check"));
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "serials: duplicate check, {label}: p50 {:.4} ms, p99 {:.4} ms, max {:.3} ms over {CHECKS}",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms[ms.len() - 1]
        );
    };
    let mut fresh = StdRng::seed_from_u64(99);
    timings("new serial", &mut |i| {
        (i % GTINS.len(), random_serial(&mut fresh))
    });
    timings("repeated serial", &mut |i| seen[i % seen.len()].clone());

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group(format!("serials/{count}"));
    let mut i = 0usize;
    group.bench_function("duplicate check, new serial", |b| {
        b.iter(|| {
            seq += 1;
            i += 1;
            register_serial(&tx, GTINS[i % GTINS.len()], &random_serial(&mut fresh), seq)
                .expect("check")
        })
    });
    group.bench_function("duplicate check, repeated serial", |b| {
        b.iter(|| {
            i += 1;
            let (product, serial) = &seen[i % seen.len()];
            register_serial(&tx, GTINS[*product], serial, seq).expect("check")
        })
    });
    group.finish();
    drop(tx);
    criterion.final_summary();
}
