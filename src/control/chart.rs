//! Shewhart charts over subgroups of consecutive frames: X̄ charts for measured values (their
//! spread estimated from the mean subgroup range, R̄/d₂) and a p chart for the no-read rate,
//! limits frozen from a baseline, and the Western Electric / Nelson run rules.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// d₂: the mean range of n normal values in units of their standard deviation, n = 2..=10.
const D2: [f64; 9] = [
    1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078,
];

/// Subgroup sizes the d₂ table covers.
pub const SUBGROUP_SIZES: std::ops::RangeInclusive<usize> = 2..=10;

/// Points a chart keeps for plotting and the run rules.
const KEPT_POINTS: usize = 1000;

/// A run rule of Western Electric (and Nelson's numbering in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum Rule {
    /// One point beyond 3σ (WE 1, Nelson 1).
    #[serde(rename = "beyond_3_sigma")]
    BeyondThreeSigma,
    /// Two of three points in a row beyond 2σ on one side (WE 2, Nelson 5).
    #[serde(rename = "2_of_3_beyond_2_sigma")]
    TwoOfThreeBeyondTwoSigma,
    /// Eight points in a row on one side of the centre line (WE 4; Nelson 2 asks nine).
    #[serde(rename = "8_on_one_side")]
    EightOnOneSide,
    /// Six points in a row each above (or below) the one before (Nelson 3).
    #[serde(rename = "6_trending")]
    SixTrending,
}

impl Rule {
    pub const ALL: [Rule; 4] = [
        Rule::BeyondThreeSigma,
        Rule::TwoOfThreeBeyondTwoSigma,
        Rule::EightOnOneSide,
        Rule::SixTrending,
    ];

    /// The name configuration, charts and alarms use.
    pub fn name(self) -> &'static str {
        match self {
            Rule::BeyondThreeSigma => "beyond_3_sigma",
            Rule::TwoOfThreeBeyondTwoSigma => "2_of_3_beyond_2_sigma",
            Rule::EightOnOneSide => "8_on_one_side",
            Rule::SixTrending => "6_trending",
        }
    }

    /// Words for an operator.
    pub fn words(self) -> &'static str {
        match self {
            Rule::BeyondThreeSigma => "beyond the 3σ control limit",
            Rule::TwoOfThreeBeyondTwoSigma => "2 of the last 3 points beyond 2σ",
            Rule::EightOnOneSide => "8 points in a row on one side of the centre line",
            Rule::SixTrending => "6 points in a row moving the same way",
        }
    }

    /// Points the rule looks back over, the newest included.
    fn span(self) -> usize {
        match self {
            Rule::BeyondThreeSigma => 1,
            Rule::TwoOfThreeBeyondTwoSigma => 3,
            Rule::EightOnOneSide => 8,
            Rule::SixTrending => 6,
        }
    }

    /// Whether the points (oldest first, the rule's span of them) break this rule, and which
    /// way; `z` are their distances from the centre in σ.
    fn broken_by(self, means: &[f64], z: &[f64]) -> Option<Direction> {
        let newest = *z.last()?;
        let side = Direction::of(newest)?;
        let beyond = |k: f64| {
            z.iter()
                .filter(move |&&v| Direction::of(v) == Some(side) && v.abs() > k)
        };
        let broken = match self {
            Rule::BeyondThreeSigma => newest.abs() > 3.0,
            Rule::TwoOfThreeBeyondTwoSigma => newest.abs() > 2.0 && beyond(2.0).count() >= 2,
            Rule::EightOnOneSide => z.iter().all(|&v| Direction::of(v) == Some(side)),
            Rule::SixTrending => {
                return if means.windows(2).all(|w| w[1] > w[0]) {
                    Some(Direction::Up)
                } else if means.windows(2).all(|w| w[1] < w[0]) {
                    Some(Direction::Down)
                } else {
                    None
                };
            }
        };
        broken.then_some(side)
    }
}

/// Which side of the centre, or which way a run moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    fn of(z: f64) -> Option<Direction> {
        if z > 0.0 {
            Some(Direction::Up)
        } else if z < 0.0 {
            Some(Direction::Down)
        } else {
            None
        }
    }
}

/// What a chart plots per subgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The mean of measured values; spread from the baseline's mean range.
    Mean,
    /// The share of 1s among 0/1 values (no-reads); spread from the binomial.
    Proportion,
}

/// One value of one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub value: f64,
    pub sequence: u64,
    pub frame_id: String,
}

/// One plotted subgroup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub mean: f64,
    pub range: f64,
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub first_frame: String,
    pub last_frame: String,
}

/// Control limits: the centre line and one σ of a plotted point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Limits {
    pub centre: f64,
    pub sigma: f64,
}

impl Limits {
    pub fn upper(&self) -> f64 {
        self.centre + 3.0 * self.sigma
    }
    pub fn lower(&self) -> f64 {
        self.centre - 3.0 * self.sigma
    }
}

/// A point that breaks a rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub rule: Rule,
    /// Index of the point in [`Chart::points`].
    pub point: usize,
    pub direction: Direction,
}

/// One chart: the subgroup being filled, the points so far, and its limits once frozen.
#[derive(Clone, Debug)]
pub struct Chart {
    kind: Kind,
    subgroup_size: usize,
    baseline_points: usize,
    /// The smallest spread assumed for one value (see `Metric::resolution`).
    resolution: f64,
    filling: Vec<Sample>,
    points: VecDeque<Point>,
    limits: Option<Limits>,
}

impl Chart {
    /// `subgroup_size` within [`SUBGROUP_SIZES`] for a mean chart (any ≥ 1 for a proportion).
    pub fn new(kind: Kind, subgroup_size: usize, baseline_points: usize, resolution: f64) -> Chart {
        Chart {
            kind,
            subgroup_size: subgroup_size.max(1),
            baseline_points: baseline_points.max(2),
            resolution,
            filling: Vec::with_capacity(subgroup_size),
            points: VecDeque::new(),
            limits: None,
        }
    }

    pub fn points(&self) -> &VecDeque<Point> {
        &self.points
    }

    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// Limits frozen elsewhere (stored before a restart, or by an operator).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = Some(limits);
    }

    /// Adds one frame's value. When it completes a subgroup: the new point, the limits when
    /// this point completed the baseline, and the rules the new point breaks.
    pub fn add(&mut self, sample: Sample) -> Option<Added> {
        self.filling.push(sample);
        if self.filling.len() < self.subgroup_size {
            return None;
        }
        let samples = std::mem::take(&mut self.filling);
        let (min, max, sum) = samples.iter().fold(
            (f64::INFINITY, f64::NEG_INFINITY, 0.0),
            |(lo, hi, sum), s| (lo.min(s.value), hi.max(s.value), sum + s.value),
        );
        let (first, last) = (&samples[0], &samples[samples.len() - 1]);
        let point = Point {
            mean: sum / samples.len() as f64,
            range: max - min,
            first_sequence: first.sequence,
            last_sequence: last.sequence,
            first_frame: first.frame_id.clone(),
            last_frame: last.frame_id.clone(),
        };
        if self.points.len() == KEPT_POINTS {
            self.points.pop_front();
        }
        self.points.push_back(point.clone());
        let Some(limits) = self.limits else {
            // The baseline is filling: no rule applies until it is frozen.
            let frozen = if self.points.len() >= self.baseline_points {
                self.freeze(self.baseline_points)
            } else {
                None
            };
            return Some(Added {
                point,
                frozen,
                broken: Vec::new(),
            });
        };
        let broken = self.broken_at(self.points.len() - 1, limits);
        Some(Added {
            point,
            frozen: None,
            broken,
        })
    }

    /// Limits from the last `points` points (all when fewer): the centre their mean, σ from
    /// their mean range (a mean chart) or the binomial (a proportion), never below the
    /// metric's resolution. None without two points.
    pub fn freeze(&mut self, points: usize) -> Option<Limits> {
        let taken: Vec<&Point> = self.points.iter().rev().take(points).collect();
        if taken.len() < 2 {
            return None;
        }
        let count = taken.len() as f64;
        let centre = taken.iter().map(|p| p.mean).sum::<f64>() / count;
        let n = self.subgroup_size as f64;
        let sigma = match self.kind {
            Kind::Mean => {
                let mean_range = taken.iter().map(|p| p.range).sum::<f64>() / count;
                let d2 = D2[self.subgroup_size.clamp(2, 10) - 2];
                (mean_range / d2).max(self.resolution) / n.sqrt()
            }
            Kind::Proportion => {
                // With no event in the baseline, the rate is not known to be 0; three events
                // in its frames is the 95 % upper bound ("rule of three").
                let rate = centre.max(3.0 / (count * n)).min(1.0);
                (rate * (1.0 - rate) / n)
                    .sqrt()
                    .max(self.resolution / n.sqrt())
            }
        };
        let limits = Limits { centre, sigma };
        self.limits = Some(limits);
        Some(limits)
    }

    /// Every rule broken at every kept point (for a plot).
    pub fn violations(&self, rules: &[Rule]) -> Vec<Violation> {
        let Some(limits) = self.limits else {
            return Vec::new();
        };
        (0..self.points.len())
            .flat_map(|i| self.broken_at(i, limits))
            .filter(|v| rules.contains(&v.rule))
            .collect()
    }

    /// The rules the point at `index` breaks, looking back over the points before it.
    fn broken_at(&self, index: usize, limits: Limits) -> Vec<Violation> {
        let mut broken = Vec::new();
        for rule in Rule::ALL {
            let span = rule.span();
            if index + 1 < span {
                continue;
            }
            let window = self.points.range(index + 1 - span..=index);
            let means: Vec<f64> = window.map(|p| p.mean).collect();
            let z: Vec<f64> = means
                .iter()
                .map(|m| (m - limits.centre) / limits.sigma)
                .collect();
            if let Some(direction) = rule.broken_by(&means, &z) {
                broken.push(Violation {
                    rule,
                    point: index,
                    direction,
                });
            }
        }
        broken
    }
}

/// What adding a value that completed a subgroup brought.
#[derive(Debug)]
pub struct Added {
    pub point: Point,
    /// Limits frozen by this point (the last of the baseline).
    pub frozen: Option<Limits>,
    /// Rules this point breaks (none while the baseline fills).
    pub broken: Vec<Violation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_of(means: &[f64]) -> Chart {
        let mut chart = Chart::new(Kind::Mean, 2, 1000, 0.0);
        for (i, &m) in means.iter().enumerate() {
            for (k, v) in [m - 0.1, m + 0.1].into_iter().enumerate() {
                chart.add(Sample {
                    value: v,
                    sequence: (2 * i + k) as u64 + 1,
                    frame_id: format!("f{}", 2 * i + k + 1),
                });
            }
        }
        chart
    }

    /// A chart whose σ of a point is exactly 1 around centre 0.
    fn unit_limits(chart: &mut Chart) {
        chart.set_limits(Limits {
            centre: 0.0,
            sigma: 1.0,
        });
    }

    fn rules_at(means: &[f64]) -> Vec<(Rule, Direction)> {
        let mut chart = chart_of(means);
        unit_limits(&mut chart);
        chart
            .violations(&Rule::ALL)
            .into_iter()
            .filter(|v| v.point == means.len() - 1)
            .map(|v| (v.rule, v.direction))
            .collect()
    }

    #[test]
    fn each_rule_fires_on_its_own_pattern_and_not_one_point_short() {
        use Direction::*;
        use Rule::*;
        assert_eq!(rules_at(&[0.5, -3.2]), vec![(BeyondThreeSigma, Down)]);
        assert_eq!(rules_at(&[0.5, 2.9]), vec![]);
        assert_eq!(
            rules_at(&[-0.5, 2.5, 0.3, 2.1]),
            vec![(TwoOfThreeBeyondTwoSigma, Up)]
        );
        assert_eq!(rules_at(&[2.5, 0.3, -0.2, 2.1]), vec![]);
        assert_eq!(
            rules_at(&[-2.5, 0.1, 2.2]),
            vec![],
            "beyond 2σ on both sides"
        );
        let eight = [-0.4, 0.2, 0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.6];
        assert_eq!(rules_at(&eight), vec![(EightOnOneSide, Up)]);
        assert_eq!(rules_at(&eight[..8]), vec![]);
        let falling = [0.9, 0.9, 0.7, 0.5, 0.2, -0.1, -0.3];
        assert_eq!(rules_at(&falling), vec![(SixTrending, Down)]);
        assert_eq!(rules_at(&falling[..6]), vec![]);
    }

    #[test]
    fn the_baseline_freezes_limits_from_the_mean_range() {
        let mut chart = Chart::new(Kind::Mean, 5, 3, 0.0);
        let mut frozen = None;
        // Subgroups 0,1,2,3,4 (+k): range 4, mean 2+k.
        for k in 0..3u64 {
            for v in 0..5u64 {
                let sequence = k * 5 + v + 1;
                let value = (k + v) as f64;
                if let Some(added) = chart.add(Sample {
                    value,
                    sequence,
                    frame_id: sequence.to_string(),
                }) {
                    assert!(added.broken.is_empty());
                    frozen = frozen.or(added.frozen);
                }
            }
        }
        let limits = frozen.expect("frozen after three subgroups");
        assert!((limits.centre - 3.0).abs() < 1e-12);
        let sigma = 4.0 / 2.326 / 5f64.sqrt();
        assert!((limits.sigma - sigma).abs() < 1e-12, "{limits:?}");
        assert_eq!(chart.points()[2].first_frame, "11");
    }

    #[test]
    fn identical_values_do_not_make_limits_of_zero_width() {
        let mut chart = Chart::new(Kind::Mean, 4, 2, 0.01);
        for s in 0..8 {
            chart.add(Sample {
                value: 0.6,
                sequence: s,
                frame_id: String::new(),
            });
        }
        assert!((chart.limits().unwrap().sigma - 0.005).abs() < 1e-12);
    }

    #[test]
    fn a_proportion_without_events_in_its_baseline_allows_one() {
        let mut chart = Chart::new(Kind::Proportion, 50, 20, 0.0);
        for s in 0..1000 {
            chart.add(Sample {
                value: 0.0,
                sequence: s,
                frame_id: String::new(),
            });
        }
        let limits = chart.limits().unwrap();
        assert_eq!(limits.centre, 0.0);
        assert!(
            limits.upper() > 1.0 / 50.0 && limits.upper() < 2.0 / 50.0,
            "{limits:?}"
        );
    }
}
