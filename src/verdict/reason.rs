//! Why a symbol or a frame fails, as data: each kind of failure one variant, rendered by
//! `Display` to the words the contract's `reasons` carry (JSON, text, CSV, report, proto, store).

use super::letter;
use super::parameter::Parameter;
use crate::gs1;
use crate::profile::DataProblem;
use serde::{Serialize, Serializer};
use std::fmt;

/// One reason a symbol or a frame fails.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// The frame holds no symbol the reader could decode.
    NoSymbolDecoded,
    /// The overall grade is below the profile's minimum.
    GradeBelowMinimum { overall: f64, minimum: f64 },
    /// A parameter's grade is below the profile's minimum.
    ParameterBelowMinimum { parameter: Parameter, grade: u8 },
    /// The profile requires GS1 data and the symbol does not start with FNC1.
    NotGs1,
    /// The GS1 data breaks the GS1 General Specifications.
    Gs1(gs1::Problem),
    /// The GS1 data breaks the profile's own data rules.
    ProfileData(DataProblem),
    /// A field the line was told to print is not in the data.
    ExpectedMissing {
        field: ExpectedField,
        expected: String,
    },
    /// A field the line was told to print carries another value.
    ExpectedMismatch {
        field: ExpectedField,
        found: String,
        expected: String,
    },
    /// The measured X dimension is outside the profile's range.
    XDimensionOutside { x_mm: f64, min_mm: f64, max_mm: f64 },
    /// Dark modules within the profile's quiet zone.
    QuietZone {
        dark_modules: usize,
        quiet_zone_modules: f64,
    },
    /// The (GTIN, serial) was already carried by another symbol.
    DuplicateSerial {
        gtin: String,
        serial: String,
        first: Sighting,
    },
    /// Serials are commissioned for the line and this one is not among them.
    NotCommissioned { serial: String },
    /// The serial is commissioned, for another line or batch.
    CommissionedElsewhere {
        serial: String,
        line: String,
        batch: String,
        this_line: String,
        this_batch: String,
    },
    /// The pack's batch was closed (signed); it takes no more packs.
    BatchClosed {
        batch: String,
        user: String,
        at: String,
    },
    /// The frame holds another number of symbols than the line expects.
    CountMismatch { found: usize, expected: usize },
    /// A reason of the frame's symbol `symbol` (1-based) other than its first.
    OfSymbol { symbol: usize, reason: Box<Reason> },
}

/// A field of the pack the line can be told to expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedField {
    Gtin,
    Batch,
    Expiry,
}

impl ExpectedField {
    pub const ALL: [ExpectedField; 3] = [
        ExpectedField::Gtin,
        ExpectedField::Batch,
        ExpectedField::Expiry,
    ];

    /// The GS1 application identifier that carries the field.
    pub fn ai(self) -> &'static str {
        match self {
            ExpectedField::Gtin => "01",
            ExpectedField::Batch => "10",
            ExpectedField::Expiry => "17",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ExpectedField::Gtin => "GTIN",
            ExpectedField::Batch => "batch",
            ExpectedField::Expiry => "expiry",
        }
    }
}

/// Where a duplicated serial was seen first.
#[derive(Clone, Debug, PartialEq)]
pub enum Sighting {
    /// Another symbol (1-based) of the same frame.
    ThisFrame { symbol: usize },
    /// A stored verdict.
    Stored { line: String, frame: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoSymbolDecoded => write!(f, "no Data Matrix decoded"),
            Reason::GradeBelowMinimum { overall, minimum } => {
                write!(f, "grade {overall:.1} below profile minimum {minimum:.1}")
            }
            Reason::ParameterBelowMinimum { parameter, grade } => {
                write!(f, "{parameter} {}", letter(*grade))
            }
            Reason::NotGs1 => write!(f, "data is not GS1 (no FNC1 in the first position)"),
            Reason::Gs1(problem) => write!(f, "GS1: {problem}"),
            Reason::ProfileData(problem) => write!(f, "GS1: {problem}"),
            Reason::ExpectedMissing { field, expected } => write!(
                f,
                "{} ({}) is missing, the line expects {expected}",
                field.name(),
                field.ai()
            ),
            Reason::ExpectedMismatch {
                field,
                found,
                expected,
            } => write!(
                f,
                "{} ({}) is {found}, the line expects {expected}",
                field.name(),
                field.ai()
            ),
            Reason::XDimensionOutside {
                x_mm,
                min_mm,
                max_mm,
            } => write!(
                f,
                "X dimension {x_mm:.3} mm outside {min_mm:.3}–{max_mm:.3} mm"
            ),
            Reason::QuietZone {
                dark_modules,
                quiet_zone_modules,
            } => write!(
                f,
                "quiet zone: {dark_modules} dark modules within {quiet_zone_modules} X of the symbol"
            ),
            Reason::DuplicateSerial {
                gtin,
                serial,
                first,
            } => {
                write!(f, "duplicate serial (21) {serial} for GTIN {gtin} ")?;
                match first {
                    Sighting::ThisFrame { symbol } => write!(f, "(symbol {symbol} of this frame)"),
                    Sighting::Stored { line, frame } => {
                        write!(f, "(first seen on line {line}, frame {frame})")
                    }
                }
            }
            Reason::NotCommissioned { serial } => {
                write!(f, "serial (21) {serial} was never commissioned")
            }
            Reason::CommissionedElsewhere {
                serial,
                line,
                batch,
                this_line,
                this_batch,
            } => write!(
                f,
                "serial (21) {serial} was commissioned for batch {batch} on line {line}, \
                 not batch {this_batch} on line {this_line}"
            ),
            Reason::BatchClosed { batch, user, at } => write!(
                f,
                "batch {batch} was closed by {user} at {at}; it takes no more packs"
            ),
            Reason::CountMismatch { found, expected } => write!(
                f,
                "the frame holds {found} symbols, the line expects {expected}"
            ),
            Reason::OfSymbol { symbol, reason } => write!(f, "symbol {symbol}: {reason}"),
        }
    }
}

/// Reasons are written as their words.
impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of the contract's examples and of the reasons line controllers match on.
    #[test]
    fn reasons_read_as_the_contract_words_them() {
        let gtin = "09506000134352".to_string();
        let cases = [
            (Reason::NoSymbolDecoded, "no Data Matrix decoded"),
            (
                Reason::GradeBelowMinimum {
                    overall: 1.0,
                    minimum: 1.5,
                },
                "grade 1.0 below profile minimum 1.5",
            ),
            (
                Reason::ParameterBelowMinimum {
                    parameter: Parameter::UnusedErrorCorrection,
                    grade: 0,
                },
                "unused_error_correction F",
            ),
            (
                Reason::Gs1(gs1::Problem::CheckDigit {
                    ai: "01".into(),
                    expected: 2,
                    found: 3,
                }),
                "GS1: check digit of (01) is wrong: 3, should be 2",
            ),
            (
                Reason::ExpectedMismatch {
                    field: ExpectedField::Batch,
                    found: "AB12".into(),
                    expected: "CD34".into(),
                },
                "batch (10) is AB12, the line expects CD34",
            ),
            (
                Reason::ExpectedMissing {
                    field: ExpectedField::Expiry,
                    expected: "281231".into(),
                },
                "expiry (17) is missing, the line expects 281231",
            ),
            (
                Reason::DuplicateSerial {
                    gtin: gtin.clone(),
                    serial: "SN1".into(),
                    first: Sighting::ThisFrame { symbol: 2 },
                },
                "duplicate serial (21) SN1 for GTIN 09506000134352 (symbol 2 of this frame)",
            ),
            (
                Reason::DuplicateSerial {
                    gtin,
                    serial: "SN1".into(),
                    first: Sighting::Stored {
                        line: "L1".into(),
                        frame: "f7".into(),
                    },
                },
                "duplicate serial (21) SN1 for GTIN 09506000134352 (first seen on line L1, frame f7)",
            ),
            (
                Reason::CommissionedElsewhere {
                    serial: "SN1".into(),
                    line: "L1".into(),
                    batch: "B1".into(),
                    this_line: "L2".into(),
                    this_batch: "B2".into(),
                },
                "serial (21) SN1 was commissioned for batch B1 on line L1, not batch B2 on line L2",
            ),
            (
                Reason::OfSymbol {
                    symbol: 3,
                    reason: Box::new(Reason::CountMismatch {
                        found: 2,
                        expected: 4,
                    }),
                },
                "symbol 3: the frame holds 2 symbols, the line expects 4",
            ),
        ];
        for (reason, words) in cases {
            assert_eq!(reason.to_string(), words);
            assert_eq!(serde_json::to_value(&reason).unwrap(), words);
        }
    }
}
