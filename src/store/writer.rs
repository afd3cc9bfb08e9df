//! The writer thread: owns the write connection and commits queued jobs in batches, one
//! transaction (and one fsync) per batch, answering each job only after its batch is committed.

use super::evidence;
use super::queries::row_verdict;
use super::serials::{self, Commission, Commissioned};
use super::stats;
use super::tx::WriteTx;
use super::{MAX_BATCH, Pending, now_ms};
use crate::error::{Error, Result};
use crate::proto::Verdict;
use prost::Message;
use rusqlite::{Connection, params};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

pub(super) type Reply = oneshot::Sender<Result<Arc<Verdict>>>;
pub(super) type CommissionReply = oneshot::Sender<Result<Commissioned>>;

pub(super) enum Job {
    Commit(Box<Pending>, Reply),
    Commission(Commission, CommissionReply),
}

pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) evidence_dir: PathBuf,
    pub(super) evidence_budget: u64,
    pub(super) committed: broadcast::Sender<Arc<Verdict>>,
    /// Test hook: the statement of each batch that fails (see [`WriteTx`]); `None` in service.
    pub(super) fail_at: Option<u64>,
}

/// Answers waiting for a batch's commit.
#[derive(Default)]
struct Replies {
    verdicts: Vec<(Reply, Result<Arc<Verdict>>)>,
    commissions: Vec<(CommissionReply, Result<Commissioned>)>,
}

impl Writer {
    pub(super) fn run(&mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            self.process(batch.drain(..));
        }
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    /// Commits one batch of jobs and answers each.
    fn process(&mut self, batch: impl Iterator<Item = Job>) {
        let mut replies = Replies::default();
        match self.commit_batch(batch, &mut replies) {
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

    fn commit_batch(
        &mut self,
        jobs: impl Iterator<Item = Job>,
        replies: &mut Replies,
    ) -> Result<()> {
        let tx = WriteTx::begin_failing_at(&self.conn, self.fail_at)?;
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
                        .push((reply, serials::commission_serials(&tx, &commission)));
                }
            }
        }
        let released = if evidence_added {
            evidence::enforce_budget(&tx, self.evidence_budget)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        evidence::remove(&self.evidence_dir, released);
        Ok(())
    }
}

/// Stores one verdict inside the batch's transaction; a repeated frame id returns what is stored.
fn store_one(tx: &WriteTx, pending: Pending, evidence_dir: &std::path::Path) -> Result<Verdict> {
    let Pending {
        mut verdict,
        evidence,
    } = pending;
    if !verdict.frame_id.is_empty() {
        let existing = tx.optional_row(
            "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND frame_id = ?2",
            params![verdict.line_id, verdict.frame_id],
            row_verdict,
        )?;
        if let Some(existing) = existing {
            evidence::remove(evidence_dir, evidence.map(|e| e.file_name));
            return existing;
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
    stats::count_verdict(tx, &verdict, seq)?;
    Ok(verdict)
}
