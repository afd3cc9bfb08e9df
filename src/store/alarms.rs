//! Alarms and the chart limits frozen for each batch: written by the writer as the line
//! monitor asks, read by the Alarms service. Which alarm may be acknowledged and what state it
//! is in are the monitor's rules ([`crate::control`]); this file only stores them.

use super::digest;
use super::queries::row_verdict;
use super::sql::{Db, Row, params};
use super::trail::{self, Action, Entry, record};
use super::tx::WriteTx;
use super::{Store, now_ms};
use crate::access::Actor;
use crate::control::chart::Limits;
use crate::control::metric::Metric;
use crate::control::rules::Severity;
use crate::control::{
    AlarmKey, AlarmRule, Change, FrozenLimits, Monitor, NewAlarm, OpenAlarm, alarm_state,
    refuse_acknowledgement,
};
use crate::error::{Error, Result};
use crate::proto::{self, Alarm, LineState, RunState};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    line_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    rule TEXT NOT NULL,
    parameter TEXT NOT NULL,
    message TEXT NOT NULL,
    frame_ids TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    returned_ms INTEGER,
    acknowledged_ms INTEGER,
    acknowledged_by TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alarms_open ON alarms (line_id, id)
    WHERE acknowledged_ms IS NULL OR returned_ms IS NULL;
CREATE TABLE IF NOT EXISTS control_limits (
    line_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    batch TEXT NOT NULL,
    centre REAL NOT NULL,
    sigma REAL NOT NULL,
    frozen_ms INTEGER NOT NULL,
    PRIMARY KEY (line_id, camera_id, metric)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS control_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
";

const COLUMNS: &str = "id, seq, line_id, camera_id, severity, rule, parameter, message, frame_ids,
    raised_ms, returned_ms, acknowledged_ms, acknowledged_by, comment";

/// Which stored alarms to list.
#[derive(Clone, Debug, Default)]
pub struct AlarmQuery {
    /// Empty: every line.
    pub line_id: String,
    /// Only alarms not yet cleared.
    pub only_open: bool,
    /// Only alarms with a smaller id (newest-first paging); 0 = from the newest.
    pub before_id: u64,
    pub limit: usize,
}

/// An acknowledgement to store.
#[derive(Clone, Debug)]
pub struct Acknowledgement {
    pub alarm_id: u64,
    /// Who acknowledges: the name stored with the alarm and in the audit trail.
    pub actor: Actor,
    pub comment: String,
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Stop => "STOP",
        Severity::Warn | Severity::Off => "WARN",
    }
}

/// An alarm from its row (in [`COLUMNS`] order).
fn row_alarm(row: &Row) -> Result<Alarm> {
    let returned: Option<i64> = row.get(10)?;
    let acknowledged: Option<i64> = row.get(11)?;
    let severity: String = row.get(4)?;
    let frame_ids: String = row.get(8)?;
    Ok(Alarm {
        alarm_id: row.get::<i64>(0)?.to_string(),
        sequence: row.get::<u64>(1)?,
        line_id: row.get(2)?,
        camera_id: row.get(3)?,
        severity: if severity == "STOP" {
            proto::Severity::Stop
        } else {
            proto::Severity::Warn
        } as i32,
        rule: row.get(5)?,
        parameter: row.get(6)?,
        message: row.get(7)?,
        // Frame ids hold no control characters (they are checked on arrival): a line break
        // separates them.
        frame_ids: frame_ids
            .split('\n')
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
        raised_unix_ms: row.get(9)?,
        state: alarm_state(acknowledged.is_some(), returned.is_some()).into(),
        acknowledged_by: row.get(12)?,
        comment: row.get(13)?,
        acknowledged_unix_ms: acknowledged.unwrap_or(0),
        returned_unix_ms: returned.unwrap_or(0),
    })
}

/// What the monitor needs to know of a stored alarm.
pub fn open_alarm(alarm: &Alarm) -> Result<OpenAlarm> {
    let rule = AlarmRule::named(&alarm.rule).ok_or_else(|| {
        Error::Store(format!(
            "alarm {} has unknown rule {:?}",
            alarm.alarm_id, alarm.rule
        ))
    })?;
    Ok(OpenAlarm {
        id: alarm
            .alarm_id
            .parse()
            .map_err(|_| Error::Store(format!("alarm id {:?}", alarm.alarm_id)))?,
        key: AlarmKey {
            line_id: alarm.line_id.clone(),
            camera_id: alarm.camera_id.clone(),
            rule,
            parameter: alarm.parameter.clone(),
        },
        severity: if alarm.severity == proto::Severity::Stop as i32 {
            Severity::Stop
        } else {
            Severity::Warn
        },
        acknowledged: alarm.acknowledged_unix_ms != 0,
        returned: alarm.returned_unix_ms != 0,
    })
}

/// The next change sequence.
fn next_seq(tx: &WriteTx) -> Result<i64> {
    tx.row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM alarms",
        params![],
        |r| r.get(0),
    )
}

fn get_in(tx: &WriteTx, id: i64) -> Result<Option<Alarm>> {
    tx.optional_row(
        &format!("SELECT {COLUMNS} FROM alarms WHERE id = ?1"),
        params![id],
        row_alarm,
    )
}

pub(super) fn raise(tx: &WriteTx, alarm: &NewAlarm) -> Result<Alarm> {
    let seq = next_seq(tx)?;
    let key = &alarm.key;
    tx.execute(
        "INSERT INTO alarms (id, seq, line_id, camera_id, severity, rule, parameter, message,
                             frame_ids, raised_ms, returned_ms)
         VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM alarms),
                 ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            seq,
            key.line_id,
            key.camera_id,
            severity_name(alarm.severity),
            key.rule.name(),
            key.parameter,
            alarm.message,
            alarm.frame_ids.join("\n"),
            alarm.raised_ms,
            alarm.returned.then_some(alarm.raised_ms),
        ],
    )?;
    let id: i64 = tx.row("SELECT id FROM alarms WHERE seq = ?1", params![seq], |r| {
        r.get(0)
    })?;
    let entry = Entry::new(Actor::system(), Action::AlarmRaised, record::alarm(id))
        .after(row_digest(tx, id)?)
        .reason(&alarm.message);
    trail::append(tx, &entry)?;
    get_in(tx, id)?.ok_or_else(|| Error::Store("an alarm vanished as it was raised".into()))
}

/// Marks every open alarm of `key` whose condition lasted as gone; the alarms changed.
pub(super) fn settle(tx: &WriteTx, key: &AlarmKey, at_ms: i64) -> Result<Vec<Alarm>> {
    let ids: Vec<i64> = tx.rows_until(
        "SELECT id FROM alarms WHERE line_id = ?1 AND camera_id = ?2 AND rule = ?3
           AND parameter = ?4 AND returned_ms IS NULL ORDER BY id",
        params![key.line_id, key.camera_id, key.rule.name(), key.parameter],
        |r| r.get(0),
        |_| false,
    )?;
    let mut changed = Vec::with_capacity(ids.len());
    for id in ids {
        let seq = next_seq(tx)?;
        let before = row_digest(tx, id)?;
        tx.execute(
            "UPDATE alarms SET returned_ms = ?1, seq = ?2 WHERE id = ?3",
            params![at_ms, seq, id],
        )?;
        let entry = Entry::new(Actor::system(), Action::AlarmReturned, record::alarm(id))
            .before(before)
            .after(row_digest(tx, id)?);
        trail::append(tx, &entry)?;
        changed.extend(get_in(tx, id)?);
    }
    Ok(changed)
}

/// Acknowledges an alarm; the inner error refuses this acknowledgement (an unknown alarm, one
/// acknowledged before), the outer one fails the store's batch.
pub(super) fn acknowledge(tx: &WriteTx, ack: &Acknowledgement) -> Result<Result<Alarm>> {
    let Some(alarm) = i64::try_from(ack.alarm_id)
        .ok()
        .map(|id| get_in(tx, id))
        .transpose()?
        .flatten()
    else {
        return Ok(Err(not_found(ack.alarm_id)));
    };
    let open = open_alarm(&alarm)?;
    if let Some(reason) =
        refuse_acknowledgement(&open, &alarm.acknowledged_by, &ack.actor.user, &ack.comment)
    {
        return Ok(Err(Error::Refused(reason)));
    }
    let id = open.id as i64;
    let seq = next_seq(tx)?;
    let before = row_digest(tx, id)?;
    tx.execute(
        "UPDATE alarms SET acknowledged_ms = ?1, acknowledged_by = ?2, comment = ?3, seq = ?4
         WHERE id = ?5",
        params![now_ms(), ack.actor.user, ack.comment, seq, id],
    )?;
    let entry = Entry::new(
        ack.actor.clone(),
        Action::AlarmAcknowledged,
        record::alarm(id),
    )
    .before(before)
    .after(row_digest(tx, id)?)
    .reason(&ack.comment);
    trail::append(tx, &entry)?;
    Ok(get_in(tx, id)?.ok_or_else(|| not_found(ack.alarm_id)))
}

/// The digest of an alarm's row, as its audit entries record it.
fn row_digest(tx: &WriteTx, id: i64) -> Result<String> {
    tx.row(
        "SELECT * FROM alarms WHERE id = ?1",
        params![id],
        digest::of_row,
    )
}

fn not_found(id: u64) -> Error {
    Error::NotFound(format!("no alarm {id}"))
}

pub(super) fn save_limits(tx: &WriteTx, frozen: &FrozenLimits) -> Result<()> {
    tx.execute(
        "INSERT INTO control_limits
             (line_id, camera_id, metric, batch, centre, sigma, frozen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (line_id, camera_id, metric) DO UPDATE SET batch = excluded.batch,
             centre = excluded.centre, sigma = excluded.sigma, frozen_ms = excluded.frozen_ms",
        params![
            frozen.line_id,
            frozen.camera_id,
            frozen.metric.name(),
            frozen.batch,
            frozen.limits.centre,
            frozen.limits.sigma,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Records that the monitor has evaluated every verdict up to `sequence`.
pub(super) fn save_progress(tx: &WriteTx, sequence: u64) -> Result<()> {
    tx.execute(
        "INSERT INTO control_progress (id, seq) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
        params![sequence as i64],
    )?;
    Ok(())
}

/// Brings a fresh monitor to where the store is: its open alarms and frozen limits, each
/// line's recent verdicts replayed (their alarms were raised before), then every verdict it
/// had not evaluated yet (a stop between a commit and its alarm) evaluated for alarms. The
/// changes to store, and the last sequence evaluated.
///
/// On a database several nodes share, the verdicts not yet evaluated may be other nodes',
/// whose monitors raise their alarms: they are replayed without alarms.
pub(super) fn warm_up(conn: &Db, monitor: &mut Monitor) -> Result<(Vec<Change>, u64)> {
    let shared = conn.is_postgres();
    for alarm in open_alarms(conn)? {
        monitor.record(open_alarm(&alarm)?);
    }
    for frozen in stored_limits(conn)? {
        monitor.restore_limits(frozen);
    }
    let evaluated: i64 = conn
        .optional_row(
            "SELECT seq FROM control_progress WHERE id = 1",
            params![],
            |r| r.get(0),
        )?
        .unwrap_or(0);
    let mut changes = Vec::new();
    let lines: Vec<String> = conn.rows(
        "SELECT line_id FROM line_stats ORDER BY line_id",
        params![],
        |r| r.get(0),
    )?;
    for line in lines {
        let mut verdicts = conn
            .rows(
                "SELECT record, evidence FROM verdicts WHERE line_id = ?1 AND seq <= ?2
                 ORDER BY seq DESC LIMIT ?3",
                params![line, evaluated, monitor.replay_depth()],
                row_verdict,
            )?
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        verdicts.reverse();
        for verdict in &verdicts {
            changes.extend(monitor.replay(verdict));
        }
    }
    let mut last = evaluated as u64;
    conn.each_row(
        "SELECT record, evidence, seq FROM verdicts WHERE seq > ?1 ORDER BY seq",
        params![evaluated],
        |row| {
            let verdict = row_verdict(row)??;
            if shared {
                changes.extend(monitor.replay(&verdict));
            } else {
                changes.extend(monitor.observe(&verdict, false));
            }
            last = last.max(verdict.sequence);
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    Ok((changes, last))
}

/// Alarms of `line_id` (empty: every line) changed after `sequence`, in the order of their
/// changes.
pub(super) fn after(conn: &Db, line_id: &str, sequence: u64, limit: usize) -> Result<Vec<Alarm>> {
    conn.rows(
        &format!(
            "SELECT {COLUMNS} FROM alarms WHERE (?1 = '' OR line_id = ?1) AND seq > ?2
             ORDER BY seq LIMIT ?3"
        ),
        params![line_id, sequence, limit],
        row_alarm,
    )
}

/// Every alarm not yet cleared, oldest first: what the monitor starts from.
pub(super) fn open_alarms(conn: &Db) -> Result<Vec<Alarm>> {
    conn.rows(
        &format!(
            "SELECT {COLUMNS} FROM alarms WHERE acknowledged_ms IS NULL OR returned_ms IS NULL ORDER BY id"
        ),
        params![],
        row_alarm,
    )
}

/// Every chart's frozen limits.
pub(super) fn stored_limits(conn: &Db) -> Result<Vec<FrozenLimits>> {
    let rows = conn.rows(
        "SELECT line_id, camera_id, metric, batch, centre, sigma FROM control_limits",
        params![],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
                r.get::<f64>(4)?,
                r.get::<f64>(5)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for (line_id, camera_id, metric, batch, centre, sigma) in rows {
        // A metric no longer known (renamed in a later version) starts a new baseline.
        if let Ok(metric) = Metric::named(&metric) {
            out.push(FrozenLimits {
                line_id,
                camera_id,
                metric,
                batch,
                limits: Limits { centre, sigma },
            });
        }
    }
    Ok(out)
}

impl Store {
    /// Alarms matching `query`, newest first.
    pub fn alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>> {
        let conn = self.read()?;
        conn.rows(
            &format!(
                "SELECT {COLUMNS} FROM alarms
                 WHERE (?1 = '' OR line_id = ?1)
                   AND (?2 = 0 OR acknowledged_ms IS NULL OR returned_ms IS NULL)
                   AND (?3 = 0 OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ),
            params![query.line_id, query.only_open, query.before_id, query.limit],
            row_alarm,
        )
    }

    /// The alarm with this id, if there is one.
    pub fn alarm(&self, alarm_id: u64) -> Result<Option<Alarm>> {
        let conn = self.read()?;
        conn.optional_row(
            &format!("SELECT {COLUMNS} FROM alarms WHERE id = ?1"),
            params![alarm_id],
            row_alarm,
        )
    }

    /// Alarms changed after `sequence`, in the order of their changes.
    pub fn alarms_after(&self, line_id: &str, sequence: u64, limit: usize) -> Result<Vec<Alarm>> {
        after(&*self.read()?, line_id, sequence, limit)
    }

    /// The newest alarm change's sequence (0 without alarms).
    pub fn last_alarm_sequence(&self) -> Result<u64> {
        let conn = self.read()?;
        conn.row("SELECT COALESCE(MAX(seq), 0) FROM alarms", params![], |r| {
            r.get(0)
        })
    }

    /// Whether the line runs, is stopped (and by which alarm) or has seen no frame, with its
    /// alarms not yet cleared.
    pub fn line_state(&self, line_id: &str) -> Result<LineState> {
        let open = self.alarms(&AlarmQuery {
            line_id: line_id.to_string(),
            only_open: true,
            before_id: 0,
            limit: usize::MAX >> 1,
        })?;
        let stopping = open
            .iter()
            .rev()
            .find(|a| a.severity == proto::Severity::Stop as i32 && a.acknowledged_unix_ms == 0);
        let conn = self.read()?;
        let frames: Option<i64> = conn.optional_row(
            "SELECT total FROM line_stats WHERE line_id = ?1",
            params![line_id],
            |r| r.get(0),
        )?;
        let state = match (stopping, frames.unwrap_or(0)) {
            (Some(_), _) => RunState::Stopped,
            (None, 0) => RunState::Idle,
            (None, _) => RunState::Running,
        };
        Ok(LineState {
            line_id: line_id.to_string(),
            state: state as i32,
            stopping_alarm_id: stopping.map_or(String::new(), |a| a.alarm_id.clone()),
            active_alarms: open,
        })
    }
}
