//! The alarm rules, as data: the `[alarms]` section of the server's configuration. Every rule
//! has a default, so a server started without a configuration already stops the line on three
//! failures in a row, a duplicate or an uncommissioned serial, and warns on the rest.

use super::chart::{Rule, SUBGROUP_SIZES};
use super::metric::Metric;
use serde::Deserialize;

/// What an alarm asks of the line.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stop the line until someone acknowledges it.
    Stop,
    /// Tell the operator; the line runs on.
    Warn,
    /// The rule is not evaluated.
    Off,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmRules {
    pub consecutive_failures: ConsecutiveFailures,
    pub duplicate_serial: Event,
    pub not_commissioned: Event,
    pub no_read_rate: NoReadRate,
    pub spc: Spc,
    pub trend: Trend,
    pub camera_silent: CameraSilent,
}

/// Failed verdicts in a row on a line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsecutiveFailures {
    pub severity: Severity,
    pub count: usize,
}

/// A rule raised by a single verdict (a duplicate, an uncommissioned serial).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub severity: Severity,
}

/// The share of frames without a decoded symbol over the last `window` frames of a line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NoReadRate {
    pub severity: Severity,
    pub window: usize,
    /// Above this fraction (0.02 = 2 %), the rule is broken.
    pub max_rate: f64,
}

/// Control charts per line, camera and metric.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Spc {
    pub severity: Severity,
    /// Consecutive frames plotted as one point of a measured value (2–10).
    pub subgroup_size: usize,
    /// Consecutive frames plotted as one point of the no-read rate.
    pub no_read_subgroup_size: usize,
    /// Points from the start of a batch (per camera) that set the limits.
    pub baseline_points: usize,
    /// The run rules that raise an alarm (all of them are drawn on a chart).
    pub rules: Vec<Rule>,
    /// Metrics charted, by name (see `Metric::name`).
    pub metrics: Vec<String>,
    /// Points in a row without a broken rule after which an SPC alarm's condition has gone.
    pub clear_after_points: usize,
    /// A broken rule raises an alarm only when the point has moved at least this fraction of
    /// the way from the centre line to where the profile fails (for the no-read rate, to the
    /// no-read rule's maximum; for the decode time, this fraction of the centre). Run rules
    /// alone fire on a stable line every few hundred points per metric; a shift that matters
    /// for the grade does not happen by chance.
    pub min_shift: f64,
}

/// A parameter projected to cross the grade where the profile starts failing.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Trend {
    pub severity: Severity,
    /// Warn when the crossing is projected within this many packs.
    pub within_packs: f64,
    /// Lines are fitted through the last 25, 50, … up to this many values, so a fast fall is
    /// seen within a few dozen packs and a slow drift within a few hundred.
    pub window: usize,
}

/// A camera that was sending frames and stopped.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CameraSilent {
    pub severity: Severity,
    pub seconds: u64,
}

impl Default for ConsecutiveFailures {
    fn default() -> Self {
        ConsecutiveFailures {
            severity: Severity::Stop,
            count: 3,
        }
    }
}

impl Default for NoReadRate {
    fn default() -> Self {
        NoReadRate {
            severity: Severity::Warn,
            window: 500,
            max_rate: 0.02,
        }
    }
}

impl Default for Spc {
    fn default() -> Self {
        Spc {
            severity: Severity::Warn,
            subgroup_size: 5,
            no_read_subgroup_size: 50,
            baseline_points: 20,
            rules: Rule::ALL.to_vec(),
            metrics: Metric::ALL.iter().map(|m| m.name().to_string()).collect(),
            clear_after_points: 8,
            min_shift: 0.1,
        }
    }
}

impl Default for Trend {
    fn default() -> Self {
        Trend {
            severity: Severity::Warn,
            within_packs: 200.0,
            window: 200,
        }
    }
}

impl Default for CameraSilent {
    fn default() -> Self {
        CameraSilent {
            severity: Severity::Warn,
            seconds: 30,
        }
    }
}

impl Default for AlarmRules {
    fn default() -> Self {
        AlarmRules {
            consecutive_failures: ConsecutiveFailures::default(),
            duplicate_serial: Event {
                severity: Severity::Stop,
            },
            not_commissioned: Event {
                severity: Severity::Stop,
            },
            no_read_rate: NoReadRate::default(),
            spc: Spc::default(),
            trend: Trend::default(),
            camera_silent: CameraSilent::default(),
        }
    }
}

impl AlarmRules {
    /// What is wrong with the rules, in words, or the metrics they chart.
    pub fn check(&self) -> Result<Vec<Metric>, String> {
        let spc = &self.spc;
        if !SUBGROUP_SIZES.contains(&spc.subgroup_size) {
            return Err(format!(
                "alarms.spc.subgroup_size {} is not within {}–{}",
                spc.subgroup_size,
                SUBGROUP_SIZES.start(),
                SUBGROUP_SIZES.end()
            ));
        }
        for (name, value, least) in [
            (
                "alarms.spc.no_read_subgroup_size",
                spc.no_read_subgroup_size,
                1,
            ),
            ("alarms.spc.baseline_points", spc.baseline_points, 2),
            ("alarms.spc.clear_after_points", spc.clear_after_points, 1),
            (
                "alarms.consecutive_failures.count",
                self.consecutive_failures.count,
                1,
            ),
            ("alarms.no_read_rate.window", self.no_read_rate.window, 1),
            (
                "alarms.trend.window",
                self.trend.window,
                super::trend::MIN_VALUES,
            ),
        ] {
            if value < least {
                return Err(format!("{name} {value} is below {least}"));
            }
        }
        if !(0.0..1.0).contains(&self.no_read_rate.max_rate) {
            return Err(format!(
                "alarms.no_read_rate.max_rate {} is not a fraction below 1 (0.02 = 2 %)",
                self.no_read_rate.max_rate
            ));
        }
        if !(0.0..=1.0).contains(&spc.min_shift) {
            return Err(format!(
                "alarms.spc.min_shift {} is not a fraction from 0 to 1",
                spc.min_shift
            ));
        }
        if self.trend.within_packs.is_nan() || self.trend.within_packs < 0.0 {
            return Err("alarms.trend.within_packs must be 0 or more".into());
        }
        if self.camera_silent.seconds == 0 {
            return Err("alarms.camera_silent.seconds must be 1 or more".into());
        }
        spc.metrics
            .iter()
            .map(|name| Metric::named(name).map_err(|e| format!("alarms.spc.metrics: {e}")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_rules_the_line_expects() {
        let rules = AlarmRules::default();
        assert_eq!(rules.consecutive_failures.count, 3);
        assert_eq!(rules.consecutive_failures.severity, Severity::Stop);
        assert_eq!(rules.duplicate_serial.severity, Severity::Stop);
        assert_eq!(rules.not_commissioned.severity, Severity::Stop);
        assert_eq!(
            (rules.no_read_rate.window, rules.no_read_rate.max_rate),
            (500, 0.02)
        );
        assert_eq!(rules.trend.within_packs, 200.0);
        assert_eq!(rules.camera_silent.seconds, 30);
        assert_eq!(rules.check().unwrap().len(), Metric::ALL.len());
    }

    #[test]
    fn rules_read_from_toml_and_bad_ones_are_named() {
        let rules: AlarmRules = toml::from_str(
            "[consecutive_failures]\ncount = 5\nseverity = \"warn\"\n[spc]\nrules = [\"beyond_3_sigma\"]\nmetrics = [\"symbol_contrast\"]\n",
        )
        .unwrap();
        assert_eq!(rules.consecutive_failures.count, 5);
        assert_eq!(rules.spc.rules, vec![Rule::BeyondThreeSigma]);
        assert_eq!(rules.check().unwrap().len(), 1);
        assert!(toml::from_str::<AlarmRules>("[spc]\nrules = [\"9_in_a_row\"]\n").is_err());
        let mut bad = AlarmRules::default();
        bad.spc.subgroup_size = 12;
        assert!(bad.check().unwrap_err().contains("subgroup_size 12"));
        bad = AlarmRules::default();
        bad.spc.metrics.push("contrast".into());
        assert!(bad.check().unwrap_err().contains("no metric \"contrast\""));
    }
}
