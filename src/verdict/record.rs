//! The result of a frame and of each of its symbols, as one typed record. The contract's JSON
//! is its `Serialize`; the CLI text, CSV and HTML report and the service's proto are each made
//! from it, so a field is named and shaped in one place.

use super::overall_letter;
use super::parameter::{Measurement, Parameter, shown};
use super::reason::Reason;
use crate::datamatrix::symbol::SymbolSize;
use crate::geometry::Point;
use crate::grade::Grading;
use crate::gs1::Gs1Data;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// One symbol of a frame: what was read, how it grades, and why it fails.
#[derive(Clone, Debug)]
pub struct SymbolRecord {
    pub size: &'static SymbolSize,
    pub symbology_identifier: String,
    /// Decoded data: FNC1 separators as GS, no leading FNC1.
    pub text: String,
    /// The data split into GS1 elements; None for non-GS1 data.
    pub gs1: Option<Gs1Data>,
    /// The outline in frame pixels, the finder's corner first.
    pub corners: [Point; 4],
    pub grading: Grading,
    /// Overall grade: the scan grade, or its group's mean with averaging.
    pub overall: f64,
    pub notation: String,
    /// Empty when the symbol passes.
    pub reasons: Vec<Reason>,
}

impl SymbolRecord {
    pub fn pass(&self) -> bool {
        self.reasons.is_empty()
    }

    pub fn letter(&self) -> &'static str {
        overall_letter(self.overall)
    }

    /// Human-readable interpretation of GS1 data, `(01)…(21)…`.
    pub fn hri(&self) -> Option<String> {
        self.gs1.as_ref().map(Gs1Data::hri)
    }

    /// The first value of a GS1 application identifier.
    pub fn element(&self, ai: &str) -> Option<&str> {
        self.gs1.as_ref().and_then(|d| d.get(ai))
    }

    pub fn parameter(&self, p: Parameter) -> Measurement {
        p.of(&self.grading)
    }
}

/// One frame (an image): every symbol read, in the order found, and the frame's verdict.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    /// The first symbol's overall grade; 0 when none was decoded.
    pub overall: f64,
    /// The first symbol's grade notation (the aperture alone when none was decoded).
    pub notation: String,
    /// The first symbol's reasons, then each other symbol's (as [`Reason::OfSymbol`]), then
    /// the frame's own (a wrong count); empty when the frame passes.
    pub reasons: Vec<Reason>,
    pub symbols: Vec<SymbolRecord>,
}

impl FrameRecord {
    pub fn pass(&self) -> bool {
        self.reasons.is_empty()
    }

    pub fn decoded(&self) -> bool {
        !self.symbols.is_empty()
    }

    /// The symbol the frame's one-symbol fields describe.
    pub fn first(&self) -> Option<&SymbolRecord> {
        self.symbols.first()
    }

    pub fn letter(&self) -> &'static str {
        overall_letter(self.overall)
    }

    /// A parameter of the first symbol; a frame with no symbol grades decode F and nothing
    /// else.
    pub fn parameter(&self, p: Parameter) -> Option<Measurement> {
        match self.first() {
            Some(symbol) => Some(symbol.parameter(p)),
            None => (p == Parameter::Decode).then_some(Measurement {
                value: None,
                grade: 0,
            }),
        }
    }
}

/// `pass` or `fail`, as `verdict` is written.
pub fn verdict_word(pass: bool) -> &'static str {
    if pass { "pass" } else { "fail" }
}

/// The contract's `grade` object of a symbol, or of a frame with none.
struct GradeFields<'a> {
    overall: f64,
    notation: &'a str,
    grading: Option<&'a Grading>,
}

#[derive(Serialize)]
struct Graded {
    grade: u8,
}

#[derive(Serialize)]
struct Valued {
    value: Option<f64>,
    grade: u8,
}

#[derive(Serialize)]
struct FixedPattern {
    value: Option<f64>,
    grade: u8,
    segments: Segments,
}

#[derive(Serialize)]
struct Segments {
    l1: u8,
    l2: u8,
    qzl1: u8,
    qzl2: u8,
    octasa: u8,
    average: Option<f64>,
}

#[derive(Serialize)]
struct Growth {
    horizontal: Option<f64>,
    vertical: Option<f64>,
}

#[derive(Serialize)]
struct Reflectances {
    r_max: Option<f64>,
    r_min: Option<f64>,
    global_threshold: Option<f64>,
    x_dimension_px: Option<f64>,
    aperture_px: Option<f64>,
}

impl Serialize for GradeFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("overall", &((self.overall * 10.0).round() / 10.0))?;
        map.serialize_entry("letter", overall_letter(self.overall))?;
        map.serialize_entry("notation", self.notation)?;
        let Some(g) = self.grading else {
            map.serialize_entry(Parameter::Decode.name(), &Graded { grade: 0 })?;
            return map.end();
        };
        map.serialize_entry("scan_grade", &g.scan_grade)?;
        for p in Parameter::ALL {
            let m = p.of(g);
            match p {
                Parameter::Decode => map.serialize_entry(p.name(), &Graded { grade: m.grade })?,
                Parameter::FixedPatternDamage => {
                    let fpd = &g.fixed_pattern_damage;
                    let segments = Segments {
                        l1: fpd.l1,
                        l2: fpd.l2,
                        qzl1: fpd.qzl1,
                        qzl2: fpd.qzl2,
                        octasa: fpd.octasa,
                        average: shown(fpd.average),
                    };
                    map.serialize_entry(
                        p.name(),
                        &FixedPattern {
                            value: m.shown_value(),
                            grade: m.grade,
                            segments,
                        },
                    )?
                }
                _ => map.serialize_entry(
                    p.name(),
                    &Valued {
                        value: m.shown_value(),
                        grade: m.grade,
                    },
                )?,
            }
        }
        map.serialize_entry(
            "print_growth",
            &Growth {
                horizontal: shown(g.print_growth.horizontal),
                vertical: shown(g.print_growth.vertical),
            },
        )?;
        map.serialize_entry(
            "measurement",
            &Reflectances {
                r_max: shown(g.r_max),
                r_min: shown(g.r_min),
                global_threshold: shown(g.global_threshold),
                x_dimension_px: shown(g.x_dimension_px),
                aperture_px: shown(g.aperture_px),
            },
        )?;
        map.end()
    }
}

/// The one-symbol fields (`decoded` … `hri`, `grade`) of a symbol, or of none.
fn symbol_fields<M: SerializeMap>(
    map: &mut M,
    symbol: Option<&SymbolRecord>,
    grade: GradeFields,
) -> Result<(), M::Error> {
    map.serialize_entry("decoded", &symbol.is_some())?;
    map.serialize_entry(
        "symbology_identifier",
        &symbol.map(|s| &s.symbology_identifier),
    )?;
    map.serialize_entry("size", &symbol.map(|s| s.size.name()))?;
    map.serialize_entry("text", &symbol.map(|s| &s.text))?;
    map.serialize_entry("gs1", &symbol.map(|s| s.gs1.is_some()))?;
    map.serialize_entry("hri", &symbol.and_then(SymbolRecord::hri))?;
    map.serialize_entry("grade", &grade)
}

/// The contract's element of `symbols`: the one-symbol fields, its verdict and reasons, and
/// its corners.
impl Serialize for SymbolRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let grade = GradeFields {
            overall: self.overall,
            notation: &self.notation,
            grading: Some(&self.grading),
        };
        symbol_fields(&mut map, Some(self), grade)?;
        map.serialize_entry("verdict", verdict_word(self.pass()))?;
        map.serialize_entry("reasons", &self.reasons)?;
        map.serialize_entry("corners", &self.corners)?;
        map.end()
    }
}

/// The contract's record of an image (without its `path`): the first symbol's fields, the
/// frame's verdict and reasons, and every symbol.
impl Serialize for FrameRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let grade = GradeFields {
            overall: self.overall,
            notation: &self.notation,
            grading: self.first().map(|s| &s.grading),
        };
        symbol_fields(&mut map, self.first(), grade)?;
        map.serialize_entry("verdict", verdict_word(self.pass()))?;
        map.serialize_entry("reasons", &self.reasons)?;
        map.serialize_entry("symbols", &self.symbols)?;
        map.end()
    }
}
