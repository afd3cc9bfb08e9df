//! The verdict store: SQLite in WAL mode under the data directory (the default), or a
//! PostgreSQL database that several nodes share ([`sql::Location`]); plus the evidence.
//!
//! One writer thread owns the write connection. Verdicts queue to it in the order they are
//! submitted; it commits them in batches (one fsync per batch, `synchronous=FULL`, so a verdict
//! survives a kill or a power cut) and only then releases the answers. The duplicate-serial
//! check runs inside that transaction, so two frames with one serial cannot both pass.
//! Reads use their own connection and never wait for a write.

mod aggregations;
mod alarms;
mod closures;
mod digest;
mod events;
mod evidence;
mod invariants;
mod listen;
pub mod migrate;
mod queries;
mod schema;
mod serials;
pub mod sql;
mod stats;
pub mod test_database;
pub mod tokens;
pub mod trail;
mod tx;
mod writer;

pub use aggregations::{Packed, Packing, Unpacking, parse_children};
pub use alarms::{Acknowledgement, AlarmQuery};
pub use closures::{Closure, Meaning};
pub use events::{EventQuery, Locations};
pub use invariants::check_invariants;
pub use queries::Query;
pub use schema::{open_at, open_database, open_postgres};
pub use serials::{Closed, Commission, Commissioned, Reconciliation, register_serial};
pub use sql::{Db, Location};
pub use stats::LineCounts;
pub use tx::WriteTx;

use crate::access::Actor;
use crate::aggregation::Sscc;
use crate::control::{ChartView, FrozenLimits, Monitor, metric::Metric};
use crate::error::{Error, Result};
use crate::proto::{AggregationResult, Alarm, Verdict};
use prometheus_client::metrics::histogram::Histogram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use writer::{Control, Job, Writer};

/// How many verdicts one transaction commits at most.
const MAX_BATCH: usize = 512;

/// An operator's request to freeze chart limits (see [`Monitor::freeze`]).
#[derive(Clone, Debug)]
pub struct Freeze {
    /// Who freezes them, for the audit trail.
    pub actor: Actor,
    pub line_id: String,
    pub camera_id: String,
    /// None: every chart of the camera.
    pub metric: Option<Metric>,
    /// 0: the configured baseline length.
    pub points: usize,
}

/// A graded frame on its way into the store.
#[derive(Debug)]
pub struct Pending {
    /// Who sent the frame, for the audit trail.
    pub actor: Actor,
    pub verdict: Verdict,
    /// File name under `<data-dir>/evidence` already written for this (failed) frame.
    pub evidence: Option<Evidence>,
}

/// A batch's signature changing: closed with a meaning, or reopened for a reason.
#[derive(Clone, Debug)]
pub enum BatchChange {
    Close(Meaning),
    Reopen(String),
}

/// A request to close or reopen a line's batch.
#[derive(Clone, Debug)]
pub struct BatchSignature {
    pub actor: Actor,
    pub line_id: String,
    pub batch: String,
    pub change: BatchChange,
}

#[derive(Debug)]
pub struct Evidence {
    pub file_name: String,
    pub bytes: u64,
}

/// Whether the store can write, as its last batch (or probe) found.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    Writing,
    /// Nothing can be stored; the cause, in words.
    Failing(String),
}

/// Verdicts the store stored, and those it answered with an error instead, since it opened.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub stored: u64,
    pub refused: u64,
}

struct Counters {
    stored: AtomicU64,
    refused: AtomicU64,
    /// How long each batch's transaction took, committed or not: the store's share of a
    /// frame's latency, for `/metrics`.
    commit_seconds: Histogram,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            stored: AtomicU64::default(),
            refused: AtomicU64::default(),
            commit_seconds: Histogram::new(COMMIT_BUCKETS),
        }
    }
}

/// Commit-time buckets: 0.1 ms to about 3 s, doubling.
const COMMIT_BUCKETS: [f64; 16] = [
    0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 0.2048,
    0.4096, 0.8192, 1.6384, 3.2768,
];

impl Counters {
    fn tally(&self) -> Tally {
        Tally {
            stored: self.stored.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Handle to the store; cheap to share behind an `Arc`.
pub struct Store {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// PostgreSQL: the thread announcing every node's changes, and what stops it.
    listener: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
    reader: Mutex<Db>,
    committed: broadcast::Sender<Arc<Verdict>>,
    health: watch::Receiver<Health>,
    counters: Arc<Counters>,
    /// Where the database is, for exports that read on a connection of their own.
    location: Location,
    data_dir: PathBuf,
    evidence_dir: PathBuf,
    monitor: Arc<Mutex<Monitor>>,
    alarms: broadcast::Sender<Arc<Alarm>>,
}

impl Store {
    /// Opens (or creates) the store in `data_dir`, keeping at most `evidence_budget` bytes of
    /// evidence frames, with `cache_bytes` of page cache for its writer, and the default alarm
    /// rules.
    pub fn open(data_dir: &Path, evidence_budget: u64, cache_bytes: u64) -> Result<Store> {
        Store::open_monitored(
            &Location::Embedded,
            data_dir,
            evidence_budget,
            cache_bytes,
            Monitor::default(),
        )
    }

    /// As [`Store::open`], in the database at `location`, with `monitor` evaluating every
    /// stored verdict for alarms. With PostgreSQL, `data_dir` holds only this node's staging
    /// of evidence frames and its record of the audit trail's head.
    pub fn open_monitored(
        location: &Location,
        data_dir: &Path,
        evidence_budget: u64,
        cache_bytes: u64,
        mut monitor: Monitor,
    ) -> Result<Store> {
        let evidence_dir = data_dir.join("evidence");
        std::fs::create_dir_all(&evidence_dir).map_err(|source| Error::Io {
            path: evidence_dir.display().to_string(),
            source,
        })?;
        let writer = open_at(location, data_dir, cache_bytes)?;
        trail::begin(&writer)?;
        evidence::sweep_orphans(&writer, &evidence_dir)?;
        let (changes, observed) = alarms::warm_up(&writer, &mut monitor)?;
        let monitor = Arc::new(Mutex::new(monitor));
        let (alarm_events, _) = broadcast::channel(1024);
        let reader = open_reader(location, data_dir)?;
        let (committed, _) = broadcast::channel(4096);
        // On PostgreSQL the listener announces every node's verdicts and alarms, this one's
        // among them; the writer announces only on SQLite.
        let shared = writer.is_postgres();
        let listener = match location {
            Location::Embedded => None,
            Location::Postgres(url) => {
                let announce = listen::Announce {
                    url: url.clone(),
                    verdicts: committed.clone(),
                    alarms: alarm_events.clone(),
                    monitor: monitor.clone(),
                    stop: Arc::new(AtomicBool::new(false)),
                };
                let from = listen::start_from(&writer)?;
                let stop = announce.stop.clone();
                let thread = spawn("verigrade-listen", data_dir, move || announce.run(from))?;
                Some((stop, thread))
            }
        };
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        let (health_tx, health) = watch::channel(Health::Writing);
        let counters = Arc::new(Counters::default());
        let mut state = Writer {
            conn: writer,
            data_dir: data_dir.to_path_buf(),
            head_saved: None,
            evidence_dir: evidence_dir.clone(),
            evidence_budget,
            committed: (!shared).then(|| committed.clone()),
            health: health_tx,
            counters: counters.clone(),
            probe_file: data_dir.join("writable.probe"),
            fail_at: None,
            control: Control {
                monitor: monitor.clone(),
                alarms: (!shared).then(|| alarm_events.clone()),
                changes,
                observed,
                saved: observed,
            },
        };
        let thread = spawn("verigrade-store", data_dir, move || state.run(queue))?;
        Ok(Store {
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(thread)),
            listener: Mutex::new(listener),
            reader: Mutex::new(reader),
            committed,
            health,
            counters,
            location: location.clone(),
            data_dir: data_dir.to_path_buf(),
            evidence_dir,
            monitor,
            alarms: alarm_events,
        })
    }

    /// The read connection, back in session when PostgreSQL went away and returned.
    fn read(&self) -> Result<std::sync::MutexGuard<'_, Db>> {
        let db = self.reader.lock().map_err(|_| closed())?;
        db.reconnect_if_lost()?;
        Ok(db)
    }

    /// A connection of its own in a read transaction: a long read (an export) sees the store
    /// as of one moment and holds up no other query.
    pub(crate) fn snapshot(&self) -> Result<Db> {
        snapshot_at(&self.location, &self.data_dir)
    }

    /// Where the store's database is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Whether the store can write; changes when a batch fails after one succeeded, or back.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Tries a small write (and that the disk has room for more), so a failing store finds out
    /// that it can write again without waiting for a frame.
    pub async fn probe(&self) -> Result<()> {
        self.ask(Job::Probe).await
    }

    /// Sends the writer a job that answers on a reply channel, and waits for the answer.
    async fn ask<T>(&self, job: impl FnOnce(oneshot::Sender<Result<T>>) -> Job) -> Result<T> {
        let jobs = self.jobs.lock().map_err(|_| closed())?.clone();
        let jobs = jobs.ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        jobs.send(job(reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Every broken invariant of the stored data, in words (see [`check_invariants`]); empty
    /// when the store is consistent.
    pub fn check_invariants(&self) -> Result<Vec<String>> {
        let conn = self.read()?;
        check_invariants(&conn, &self.evidence_dir)
    }

    /// Appends an entry to the audit trail; waits until it is committed.
    pub async fn record(&self, entry: trail::Entry) -> Result<()> {
        self.ask(|reply| Job::Record(Box::new(entry), reply)).await
    }

    /// Closes or reopens a batch; waits until it is committed. `Refused` when the batch is in
    /// the other state already, `NotFound` when the line has no such batch.
    pub async fn sign_batch(&self, signature: BatchSignature) -> Result<Closure> {
        self.ask(|reply| Job::Batch(signature, reply)).await
    }

    /// What `token` is (see [`tokens::check`]).
    pub fn check_token(&self, token: &str) -> Result<tokens::TokenCheck> {
        let conn = self.read()?;
        tokens::check(&conn, token)
    }

    /// What the token with this hash is (see [`tokens::check_hash`]).
    pub fn check_token_hash(&self, token_hash: &str) -> Result<tokens::TokenCheck> {
        let conn = self.read()?;
        tokens::check_hash(&conn, token_hash)
    }

    /// Whether any token was ever created: access is controlled from then on.
    pub fn tokens_exist(&self) -> Result<bool> {
        let conn = self.read()?;
        tokens::any_exist(&conn)
    }

    /// Audit entries, oldest first.
    pub fn audit_entries(
        &self,
        query: &trail::AuditQuery,
    ) -> Result<Vec<crate::proto::AuditEntry>> {
        let conn = self.read()?;
        trail::list(&conn, query)
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

    /// Checks an aggregation frame's children against the store and records it, packed or
    /// refused; waits until it is committed.
    pub async fn aggregate(&self, packing: Packing) -> Result<Packed> {
        self.ask(|reply| Job::Aggregate(Box::new(packing), reply))
            .await
    }

    /// Names the evidence file kept for a refused aggregation event.
    pub async fn attach_aggregation_evidence(&self, event: i64, evidence: Evidence) -> Result<()> {
        self.ask(|reply| Job::AggregationEvidence(event, evidence, reply))
            .await
    }

    /// Takes children out of a parent; waits until it is committed.
    pub async fn disaggregate(&self, unpacking: Unpacking) -> Result<AggregationResult> {
        self.ask(|reply| Job::Disaggregate(unpacking, reply)).await
    }

    /// A parent and everything under it; `None` when it was never packed.
    pub fn aggregation(&self, parent: &Sscc) -> Result<Option<AggregationResult>> {
        let conn = self.read()?;
        aggregations::tree(&conn, parent)
    }

    /// Commissions serials for a line and batch; waits until they are committed.
    pub async fn commission(&self, commission: Commission) -> Result<Commissioned> {
        self.ask(|reply| Job::Commission(commission, reply)).await
    }

    /// Stores a verdict and waits until it is committed.
    pub async fn commit(&self, pending: Pending) -> Result<Arc<Verdict>> {
        self.submit(pending).await?.await.map_err(|_| closed())?
    }

    /// Acknowledges an alarm; waits until it is committed. `NotFound` or `Refused` when it
    /// cannot be acknowledged.
    pub async fn acknowledge(&self, acknowledgement: Acknowledgement) -> Result<Arc<Alarm>> {
        self.ask(|reply| Job::Acknowledge(acknowledgement, reply))
            .await
    }

    /// Freezes chart limits from the latest points: they apply from the next verdict on and
    /// are stored right after the writer's current batch.
    pub async fn freeze(&self, freeze: Freeze) -> Result<Vec<FrozenLimits>> {
        self.ask(|reply| Job::Freeze(freeze, reply)).await
    }

    /// Lets the line monitor see time pass (a camera falls silent without a verdict). Skipped
    /// when the writer is busy: the next tick comes soon.
    pub fn tick(&self) {
        if let Some(jobs) = self.jobs.lock().ok().and_then(|jobs| jobs.clone()) {
            let _ = jobs.try_send(Job::Tick);
        }
    }

    /// Every alarm change committed from now on.
    pub fn subscribe_alarms(&self) -> broadcast::Receiver<Arc<Alarm>> {
        self.alarms.subscribe()
    }

    /// A control chart as the line monitor holds it (see [`Monitor::chart`]).
    pub fn chart(
        &self,
        line_id: &str,
        camera_id: &str,
        metric: Metric,
        last: usize,
    ) -> Result<ChartView> {
        let monitor = self.monitor.lock().unwrap_or_else(|e| e.into_inner());
        monitor
            .chart(line_id, camera_id, metric, last)
            .map_err(Error::NotFound)
    }

    /// Every verdict committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Verdict>> {
        self.committed.subscribe()
    }

    /// Stops taking verdicts, commits every one already queued and checkpoints the WAL; what
    /// was stored and what was not.
    pub fn close(&self) -> Tally {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let thread = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        // After the writer: its last commits are announced before the listener stops.
        let listener = self.listener.lock().ok().and_then(|mut l| l.take());
        if let Some((stop, thread)) = listener {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
        self.counters.tally()
    }

    /// The histogram of commit times (seconds), as the writer fills it.
    pub fn commit_seconds(&self) -> Histogram {
        self.counters.commit_seconds.clone()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Starts one of the store's threads; a failure names the store it was for.
fn spawn(
    name: &str,
    data_dir: &Path,
    work: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|source| Error::Io {
            path: data_dir.display().to_string(),
            source,
        })
}

fn closed() -> Error {
    Error::Store("the store is closed".into())
}

/// The store's database file in a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("verdicts.sqlite")
}

/// Opens the store in `data_dir` for a local command (`token create`), creating it when
/// needed; the service may be running on it at the same time.
pub fn open_local(data_dir: &Path) -> Result<Db> {
    std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
        path: data_dir.display().to_string(),
        source,
    })?;
    let conn = open_database(&database_path(data_dir), 8 << 20)?;
    trail::begin(&conn)?;
    Ok(conn)
}

/// Opens the store in `data_dir` read-only, for verification; it must exist.
pub fn open_read_only(data_dir: &Path) -> Result<Db> {
    let path = database_path(data_dir);
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "{} holds no verigrade store ({} is missing)",
            data_dir.display(),
            path.display()
        )));
    }
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(Db::sqlite(conn))
}

/// A read connection of its own to an existing store, in a read transaction: a long read (an
/// export, a verification) sees the store as of one moment and holds up no other query.
fn snapshot_at(location: &Location, data_dir: &Path) -> Result<Db> {
    let (db, begin) = match location {
        Location::Embedded => (open_read_only(data_dir)?, "BEGIN"),
        Location::Postgres(url) => (
            Db::postgres(url)?,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        ),
    };
    db.execute_batch(begin)?;
    Ok(db)
}

/// A read connection to the store at `location`.
fn open_reader(location: &Location, data_dir: &Path) -> Result<Db> {
    match location {
        Location::Embedded => {
            let conn = rusqlite::Connection::open(database_path(data_dir))?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(Db::sqlite(conn))
        }
        Location::Postgres(url) => Db::postgres(url),
    }
}

/// Whether the store at `location` (if there is one yet) has any token: access is controlled.
pub fn tokens_exist_at(location: &Location, data_dir: &Path) -> Result<bool> {
    let Location::Postgres(url) = location else {
        return tokens_exist_in(data_dir);
    };
    let conn = Db::postgres(url)?;
    let has_table = conn.exists(
        "SELECT 1 FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name = 'tokens'",
        sql::params![],
    )?;
    Ok(has_table && tokens::any_exist(&conn)?)
}

/// Whether the store in `data_dir` (if there is one) has any token: access is controlled.
pub fn tokens_exist_in(data_dir: &Path) -> Result<bool> {
    let path = database_path(data_dir);
    if !path.exists() {
        return Ok(false);
    }
    let conn = Db::sqlite(rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?);
    let has_table = conn.exists(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokens'",
        sql::params![],
    )?;
    Ok(has_table && tokens::any_exist(&conn)?)
}

/// Verifies the audit trail of the store in `data_dir` and every record it covers.
pub fn verify_trail(data_dir: &Path) -> Result<trail::Verification> {
    verify_trail_at(&Location::Embedded, data_dir)
}

/// Verifies the audit trail of the store at `location`, and every record it covers; the head
/// recorded in `data_dir`, if any, must still be in the chain.
pub fn verify_trail_at(location: &Location, data_dir: &Path) -> Result<trail::Verification> {
    // One read transaction: the service may go on writing, the chain is seen as of one moment.
    let conn = snapshot_at(location, data_dir)?;
    let saved = trail::saved_head(data_dir)?;
    trail::verify(&conn, saved)
}

/// A stored time (milliseconds since 1970) as RFC 3339 UTC, to the millisecond.
pub fn rfc3339(unix_ms: i64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// Milliseconds since 1970-01-01 UTC.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
