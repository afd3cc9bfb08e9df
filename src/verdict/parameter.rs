//! The graded parameters of ISO/IEC 15415, each under the one name the contract gives it
//! (JSON keys, proto `Parameter.name`, CSV columns, alarm and chart parameters) and the short
//! label the text line and the report show.

use crate::grade::Grading;
use std::fmt;

/// One graded parameter of a Data Matrix scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parameter {
    Decode,
    SymbolContrast,
    Modulation,
    ReflectanceMargin,
    FixedPatternDamage,
    AxialNonuniformity,
    GridNonuniformity,
    UnusedErrorCorrection,
}

/// What a parameter is called where: the contract, ISO/IEC 15415, the text line.
struct Names {
    contract: &'static str,
    iso: &'static str,
    label: &'static str,
}

/// Indexed by `Parameter as usize`, in report order.
const NAMES: [Names; 8] = [
    Names {
        contract: "decode",
        iso: "Decode",
        label: "DEC",
    },
    Names {
        contract: "symbol_contrast",
        iso: "Symbol Contrast",
        label: "SC",
    },
    Names {
        contract: "modulation",
        iso: "Modulation",
        label: "MOD",
    },
    Names {
        contract: "reflectance_margin",
        iso: "Reflectance Margin",
        label: "RM",
    },
    Names {
        contract: "fixed_pattern_damage",
        iso: "Fixed Pattern Damage",
        label: "FPD",
    },
    Names {
        contract: "axial_nonuniformity",
        iso: "Axial Nonuniformity",
        label: "AN",
    },
    Names {
        contract: "grid_nonuniformity",
        iso: "Grid Nonuniformity",
        label: "GN",
    },
    Names {
        contract: "unused_error_correction",
        iso: "Unused Error Correction",
        label: "UEC",
    },
];

/// A parameter's grade on one scan, and its value when it is graded from one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// None for parameters graded without a value (decode, fixed pattern damage).
    pub value: Option<f64>,
    /// 4 = A … 0 = F.
    pub grade: u8,
}

impl Measurement {
    /// The value as every output shows it: to three decimals, None when there is none or it
    /// is not finite.
    pub fn shown_value(&self) -> Option<f64> {
        self.value.and_then(shown)
    }
}

/// A measured fraction as every output shows it: to three decimals (never -0), None when it
/// is not finite.
pub fn shown(v: f64) -> Option<f64> {
    v.is_finite().then(|| (v * 1000.0).round() / 1000.0 + 0.0)
}

impl Parameter {
    /// Every parameter, in report order.
    pub const ALL: [Parameter; 8] = [
        Parameter::Decode,
        Parameter::SymbolContrast,
        Parameter::Modulation,
        Parameter::ReflectanceMargin,
        Parameter::FixedPatternDamage,
        Parameter::AxialNonuniformity,
        Parameter::GridNonuniformity,
        Parameter::UnusedErrorCorrection,
    ];

    fn names(self) -> &'static Names {
        &NAMES[self as usize]
    }

    /// The contract's name: JSON key, proto `Parameter.name`, CSV column stem.
    pub fn name(self) -> &'static str {
        self.names().contract
    }

    /// The parameter's name in ISO/IEC 15415.
    pub fn iso_name(self) -> &'static str {
        self.names().iso
    }

    /// The short label of the text line and the HTML report.
    pub fn label(self) -> &'static str {
        self.names().label
    }

    /// The values where grades A, B, C and D begin (more is better for all but the two
    /// nonuniformities); None for parameters graded without a value.
    pub fn grade_bounds(self) -> Option<[f64; 4]> {
        use crate::grade::{AN_GRADES, GN_GRADES, MOD_GRADES, SC_GRADES, UEC_GRADES};
        match self {
            Parameter::Decode | Parameter::FixedPatternDamage => None,
            Parameter::SymbolContrast => Some(SC_GRADES),
            // Reflectance margin has the same cut-offs as modulation.
            Parameter::Modulation | Parameter::ReflectanceMargin => Some(MOD_GRADES),
            Parameter::AxialNonuniformity => Some(AN_GRADES),
            Parameter::GridNonuniformity => Some(GN_GRADES),
            Parameter::UnusedErrorCorrection => Some(UEC_GRADES),
        }
    }

    /// This parameter's grade (and value) on a graded scan.
    pub fn of(self, g: &Grading) -> Measurement {
        let measured = |m: crate::grade::Measured| Measurement {
            value: Some(m.value),
            grade: m.grade,
        };
        match self {
            Parameter::Decode => Measurement {
                value: None,
                grade: g.decode,
            },
            Parameter::SymbolContrast => measured(g.symbol_contrast),
            Parameter::Modulation => measured(g.modulation),
            Parameter::ReflectanceMargin => measured(g.reflectance_margin),
            Parameter::FixedPatternDamage => Measurement {
                value: None,
                grade: g.fixed_pattern_damage.grade,
            },
            Parameter::AxialNonuniformity => measured(g.axial_nonuniformity),
            Parameter::GridNonuniformity => measured(g.grid_nonuniformity),
            Parameter::UnusedErrorCorrection => measured(g.unused_error_correction),
        }
    }
}

impl fmt::Display for Parameter {
    /// The contract's name, as reasons and alarms write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_order_of_the_enum_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for (k, p) in Parameter::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, k, "{p:?}");
            assert!(names.insert(p.name()), "{p:?}");
        }
    }

    #[test]
    fn shown_values_are_fractions_to_three_decimals() {
        assert_eq!(shown(0.61249), Some(0.612));
        assert_eq!(shown(-0.0001), Some(0.0));
        assert!(shown(-0.0001).unwrap().is_sign_positive());
        assert_eq!(shown(f64::NAN), None);
    }
}
