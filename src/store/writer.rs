//! The writer thread: owns the write connection and commits queued jobs in batches, one
//! transaction (and one fsync) per batch, answering each job only after its batch is committed.

use super::aggregations::{self, Packed, Packing, Unpacking};
use super::alarms::{self, Acknowledgement, open_alarm};
use super::closures::{self, Closure};
use super::evidence;
use super::queries::row_verdict;
use super::serials::{self, Commission, Commissioned};
use super::sql::{Db, params};
use super::stats;
use super::trail::{self, Action, Entry, record};
use super::tx::WriteTx;
use super::{BatchChange, BatchSignature, Freeze};
use super::{Counters, Evidence, Health, MAX_BATCH, Pending, now_ms};
use crate::control::{Change, FrozenLimits, Monitor};
use crate::error::{Error, Result};
use crate::proto::{AggregationResult, Alarm, Verdict};
use prost::Message;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub(super) type Reply = oneshot::Sender<Result<Arc<Verdict>>>;
pub(super) type CommissionReply = oneshot::Sender<Result<Commissioned>>;
pub(super) type ProbeReply = oneshot::Sender<Result<()>>;
pub(super) type AcknowledgeReply = oneshot::Sender<Result<Arc<Alarm>>>;
pub(super) type FreezeReply = oneshot::Sender<Result<Vec<FrozenLimits>>>;
pub(super) type RecordReply = oneshot::Sender<Result<()>>;
pub(super) type ClosureReply = oneshot::Sender<Result<Closure>>;
pub(super) type PackedReply = oneshot::Sender<Result<Packed>>;
pub(super) type UnpackedReply = oneshot::Sender<Result<AggregationResult>>;

pub(super) enum Job {
    Commit(Box<Pending>, Reply),
    Commission(Commission, CommissionReply),
    Probe(ProbeReply),
    Acknowledge(Acknowledgement, AcknowledgeReply),
    Freeze(Freeze, FreezeReply),
    /// An entry for the audit trail alone (the service starts or stops, a call is refused).
    Record(Box<Entry>, RecordReply),
    /// A batch closed (signed) or reopened.
    Batch(BatchSignature, ClosureReply),
    /// An aggregation frame, packed or refused.
    Aggregate(Box<Packing>, PackedReply),
    /// The evidence file of a refused aggregation event.
    AggregationEvidence(i64, Evidence, ProbeReply),
    Disaggregate(Unpacking, UnpackedReply),
    /// Time has passed: a camera may have fallen silent.
    Tick,
}

/// Verdicts observed by the line monitor since its progress was last stored, past which it
/// is stored even without an alarm to write (a restart re-evaluates fewer verdicts).
const PROGRESS_EVERY: u64 = 256;

/// The line monitor as the writer drives it: it sees each verdict once committed, and the
/// changes it asks for are stored right after each batch.
pub(super) struct Control {
    pub(super) monitor: Arc<Mutex<Monitor>>,
    /// Where alarm changes are announced; `None` on PostgreSQL, where the listener announces
    /// every node's ([`super::listen`]).
    pub(super) alarms: Option<broadcast::Sender<Arc<Alarm>>>,
    /// Changes not yet stored (kept and tried again when their transaction fails).
    pub(super) changes: Vec<Change>,
    /// Sequence of the last verdict the monitor observed, and of the last one stored as
    /// evaluated: a restart replays the verdicts after it with alarms allowed.
    pub(super) observed: u64,
    pub(super) saved: u64,
}

impl Control {
    /// The monitor; a panic while it was held leaves it as it was between two verdicts.
    pub(super) fn monitor(&self) -> MutexGuard<'_, Monitor> {
        self.monitor.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How often, at most, the audit trail's head is recorded beside the store while it writes.
const HEAD_EVERY: Duration = Duration::from_secs(1);

/// Room a probe asks the disk for beyond one write: a batch of verdicts and their pages.
const PROBE_HEADROOM: usize = 1 << 20;

pub(super) struct Writer {
    pub(super) conn: Db,
    /// Where the audit trail's committed head is recorded ([`trail::save_head`]).
    pub(super) data_dir: PathBuf,
    /// When the head was last recorded.
    pub(super) head_saved: Option<Instant>,
    pub(super) evidence_dir: PathBuf,
    pub(super) evidence_budget: u64,
    /// Where committed verdicts are announced; `None` on PostgreSQL, as alarms.
    pub(super) committed: Option<broadcast::Sender<Arc<Verdict>>>,
    pub(super) health: watch::Sender<Health>,
    pub(super) counters: Arc<Counters>,
    /// Written and removed by a probe, to see that the disk has room.
    pub(super) probe_file: PathBuf,
    /// Test hook: the statement of each batch that fails (see [`WriteTx`]); `None` in service.
    pub(super) fail_at: Option<u64>,
    pub(super) control: Control,
}

/// What a committed job answers.
enum Written {
    /// The verdict, and whether it was stored now (not the one stored before for its frame).
    Verdict(Arc<Verdict>, bool),
    Commission(Commissioned),
    Probe,
    Acknowledged(Result<Arc<Alarm>>),
    /// Limits an operator froze (stored with the monitor's next changes), or why none were.
    Frozen(Result<Vec<FrozenLimits>>),
    Recorded,
    /// The batch's closure, or why it could not change.
    Batch(Box<Result<Closure>>),
    Packed(Box<Packed>),
    /// Children taken out, or why they could not be.
    Unpacked(Box<Result<AggregationResult>>),
    Tick,
}

/// A committed batch: each job's answer, and the evidence files it no longer needs.
struct Committed {
    answers: Vec<Written>,
    released: Vec<String>,
    changes: StoredChanges,
}

/// The line monitor's changes a transaction wrote: how many of the pending ones, the alarms
/// they made or changed (and whether each was raised), and the evaluation progress recorded.
#[derive(Default)]
struct StoredChanges {
    count: usize,
    alarms: Vec<(Alarm, bool)>,
    progress: u64,
}

impl Job {
    /// The evidence file this job brought, if any.
    fn evidence(&self) -> Option<String> {
        match self {
            Job::Commit(pending, _) => pending.evidence.as_ref().map(|e| e.file_name.clone()),
            Job::AggregationEvidence(_, evidence, _) => Some(evidence.file_name.clone()),
            Job::Aggregate(..)
            | Job::Disaggregate(..)
            | Job::Commission(..)
            | Job::Probe(_)
            | Job::Acknowledge(..)
            | Job::Freeze(..)
            | Job::Record(..)
            | Job::Batch(..)
            | Job::Tick => None,
        }
    }

    fn is_verdict(&self) -> bool {
        matches!(self, Job::Commit(..))
    }

    fn answer(self, written: Written, committed: Option<&broadcast::Sender<Arc<Verdict>>>) {
        match (self, written) {
            (Job::Commit(_, reply), Written::Verdict(verdict, _)) => {
                if let Some(committed) = committed {
                    let _ = committed.send(verdict.clone());
                }
                let _ = reply.send(Ok(verdict));
            }
            (Job::Commission(_, reply), Written::Commission(outcome)) => {
                let _ = reply.send(Ok(outcome));
            }
            (Job::Probe(reply), Written::Probe) => {
                let _ = reply.send(Ok(()));
            }
            (Job::Acknowledge(_, reply), Written::Acknowledged(outcome)) => {
                let _ = reply.send(outcome);
            }
            (Job::Freeze(_, reply), Written::Frozen(outcome)) => {
                let _ = reply.send(outcome);
            }
            (Job::Record(_, reply), Written::Recorded) => {
                let _ = reply.send(Ok(()));
            }
            (Job::Batch(_, reply), Written::Batch(outcome)) => {
                let _ = reply.send(*outcome);
            }
            (Job::Aggregate(_, reply), Written::Packed(packed)) => {
                let _ = reply.send(Ok(*packed));
            }
            (Job::AggregationEvidence(_, _, reply), Written::Probe) => {
                let _ = reply.send(Ok(()));
            }
            (Job::Disaggregate(_, reply), Written::Unpacked(outcome)) => {
                let _ = reply.send(*outcome);
            }
            (Job::Tick, Written::Tick) => {}
            (job, _) => job.fail(&Error::Internal("a batch answer was mismatched".into())),
        }
    }

    fn fail(self, error: &Error) {
        match self {
            Job::Commit(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Commission(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Probe(reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Acknowledge(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Freeze(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Record(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Batch(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Aggregate(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::AggregationEvidence(_, _, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Disaggregate(_, reply) => {
                let _ = reply.send(Err(error.cloned()));
            }
            Job::Tick => {}
        }
    }
}

impl Writer {
    pub(super) fn run(&mut self, mut queue: mpsc::Receiver<Job>) {
        // Changes the monitor asked for while it caught up with the stored verdicts.
        self.store_changes();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            let jobs = std::mem::take(&mut batch);
            self.process(jobs);
            // Under load the next batch's transaction carries the monitor's changes, so they
            // cost no commit of their own; on an idle line they are stored at once.
            if queue.is_empty() {
                self.store_changes();
            }
        }
        self.store_changes();
        self.head_saved = None;
        self.save_head();
        if let Some(sqlite) = self.conn.sqlite_connection() {
            let _ = sqlite.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        }
    }

    /// Commits one batch and answers each of its jobs: all with what was stored, or, when any
    /// statement failed, all with that error and nothing of the batch stored (its evidence
    /// files removed).
    fn process(&mut self, jobs: Vec<Job>) {
        let verdicts = jobs.iter().filter(|job| job.is_verdict()).count() as u64;
        let started = Instant::now();
        let committed = self.commit_batch(&jobs);
        self.counters
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match committed {
            Ok(Committed {
                answers,
                released,
                changes,
            }) => {
                self.changes_stored(changes);
                self.save_head();
                self.counters.stored.fetch_add(verdicts, Ordering::Relaxed);
                self.health.send_if_modified(|health| {
                    let changed = *health != Health::Writing;
                    *health = Health::Writing;
                    changed
                });
                evidence::remove(&self.evidence_dir, released);
                let mut stored = Vec::new();
                let mut acknowledged = Vec::new();
                let mut ticked = false;
                for written in &answers {
                    match written {
                        Written::Verdict(verdict, true) => stored.push(verdict.clone()),
                        Written::Acknowledged(Ok(alarm)) => acknowledged.push(alarm.clone()),
                        Written::Frozen(Ok(frozen)) => self
                            .control
                            .changes
                            .extend(frozen.iter().cloned().map(Change::Limits)),
                        Written::Tick => ticked = true,
                        _ => {}
                    }
                }
                for (job, written) in jobs.into_iter().zip(answers) {
                    job.answer(written, self.committed.as_ref());
                }
                // The frames are answered; now the line monitor sees them.
                self.observe(&stored, &acknowledged, ticked);
            }
            Err(e) => {
                self.counters.refused.fetch_add(verdicts, Ordering::Relaxed);
                self.health.send_if_modified(|health| {
                    let changed = *health == Health::Writing;
                    *health = Health::Failing(e.to_string());
                    changed
                });
                evidence::remove(&self.evidence_dir, jobs.iter().filter_map(Job::evidence));
                for job in jobs {
                    job.fail(&e);
                }
            }
        }
    }

    /// One transaction for the whole batch: the first error ends it, and dropping the
    /// transaction unstarted, failed or uncommitted rolls all of it back (SQLite may already
    /// have rolled it back itself, on a full disk).
    fn commit_batch(&self, jobs: &[Job]) -> Result<Committed> {
        let tx = WriteTx::begin_failing_at(&self.conn, self.fail_at)?;
        let changes = self.write_changes(&tx)?;
        let mut answers = Vec::with_capacity(jobs.len());
        let mut released = Vec::new();
        // Frames moved into the database (PostgreSQL): their staged files go after the commit.
        let mut staged = Vec::new();
        let mut evidence_added = false;
        for job in jobs {
            match job {
                Job::Commit(pending, _) => {
                    let stopped = self.control.monitor().stopped(&pending.verdict.line_id);
                    let (verdict, stored) = store_one(&tx, pending, stopped)?;
                    let new = match stored {
                        Stored::New => {
                            if let Some(kept) = &pending.evidence {
                                if evidence::keep(&tx, &self.evidence_dir, &kept.file_name)? {
                                    staged.push(kept.file_name.clone());
                                }
                                evidence_added = true;
                            }
                            true
                        }
                        Stored::Before => {
                            released.extend(job.evidence());
                            false
                        }
                    };
                    answers.push(Written::Verdict(Arc::new(verdict), new));
                }
                Job::Acknowledge(ack, _) => {
                    let outcome = alarms::acknowledge(&tx, ack)?;
                    answers.push(Written::Acknowledged(outcome.map(Arc::new)));
                }
                Job::Freeze(freeze, _) => {
                    let frozen = self
                        .control
                        .monitor()
                        .freeze(
                            &freeze.line_id,
                            &freeze.camera_id,
                            freeze.metric,
                            freeze.points,
                        )
                        .map_err(Error::NotFound);
                    if let Ok(frozen) = &frozen {
                        trail::append(&tx, &frozen_entry(freeze, frozen))?;
                    }
                    answers.push(Written::Frozen(frozen));
                }
                Job::Record(entry, _) => {
                    trail::append(&tx, entry)?;
                    answers.push(Written::Recorded);
                }
                Job::Batch(signature, _) => {
                    let (line, batch) = (&signature.line_id, &signature.batch);
                    let outcome = match &signature.change {
                        BatchChange::Close(meaning) => {
                            closures::close(&tx, line, batch, *meaning, &signature.actor)?
                        }
                        BatchChange::Reopen(reason) => {
                            closures::reopen(&tx, line, batch, reason, &signature.actor)?
                        }
                    };
                    answers.push(Written::Batch(Box::new(outcome)));
                }
                Job::Tick => answers.push(Written::Tick),
                Job::Aggregate(packing, _) => {
                    let packed = aggregations::pack(&tx, packing)?;
                    answers.push(Written::Packed(Box::new(packed)));
                }
                Job::AggregationEvidence(event, evidence, _) => {
                    aggregations::attach_evidence(&tx, *event, evidence)?;
                    if evidence::keep(&tx, &self.evidence_dir, &evidence.file_name)? {
                        staged.push(evidence.file_name.clone());
                    }
                    evidence_added = true;
                    answers.push(Written::Probe);
                }
                Job::Disaggregate(unpacking, _) => {
                    let outcome = aggregations::unpack(&tx, unpacking)?;
                    answers.push(Written::Unpacked(Box::new(outcome)));
                }
                Job::Commission(commission, _) => {
                    let outcome = serials::commission_serials(&tx, commission)?;
                    answers.push(Written::Commission(outcome));
                }
                Job::Probe(_) => {
                    self.check_room()?;
                    tx.execute(
                        "INSERT INTO writable (id, checked_ms) VALUES (1, ?1)
                         ON CONFLICT (id) DO UPDATE SET checked_ms = excluded.checked_ms",
                        params![now_ms()],
                    )?;
                    answers.push(Written::Probe);
                }
            }
        }
        if evidence_added {
            released.extend(evidence::enforce_budget(&tx, self.evidence_budget)?);
        }
        released.extend(staged);
        tx.commit()?;
        Ok(Committed {
            answers,
            released,
            changes,
        })
    }
}

impl Writer {
    /// Shows the line monitor what a batch committed: new verdicts, acknowledgements, time.
    fn observe(&mut self, stored: &[Arc<Verdict>], acknowledged: &[Arc<Alarm>], ticked: bool) {
        let control = &mut self.control;
        let mut monitor = control.monitor.lock().unwrap_or_else(|e| e.into_inner());
        for alarm in acknowledged {
            if let Ok(open) = open_alarm(alarm) {
                monitor.record(open);
            }
            if let Some(alarms) = &control.alarms {
                let _ = alarms.send(alarm.clone());
            }
        }
        for verdict in stored {
            control.changes.extend(monitor.observe(verdict, true));
            control.observed = control.observed.max(verdict.sequence);
        }
        if ticked {
            control.changes.extend(monitor.tick(now_ms()));
        }
    }

    /// Stores the changes the line monitor asked for, and how far it has evaluated, in a
    /// transaction of their own; on failure they wait for the next batch.
    fn store_changes(&mut self) {
        let stored = WriteTx::begin(&self.conn).and_then(|tx| {
            let changes = self.write_changes(&tx)?;
            tx.commit()?;
            Ok(changes)
        });
        match stored {
            Ok(changes) => {
                self.changes_stored(changes);
                self.save_head();
            }
            Err(e) => eprintln!("verigrade: line control changes wait for the store: {e}"),
        }
    }

    /// Writes the pending changes and the evaluation progress into `tx`; nothing when there is
    /// neither a change nor much progress to record.
    fn write_changes(&self, tx: &WriteTx) -> Result<StoredChanges> {
        let control = &self.control;
        if control.changes.is_empty() && control.observed < control.saved + PROGRESS_EVERY {
            return Ok(StoredChanges::default());
        }
        let mut alarms = Vec::new();
        for change in &control.changes {
            match change {
                Change::Raise(alarm) => alarms.push((alarms::raise(tx, alarm)?, true)),
                Change::Return { key, at_ms } => alarms.extend(
                    alarms::settle(tx, key, *at_ms)?
                        .into_iter()
                        .map(|alarm| (alarm, false)),
                ),
                Change::Limits(frozen) => alarms::save_limits(tx, frozen)?,
            }
        }
        alarms::save_progress(tx, control.observed)?;
        Ok(StoredChanges {
            count: control.changes.len(),
            alarms,
            progress: control.observed,
        })
    }

    /// Once changes are committed: they leave the pending list, the monitor learns of the
    /// alarms, watchers get them, and the log shows each alarm raised.
    fn changes_stored(&mut self, stored: StoredChanges) {
        let control = &mut self.control;
        if stored.count == 0 && stored.progress == 0 {
            return;
        }
        control
            .changes
            .drain(..stored.count.min(control.changes.len()));
        control.saved = control.saved.max(stored.progress);
        let mut monitor = control.monitor.lock().unwrap_or_else(|e| e.into_inner());
        for (alarm, raised) in stored.alarms {
            if raised {
                eprintln!(
                    "verigrade: alarm {} {} on line {} ({}): {}",
                    alarm.alarm_id,
                    alarm.severity().as_str_name(),
                    alarm.line_id,
                    alarm.rule,
                    alarm.message
                );
            }
            if let Ok(open) = open_alarm(&alarm) {
                monitor.record(open);
            }
            if let Some(alarms) = &control.alarms {
                let _ = alarms.send(Arc::new(alarm));
            }
        }
    }

    /// Records the audit trail's committed head beside the store, at most every
    /// [`HEAD_EVERY`] (a file replaced per batch would cost more than the batch) and as the
    /// writer stops; a failure only delays it.
    fn save_head(&mut self) {
        if self.head_saved.is_some_and(|at| at.elapsed() < HEAD_EVERY) {
            return;
        }
        self.head_saved = Some(Instant::now());
        if let Err(e) = trail::save_head(&self.conn, &self.data_dir) {
            eprintln!("verigrade: the audit trail's head is not recorded: {e}");
        }
    }

    /// Writes, syncs and removes a file of `PROBE_HEADROOM` bytes: the disk has room for more
    /// than one write.
    fn check_room(&self) -> Result<()> {
        let path = &self.probe_file;
        let written = std::fs::File::create(path).and_then(|mut file| {
            file.write_all(&[0u8; PROBE_HEADROOM])?;
            file.sync_all()
        });
        let _ = std::fs::remove_file(path);
        written.map_err(|source| {
            let message = format!("cannot write {}: {source}", path.display());
            if source.kind() == std::io::ErrorKind::StorageFull {
                Error::StoreFull(message)
            } else {
                Error::Store(message)
            }
        })
    }
}

/// Whether a verdict was stored now or is the one stored before for its frame id.
enum Stored {
    New,
    Before,
}

/// Stores one verdict inside the batch's transaction; a repeated frame id returns what is stored.
/// `line_stopped`: the verdict is made while its line is stopped.
fn store_one(tx: &WriteTx, pending: &Pending, line_stopped: bool) -> Result<(Verdict, Stored)> {
    let mut verdict = pending.verdict.clone();
    if !verdict.frame_id.is_empty() {
        let existing = tx.optional_row(
            "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
            params![verdict.line_id, verdict.frame_id],
            row_verdict,
        )?;
        if let Some(existing) = existing {
            return Ok((existing?, Stored::Before));
        }
    }
    let seq: i64 = tx.row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM verdicts",
        params![],
        |r| r.get(0),
    )?;
    if verdict.frame_id.is_empty() {
        verdict.frame_id = format!("auto-{seq}");
    }
    serials::check_duplicate(tx, &mut verdict, seq)?;
    closures::check_open(tx, &mut verdict)?;
    serials::check_commissioned(tx, &mut verdict, seq)?;
    let evidence = pending.evidence.as_ref();
    verdict.sequence = seq as u64;
    verdict.stored_unix_ms = now_ms();
    verdict.line_stopped = line_stopped;
    verdict.evidence = evidence.map(|e| e.file_name.clone()).unwrap_or_default();
    let record = verdict.encode_to_vec();
    tx.execute(
        "INSERT INTO verdicts (seq, line_id, frame_id, stored_ms, pass, evidence, evidence_bytes, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq,
            verdict.line_id,
            verdict.frame_id,
            verdict.stored_unix_ms,
            verdict.pass,
            evidence.map(|e| &e.file_name),
            evidence.map_or(0, |e| e.bytes as i64),
            record
        ],
    )?;
    let digest = trail::verdict_digest(
        seq,
        &verdict.line_id,
        &verdict.frame_id,
        verdict.stored_unix_ms,
        verdict.pass,
        &record,
    );
    let entry = Entry::new(
        pending.actor.clone(),
        Action::VerdictStored,
        record::verdict(seq),
    )
    .after(digest);
    trail::append(tx, &entry)?;
    stats::count_verdict(tx, &verdict, seq)?;
    Ok((verdict, Stored::New))
}

/// The audit entry of limits an operator froze.
fn frozen_entry(freeze: &Freeze, frozen: &[FrozenLimits]) -> Entry {
    let limits: Vec<String> = frozen
        .iter()
        .map(|f| {
            format!(
                "{} camera {} {}: centre {:.4}, sigma {:.4}",
                f.line_id,
                f.camera_id,
                f.metric.name(),
                f.limits.centre,
                f.limits.sigma
            )
        })
        .collect();
    Entry::new(
        freeze.actor.clone(),
        Action::LimitsFrozen,
        record::line(&freeze.line_id),
    )
    .after(limits.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Actor;
    use crate::store::test_database::TestDatabase;
    use crate::store::{Evidence, check_invariants, open_database, open_postgres};

    const GTIN: &str = "09506000134352";
    /// Evidence files are 100 bytes; the budget keeps one.
    const EVIDENCE_BYTES: usize = 100;
    const BUDGET: u64 = 150;

    /// Which database a test runs on.
    #[derive(Clone, Copy, Debug)]
    enum Backend {
        Sqlite,
        Postgres,
    }

    /// A data folder of its own, and on PostgreSQL a database of its own, removed afterwards.
    struct Scratch {
        dir: PathBuf,
        database: Option<TestDatabase>,
    }

    impl Scratch {
        /// `None` when the backend is not available here (PostgreSQL without a test server).
        fn new(name: &str, backend: Backend) -> Option<Scratch> {
            let name = format!("writer-{backend:?}-{name}");
            let database = match backend {
                Backend::Sqlite => None,
                Backend::Postgres => Some(TestDatabase::create(&name)?),
            };
            let dir = std::env::temp_dir().join(format!("verigrade-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("evidence")).unwrap();
            Some(Scratch { dir, database })
        }

        fn writer(&self) -> Writer {
            let conn = match &self.database {
                None => open_database(&self.dir.join("verdicts.sqlite"), 1 << 20).unwrap(),
                Some(database) => open_postgres(&database.url).unwrap(),
            };
            Writer {
                conn,
                data_dir: self.dir.clone(),
                head_saved: None,
                evidence_dir: self.dir.join("evidence"),
                evidence_budget: BUDGET,
                committed: Some(broadcast::channel(64).0),
                health: watch::channel(Health::Writing).0,
                counters: Arc::default(),
                probe_file: self.dir.join("writable.probe"),
                fail_at: None,
                control: Control {
                    monitor: Arc::default(),
                    alarms: Some(broadcast::channel(64).0),
                    changes: Vec::new(),
                    observed: 0,
                    saved: 0,
                },
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// What a test queues: a verdict (with the evidence file it comes with) or commissioning.
    enum Submit {
        Verdict(Box<Verdict>, Option<&'static str>),
        Commission(Commission),
    }

    #[derive(Debug)]
    enum Outcome {
        Verdict(Arc<Verdict>),
        Commission(Commissioned),
    }

    fn pack(line: &str, frame: &str, serial: &str, pass: bool) -> Submit {
        Submit::Verdict(
            Box::new(Verdict {
                line_id: line.into(),
                frame_id: frame.into(),
                gtin: if serial.is_empty() { "" } else { GTIN }.into(),
                serial: serial.into(),
                batch: "B1".into(),
                pass,
                decoded: true,
                overall_grade: if pass { 4.0 } else { 1.0 },
                ..Verdict::default()
            }),
            None,
        )
    }

    fn no_read(line: &str, frame: &str, evidence: &'static str) -> Submit {
        Submit::Verdict(
            Box::new(Verdict {
                line_id: line.into(),
                frame_id: frame.into(),
                batch: "B1".into(),
                ..Verdict::default()
            }),
            Some(evidence),
        )
    }

    fn commission(batch: &str, serials: &[&str]) -> Submit {
        Submit::Commission(Commission {
            actor: Actor::open("qa"),
            line_id: "L1".into(),
            batch: batch.into(),
            gtin: GTIN.into(),
            serials: serials.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Queues `batch` as one batch (writing its evidence files first) and collects the answers;
    /// a job left unanswered counts as an internal error.
    fn run_batch(writer: &mut Writer, batch: Vec<Submit>) -> Vec<Result<Outcome>> {
        let mut jobs = Vec::new();
        let mut answers = Vec::new();
        for submit in batch {
            match submit {
                Submit::Verdict(verdict, evidence) => {
                    let evidence = evidence.map(|name| {
                        std::fs::write(writer.evidence_dir.join(name), [7u8; EVIDENCE_BYTES])
                            .unwrap();
                        Evidence {
                            file_name: name.into(),
                            bytes: EVIDENCE_BYTES as u64,
                        }
                    });
                    let (reply, answer) = oneshot::channel();
                    jobs.push(Job::Commit(
                        Box::new(Pending {
                            actor: Actor::open("camera"),
                            verdict: *verdict,
                            evidence,
                        }),
                        reply,
                    ));
                    answers.push(Ok(answer));
                }
                Submit::Commission(c) => {
                    let (reply, answer) = oneshot::channel();
                    jobs.push(Job::Commission(c, reply));
                    answers.push(Err(answer));
                }
            }
        }
        writer.process(jobs);
        let unanswered = || Error::Internal("unanswered".into());
        answers
            .into_iter()
            .map(|answer| match answer {
                Ok(mut a) => a
                    .try_recv()
                    .map_err(|_| unanswered())?
                    .map(Outcome::Verdict),
                Err(mut a) => a
                    .try_recv()
                    .map_err(|_| unanswered())?
                    .map(Outcome::Commission),
            })
            .collect()
    }

    /// Commissioning on line L1 and a few packs on both lines.
    fn first_batch() -> Vec<Submit> {
        vec![
            commission("B1", &["S1", "S2", "S3"]),
            pack("L1", "f1", "S1", true),
            pack("L2", "g1", "X1", true),
            no_read("L2", "g0", "a-g0.png"),
        ]
    }

    /// Every kind of write: commissioning (new, again, conflicting), a verified serial, a
    /// duplicate, an uncommissioned serial, a repeated frame id, an automatic frame id, and
    /// evidence past the budget.
    fn second_batch() -> Vec<Submit> {
        vec![
            commission("B1", &["S1", "S4"]),
            commission("B2", &["S2"]),
            pack("L1", "f2", "S2", true),
            pack("L1", "f3", "S1", true),
            pack("L1", "f4", "S9", true),
            Submit::Verdict(
                match no_read("L1", "f1", "b-f1.png") {
                    Submit::Verdict(v, _) => v,
                    Submit::Commission(_) => unreachable!(),
                },
                Some("b-f1.png"),
            ),
            no_read("L2", "", "b-auto.png"),
            pack("L2", "g2", "X1", true),
        ]
    }

    /// Everything stored, in a comparable form: the tables (verdict records without their
    /// storage time) and the evidence files.
    fn dump(writer: &Writer) -> Vec<String> {
        let conn = &writer.conn;
        let mut out = Vec::new();
        for table in [
            "serials",
            "commissioned",
            "commissioning",
            "batch_stats",
            "line_stats",
        ] {
            let rows = conn
                .all_rows(&format!("SELECT * FROM {table} ORDER BY 1, 2"), params![])
                .unwrap();
            out.extend(rows.iter().map(|row| format!("{table} {:?}", row.values())));
        }
        let rows = conn
            .rows(
                "SELECT record, evidence, evidence_bytes FROM verdicts ORDER BY seq",
                params![],
                |r| {
                    let bytes: i64 = r.get(2)?;
                    Ok((row_verdict(r)?, bytes))
                },
            )
            .unwrap();
        for (verdict, bytes) in rows {
            let mut verdict = verdict.unwrap();
            verdict.stored_unix_ms = 0;
            out.push(format!("verdict {verdict:?} evidence bytes {bytes}"));
        }
        let kept = evidence::kept(&writer.conn, &writer.evidence_dir).unwrap();
        out.extend(kept.into_iter().map(|f| format!("file {f}")));
        out
    }

    fn consistent(writer: &Writer) -> Vec<String> {
        check_invariants(&writer.conn, &writer.evidence_dir).unwrap()
    }

    /// The two batches without a fault, and what they must store.
    fn reference(backend: Backend) -> Vec<String> {
        let scratch = Scratch::new("reference", backend).expect("the backend is here");
        let mut writer = scratch.writer();
        for answer in run_batch(&mut writer, first_batch()) {
            answer.unwrap();
        }
        let answers: Vec<Outcome> = run_batch(&mut writer, second_batch())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let verdict = |i: usize| match &answers[i] {
            Outcome::Verdict(v) => v.clone(),
            Outcome::Commission(c) => panic!("answer {i} is commissioning {c:?}"),
        };
        let commissioned = |i: usize| match &answers[i] {
            Outcome::Commission(c) => (c.added, c.already, c.conflicts),
            Outcome::Verdict(v) => panic!("answer {i} is verdict {v:?}"),
        };
        assert_eq!(commissioned(0), (1, 1, 0));
        assert_eq!(commissioned(1), (0, 0, 1));
        assert!(verdict(2).pass, "commissioned S2 passes");
        assert!(verdict(3).duplicate && !verdict(3).pass, "S1 again");
        assert!(verdict(4).not_commissioned && !verdict(4).pass, "S9");
        assert_eq!(verdict(5).sequence, 1, "f1 again: the stored verdict");
        assert_eq!(verdict(6).frame_id, "auto-7");
        assert!(verdict(7).duplicate, "X1 again");
        assert_eq!(consistent(&writer), Vec::<String>::new());
        let stored = dump(&writer);
        assert!(
            stored.contains(&"file b-auto.png".to_string())
                && !stored
                    .iter()
                    .any(|l| l == "file a-g0.png" || l == "file b-f1.png"),
            "evidence past the budget and of a repeated frame is released: {stored:#?}"
        );
        stored
    }

    #[test]
    fn a_fault_at_any_statement_of_a_batch_stores_none_of_it_and_answers_all_of_it() {
        all_or_nothing(Backend::Sqlite);
    }

    #[test]
    fn on_postgres_a_fault_at_any_statement_of_a_batch_stores_none_of_it_and_answers_all_of_it() {
        if Scratch::new("probe", Backend::Postgres).is_some() {
            all_or_nothing(Backend::Postgres);
        }
    }

    fn all_or_nothing(backend: Backend) {
        let reference = reference(backend);
        let mut faults = 0;
        for fail_at in 0.. {
            assert!(fail_at < 1000, "the batch never completed");
            let scratch = Scratch::new(&format!("fault-{fail_at}"), backend).unwrap();
            let mut writer = scratch.writer();
            for answer in run_batch(&mut writer, first_batch()) {
                answer.unwrap();
            }
            let before = dump(&writer);
            writer.fail_at = Some(fail_at);
            let answers = run_batch(&mut writer, second_batch());
            writer.fail_at = None;
            if answers.iter().all(Result::is_ok) {
                // Past the batch's last statement: nothing failed.
                assert_eq!(dump(&writer), reference);
                break;
            }
            faults += 1;
            for (i, answer) in answers.iter().enumerate() {
                assert!(
                    matches!(answer, Err(Error::StoreFull(_))),
                    "fault at statement {fail_at}: answer {i} is {answer:?}, not the fault"
                );
            }
            assert_eq!(
                dump(&writer),
                before,
                "fault at statement {fail_at}: the batch left something behind"
            );
            assert_eq!(
                consistent(&writer),
                Vec::<String>::new(),
                "fault at {fail_at}"
            );
            // The same frames again, once the fault has gone: stored as if it never happened.
            for answer in run_batch(&mut writer, second_batch()) {
                answer.unwrap();
            }
            assert_eq!(dump(&writer), reference, "retry after a fault at {fail_at}");
            assert_eq!(consistent(&writer), Vec::<String>::new());
        }
        eprintln!(
            "{backend:?}: a fault at each of {faults} statements: every time, all or nothing"
        );
        assert!(faults > 30, "only {faults} statements in the batch");
    }
}
