//! Line control: every stored verdict feeds control charts and alarm rules per line and
//! camera; what they find becomes alarms, and an unacknowledged STOP alarm stops the line.
//!
//! The [`Monitor`] is plain state and decisions — no SQL, no I/O. The store's writer feeds it
//! each verdict once it is committed (after the frame was answered, so line speed does not
//! wait for it) and stores the changes it asks for: alarms raised, conditions gone, limits
//! frozen. Acknowledgements come back to it from the store, so it always knows which alarms
//! are open and whether a line is stopped.

pub mod chart;
pub mod metric;
pub mod rules;
pub mod trend;

use chart::{Chart, Direction, Kind, Limits, Point, Rule, Sample, Violation};
use metric::{Metric, Worse, letter};
use rules::{AlarmRules, Severity};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use trend::Fit;

use crate::proto::Verdict;

/// Cameras whose charts are kept; ids come from clients, so their number is bounded. Past
/// it, a new camera's frames still count for the line's rules but get no charts.
const MAX_CHARTED_CAMERAS: usize = 256;

/// The rule an alarm comes from, under the contract's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmRule {
    ConsecutiveFailures,
    DuplicateSerial,
    NotCommissioned,
    NoReadRate,
    Spc,
    Trend,
    CameraSilent,
}

impl AlarmRule {
    pub const ALL: [AlarmRule; 7] = [
        AlarmRule::ConsecutiveFailures,
        AlarmRule::DuplicateSerial,
        AlarmRule::NotCommissioned,
        AlarmRule::NoReadRate,
        AlarmRule::Spc,
        AlarmRule::Trend,
        AlarmRule::CameraSilent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlarmRule::ConsecutiveFailures => "consecutive_failures",
            AlarmRule::DuplicateSerial => "duplicate_serial",
            AlarmRule::NotCommissioned => "not_commissioned",
            AlarmRule::NoReadRate => "no_read_rate",
            AlarmRule::Spc => "spc",
            AlarmRule::Trend => "trend",
            AlarmRule::CameraSilent => "camera_silent",
        }
    }

    pub fn named(name: &str) -> Option<AlarmRule> {
        AlarmRule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether an open alarm of this rule keeps another of the same key from being raised.
    /// A single pack's event (a duplicate) is its own alarm each time; a run of failures
    /// can stop the line again once the last stop was acknowledged; a condition (a drift, a
    /// rate, a silence) is one alarm until it has gone and was acknowledged.
    fn blocked_by(self, open: &OpenAlarm) -> bool {
        match self {
            AlarmRule::DuplicateSerial | AlarmRule::NotCommissioned => false,
            AlarmRule::ConsecutiveFailures => !open.acknowledged,
            AlarmRule::NoReadRate | AlarmRule::Spc | AlarmRule::Trend | AlarmRule::CameraSilent => {
                true
            }
        }
    }
}

/// What an alarm is about: one rule on one line (and camera, and metric, where it applies).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlarmKey {
    pub line_id: String,
    /// Empty for line-wide rules.
    pub camera_id: String,
    pub rule: AlarmRule,
    /// The metric's name for `spc` and `trend`, else empty.
    pub parameter: String,
}

/// An alarm the monitor raises.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAlarm {
    pub key: AlarmKey,
    /// Stop or Warn (rules that are Off raise nothing).
    pub severity: Severity,
    /// In words an operator understands.
    pub message: String,
    /// The frames that raised it.
    pub frame_ids: Vec<String>,
    pub raised_ms: i64,
    /// The condition was one pack's event and is over as it is raised.
    pub returned: bool,
}

/// Limits a chart froze from its baseline, kept so a restart does not move them.
#[derive(Clone, Debug, PartialEq)]
pub struct FrozenLimits {
    pub line_id: String,
    pub camera_id: String,
    pub metric: Metric,
    pub batch: String,
    pub limits: Limits,
}

/// What the monitor asks the store to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Raise(NewAlarm),
    /// The condition of every open alarm of this key has gone.
    Return {
        key: AlarmKey,
        at_ms: i64,
    },
    Limits(FrozenLimits),
}

/// An alarm as the store holds it, as far as the monitor cares.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAlarm {
    pub id: u64,
    pub key: AlarmKey,
    pub severity: Severity,
    pub acknowledged: bool,
    pub returned: bool,
}

/// An alarm's place in its life: `active` until acknowledged; then `acknowledged` while its
/// condition lasts, `cleared` once it has gone too.
pub fn alarm_state(acknowledged: bool, returned: bool) -> &'static str {
    match (acknowledged, returned) {
        (false, _) => "active",
        (true, false) => "acknowledged",
        (true, true) => "cleared",
    }
}

/// Why an acknowledgement is refused, or None when it may be made.
pub fn refuse_acknowledgement(
    alarm: &OpenAlarm,
    acknowledged_by: &str,
    user: &str,
    comment: &str,
) -> Option<String> {
    if user.trim().is_empty() {
        return Some("user is required: an acknowledgement says who made it".into());
    }
    if alarm.acknowledged {
        return Some(format!(
            "alarm {} was already acknowledged by {acknowledged_by}",
            alarm.id
        ));
    }
    if alarm.severity == Severity::Stop && comment.trim().is_empty() {
        return Some(format!(
            "alarm {} stopped the line: a comment saying what was done is required",
            alarm.id
        ));
    }
    None
}

/// One camera's charts and recent values.
struct CameraWatch {
    batch: String,
    charts: Vec<MetricWatch>,
    last_frame_ms: i64,
    last_frame_id: String,
    /// It sent a frame since this server started: only such a camera can fall silent.
    live: bool,
    /// The minimum overall grade of the profile its last frame was graded with.
    min_grade: Option<f64>,
}

struct MetricWatch {
    metric: Metric,
    chart: Chart,
    /// Points in a row without a broken rule on the worse side.
    quiet_points: usize,
    /// Latest values, oldest first, for the trend.
    recent: VecDeque<f64>,
}

/// One line's running state.
#[derive(Default)]
struct LineWatch {
    /// Frames of the current run of failed verdicts.
    failures: Vec<String>,
    /// Whether each of the last frames was a no-read, oldest first.
    reads: VecDeque<bool>,
    no_reads: usize,
    cameras: BTreeMap<String, CameraWatch>,
}

/// A chart as a client plots it.
#[derive(Clone, Debug)]
pub struct ChartView {
    pub camera_id: String,
    pub batch: String,
    pub metric: Metric,
    pub subgroup_size: usize,
    pub points: Vec<Point>,
    pub limits: Option<Limits>,
    /// Over the points given (indexes into them), every rule; `alarms` says which raise one.
    pub violations: Vec<(Violation, bool)>,
    /// Where the profile starts failing, for metrics with grades.
    pub failing_at: Option<f64>,
}

/// Every line's control state.
pub struct Monitor {
    rules: AlarmRules,
    metrics: Vec<Metric>,
    /// Minimum overall grade per profile name, for the trend's "when will it fail".
    min_grades: HashMap<String, f64>,
    lines: HashMap<String, LineWatch>,
    open: Vec<OpenAlarm>,
    /// Raised, not yet stored. The writer keeps a raise until it is stored (a failed write
    /// waits for the next batch), so a key leaves only when its alarm is recorded.
    raising: HashSet<AlarmKey>,
}

impl Default for Monitor {
    /// The default rules, without profiles (so without trend projections).
    fn default() -> Monitor {
        Monitor {
            rules: AlarmRules::default(),
            metrics: Metric::ALL.to_vec(),
            min_grades: HashMap::new(),
            lines: HashMap::new(),
            open: Vec::new(),
            raising: HashSet::new(),
        }
    }
}

impl Monitor {
    /// `min_grades`: each profile's minimum overall grade by name.
    pub fn new(rules: AlarmRules, min_grades: HashMap<String, f64>) -> Result<Monitor, String> {
        let metrics = rules.check()?;
        Ok(Monitor {
            rules,
            metrics,
            min_grades,
            lines: HashMap::new(),
            open: Vec::new(),
            raising: HashSet::new(),
        })
    }

    pub fn rules(&self) -> &AlarmRules {
        &self.rules
    }

    /// Whether the line has a STOP alarm nobody acknowledged yet.
    pub fn stopped(&self, line_id: &str) -> bool {
        self.open
            .iter()
            .any(|a| a.key.line_id == line_id && a.severity == Severity::Stop && !a.acknowledged)
            || self
                .raising
                .iter()
                .any(|k| k.line_id == line_id && self.severity_of(k.rule) == Severity::Stop)
    }

    /// Takes note of an alarm as stored (raised, returned or acknowledged).
    pub fn record(&mut self, alarm: OpenAlarm) {
        self.raising.remove(&alarm.key);
        self.open.retain(|a| a.id != alarm.id);
        if !(alarm.acknowledged && alarm.returned) {
            self.open.push(alarm);
        }
    }

    /// Limits stored before a restart, for the batch they were frozen in.
    pub fn restore_limits(&mut self, frozen: FrozenLimits) {
        let camera = match self.camera(&frozen.line_id, &frozen.camera_id, &frozen.batch) {
            Some(camera) => camera,
            None => return,
        };
        if let Some(watch) = camera.charts.iter_mut().find(|w| w.metric == frozen.metric) {
            watch.chart.set_limits(frozen.limits);
        }
    }

    fn severity_of(&self, rule: AlarmRule) -> Severity {
        let rules = &self.rules;
        match rule {
            AlarmRule::ConsecutiveFailures => rules.consecutive_failures.severity,
            AlarmRule::DuplicateSerial => rules.duplicate_serial.severity,
            AlarmRule::NotCommissioned => rules.not_commissioned.severity,
            AlarmRule::NoReadRate => rules.no_read_rate.severity,
            AlarmRule::Spc => rules.spc.severity,
            AlarmRule::Trend => rules.trend.severity,
            AlarmRule::CameraSilent => rules.camera_silent.severity,
        }
    }

    /// Raises an alarm unless its rule is off or an open alarm of the key holds it back.
    fn raise(
        &mut self,
        changes: &mut Vec<Change>,
        key: AlarmKey,
        message: String,
        frame_ids: Vec<String>,
        at_ms: i64,
    ) {
        let severity = self.severity_of(key.rule);
        if severity == Severity::Off || self.raising.contains(&key) {
            return;
        }
        if self
            .open
            .iter()
            .any(|a| a.key == key && key.rule.blocked_by(a))
        {
            return;
        }
        let returned = matches!(
            key.rule,
            AlarmRule::DuplicateSerial | AlarmRule::NotCommissioned
        );
        if !returned {
            self.raising.insert(key.clone());
        }
        changes.push(Change::Raise(NewAlarm {
            key,
            severity,
            message,
            frame_ids,
            raised_ms: at_ms,
            returned,
        }));
    }

    /// The condition of `key` has gone: returns its open alarms, if any.
    fn settle(&self, changes: &mut Vec<Change>, key: AlarmKey, at_ms: i64) {
        if self.open.iter().any(|a| a.key == key && !a.returned) {
            changes.push(Change::Return { key, at_ms });
        }
    }

    /// The camera's state, started afresh when its batch changes; None past the camera cap.
    fn camera(&mut self, line_id: &str, camera_id: &str, batch: &str) -> Option<&mut CameraWatch> {
        let total: usize = self.lines.values().map(|l| l.cameras.len()).sum();
        let (rules, metrics) = (&self.rules, &self.metrics);
        let line = self.lines.entry(line_id.to_string()).or_default();
        if !line.cameras.contains_key(camera_id) && total >= MAX_CHARTED_CAMERAS {
            return None;
        }
        let camera = line
            .cameras
            .entry(camera_id.to_string())
            .or_insert_with(|| CameraWatch {
                batch: batch.to_string(),
                charts: Vec::new(),
                last_frame_ms: 0,
                last_frame_id: String::new(),
                live: false,
                min_grade: None,
            });
        if camera.charts.is_empty() || camera.batch != batch {
            // A new batch is a new baseline: its limits come from its own first points.
            camera.batch = batch.to_string();
            camera.charts = metrics
                .iter()
                .map(|&metric| {
                    let (kind, size) = match metric {
                        Metric::NoReadRate => (Kind::Proportion, rules.spc.no_read_subgroup_size),
                        _ => (Kind::Mean, rules.spc.subgroup_size),
                    };
                    MetricWatch {
                        metric,
                        chart: Chart::new(
                            kind,
                            size,
                            rules.spc.baseline_points,
                            metric.resolution(),
                        ),
                        quiet_points: 0,
                        recent: VecDeque::new(),
                    }
                })
                .collect();
        }
        Some(camera)
    }

    /// When a broken run rule raises an SPC alarm, as the rules say.
    fn spc_gate(&self) -> SpcGate {
        SpcGate {
            rules: self.rules.spc.rules.clone(),
            clear_after: self.rules.spc.clear_after_points,
            min_shift: self.rules.spc.min_shift,
            max_no_read_rate: self.rules.no_read_rate.max_rate,
        }
    }

    /// Verdicts per line a restart replays to fill the windows, runs and baselines again.
    pub fn replay_depth(&self) -> usize {
        let rules = &self.rules;
        [
            rules.consecutive_failures.count,
            rules.no_read_rate.window,
            rules.trend.window,
            rules.spc.subgroup_size * (rules.spc.baseline_points + rules.spc.clear_after_points),
            rules.spc.no_read_subgroup_size * rules.spc.baseline_points,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Evaluates a verdict evaluated before a restart: its state counts again, its alarms
    /// were raised then. Only frozen limits come out of it.
    pub fn replay(&mut self, verdict: &Verdict) -> Vec<Change> {
        let mut changes = self.observe(verdict, false);
        changes.retain(|change| match change {
            Change::Raise(alarm) => {
                self.raising.remove(&alarm.key);
                false
            }
            Change::Return { .. } => false,
            Change::Limits(_) => true,
        });
        changes
    }

    /// Evaluates one stored verdict. `live`: it was just made (not replayed after a restart),
    /// so its camera counts as sending.
    pub fn observe(&mut self, verdict: &Verdict, live: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        let at = verdict.stored_unix_ms;
        self.line_rules(verdict, &mut changes);
        let min_grade = self.min_grades.get(&verdict.profile).copied();
        let key = |rule: AlarmRule, parameter: &str| AlarmKey {
            line_id: verdict.line_id.clone(),
            camera_id: verdict.camera_id.clone(),
            rule,
            parameter: parameter.to_string(),
        };
        let gate = self.spc_gate();
        let (trend_window, within) = (self.rules.trend.window, self.rules.trend.within_packs);
        let Some(camera) = self.camera(&verdict.line_id, &verdict.camera_id, &verdict.batch) else {
            return changes;
        };
        camera.live |= live;
        camera.min_grade = min_grade;
        camera.last_frame_ms = at;
        camera.last_frame_id = verdict.frame_id.clone();
        let mut findings = Vec::new();
        for watch in &mut camera.charts {
            let Some(value) = watch.metric.value(verdict) else {
                continue;
            };
            let boundary = min_grade.and_then(|m| watch.metric.failing_at(m));
            findings.extend(watch.chart_value(verdict, value, &gate, boundary));
            if let Some(boundary) = boundary {
                findings.push(watch.trend_value(value, boundary, trend_window, within));
            }
        }
        self.settle(&mut changes, key(AlarmRule::CameraSilent, ""), at);
        for finding in findings {
            match finding {
                Finding::Frozen(metric, limits) => changes.push(Change::Limits(FrozenLimits {
                    line_id: verdict.line_id.clone(),
                    camera_id: verdict.camera_id.clone(),
                    metric,
                    batch: verdict.batch.clone(),
                    limits,
                })),
                Finding::Raise(rule, metric, message, frames) => {
                    let frames = frames.unwrap_or_else(|| vec![verdict.frame_id.clone()]);
                    self.raise(&mut changes, key(rule, metric.name()), message, frames, at);
                }
                Finding::Settled(rule, metric) => {
                    self.settle(&mut changes, key(rule, metric.name()), at)
                }
            }
        }
        changes
    }

    /// The line-wide rules: failures in a row, duplicates, uncommissioned serials, no-reads.
    fn line_rules(&mut self, verdict: &Verdict, changes: &mut Vec<Change>) {
        let at = verdict.stored_unix_ms;
        let line_key = |rule: AlarmRule| AlarmKey {
            line_id: verdict.line_id.clone(),
            camera_id: String::new(),
            rule,
            parameter: String::new(),
        };
        let where_ = place(verdict);
        if verdict.duplicate {
            let message = format!(
                "duplicate serial on {where_}: frame {} carries {}{}",
                verdict.frame_id,
                pack_id(verdict),
                reason_containing(verdict, "duplicate")
                    .map_or(String::new(), |r| format!(" ({r})"))
            );
            let key = AlarmKey {
                camera_id: verdict.camera_id.clone(),
                ..line_key(AlarmRule::DuplicateSerial)
            };
            self.raise(changes, key, message, vec![verdict.frame_id.clone()], at);
        }
        if verdict.not_commissioned {
            let message = format!(
                "serial never commissioned on {where_}: frame {} carries {}, not commissioned for batch {}",
                verdict.frame_id,
                pack_id(verdict),
                shown_or_none(&verdict.batch)
            );
            let key = AlarmKey {
                camera_id: verdict.camera_id.clone(),
                ..line_key(AlarmRule::NotCommissioned)
            };
            self.raise(changes, key, message, vec![verdict.frame_id.clone()], at);
        }

        let (count, window, max_rate) = (
            self.rules.consecutive_failures.count,
            self.rules.no_read_rate.window,
            self.rules.no_read_rate.max_rate,
        );
        let line = self.lines.entry(verdict.line_id.clone()).or_default();
        let mut run = None;
        if verdict.pass {
            line.failures.clear();
            self.settle(changes, line_key(AlarmRule::ConsecutiveFailures), at);
        } else {
            line.failures.push(verdict.frame_id.clone());
            if line.failures.len() >= count {
                run = Some(std::mem::take(&mut line.failures));
            }
        }
        let line = self.lines.entry(verdict.line_id.clone()).or_default();
        line.reads.push_back(!verdict.decoded);
        line.no_reads += usize::from(!verdict.decoded);
        if line.reads.len() > window && line.reads.pop_front() == Some(true) {
            line.no_reads -= 1;
        }
        let (no_reads, seen) = (line.no_reads, line.reads.len());
        if let Some(frames) = run {
            let last = verdict
                .reasons
                .first()
                .map_or(String::new(), |r| format!("; the last: {r}"));
            let message = format!(
                "{} failed verdicts in a row on {where_} (frames {}){last}",
                frames.len(),
                frames.join(", ")
            );
            self.raise(
                changes,
                line_key(AlarmRule::ConsecutiveFailures),
                message,
                frames,
                at,
            );
        }
        // Over the full window the rule is "rate above max_rate"; before the window has
        // filled, it fires only when even a full window could no longer be under it.
        let allowed = (max_rate * window as f64).floor() as usize;
        if no_reads > allowed {
            let message = format!(
                "no-read rate {:.1} % over the last {seen} frames of line {} ({no_reads} without a decoded symbol), above {:.1} %",
                100.0 * no_reads as f64 / seen as f64,
                verdict.line_id,
                100.0 * max_rate
            );
            self.raise(
                changes,
                line_key(AlarmRule::NoReadRate),
                message,
                vec![verdict.frame_id.clone()],
                at,
            );
        } else {
            self.settle(changes, line_key(AlarmRule::NoReadRate), at);
        }
    }

    /// Raises `camera_silent` for every camera that has sent since the start and not within
    /// the configured seconds before `now_ms`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        let silent_ms = i64::try_from(self.rules.camera_silent.seconds.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let mut silent = Vec::new();
        for (line_id, line) in &self.lines {
            for (camera_id, camera) in &line.cameras {
                if camera.live && now_ms.saturating_sub(camera.last_frame_ms) > silent_ms {
                    silent.push((
                        line_id.clone(),
                        camera_id.clone(),
                        camera.last_frame_id.clone(),
                    ));
                }
            }
        }
        for (line_id, camera_id, last_frame) in silent {
            let message = format!(
                "camera {} on line {line_id} has sent no frame for {} s (its last: frame {last_frame})",
                shown_or_none(&camera_id),
                self.rules.camera_silent.seconds
            );
            let key = AlarmKey {
                line_id,
                camera_id,
                rule: AlarmRule::CameraSilent,
                parameter: String::new(),
            };
            self.raise(&mut changes, key, message, vec![last_frame], now_ms);
        }
        changes
    }

    /// An operator's baseline: each chart of the camera (or only `metric`'s) takes its limits
    /// from its last `points` points (the configured baseline length when 0), replacing those
    /// of the batch's start. The limits frozen, to store.
    pub fn freeze(
        &mut self,
        line_id: &str,
        camera_id: &str,
        metric: Option<Metric>,
        points: usize,
    ) -> Result<Vec<FrozenLimits>, String> {
        let points = if points == 0 {
            self.rules.spc.baseline_points
        } else {
            points
        };
        let camera_id = self.camera_id(line_id, camera_id)?;
        let Some(line) = self.lines.get_mut(line_id) else {
            return Err(format!(
                "line {line_id:?} has no verdicts since the server started"
            ));
        };
        let Some(camera) = line.cameras.get_mut(&camera_id) else {
            return Err(format!("line {line_id:?} has no camera {camera_id:?}"));
        };
        let mut frozen = Vec::new();
        for watch in camera
            .charts
            .iter_mut()
            .filter(|w| metric.is_none_or(|m| m == w.metric))
        {
            if let Some(limits) = watch.chart.freeze(points) {
                watch.quiet_points = 0;
                frozen.push(FrozenLimits {
                    line_id: line_id.to_string(),
                    camera_id: camera_id.clone(),
                    metric: watch.metric,
                    batch: camera.batch.clone(),
                    limits,
                });
            }
        }
        if frozen.is_empty() {
            return Err(format!(
                "line {line_id:?} camera {camera_id:?} has fewer than two points to freeze limits from"
            ));
        }
        Ok(frozen)
    }

    /// The camera a request means: the one named, or the line's only one when none is.
    fn camera_id(&self, line_id: &str, camera_id: &str) -> Result<String, String> {
        let line = self
            .lines
            .get(line_id)
            .ok_or_else(|| format!("line {line_id:?} has no verdicts since the server started"))?;
        if camera_id.is_empty() && line.cameras.len() == 1 {
            return Ok(line.cameras.keys().next().cloned().unwrap_or_default());
        }
        if line.cameras.contains_key(camera_id) {
            return Ok(camera_id.to_string());
        }
        let known: Vec<String> = line.cameras.keys().map(|c| format!("{c:?}")).collect();
        Err(format!(
            "line {line_id:?} has no camera {camera_id:?} (its cameras: {})",
            known.join(", ")
        ))
    }

    /// The chart of a metric on a line's camera (the only camera when `camera_id` is empty and
    /// the line has one); its last `last` points.
    pub fn chart(
        &self,
        line_id: &str,
        camera_id: &str,
        metric: Metric,
        last: usize,
    ) -> Result<ChartView, String> {
        let camera_id = self.camera_id(line_id, camera_id)?;
        let camera = &self.lines[line_id].cameras[&camera_id];
        let watch = camera
            .charts
            .iter()
            .find(|w| w.metric == metric)
            .ok_or_else(|| format!("{metric} is not charted (alarms.spc.metrics)"))?;
        let points = watch.chart.points();
        let skip = points.len().saturating_sub(last);
        let failing_at = camera
            .min_grade
            .and_then(|m| metric.failing_at(m))
            .map(|b| b.value);
        let gate = self.spc_gate();
        let limits = watch.chart.limits();
        let violations = watch
            .chart
            .violations(&Rule::ALL)
            .into_iter()
            .filter(|v| v.point >= skip)
            .map(|v| {
                let alarms = limits
                    .is_some_and(|l| gate.raises(metric, &v, points[v.point].mean, l, failing_at));
                (
                    Violation {
                        point: v.point - skip,
                        ..v
                    },
                    alarms,
                )
            })
            .collect();
        Ok(ChartView {
            camera_id,
            batch: camera.batch.clone(),
            metric,
            subgroup_size: match metric {
                Metric::NoReadRate => self.rules.spc.no_read_subgroup_size,
                _ => self.rules.spc.subgroup_size,
            },
            points: points.iter().skip(skip).cloned().collect(),
            limits,
            violations,
            failing_at,
        })
    }
}

/// What one value did to a metric's chart or trend.
enum Finding {
    Frozen(Metric, Limits),
    /// Rule, metric, message, frames (None: this verdict's).
    Raise(AlarmRule, Metric, String, Option<Vec<String>>),
    Settled(AlarmRule, Metric),
}

/// The side of the centre line where a metric gets worse.
fn worse_side(metric: Metric) -> Direction {
    match metric.worse() {
        Worse::Lower => Direction::Down,
        Worse::Higher => Direction::Up,
    }
}

/// When a broken run rule raises an SPC alarm (see `rules::Spc`).
struct SpcGate {
    rules: Vec<Rule>,
    clear_after: usize,
    min_shift: f64,
    max_no_read_rate: f64,
}

impl SpcGate {
    /// Whether a broken rule raises an alarm: a rule the configuration names, broken on the
    /// side where the metric gets worse, by a point that moved far enough to matter.
    fn raises(
        &self,
        metric: Metric,
        violation: &Violation,
        mean: f64,
        limits: Limits,
        failing: Option<f64>,
    ) -> bool {
        violation.direction == worse_side(metric)
            && self.rules.contains(&violation.rule)
            && self.matters(metric, mean, limits, failing)
    }

    /// Whether a point at `mean` has moved far enough from the centre to matter: a share of
    /// the way to where the metric fails.
    fn matters(&self, metric: Metric, mean: f64, limits: Limits, failing: Option<f64>) -> bool {
        let margin = match (metric, failing) {
            (_, Some(failing)) => (failing - limits.centre).abs(),
            (Metric::NoReadRate, None) => (self.max_no_read_rate - limits.centre).abs(),
            _ => limits.centre.abs(),
        };
        (mean - limits.centre).abs() >= self.min_shift * margin
    }
}

impl MetricWatch {
    /// Adds the value to the chart: limits frozen, a rule broken on the worse side by a shift
    /// that matters, or the chart quiet long enough that an SPC alarm's condition has gone.
    fn chart_value(
        &mut self,
        verdict: &Verdict,
        value: f64,
        gate: &SpcGate,
        boundary: Option<metric::Boundary>,
    ) -> Option<Finding> {
        let added = self.chart.add(Sample {
            value,
            sequence: verdict.sequence,
            frame_id: verdict.frame_id.clone(),
        })?;
        if let Some(limits) = added.frozen {
            return Some(Finding::Frozen(self.metric, limits));
        }
        let limits = self.chart.limits()?;
        let point = &added.point;
        let failing = boundary.map(|b| b.value);
        let broken = added
            .broken
            .iter()
            .find(|v| gate.raises(self.metric, v, point.mean, limits, failing));
        let Some(violation) = broken else {
            self.quiet_points += 1;
            return (self.quiet_points >= gate.clear_after)
                .then_some(Finding::Settled(AlarmRule::Spc, self.metric));
        };
        self.quiet_points = 0;
        let message = format!(
            "{} on camera {}: mean {} of frames {}–{} {} (centre {}, limits {}–{}, baseline of batch {})",
            self.metric.words(),
            shown_or_none(&verdict.camera_id),
            fmt_value(self.metric, point.mean),
            point.first_frame,
            point.last_frame,
            match violation.rule {
                Rule::SixTrending => format!("ends {}", violation.rule.words()),
                _ => format!("is {}", violation.rule.words()),
            },
            fmt_value(self.metric, limits.centre),
            fmt_value(self.metric, limits.lower()),
            fmt_value(self.metric, limits.upper()),
            shown_or_none(&verdict.batch),
        );
        Some(Finding::Raise(
            AlarmRule::Spc,
            self.metric,
            message,
            Some(vec![point.first_frame.clone(), point.last_frame.clone()]),
        ))
    }

    /// Adds the value to the trend: a warning when the fitted line crosses the failing grade
    /// within `within` packs, fitted over the last 25, 50, … `window` values (the soonest
    /// significant crossing counts).
    fn trend_value(
        &mut self,
        value: f64,
        boundary: metric::Boundary,
        window: usize,
        within: f64,
    ) -> Finding {
        self.recent.push_back(value);
        if self.recent.len() > window {
            self.recent.pop_front();
        }
        let values = self.recent.make_contiguous();
        let mut soonest: Option<(f64, Fit)> = None;
        let mut span = 25.min(window);
        loop {
            let span_now = span.min(values.len());
            if let Some(fit) =
                Fit::through(&values[values.len() - span_now..], self.metric.resolution())
                && let Some(packs) = fit.packs_until(boundary, self.metric.worse())
                && soonest.is_none_or(|(p, _)| packs < p)
            {
                soonest = Some((packs, fit));
            }
            if span >= window || span >= values.len() {
                break;
            }
            span = (span * 2).min(window);
        }
        match soonest {
            Some((packs, fit)) if packs <= within => {
                let (from, to) = (letter(boundary.from), letter(boundary.from - 1));
                let way = if fit.slope < 0.0 { "down" } else { "up" };
                let message = format!(
                    "{} {} trending {way} {}/pack: {from}→{to} in ~{:.0} packs",
                    self.metric.words(),
                    fmt_value(self.metric, fit.now),
                    fmt_slope(fit.slope.abs()),
                    packs.ceil()
                );
                Finding::Raise(AlarmRule::Trend, self.metric, message, None)
            }
            _ => Finding::Settled(AlarmRule::Trend, self.metric),
        }
    }
}

/// "line L1 camera top" (or just the line).
fn place(verdict: &Verdict) -> String {
    if verdict.camera_id.is_empty() {
        format!("line {}", verdict.line_id)
    } else {
        format!("line {} camera {}", verdict.line_id, verdict.camera_id)
    }
}

/// "(01)… (21)…" of a pack, as far as it has them.
fn pack_id(verdict: &Verdict) -> String {
    format!("(01){} (21){}", verdict.gtin, verdict.serial)
}

fn reason_containing<'a>(verdict: &'a Verdict, word: &str) -> Option<&'a str> {
    verdict
        .reasons
        .iter()
        .find(|r| r.contains(word))
        .map(String::as_str)
}

fn shown_or_none(id: &str) -> &str {
    if id.is_empty() { "(none)" } else { id }
}

fn fmt_value(metric: Metric, value: f64) -> String {
    match metric {
        Metric::DecodeTime => format!("{value:.1} ms"),
        Metric::OverallGrade => format!("{value:.2}"),
        Metric::NoReadRate => format!("{:.1} %", 100.0 * value),
        Metric::Parameter(_) => format!("{value:.3}"),
    }
}

/// A slope per pack, with enough decimals to be nonzero.
fn fmt_slope(slope: f64) -> String {
    let decimals = if slope >= 0.01 {
        3
    } else if slope >= 0.001 {
        4
    } else {
        5
    };
    format!("{slope:.decimals$}")
}
