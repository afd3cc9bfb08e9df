//! What a control chart follows on a line: each ISO/IEC 15415 parameter measured from a value,
//! the overall grade, the decode time and the no-read rate — under the names alarms, charts
//! and the CLI use, with the direction in which each gets worse.

use crate::proto::Verdict;
use crate::verdict::Parameter;
use std::fmt;

/// One charted quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// A parameter graded from a measured value (not decode or fixed pattern damage).
    Parameter(ParameterMetric),
    OverallGrade,
    DecodeTime,
    /// The share of frames without a decoded symbol, per subgroup of frames.
    NoReadRate,
}

/// The parameters charted from their measured values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParameterMetric {
    SymbolContrast,
    Modulation,
    ReflectanceMargin,
    AxialNonuniformity,
    GridNonuniformity,
    UnusedErrorCorrection,
}

impl ParameterMetric {
    pub fn parameter(self) -> Parameter {
        match self {
            ParameterMetric::SymbolContrast => Parameter::SymbolContrast,
            ParameterMetric::Modulation => Parameter::Modulation,
            ParameterMetric::ReflectanceMargin => Parameter::ReflectanceMargin,
            ParameterMetric::AxialNonuniformity => Parameter::AxialNonuniformity,
            ParameterMetric::GridNonuniformity => Parameter::GridNonuniformity,
            ParameterMetric::UnusedErrorCorrection => Parameter::UnusedErrorCorrection,
        }
    }
}

/// A name no metric has; the message names those there are, for a configuration or a request
/// to be put right.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("no metric {name:?} (known: {})", Metric::ALL.map(Metric::name).join(", "))]
pub struct UnknownMetric {
    pub name: String,
}

/// Which way a value moves when print quality gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worse {
    Lower,
    Higher,
}

impl Metric {
    /// Every metric, in the order charts and alarms list them.
    pub const ALL: [Metric; 9] = [
        Metric::Parameter(ParameterMetric::SymbolContrast),
        Metric::Parameter(ParameterMetric::Modulation),
        Metric::Parameter(ParameterMetric::ReflectanceMargin),
        Metric::Parameter(ParameterMetric::AxialNonuniformity),
        Metric::Parameter(ParameterMetric::GridNonuniformity),
        Metric::Parameter(ParameterMetric::UnusedErrorCorrection),
        Metric::OverallGrade,
        Metric::DecodeTime,
        Metric::NoReadRate,
    ];

    /// The name alarms, charts and the CLI use: the contract's parameter names, then
    /// `overall_grade`, `decode_time_ms`, `no_read_rate`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Parameter(p) => p.parameter().name(),
            Metric::OverallGrade => "overall_grade",
            Metric::DecodeTime => "decode_time_ms",
            Metric::NoReadRate => "no_read_rate",
        }
    }

    /// The metric of that name.
    pub fn named(name: &str) -> Result<Metric, UnknownMetric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| UnknownMetric { name: name.into() })
    }

    /// Words for an operator: "symbol contrast".
    pub fn words(self) -> String {
        self.name().replace('_', " ").replace(" ms", " (ms)")
    }

    pub fn worse(self) -> Worse {
        match self {
            Metric::Parameter(
                ParameterMetric::AxialNonuniformity | ParameterMetric::GridNonuniformity,
            )
            | Metric::DecodeTime
            | Metric::NoReadRate => Worse::Higher,
            _ => Worse::Lower,
        }
    }

    /// The smallest spread a chart assumes for one value: measurements are shown to three
    /// decimals and grades step by whole letters, so a run of identical values must not make
    /// limits of zero width, where the next value that differs at all would be "out of control".
    pub fn resolution(self) -> f64 {
        match self {
            Metric::Parameter(_) => 0.01,
            Metric::OverallGrade => 0.25,
            Metric::DecodeTime => 0.5,
            Metric::NoReadRate => 0.01,
        }
    }

    /// This metric's value on one verdict; None when the frame has none (a no-read has no
    /// contrast). The no-read rate is charted from [`Verdict::decoded`] instead.
    pub fn value(self, verdict: &Verdict) -> Option<f64> {
        match self {
            Metric::Parameter(p) => {
                if !verdict.decoded {
                    return None;
                }
                let name = p.parameter().name();
                verdict
                    .parameters
                    .iter()
                    .find(|q| q.name == name)
                    .and_then(|q| q.value)
                    .filter(|v| v.is_finite())
            }
            Metric::OverallGrade => verdict.decoded.then_some(verdict.overall_grade),
            Metric::DecodeTime => Some(verdict.processing_ms).filter(|v| v.is_finite()),
            Metric::NoReadRate => Some(if verdict.decoded { 0.0 } else { 1.0 }),
        }
    }

    /// Where a value starts to fail a profile that asks for `min_grade` overall: the grade
    /// boundary below the lowest passing letter (one scan's grade is its lowest parameter's).
    /// With the letter it falls to. None for metrics without grades.
    pub fn failing_at(self, min_grade: f64) -> Option<Boundary> {
        // The lowest whole grade that passes: 1.5 asks for C (2) on every parameter.
        let needed = min_grade.ceil().clamp(1.0, 4.0) as u8;
        match self {
            Metric::Parameter(p) => {
                let bounds = p.parameter().grade_bounds()?;
                Some(Boundary {
                    value: bounds[usize::from(4 - needed)],
                    from: needed,
                })
            }
            Metric::OverallGrade => Some(Boundary {
                value: min_grade,
                from: needed,
            }),
            Metric::DecodeTime | Metric::NoReadRate => None,
        }
    }
}

/// The value at which a metric drops from grade `from` to the one below.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Boundary {
    pub value: f64,
    pub from: u8,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The letter of a whole grade.
pub fn letter(grade: u8) -> char {
    ['F', 'D', 'C', 'B', 'A'][usize::from(grade.min(4))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for metric in Metric::ALL {
            assert_eq!(Metric::named(metric.name()), Ok(metric));
        }
        let unknown = Metric::named("contrast").unwrap_err().to_string();
        assert!(
            unknown.starts_with("no metric \"contrast\" (known: symbol_contrast, modulation, ")
                && unknown.ends_with(", decode_time_ms, no_read_rate)"),
            "{unknown}"
        );
        assert_eq!(
            Metric::named("symbol_contrast").unwrap().words(),
            "symbol contrast"
        );
    }

    #[test]
    fn a_profile_minimum_of_1_5_fails_below_the_c_boundary() {
        let sc = Metric::named("symbol_contrast").unwrap();
        assert_eq!(
            sc.failing_at(1.5),
            Some(Boundary {
                value: 0.40,
                from: 2
            })
        );
        let gn = Metric::named("grid_nonuniformity").unwrap();
        assert_eq!(gn.failing_at(3.0).unwrap().value, 0.50);
        assert_eq!(gn.worse(), Worse::Higher);
        assert_eq!(Metric::DecodeTime.failing_at(1.5), None);
    }
}
