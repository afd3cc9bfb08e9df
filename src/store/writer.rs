//! The writer thread: owns the write connection and commits queued jobs in batches, one
//! transaction (and one fsync) per batch, answering each job only after its batch is committed.

use super::evidence;
use super::queries::row_verdict;
use super::serials::{self, Commission, Commissioned};
use super::stats;
use super::tx::WriteTx;
use super::{Counters, Health, MAX_BATCH, Pending, now_ms};
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;
use rusqlite::{Connection, params};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub(super) type Reply = oneshot::Sender<Result<Arc<Verdict>>>;
pub(super) type CommissionReply = oneshot::Sender<Result<Commissioned>>;
pub(super) type ProbeReply = oneshot::Sender<Result<()>>;

pub(super) enum Job {
    Commit(Box<Pending>, Reply),
    Commission(Commission, CommissionReply),
    Probe(ProbeReply),
}

/// Room a probe asks the disk for beyond one write: a batch of verdicts and their pages.
const PROBE_HEADROOM: usize = 1 << 20;

pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) evidence_dir: PathBuf,
    pub(super) evidence_budget: u64,
    pub(super) committed: broadcast::Sender<Arc<Verdict>>,
    pub(super) health: watch::Sender<Health>,
    pub(super) counters: Arc<Counters>,
    /// Written and removed by a probe, to see that the disk has room.
    pub(super) probe_file: PathBuf,
    /// Test hook: the statement of each batch that fails (see [`WriteTx`]); `None` in service.
    pub(super) fail_at: Option<u64>,
}

/// What a committed job answers.
enum Written {
    Verdict(Arc<Verdict>),
    Commission(Commissioned),
    Probe,
}

/// A committed batch: each job's answer, and the evidence files it no longer needs.
struct Committed {
    answers: Vec<Written>,
    released: Vec<String>,
}

impl Job {
    /// The evidence file this job brought, if any.
    fn evidence(&self) -> Option<String> {
        match self {
            Job::Commit(pending, _) => pending.evidence.as_ref().map(|e| e.file_name.clone()),
            Job::Commission(..) | Job::Probe(_) => None,
        }
    }

    fn is_verdict(&self) -> bool {
        matches!(self, Job::Commit(..))
    }

    fn answer(self, written: Written, committed: &broadcast::Sender<Arc<Verdict>>) {
        match (self, written) {
            (Job::Commit(_, reply), Written::Verdict(verdict)) => {
                let _ = committed.send(verdict.clone());
                let _ = reply.send(Ok(verdict));
            }
            (Job::Commission(_, reply), Written::Commission(outcome)) => {
                let _ = reply.send(Ok(outcome));
            }
            (Job::Probe(reply), Written::Probe) => {
                let _ = reply.send(Ok(()));
            }
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
        }
    }
}

impl Writer {
    pub(super) fn run(&mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            let jobs = std::mem::take(&mut batch);
            self.process(jobs);
        }
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    /// Commits one batch and answers each of its jobs: all with what was stored, or, when any
    /// statement failed, all with that error and nothing of the batch stored (its evidence
    /// files removed).
    fn process(&mut self, jobs: Vec<Job>) {
        let verdicts = jobs.iter().filter(|job| job.is_verdict()).count() as u64;
        match self.commit_batch(&jobs) {
            Ok(Committed { answers, released }) => {
                self.counters.stored.fetch_add(verdicts, Ordering::Relaxed);
                self.health.send_if_modified(|health| {
                    let changed = *health != Health::Writing;
                    *health = Health::Writing;
                    changed
                });
                evidence::remove(&self.evidence_dir, released);
                for (job, written) in jobs.into_iter().zip(answers) {
                    job.answer(written, &self.committed);
                }
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
        let mut answers = Vec::with_capacity(jobs.len());
        let mut released = Vec::new();
        let mut evidence_added = false;
        for job in jobs {
            match job {
                Job::Commit(pending, _) => {
                    let (verdict, stored) = store_one(&tx, pending)?;
                    match stored {
                        Stored::New => evidence_added |= pending.evidence.is_some(),
                        Stored::Before => released.extend(job.evidence()),
                    }
                    answers.push(Written::Verdict(Arc::new(verdict)));
                }
                Job::Commission(commission, _) => {
                    let outcome = serials::commission_serials(&tx, commission)?;
                    answers.push(Written::Commission(outcome));
                }
                Job::Probe(_) => {
                    self.check_room()?;
                    tx.execute(
                        "INSERT OR REPLACE INTO writable (id, checked_ms) VALUES (1, ?1)",
                        params![now_ms()],
                    )?;
                    answers.push(Written::Probe);
                }
            }
        }
        if evidence_added {
            released.extend(evidence::enforce_budget(&tx, self.evidence_budget)?);
        }
        tx.commit()?;
        Ok(Committed { answers, released })
    }
}

impl Writer {
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
fn store_one(tx: &WriteTx, pending: &Pending) -> Result<(Verdict, Stored)> {
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
    let seq: i64 = tx.row("SELECT COALESCE(MAX(seq), 0) + 1 FROM verdicts", [], |r| {
        r.get(0)
    })?;
    if verdict.frame_id.is_empty() {
        verdict.frame_id = format!("auto-{seq}");
    }
    serials::check_duplicate(tx, &mut verdict, seq)?;
    serials::check_commissioned(tx, &mut verdict, seq)?;
    let evidence = pending.evidence.as_ref();
    verdict.sequence = seq as u64;
    verdict.stored_unix_ms = now_ms();
    verdict.evidence = evidence.map(|e| e.file_name.clone()).unwrap_or_default();
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
            verdict.encode_to_vec()
        ],
    )?;
    stats::count_verdict(tx, &verdict, seq)?;
    Ok((verdict, Stored::New))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Evidence, audit, open_database};

    const GTIN: &str = "09506000134352";
    /// Evidence files are 100 bytes; the budget keeps one.
    const EVIDENCE_BYTES: usize = 100;
    const BUDGET: u64 = 150;

    /// A data folder of its own, removed afterwards.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("verigrade-writer-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("evidence")).unwrap();
            Scratch(dir)
        }

        fn writer(&self) -> Writer {
            Writer {
                conn: open_database(&self.0.join("verdicts.sqlite"), 1 << 20).unwrap(),
                evidence_dir: self.0.join("evidence"),
                evidence_budget: BUDGET,
                committed: broadcast::channel(64).0,
                health: watch::channel(Health::Writing).0,
                counters: Arc::default(),
                probe_file: self.0.join("writable.probe"),
                fail_at: None,
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
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
            let mut statement = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
                .unwrap();
            let columns = statement.column_count();
            let rows = statement
                .query_map([], |r| {
                    (0..columns)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .unwrap();
            out.extend(rows.map(|row| format!("{table} {:?}", row.unwrap())));
        }
        let mut statement = conn
            .prepare("SELECT record, evidence, evidence_bytes FROM verdicts ORDER BY seq")
            .unwrap();
        let rows = statement
            .query_map([], |r| {
                let bytes: i64 = r.get(2)?;
                Ok((row_verdict(r)?, bytes))
            })
            .unwrap();
        for row in rows {
            let (verdict, bytes) = row.unwrap();
            let mut verdict = verdict.unwrap();
            verdict.stored_unix_ms = 0;
            out.push(format!("verdict {verdict:?} evidence bytes {bytes}"));
        }
        let mut files: Vec<String> = std::fs::read_dir(&writer.evidence_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| format!("file {f}")));
        out
    }

    fn consistent(writer: &Writer) -> Vec<String> {
        audit(&writer.conn, &writer.evidence_dir).unwrap()
    }

    /// The two batches without a fault, and what they must store.
    fn reference() -> Vec<String> {
        let scratch = Scratch::new("reference");
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
        let reference = reference();
        let mut faults = 0;
        for fail_at in 0.. {
            assert!(fail_at < 1000, "the batch never completed");
            let scratch = Scratch::new(&format!("fault-{fail_at}"));
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
        eprintln!("a fault at each of {faults} statements: every time, all or nothing");
        assert!(faults > 30, "only {faults} statements in the batch");
    }
}
