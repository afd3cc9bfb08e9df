//! The verdict on one image: each symbol's grade against the profile, with the reasons it
//! fails, gathered into the typed [`FrameRecord`] every output is made from.

mod parameter;
mod reason;
mod record;

pub use parameter::{Measurement, Parameter, shown};
pub use reason::{ExpectedField, Reason, Sighting};
pub use record::{FrameRecord, SymbolRecord, verdict_word};

use crate::datamatrix::SymbolRead;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::grade::{Grading, grade};
use crate::gs1;
use crate::gs1::Gs1Data;
use crate::profile::Profile;
use crate::reader::{ReadOptions, read};
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
    pub fn check(&self, data: Option<&Gs1Data>) -> Vec<Reason> {
        let mut reasons = Vec::new();
        for field in ExpectedField::ALL {
            let expected = match field {
                ExpectedField::Gtin => &self.gtin,
                ExpectedField::Batch => &self.batch,
                ExpectedField::Expiry => &self.expiry,
            };
            let Some(expected) = expected else { continue };
            match data.and_then(|d| d.get(field.ai())) {
                None => reasons.push(Reason::ExpectedMissing {
                    field,
                    expected: expected.clone(),
                }),
                Some(found) if found != expected => reasons.push(Reason::ExpectedMismatch {
                    field,
                    found: found.into(),
                    expected: expected.clone(),
                }),
                Some(_) => {}
            }
        }
        if let (Some(commissioned), Some(serial)) =
            (&self.commissioned, data.and_then(|d| d.get("21")))
            && !commissioned.contains(serial)
        {
            reasons.push(Reason::NotCommissioned {
                serial: serial.into(),
            });
        }
        reasons
    }
}

/// Why one decoded symbol fails: `overall` is its grade (or its group's mean with averaging).
fn judge(
    symbol: &SymbolRead,
    gs1: Option<&Gs1Data>,
    grading: &Grading,
    overall: f64,
    profile: &Profile,
    px_per_mm: Option<f64>,
    expected: &Expected,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if overall < profile.min_grade {
        reasons.push(Reason::GradeBelowMinimum {
            overall,
            minimum: profile.min_grade,
        });
    }
    for parameter in Parameter::ALL {
        let grade = parameter.of(grading).grade;
        if f64::from(grade) < profile.min_grade {
            reasons.push(Reason::ParameterBelowMinimum { parameter, grade });
        }
    }
    if profile.require_gs1 && !symbol.decoded.gs1 {
        reasons.push(Reason::NotGs1);
    }
    if let Some(data) = gs1 {
        reasons.extend(data.problems.iter().cloned().map(Reason::Gs1));
        reasons.extend(
            profile
                .data
                .check(data, &profile.name)
                .into_iter()
                .map(Reason::ProfileData),
        );
    }
    reasons.extend(expected.check(gs1));
    if let (Some([lo, hi]), Some(ppmm)) = (profile.x_dimension_mm, px_per_mm) {
        let x_mm = grading.x_dimension_px / ppmm;
        if x_mm < lo || x_mm > hi {
            reasons.push(Reason::XDimensionOutside {
                x_mm,
                min_mm: lo,
                max_mm: hi,
            });
        }
    }
    if grading.quiet_zone_violations > 0 {
        reasons.push(Reason::QuietZone {
            dark_modules: grading.quiet_zone_violations,
            quiet_zone_modules: profile.quiet_zone_modules,
        });
    }
    reasons
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

/// Judges every symbol of a frame and the frame as a whole, into the frame's record.
/// `first_overall` is the first symbol's overall grade (its group's mean with averaging); the
/// others' is their scan grade. The frame's reasons are the first symbol's, then each other
/// failing symbol's, a serial that two symbols of the frame share, and a wrong count.
pub fn judge_frame(
    inspection: Inspection,
    first_overall: f64,
    profile: &Profile,
    px_per_mm: Option<f64>,
    expected: &Expected,
) -> FrameRecord {
    let frame_notation = notation(
        first_overall,
        profile,
        inspection.first().map(|s| &s.grading),
        px_per_mm,
    );
    let mut symbols: Vec<SymbolRecord> = inspection
        .symbols
        .into_iter()
        .enumerate()
        .map(|(k, GradedSymbol { symbol, grading })| {
            let overall = if k == 0 {
                first_overall
            } else {
                f64::from(grading.scan_grade)
            };
            let gs1 = gs1_data(&symbol);
            let reasons = judge(
                &symbol,
                gs1.as_ref(),
                &grading,
                overall,
                profile,
                px_per_mm,
                expected,
            );
            SymbolRecord {
                size: symbol.size,
                corners: symbol.corners_finder_first(),
                symbology_identifier: symbol.decoded.symbology_identifier,
                text: symbol.decoded.text,
                gs1,
                notation: notation(overall, profile, Some(&grading), px_per_mm),
                grading,
                overall,
                reasons,
            }
        })
        .collect();
    let serials: Vec<Option<(String, String)>> = symbols
        .iter()
        .map(|s| Some((s.element("01")?.to_string(), s.element("21")?.to_string())))
        .collect();
    for (k, symbol) in symbols.iter_mut().enumerate() {
        if let Some((gtin, serial)) = &serials[k]
            && let Some(other) =
                (0..serials.len()).find(|&j| j != k && serials[j].as_ref() == serials[k].as_ref())
        {
            symbol.reasons.push(Reason::DuplicateSerial {
                gtin: gtin.clone(),
                serial: serial.clone(),
                first: Sighting::ThisFrame { symbol: other + 1 },
            });
        }
    }
    let mut reasons = match symbols.first() {
        Some(first) => first.reasons.clone(),
        None => vec![Reason::NoSymbolDecoded],
    };
    for (k, symbol) in symbols.iter().enumerate().skip(1) {
        reasons.extend(symbol.reasons.iter().map(|r| Reason::OfSymbol {
            symbol: k + 1,
            reason: Box::new(r.clone()),
        }));
    }
    if let Some(count) = expected.count
        && count != symbols.len()
    {
        reasons.push(Reason::CountMismatch {
            found: symbols.len(),
            expected: count,
        });
    }
    FrameRecord {
        overall: if symbols.is_empty() {
            0.0
        } else {
            first_overall
        },
        notation: frame_notation,
        reasons,
        symbols,
    }
}

/// A GS1 symbol's data split into its elements (None for non-GS1 data).
fn gs1_data(symbol: &SymbolRead) -> Option<Gs1Data> {
    symbol
        .decoded
        .gs1
        .then(|| gs1::parse_element_string(&symbol.decoded.text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{CrowdSpec, GenSpec, render, render_crowd};
    use serde_json::{Value, json};

    fn frame_of(spec: GenSpec) -> Frame<'static> {
        render(&spec).expect("renders").into_frame().1
    }

    fn record_of(frame: &Frame, expected: &Expected) -> Value {
        let profile = Profile::load("iso15415").unwrap();
        let inspection = inspect(frame, &profile, None, &ReadOptions::default());
        let overall = f64::from(inspection.scan_grade());
        serde_json::to_value(judge_frame(inspection, overall, &profile, None, expected)).unwrap()
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    /// The contract's JSON record: its keys in the contract's order, the known payload, and
    /// the verdict.
    #[test]
    fn a_clean_symbol_is_recorded_under_the_contracts_names() {
        let frame = frame_of(GenSpec {
            text: "0109506000134352172812311012AB34\u{1d}21SN00001234".into(),
            gs1: true,
            module_px: 6.0,
            ..GenSpec::default()
        });
        let record = record_of(&frame, &Expected::default());
        let one_symbol = [
            "decoded",
            "symbology_identifier",
            "size",
            "text",
            "gs1",
            "hri",
            "grade",
        ];
        assert_eq!(
            keys(&record),
            [&one_symbol[..], &["verdict", "reasons", "symbols"]].concat()
        );
        assert_eq!(
            record["hri"],
            "(01)09506000134352(17)281231(10)12AB34(21)SN00001234"
        );
        assert_eq!(record["verdict"], "pass");
        assert_eq!(record["reasons"], json!([]));
        let grade = &record["grade"];
        let parameters = Parameter::ALL.map(Parameter::name);
        assert_eq!(
            keys(grade),
            [
                &["overall", "letter", "notation", "scan_grade"][..],
                &parameters,
                &["print_growth", "measurement"]
            ]
            .concat()
        );
        assert_eq!(grade["decode"], json!({"grade": 4}));
        assert_eq!(grade["fixed_pattern_damage"]["value"], Value::Null);
        assert_eq!(keys(&grade["symbol_contrast"]), ["value", "grade"]);
        let symbol = &record["symbols"][0];
        assert_eq!(
            keys(symbol),
            [&one_symbol[..], &["verdict", "reasons", "corners"]].concat()
        );
        assert_eq!(symbol["grade"], record["grade"]);
        assert_eq!(symbol["corners"].as_array().unwrap().len(), 4);
    }

    /// Symbol Contrast 0.30 (reflectances 0.45/0.15) grades D: it fails the iso15415
    /// minimum (C) by its overall grade and by that parameter, named as the contract names it.
    #[test]
    fn a_low_contrast_symbol_fails_by_name() {
        let frame = frame_of(GenSpec {
            text: "LAB-TEST-1".into(),
            size: Some("16x16".into()),
            light: 0.45,
            dark: 0.15,
            ..GenSpec::default()
        });
        let record = record_of(&frame, &Expected::default());
        let contrast = record["grade"]["symbol_contrast"]["value"]
            .as_f64()
            .unwrap();
        assert!((contrast - 0.30).abs() < 0.03, "{contrast}");
        assert_eq!(record["verdict"], "fail");
        assert_eq!(
            record["reasons"],
            json!(["grade 1.0 below profile minimum 1.5", "symbol_contrast D"])
        );
    }

    /// A frame with no symbol, byte for byte.
    #[test]
    fn an_empty_frame_is_a_no_read() {
        let frame = frame_of(GenSpec {
            text: "BLANK".into(),
            light: 0.8,
            dark: 0.8,
            ..GenSpec::default()
        });
        let expected = Expected {
            count: Some(2),
            ..Expected::default()
        };
        assert_eq!(
            serde_json::to_string(&record_of(&frame, &expected)).unwrap(),
            concat!(
                r#"{"decoded":false,"symbology_identifier":null,"size":null,"text":null,"#,
                r#""gs1":null,"hri":null,"grade":{"overall":0.0,"letter":"F","#,
                r#""notation":"0.0/0.8X/660","decode":{"grade":0}},"verdict":"fail","#,
                r#""reasons":["no Data Matrix decoded","the frame holds 0 symbols, the line expects 2"],"#,
                r#""symbols":[]}"#
            )
        );
    }

    /// Every symbol of a frame in `symbols`, each with its own verdict; the frame fails on
    /// its count and on another symbol's reason, named by that symbol's position.
    #[test]
    fn a_crowded_frame_records_every_symbol() {
        let spec = CrowdSpec {
            count: 3,
            canvas: (640, 480),
            size: Some("22x22".into()),
            module_px: 5.0,
            seed: 3,
            ..CrowdSpec::default()
        };
        let (truth, frame) = render_crowd(&spec).expect("renders").into_frame();
        let mut expected = Expected::new("", "B00003", "").unwrap();
        expected.count = Some(2);
        expected.commissioned = Some(
            truth.symbols[..2]
                .iter()
                .map(|s| s.text.rsplit_once("\u{1d}21").unwrap().1.to_string())
                .collect(),
        );
        let record = record_of(&frame, &expected);
        let symbols = record["symbols"].as_array().unwrap();
        let mut texts: Vec<&str> = symbols
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        let mut truths: Vec<&str> = truth.symbols.iter().map(|s| s.text.as_str()).collect();
        texts.sort_unstable();
        truths.sort_unstable();
        assert_eq!(texts, truths);
        let third = &truth.symbols[2].text;
        let (k, failing) = symbols
            .iter()
            .enumerate()
            .find(|(_, s)| s["text"] == *third)
            .unwrap();
        let serial = third.rsplit_once("\u{1d}21").unwrap().1;
        let reason = format!("serial (21) {serial} was never commissioned");
        assert_eq!(failing["reasons"], json!([reason]));
        assert_eq!(failing["verdict"], "fail");
        let mut frame_reasons = if k == 0 {
            vec![reason]
        } else {
            vec![format!("symbol {}: {reason}", k + 1)]
        };
        frame_reasons.push("the frame holds 3 symbols, the line expects 2".into());
        assert_eq!(record["reasons"], json!(frame_reasons));
        assert_eq!(record["verdict"], "fail");
        assert_eq!(symbols.iter().filter(|s| s["verdict"] == "pass").count(), 2);
    }
}
