//! Every node's changes, announced on each node (PostgreSQL). A writer's commit notifies the
//! `verigrade` channel; each node's listener then reads the verdicts and alarm changes newer
//! than the last it announced, in sequence order, and sends them to its watchers. So a
//! controller watching one node sees verdicts made on another, once each and in the order the
//! database committed them. The listener also polls, so a notification lost with a connection
//! delays nothing long.

use super::alarms::{self, open_alarm};
use super::queries::row_verdict;
use super::sql::{Db, params};
use crate::control::Monitor;
use crate::error::Result;
use crate::proto::{Alarm, Verdict};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// The channel every write transaction notifies as it commits.
pub const CHANNEL: &str = "verigrade";

/// How long the listener waits for a notification before it looks anyway.
const POLL: Duration = Duration::from_millis(250);

/// Rows read per look: a node that fell behind catches up in steps.
const PAGE: usize = 1000;

/// Where the listener sends what it reads.
pub(super) struct Announce {
    pub url: String,
    pub verdicts: broadcast::Sender<Arc<Verdict>>,
    pub alarms: broadcast::Sender<Arc<Alarm>>,
    /// Learns of acknowledgements given on other nodes.
    pub monitor: Arc<Mutex<Monitor>>,
    pub stop: Arc<AtomicBool>,
}

/// The newest verdict and alarm change already in the database: the listener announces what
/// comes after.
pub(super) fn start_from(db: &Db) -> Result<(i64, i64)> {
    let verdict: i64 = db.row(
        "SELECT COALESCE(MAX(seq), 0) FROM verdicts",
        params![],
        |r| r.get(0),
    )?;
    let alarm: i64 = db.row("SELECT COALESCE(MAX(seq), 0) FROM alarms", params![], |r| {
        r.get(0)
    })?;
    Ok((verdict, alarm))
}

impl Announce {
    /// Listens until `stop`, from sequences `(verdict, alarm)`; reconnects after a fault. A
    /// last look as it stops announces what the node committed before it stopped.
    pub(super) fn run(self, (mut verdict, mut alarm): (i64, i64)) {
        while !self.stop.load(Ordering::Relaxed) {
            let session = Db::postgres(&self.url).and_then(|db| {
                db.execute_batch(&format!("LISTEN {CHANNEL}"))?;
                Ok(db)
            });
            let db = match session {
                Ok(db) => db,
                Err(_) => {
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    let _ = self.announce(&db, &mut verdict, &mut alarm);
                    return;
                }
                let looked = self
                    .announce(&db, &mut verdict, &mut alarm)
                    .and_then(|()| db.wait_for_notification(POLL));
                if looked.is_err() {
                    break;
                }
            }
        }
    }

    /// Sends every verdict and alarm change after the given sequences, and moves them on.
    fn announce(&self, db: &Db, verdict: &mut i64, alarm: &mut i64) -> Result<()> {
        loop {
            let verdicts = db.rows(
                "SELECT record, evidence FROM verdicts WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                params![*verdict, PAGE],
                row_verdict,
            )?;
            let full = verdicts.len() == PAGE;
            for stored in verdicts {
                let stored = stored?;
                *verdict = (*verdict).max(stored.sequence as i64);
                let _ = self.verdicts.send(Arc::new(stored));
            }
            if !full {
                break;
            }
        }
        for changed in alarms::after(db, "", *alarm as u64, usize::MAX >> 1)? {
            *alarm = (*alarm).max(changed.sequence as i64);
            if changed.acknowledged_unix_ms != 0
                && let Ok(open) = open_alarm(&changed)
            {
                self.monitor
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(open);
            }
            let _ = self.alarms.send(Arc::new(changed));
        }
        Ok(())
    }
}
