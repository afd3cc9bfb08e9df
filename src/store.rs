//! The verdict store: SQLite in WAL mode under the data directory, plus the evidence folder.
//!
//! One writer thread owns the write connection. Verdicts queue to it in the order they are
//! submitted; it commits them in batches (one fsync per batch, `synchronous=FULL`, so a verdict
//! survives a kill or a power cut) and only then releases the answers. The duplicate-serial
//! check runs inside that transaction, so two frames with one serial cannot both pass.
//! Reads use their own connection and never wait for a write.

use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many verdicts one transaction commits at most.
const MAX_BATCH: usize = 512;

/// A graded frame on its way into the store.
#[derive(Debug)]
pub struct Pending {
    pub verdict: Verdict,
    /// File name under `<data-dir>/evidence` already written for this (failed) frame.
    pub evidence: Option<Evidence>,
}

#[derive(Debug)]
pub struct Evidence {
    pub file_name: String,
    pub bytes: u64,
}

/// Counts for one line (or all lines).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineCounts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub no_read: u64,
    pub duplicates: u64,
    /// A, B, C, D, F.
    pub grades: [u64; 5],
    pub mean_grade: f64,
    pub last_sequence: u64,
}

/// Which stored verdicts to list.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Empty: every line.
    pub line_id: String,
    pub only_failed: bool,
    /// Only verdicts stored before this sequence (newest-first paging); 0 = from the newest.
    pub before_sequence: u64,
    /// Only verdicts stored after this sequence (oldest-first replay); 0 = none.
    pub after_sequence: u64,
    pub limit: usize,
}

type Reply = oneshot::Sender<Result<Arc<Verdict>>>;
type CommissionReply = oneshot::Sender<Result<Commissioned>>;

enum Job {
    Commit(Box<Pending>, Reply),
    Commission(Commission, CommissionReply),
}

/// Serials to commission for one line and batch.
#[derive(Clone, Debug)]
pub struct Commission {
    pub line_id: String,
    pub batch: String,
    pub gtin: String,
    pub serials: Vec<String>,
}

/// What commissioning did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commissioned {
    pub added: u64,
    pub already: u64,
    pub conflicts: u64,
    /// The first few conflicts, in words.
    pub conflict_examples: Vec<String>,
}

/// Counts of one line and batch; see `BatchReconciliation` in the proto for how they add up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reconciliation {
    pub line_id: String,
    pub batch: String,
    pub commissioned: u64,
    pub verified: u64,
    pub frames: u64,
    pub passed: u64,
    pub no_read: u64,
    pub duplicate: u64,
    pub not_commissioned: u64,
}

impl Reconciliation {
    pub fn outstanding(&self) -> u64 {
        self.commissioned.saturating_sub(self.verified)
    }

    pub fn failed(&self) -> u64 {
        self.frames.saturating_sub(self.passed)
    }

    /// Failed for print quality or data (not a no-read, duplicate or uncommissioned serial).
    pub fn rejected(&self) -> u64 {
        self.failed()
            .saturating_sub(self.no_read + self.duplicate + self.not_commissioned)
    }
}

/// Handle to the store; cheap to share behind an `Arc`.
pub struct Store {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
    committed: broadcast::Sender<Arc<Verdict>>,
    evidence_dir: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `data_dir`, keeping at most `evidence_budget` bytes of
    /// evidence frames, with `cache_bytes` of page cache for its writer.
    pub fn open(data_dir: &Path, evidence_budget: u64, cache_bytes: u64) -> Result<Store> {
        let evidence_dir = data_dir.join("evidence");
        std::fs::create_dir_all(&evidence_dir).map_err(|source| Error::Io {
            path: evidence_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("verdicts.sqlite");
        let writer = open_database(&path, cache_bytes)?;
        sweep_orphans(&writer, &evidence_dir)?;
        let reader = Connection::open(&path)?;
        reader.pragma_update(None, "query_only", true)?;
        let (committed, _) = broadcast::channel(4096);
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        let mut state = Writer {
            conn: writer,
            evidence_dir: evidence_dir.clone(),
            evidence_budget,
            committed: committed.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("verigrade-store".into())
            .spawn(move || state.run(queue))
            .map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Store {
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(thread)),
            reader: Mutex::new(reader),
            committed,
            evidence_dir,
        })
    }

    /// Where evidence frames are written.
    pub fn evidence_dir(&self) -> &Path {
        &self.evidence_dir
    }

    /// Queues a verdict for storage and returns a receiver for the stored verdict (sequence,
    /// time, duplicate flag filled in). Waits while the queue is full.
    pub async fn submit(
        &self,
        pending: Pending,
    ) -> Result<oneshot::Receiver<Result<Arc<Verdict>>>> {
        let jobs = self.jobs.lock().map_err(|_| closed())?.clone();
        let jobs = jobs.ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(Job::Commit(Box::new(pending), reply))
            .await
            .map_err(|_| closed())?;
        Ok(answer)
    }

    /// Commissions serials for a line and batch; waits until they are committed.
    pub async fn commission(&self, commission: Commission) -> Result<Commissioned> {
        let jobs = self.jobs.lock().map_err(|_| closed())?.clone();
        let jobs = jobs.ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(Job::Commission(commission, reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Reconciliation per line and batch; empty `line_id` or `batch` match every one.
    pub fn reconcile(&self, line_id: &str, batch: &str) -> Result<Vec<Reconciliation>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        let mut statement = conn.prepare_cached(
            "SELECT k.line_id, k.batch, COALESCE(c.commissioned, 0), COALESCE(c.verified, 0),
                    COALESCE(b.total, 0), COALESCE(b.passed, 0), COALESCE(b.no_read, 0),
                    COALESCE(b.duplicates, 0), COALESCE(b.not_commissioned, 0)
             FROM (SELECT line_id, batch FROM commissioning UNION SELECT line_id, batch FROM batch_stats) k
             LEFT JOIN commissioning c ON c.line_id = k.line_id AND c.batch = k.batch
             LEFT JOIN batch_stats b ON b.line_id = k.line_id AND b.batch = k.batch
             WHERE (?1 = '' OR k.line_id = ?1) AND (?2 = '' OR k.batch = ?2)
             ORDER BY k.line_id, k.batch",
        )?;
        let rows = statement.query_map(params![line_id, batch], |r| {
            let n = |i| r.get::<_, i64>(i).map(|v| v as u64);
            Ok(Reconciliation {
                line_id: r.get(0)?,
                batch: r.get(1)?,
                commissioned: n(2)?,
                verified: n(3)?,
                frames: n(4)?,
                passed: n(5)?,
                no_read: n(6)?,
                duplicate: n(7)?,
                not_commissioned: n(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores a verdict and waits until it is committed.
    pub async fn commit(&self, pending: Pending) -> Result<Arc<Verdict>> {
        self.submit(pending).await?.await.map_err(|_| closed())?
    }

    /// Every verdict committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Verdict>> {
        self.committed.subscribe()
    }

    /// Stops taking verdicts, commits every one already queued and checkpoints the WAL.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let thread = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// One verdict by line and frame.
    pub fn get(&self, line_id: &str, frame_id: &str) -> Result<Option<Verdict>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        conn.query_row(
            "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
            params![line_id, frame_id],
            row_verdict,
        )
        .optional()?
        .transpose()
    }

    /// Verdicts matching `query`: newest first, or oldest first after `after_sequence`.
    pub fn list(&self, query: &Query) -> Result<Vec<Verdict>> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        let order = if query.after_sequence > 0 {
            "ASC"
        } else {
            "DESC"
        };
        let sql = format!(
            "SELECT record, evidence FROM verdicts
             WHERE (?1 = '' OR line_id = ?1) AND (?2 = 0 OR pass = 0)
               AND (?3 = 0 OR seq < ?3) AND seq > ?4
             ORDER BY seq {order} LIMIT ?5"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let rows = statement.query_map(
            params![
                query.line_id,
                query.only_failed,
                query.before_sequence as i64,
                query.after_sequence as i64,
                query.limit as i64
            ],
            row_verdict,
        )?;
        rows.map(|row| row?).collect()
    }

    /// Counts for a line, or for every line when `line_id` is empty.
    pub fn counts(&self, line_id: &str) -> Result<LineCounts> {
        let conn = self.reader.lock().map_err(|_| closed())?;
        let row = conn.query_row(
            "SELECT COALESCE(SUM(total), 0), COALESCE(SUM(passed), 0), COALESCE(SUM(no_read), 0),
                    COALESCE(SUM(duplicates), 0), COALESCE(SUM(grade_a), 0), COALESCE(SUM(grade_b), 0),
                    COALESCE(SUM(grade_c), 0), COALESCE(SUM(grade_d), 0), COALESCE(SUM(grade_f), 0),
                    COALESCE(SUM(grade_sum), 0.0), COALESCE(MAX(last_seq), 0)
             FROM line_stats WHERE (?1 = '' OR line_id = ?1)",
            params![line_id],
            |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| v as u64);
                let total = n(0)?;
                let grade_sum: f64 = r.get(9)?;
                Ok(LineCounts {
                    total,
                    passed: n(1)?,
                    failed: total - n(1)?,
                    no_read: n(2)?,
                    duplicates: n(3)?,
                    grades: [n(4)?, n(5)?, n(6)?, n(7)?, n(8)?],
                    mean_grade: if total > 0 {
                        grade_sum / total as f64
                    } else {
                        0.0
                    },
                    last_sequence: n(10)?,
                })
            },
        )?;
        Ok(row)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens (or creates) the store's database as its writer does: WAL, `synchronous=FULL`,
/// `cache_bytes` of page cache (the serial indexes are looked up at random; 64 MiB keeps their
/// inner pages in memory at ten million serials), the schema in place.
pub fn open_database(path: &Path, cache_bytes: u64) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A negative cache_size is in KiB.
    let cache_kib = i64::try_from(cache_bytes / 1024).unwrap_or(i64::MAX);
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Registers a (GTIN, serial) pair as carried by verdict `seq`. When the pair was already
/// there, returns the sequence of the verdict that carried it first (a duplicate).
pub fn register_serial(
    conn: &Connection,
    gtin: &str,
    serial: &str,
    seq: i64,
) -> Result<Option<i64>> {
    let inserted = conn
        .prepare_cached("INSERT OR IGNORE INTO serials (gtin, serial, seq) VALUES (?1, ?2, ?3)")?
        .execute(params![gtin, serial, seq])?;
    if inserted == 1 {
        return Ok(None);
    }
    let first = conn
        .prepare_cached("SELECT seq FROM serials WHERE gtin = ?1 AND serial = ?2")?
        .query_row(params![gtin, serial], |r| r.get(0))?;
    Ok(Some(first))
}

fn closed() -> Error {
    Error::Store("the store is closed".into())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY,
    line_id TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    stored_ms INTEGER NOT NULL,
    pass INTEGER NOT NULL,
    evidence TEXT,
    evidence_bytes INTEGER NOT NULL DEFAULT 0,
    record BLOB NOT NULL,
    UNIQUE (line_id, frame_id)
);
CREATE INDEX IF NOT EXISTS verdicts_by_line ON verdicts (line_id, seq);
CREATE INDEX IF NOT EXISTS verdicts_failed ON verdicts (pass, seq) WHERE pass = 0;
CREATE INDEX IF NOT EXISTS verdicts_evidence ON verdicts (seq) WHERE evidence IS NOT NULL;
CREATE TABLE IF NOT EXISTS serials (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (gtin, serial)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commissioned (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    verified_seq INTEGER,
    PRIMARY KEY (gtin, serial)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commissioning (
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    commissioned INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, batch)
);
CREATE TABLE IF NOT EXISTS batch_stats (
    line_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    no_read INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    not_commissioned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, batch)
);
CREATE TABLE IF NOT EXISTS line_stats (
    line_id TEXT PRIMARY KEY,
    total INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    no_read INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    grade_a INTEGER NOT NULL DEFAULT 0,
    grade_b INTEGER NOT NULL DEFAULT 0,
    grade_c INTEGER NOT NULL DEFAULT 0,
    grade_d INTEGER NOT NULL DEFAULT 0,
    grade_f INTEGER NOT NULL DEFAULT 0,
    grade_sum REAL NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
);
";

fn row_verdict(row: &rusqlite::Row) -> rusqlite::Result<Result<Verdict>> {
    let record: Vec<u8> = row.get(0)?;
    let evidence: Option<String> = row.get(1)?;
    Ok(Verdict::decode(record.as_slice())
        .map(|mut v| {
            v.evidence = evidence.unwrap_or_default();
            v
        })
        .map_err(|e| Error::Store(format!("corrupt verdict record: {e}"))))
}

/// Removes evidence files that no stored verdict refers to (written before a kill, never committed).
fn sweep_orphans(conn: &Connection, dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut referenced = conn.prepare("SELECT 1 FROM verdicts WHERE evidence = ?1")?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !referenced.exists(params![name])? {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Milliseconds since 1970-01-01 UTC.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Writer {
    conn: Connection,
    evidence_dir: PathBuf,
    evidence_budget: u64,
    committed: broadcast::Sender<Arc<Verdict>>,
}

impl Writer {
    fn run(&mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            let mut replies = Replies::default();
            match self.commit_batch(batch.drain(..), &mut replies) {
                Ok(()) => {
                    for (reply, verdict) in replies.verdicts {
                        if let Ok(verdict) = &verdict {
                            let _ = self.committed.send(verdict.clone());
                        }
                        let _ = reply.send(verdict);
                    }
                    for (reply, outcome) in replies.commissions {
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for (reply, _) in replies.verdicts {
                        let _ = reply.send(Err(Error::Store(message.clone())));
                    }
                    for (reply, _) in replies.commissions {
                        let _ = reply.send(Err(Error::Store(message.clone())));
                    }
                }
            }
        }
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn commit_batch(
        &mut self,
        jobs: impl Iterator<Item = Job>,
        replies: &mut Replies,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let mut evidence_added = false;
        for job in jobs {
            match job {
                Job::Commit(pending, reply) => {
                    let stored = store_one(&tx, *pending, &self.evidence_dir);
                    evidence_added |= stored.as_ref().is_ok_and(|v| !v.evidence.is_empty());
                    replies.verdicts.push((reply, stored.map(Arc::new)));
                }
                Job::Commission(commission, reply) => {
                    replies
                        .commissions
                        .push((reply, commission_serials(&tx, &commission)));
                }
            }
        }
        let released = if evidence_added {
            enforce_budget(&tx, self.evidence_budget)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        for file in released {
            let _ = std::fs::remove_file(self.evidence_dir.join(file));
        }
        Ok(())
    }
}

/// Answers waiting for a batch's commit.
#[derive(Default)]
struct Replies {
    verdicts: Vec<(Reply, Result<Arc<Verdict>>)>,
    commissions: Vec<(CommissionReply, Result<Commissioned>)>,
}

/// How many conflicts a commissioning answer spells out.
const CONFLICT_EXAMPLES: usize = 10;

fn commission_serials(tx: &rusqlite::Transaction, c: &Commission) -> Result<Commissioned> {
    let mut outcome = Commissioned::default();
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO commissioned (gtin, serial, line_id, batch) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut owner = tx.prepare_cached(
        "SELECT line_id, batch FROM commissioned WHERE gtin = ?1 AND serial = ?2",
    )?;
    for serial in &c.serials {
        if insert.execute(params![c.gtin, serial, c.line_id, c.batch])? == 1 {
            outcome.added += 1;
            continue;
        }
        let (line, batch): (String, String) =
            owner.query_row(params![c.gtin, serial], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if line == c.line_id && batch == c.batch {
            outcome.already += 1;
        } else {
            outcome.conflicts += 1;
            if outcome.conflict_examples.len() < CONFLICT_EXAMPLES {
                outcome.conflict_examples.push(format!(
                    "serial {serial} of GTIN {} is commissioned for batch {batch} on line {line}",
                    c.gtin
                ));
            }
        }
    }
    tx.execute(
        "INSERT INTO commissioning (line_id, batch, commissioned) VALUES (?1, ?2, ?3)
         ON CONFLICT (line_id, batch) DO UPDATE SET commissioned = commissioned + ?3",
        params![c.line_id, c.batch, outcome.added as i64],
    )?;
    Ok(outcome)
}

/// Stores one verdict inside the batch's transaction; a repeated frame id returns what is stored.
fn store_one(tx: &rusqlite::Transaction, pending: Pending, evidence_dir: &Path) -> Result<Verdict> {
    let Pending {
        mut verdict,
        evidence,
    } = pending;
    let drop_evidence = |evidence: &Option<Evidence>| {
        if let Some(e) = evidence {
            let _ = std::fs::remove_file(evidence_dir.join(&e.file_name));
        }
    };
    if !verdict.frame_id.is_empty() {
        let existing = tx
            .query_row(
                "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
                params![verdict.line_id, verdict.frame_id],
                row_verdict,
            )
            .optional()?;
        if let Some(existing) = existing {
            drop_evidence(&evidence);
            return existing;
        }
    }
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM verdicts", [], |r| {
        r.get(0)
    })?;
    if verdict.frame_id.is_empty() {
        verdict.frame_id = format!("auto-{seq}");
    }
    if !verdict.gtin.is_empty()
        && !verdict.serial.is_empty()
        && let Some(first) = register_serial(tx, &verdict.gtin, &verdict.serial, seq)?
    {
        let (line, frame): (String, String) = tx
            .prepare_cached("SELECT line_id, frame_id FROM verdicts WHERE seq = ?1")?
            .query_row(params![first], |r| Ok((r.get(0)?, r.get(1)?)))?;
        verdict.duplicate = true;
        verdict.pass = false;
        verdict.reasons.push(format!(
            "duplicate serial (21) {} for GTIN {} (first seen on line {line}, frame {frame})",
            verdict.serial, verdict.gtin
        ));
    }
    check_commissioned(tx, &mut verdict, seq)?;
    verdict.sequence = seq as u64;
    verdict.stored_unix_ms = now_ms();
    verdict.evidence = evidence
        .as_ref()
        .map(|e| e.file_name.clone())
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO verdicts (seq, line_id, frame_id, stored_ms, pass, evidence, evidence_bytes, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq,
            verdict.line_id,
            verdict.frame_id,
            verdict.stored_unix_ms,
            verdict.pass,
            evidence.as_ref().map(|e| &e.file_name),
            evidence.as_ref().map_or(0, |e| e.bytes as i64),
            verdict.encode_to_vec()
        ],
    )?;
    let grade_column = match crate::verdict::overall_letter(verdict.overall_grade) {
        "A" => "grade_a",
        "B" => "grade_b",
        "C" => "grade_c",
        "D" => "grade_d",
        _ => "grade_f",
    };
    tx.prepare_cached(
        "INSERT INTO batch_stats (line_id, batch, total, passed, no_read, duplicates, not_commissioned)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6)
         ON CONFLICT (line_id, batch) DO UPDATE SET
           total = total + 1, passed = passed + ?3, no_read = no_read + ?4,
           duplicates = duplicates + ?5, not_commissioned = not_commissioned + ?6",
    )?
    .execute(params![
        verdict.line_id,
        verdict.batch,
        verdict.pass,
        !verdict.decoded,
        verdict.decoded && verdict.duplicate,
        verdict.decoded && !verdict.duplicate && verdict.not_commissioned,
    ])?;
    tx.execute(
        &format!(
            "INSERT INTO line_stats (line_id, total, passed, no_read, duplicates, {grade_column}, grade_sum, last_seq)
             VALUES (?1, 1, ?2, ?3, ?4, 1, ?5, ?6)
             ON CONFLICT (line_id) DO UPDATE SET
               total = total + 1, passed = passed + ?2, no_read = no_read + ?3,
               duplicates = duplicates + ?4, {grade_column} = {grade_column} + 1,
               grade_sum = grade_sum + ?5, last_seq = ?6"
        ),
        params![
            verdict.line_id,
            verdict.pass,
            !verdict.decoded,
            verdict.duplicate,
            verdict.overall_grade,
            seq
        ],
    )?;
    Ok(verdict)
}

/// Once a line has commissioned serials, a pack on it must carry one commissioned for this
/// line and batch; the first passing pack of each commissioned serial verifies it.
fn check_commissioned(tx: &rusqlite::Transaction, verdict: &mut Verdict, seq: i64) -> Result<()> {
    if verdict.serial.is_empty() || verdict.gtin.is_empty() {
        return Ok(());
    }
    let line_commissions = tx
        .prepare_cached("SELECT 1 FROM commissioning WHERE line_id = ?1 LIMIT 1")?
        .exists(params![verdict.line_id])?;
    if !line_commissions {
        return Ok(());
    }
    let owner: Option<(String, String)> = tx
        .prepare_cached("SELECT line_id, batch FROM commissioned WHERE gtin = ?1 AND serial = ?2")?
        .query_row(params![verdict.gtin, verdict.serial], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let reason = match owner {
        None => Some(crate::verdict::not_commissioned(&verdict.serial)),
        Some((line, batch)) if line != verdict.line_id || batch != verdict.batch => Some(format!(
            "serial (21) {} was commissioned for batch {batch} on line {line}, not batch {} on line {}",
            verdict.serial, verdict.batch, verdict.line_id
        )),
        Some(_) => None,
    };
    if let Some(reason) = reason {
        verdict.not_commissioned = true;
        verdict.pass = false;
        verdict.reasons.push(reason);
    } else if verdict.pass {
        let first_pass = tx
            .prepare_cached(
                "UPDATE commissioned SET verified_seq = ?3
                 WHERE gtin = ?1 AND serial = ?2 AND verified_seq IS NULL",
            )?
            .execute(params![verdict.gtin, verdict.serial, seq])?;
        if first_pass == 1 {
            tx.prepare_cached(
                "UPDATE commissioning SET verified = verified + 1 WHERE line_id = ?1 AND batch = ?2",
            )?
            .execute(params![verdict.line_id, verdict.batch])?;
        }
    }
    Ok(())
}

/// Releases the oldest evidence frames until the rest fit in `budget` bytes; returns the files
/// to delete once the transaction is committed.
fn enforce_budget(tx: &rusqlite::Transaction, budget: u64) -> Result<Vec<String>> {
    let total: i64 = tx.query_row(
        "SELECT COALESCE(SUM(evidence_bytes), 0) FROM verdicts WHERE evidence IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let mut excess = total - budget as i64;
    if excess <= 0 {
        return Ok(Vec::new());
    }
    let mut oldest = tx.prepare(
        "SELECT seq, evidence, evidence_bytes FROM verdicts WHERE evidence IS NOT NULL ORDER BY seq",
    )?;
    let mut rows = oldest.query([])?;
    let mut released = Vec::new();
    while excess > 0 {
        let Some(row) = rows.next()? else { break };
        let (seq, file, bytes): (i64, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        released.push((seq, file));
        excess -= bytes;
    }
    drop(rows);
    let mut clear =
        tx.prepare("UPDATE verdicts SET evidence = NULL, evidence_bytes = 0 WHERE seq = ?1")?;
    let mut files = Vec::with_capacity(released.len());
    for (seq, file) in released {
        clear.execute(params![seq])?;
        files.push(file);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_gets_the_page_cache_it_is_given() {
        let dir = std::env::temp_dir().join(format!("verigrade-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (bytes, kib) in [(8u64 << 20, 8192i64), (64 << 20, 65_536)] {
            let conn = open_database(&dir.join("verdicts.sqlite"), bytes).unwrap();
            let cache: i64 = conn
                .query_row("PRAGMA cache_size", [], |row| row.get(0))
                .unwrap();
            assert_eq!(cache, -kib, "negative: KiB");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
