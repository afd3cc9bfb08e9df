//! The verdict on one image: the grade against the profile, with the reasons a symbol fails,
//! and the record users and their scripts read (the contract's JSON names).

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::grade::{Grading, grade};
use crate::gs1;
use crate::gs1::Gs1Data;
use crate::profile::Profile;
use crate::reader::{ReadOptions, SymbolRead, read};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Letter of an integer grade 4..0.
pub fn letter(grade: u8) -> &'static str {
    ["F", "D", "C", "B", "A"][grade.min(4) as usize]
}

/// Letter of a decimal (overall) grade: A ≥ 3.5, B ≥ 2.5, C ≥ 1.5, D ≥ 0.5, else F.
pub fn overall_letter(grade: f64) -> &'static str {
    match grade {
        g if g >= 3.5 => "A",
        g if g >= 2.5 => "B",
        g if g >= 1.5 => "C",
        g if g >= 0.5 => "D",
        _ => "F",
    }
}

/// Grade notation: overall / aperture / wavelength, e.g. `2.8/08/660`. The aperture is the
/// profile's reference number in mils, or the diameter in mils when the resolution is known,
/// or else the fraction of X it was set to (`0.8X`).
pub fn notation(
    overall: f64,
    profile: &Profile,
    grading: Option<&Grading>,
    px_per_mm: Option<f64>,
) -> String {
    let aperture = match (profile.aperture.mils, px_per_mm, grading) {
        (Some(mils), _, _) => format!("{mils:02}"),
        (None, Some(ppmm), Some(g)) => format!("{:02.0}", g.aperture_px / ppmm / 0.0254),
        _ => format!("{}X", profile.aperture.x_fraction),
    };
    format!("{overall:.1}/{aperture}/{}", profile.wavelength_nm)
}

/// Pass or fail, and every reason for a failure.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verdict {
    pub pass: bool,
    pub reasons: Vec<String>,
}

/// What the line was told to print. Each field that is set must match the pack.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// GTIN as 14 digits.
    pub gtin: Option<String>,
    pub batch: Option<String>,
    /// YYMMDD, as (17) carries it.
    pub expiry: Option<String>,
    /// Serials commissioned for this run; a pack whose (21) is not among them fails.
    pub commissioned: Option<HashSet<String>>,
    /// Symbols the frame must hold exactly (a case of packs); at least one when absent.
    pub count: Option<usize>,
}

impl Expected {
    /// Checks each given field as the GS1 data it stands for; empty strings are not set.
    /// A GTIN-8, -12 or -13 is widened to 14 digits.
    pub fn new(gtin: &str, batch: &str, expiry: &str) -> Result<Expected> {
        let checked = |field: &'static str, ai: &str, value: &str| -> Result<Option<String>> {
            if value.is_empty() {
                return Ok(None);
            }
            match gs1::check_ai_value(ai, value).first() {
                Some(problem) => Err(Error::InvalidExpected {
                    field,
                    reason: problem.to_string(),
                }),
                None => Ok(Some(value.to_string())),
            }
        };
        let gtin = match gtin.len() {
            8 | 12 | 13 if gtin.bytes().all(|b| b.is_ascii_digit()) => format!("{gtin:0>14}"),
            _ => gtin.to_string(),
        };
        Ok(Expected {
            gtin: checked("gtin", "01", &gtin)?,
            batch: checked("batch", "10", batch)?,
            expiry: checked("expiry", "17", expiry)?,
            commissioned: None,
            count: None,
        })
    }

    /// Where the pack's data differs from what the line was told to print.
    pub fn check(&self, data: Option<&Gs1Data>) -> Vec<String> {
        let mut reasons = Vec::new();
        let fields = [
            ("GTIN", "01", &self.gtin),
            ("batch", "10", &self.batch),
            ("expiry", "17", &self.expiry),
        ];
        for (name, ai, expected) in fields {
            let Some(expected) = expected else { continue };
            match data.and_then(|d| d.get(ai)) {
                None => reasons.push(format!(
                    "{name} ({ai}) is missing, the line expects {expected}"
                )),
                Some(found) if found != expected => reasons.push(format!(
                    "{name} ({ai}) is {found}, the line expects {expected}"
                )),
                Some(_) => {}
            }
        }
        if let (Some(commissioned), Some(serial)) =
            (&self.commissioned, data.and_then(|d| d.get("21")))
            && !commissioned.contains(serial)
        {
            reasons.push(not_commissioned(serial));
        }
        reasons
    }
}

/// The reason a pack fails when its serial was never commissioned.
pub fn not_commissioned(serial: &str) -> String {
    format!("serial (21) {serial} was never commissioned")
}

/// Judges one image: `overall` is its grade (or its group's mean with averaging).
pub fn judge(
    symbol: Option<&SymbolRead>,
    grading: Option<&Grading>,
    overall: f64,
    profile: &Profile,
    px_per_mm: Option<f64>,
    expected: &Expected,
) -> Verdict {
    let mut reasons = Vec::new();
    let (Some(symbol), Some(grading)) = (symbol, grading) else {
        return Verdict {
            pass: false,
            reasons: vec!["no Data Matrix decoded".into()],
        };
    };
    let gs1_data = gs1_data(symbol);
    if overall < profile.min_grade {
        reasons.push(format!(
            "grade {overall:.1} below profile minimum {:.1}",
            profile.min_grade
        ));
    }
    for (name, grade) in parameter_grades(grading) {
        if (grade as f64) < profile.min_grade {
            reasons.push(format!("{name} {}", letter(grade)));
        }
    }
    if profile.require_gs1 && !symbol.decoded.gs1 {
        reasons.push("data is not GS1 (no FNC1 in the first position)".into());
    }
    if let Some(data) = &gs1_data {
        reasons.extend(data.problems.iter().map(|p| format!("GS1: {p}")));
        reasons.extend(profile.data.check(data, &profile.name));
    }
    reasons.extend(expected.check(gs1_data.as_ref()));
    if let (Some([lo, hi]), Some(ppmm)) = (profile.x_dimension_mm, px_per_mm) {
        let x_mm = grading.x_dimension_px / ppmm;
        if x_mm < lo || x_mm > hi {
            reasons.push(format!(
                "X dimension {x_mm:.3} mm outside {lo:.3}–{hi:.3} mm"
            ));
        }
    }
    if grading.quiet_zone_violations > 0 {
        reasons.push(format!(
            "quiet zone: {} dark modules within {} X of the symbol",
            grading.quiet_zone_violations, profile.quiet_zone_modules
        ));
    }
    Verdict {
        pass: reasons.is_empty(),
        reasons,
    }
}

/// The graded parameters by their contract names.
pub fn parameter_grades(g: &Grading) -> [(&'static str, u8); 8] {
    [
        ("decode", g.decode),
        ("symbol_contrast", g.symbol_contrast.grade),
        ("modulation", g.modulation.grade),
        ("reflectance_margin", g.reflectance_margin.grade),
        ("fixed_pattern_damage", g.fixed_pattern_damage.grade),
        ("axial_nonuniformity", g.axial_nonuniformity.grade),
        ("grid_nonuniformity", g.grid_nonuniformity.grade),
        ("unused_error_correction", g.unused_error_correction.grade),
    ]
}

/// Every parameter as (contract name, value if it has one, grade).
pub fn parameters(g: &Grading) -> Vec<(&'static str, Option<f64>, u8)> {
    vec![
        ("decode", None, g.decode),
        (
            "symbol_contrast",
            Some(g.symbol_contrast.value),
            g.symbol_contrast.grade,
        ),
        ("modulation", Some(g.modulation.value), g.modulation.grade),
        (
            "reflectance_margin",
            Some(g.reflectance_margin.value),
            g.reflectance_margin.grade,
        ),
        ("fixed_pattern_damage", None, g.fixed_pattern_damage.grade),
        (
            "axial_nonuniformity",
            Some(g.axial_nonuniformity.value),
            g.axial_nonuniformity.grade,
        ),
        (
            "grid_nonuniformity",
            Some(g.grid_nonuniformity.value),
            g.grid_nonuniformity.grade,
        ),
        (
            "unused_error_correction",
            Some(g.unused_error_correction.value),
            g.unused_error_correction.grade,
        ),
    ]
}

fn round3(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0 + 0.0)
    } else {
        Value::Null
    }
}

/// The contract's `grade` object.
pub fn grade_json(g: &Grading, overall: f64, notation: &str) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("overall".into(), json!((overall * 10.0).round() / 10.0));
    out.insert("letter".into(), json!(overall_letter(overall)));
    out.insert("notation".into(), json!(notation));
    out.insert("scan_grade".into(), json!(g.scan_grade));
    for (name, value, grade) in parameters(g) {
        let entry = match (name, value) {
            ("decode", _) => json!({"grade": grade}),
            (_, Some(v)) => json!({"value": round3(v), "grade": grade}),
            (_, None) => json!({"value": null, "grade": grade}),
        };
        out.insert(name.into(), entry);
    }
    let fpd = &g.fixed_pattern_damage;
    out.insert(
        "fixed_pattern_damage".into(),
        json!({"value": null, "grade": fpd.grade,
               "segments": {"l1": fpd.l1, "l2": fpd.l2, "qzl1": fpd.qzl1, "qzl2": fpd.qzl2,
                            "octasa": fpd.octasa, "average": round3(fpd.average)}}),
    );
    out.insert(
        "print_growth".into(),
        json!({"horizontal": round3(g.print_growth.horizontal), "vertical": round3(g.print_growth.vertical)}),
    );
    out.insert(
        "measurement".into(),
        json!({"r_max": round3(g.r_max), "r_min": round3(g.r_min),
               "global_threshold": round3(g.global_threshold),
               "x_dimension_px": round3(g.x_dimension_px), "aperture_px": round3(g.aperture_px)}),
    );
    Value::Object(out)
}

/// A symbol read from a frame and graded.
#[derive(Clone, Debug)]
pub struct GradedSymbol {
    pub symbol: SymbolRead,
    pub grading: Grading,
}

/// One image inspected: every symbol read (in the order the reader found them) and graded.
#[derive(Clone, Debug, Default)]
pub struct Inspection {
    pub symbols: Vec<GradedSymbol>,
}

impl Inspection {
    /// The symbol the frame's one-symbol fields describe.
    pub fn first(&self) -> Option<&GradedSymbol> {
        self.symbols.first()
    }

    /// The first symbol's scan grade: 0 when nothing was decoded.
    pub fn scan_grade(&self) -> u8 {
        self.first().map_or(0, |s| s.grading.scan_grade)
    }
}

/// Reads the symbols of a frame (`options` say where to look and whether to stop at the
/// first) and grades each.
pub fn inspect(
    frame: &Frame,
    profile: &Profile,
    px_per_mm: Option<f64>,
    options: &ReadOptions,
) -> Inspection {
    let symbols = read(frame, options)
        .into_iter()
        .map(|symbol| {
            let grading = grade(frame, &symbol, profile, px_per_mm);
            GradedSymbol { symbol, grading }
        })
        .collect();
    Inspection { symbols }
}

/// The verdict on a frame and on each of its symbols.
#[derive(Clone, Debug)]
pub struct FrameVerdict {
    /// Passes only when every symbol passes and the frame holds the expected count.
    pub frame: Verdict,
    /// Per symbol of [`Inspection::symbols`], with its overall grade.
    pub symbols: Vec<(Verdict, f64)>,
}

/// Judges every symbol of a frame and the frame as a whole. `first_overall` is the first
/// symbol's overall grade (its group's mean with averaging); the others' is their scan grade.
/// The frame's reasons are the first symbol's, then each other failing symbol's prefixed by
/// its position, a serial that two symbols of the frame share, and a wrong count.
pub fn judge_frame(
    inspection: &Inspection,
    first_overall: f64,
    profile: &Profile,
    px_per_mm: Option<f64>,
    expected: &Expected,
) -> FrameVerdict {
    let serials: Vec<Option<(String, String)>> = inspection
        .symbols
        .iter()
        .map(|s| gtin_and_serial(&s.symbol))
        .collect();
    let symbols: Vec<(Verdict, f64)> = inspection
        .symbols
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let overall = if k == 0 {
                first_overall
            } else {
                f64::from(s.grading.scan_grade)
            };
            let mut verdict = judge(
                Some(&s.symbol),
                Some(&s.grading),
                overall,
                profile,
                px_per_mm,
                expected,
            );
            if let Some((gtin, serial)) = &serials[k]
                && let Some(other) = (0..serials.len())
                    .find(|&j| j != k && serials[j].as_ref() == serials[k].as_ref())
            {
                verdict.reasons.push(format!(
                    "duplicate serial (21) {serial} for GTIN {gtin} (symbol {} of this frame)",
                    other + 1
                ));
                verdict.pass = false;
            }
            (verdict, overall)
        })
        .collect();
    let mut reasons = match symbols.first() {
        Some((first, _)) => first.reasons.clone(),
        None => judge(None, None, 0.0, profile, px_per_mm, expected).reasons,
    };
    for (k, (verdict, _)) in symbols.iter().enumerate().skip(1) {
        reasons.extend(
            verdict
                .reasons
                .iter()
                .map(|r| format!("symbol {}: {r}", k + 1)),
        );
    }
    if let Some(count) = expected.count
        && count != symbols.len()
    {
        reasons.push(format!(
            "the frame holds {} symbols, the line expects {count}",
            symbols.len()
        ));
    }
    FrameVerdict {
        frame: Verdict {
            pass: reasons.is_empty(),
            reasons,
        },
        symbols,
    }
}

/// (01) and (21) of a GS1 symbol that carries both.
fn gtin_and_serial(symbol: &SymbolRead) -> Option<(String, String)> {
    let data = gs1_data(symbol)?;
    Some((data.get("01")?.to_string(), data.get("21")?.to_string()))
}

/// A GS1 symbol's data split into its elements (None for non-GS1 data).
pub fn gs1_data(symbol: &SymbolRead) -> Option<Gs1Data> {
    symbol
        .decoded
        .gs1
        .then(|| gs1::parse_element_string(&symbol.decoded.text))
}

/// HRI of a GS1 symbol's data (None for non-GS1 data).
pub fn hri(symbol: &SymbolRead) -> Option<String> {
    gs1_data(symbol).map(|d| d.hri())
}

/// The contract's one-symbol fields (`decoded` … `hri`, `grade`) of a graded symbol, or of
/// none.
fn symbol_fields(
    graded: Option<&GradedSymbol>,
    overall: f64,
    profile: &Profile,
    px_per_mm: Option<f64>,
) -> serde_json::Map<String, Value> {
    let symbol = graded.map(|g| &g.symbol);
    let grading = graded.map(|g| &g.grading);
    let notation = notation(overall, profile, grading, px_per_mm);
    let grade = match grading {
        Some(g) => grade_json(g, overall, &notation),
        None => {
            json!({"overall": 0.0, "letter": "F", "notation": notation, "decode": {"grade": 0}})
        }
    };
    let fields = json!({
        "decoded": symbol.is_some(),
        "symbology_identifier": symbol.map(|s| s.decoded.symbology_identifier.clone()),
        "size": symbol.map(|s| s.size.name()),
        "text": symbol.map(|s| s.decoded.text.clone()),
        "gs1": symbol.map(|s| s.decoded.gs1),
        "hri": symbol.and_then(hri),
        "grade": grade,
    });
    match fields {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

fn verdict_word(pass: bool) -> &'static str {
    if pass { "pass" } else { "fail" }
}

/// The contract's JSON record of one inspected image: the first symbol's fields, the frame's
/// verdict and reasons, and every symbol in `symbols` (each with its own verdict and its
/// corners in frame pixels, the finder's corner first).
pub fn record_json(
    path: &str,
    inspection: &Inspection,
    overall: f64,
    profile: &Profile,
    px_per_mm: Option<f64>,
    expected: &Expected,
) -> Value {
    let judged = judge_frame(inspection, overall, profile, px_per_mm, expected);
    let mut record = serde_json::Map::new();
    record.insert("path".into(), json!(path));
    record.extend(symbol_fields(
        inspection.first(),
        overall,
        profile,
        px_per_mm,
    ));
    record.insert("verdict".into(), json!(verdict_word(judged.frame.pass)));
    record.insert("reasons".into(), json!(judged.frame.reasons));
    let symbols: Vec<Value> = inspection
        .symbols
        .iter()
        .zip(&judged.symbols)
        .map(|(graded, (verdict, overall))| {
            let mut fields = symbol_fields(Some(graded), *overall, profile, px_per_mm);
            fields.insert("verdict".into(), json!(verdict_word(verdict.pass)));
            fields.insert("reasons".into(), json!(verdict.reasons));
            fields.insert(
                "corners".into(),
                json!(graded.symbol.corners_finder_first()),
            );
            Value::Object(fields)
        })
        .collect();
    record.insert("symbols".into(), json!(symbols));
    Value::Object(record)
}
