//! The verdict on one image: each symbol's grade against the profile, with the reasons it
//! fails, gathered into the typed [`FrameRecord`] every output is made from.

mod parameter;
mod reason;
mod record;

pub use parameter::{Measurement, Parameter, shown};
pub use reason::{ExpectedField, Reason, Sighting};
pub use record::{FrameRecord, SymbolRecord, verdict_word};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::grade::{Grading, grade};
use crate::gs1;
use crate::gs1::Gs1Data;
use crate::profile::Profile;
use crate::reader::{ReadOptions, SymbolRead, read};
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

    /// The JSON record as it was built by hand before the typed record, kept here to show the
    /// record's `Serialize` writes the same bytes.
    mod by_hand {
        use super::*;

        fn round3(v: f64) -> Value {
            if v.is_finite() {
                json!((v * 1000.0).round() / 1000.0 + 0.0)
            } else {
                Value::Null
            }
        }

        fn parameters(g: &Grading) -> Vec<(&'static str, Option<f64>, u8)> {
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

        fn grade_json(g: &Grading, overall: f64, notation: &str) -> Value {
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
                "hri": symbol.and_then(|s| gs1_data(s).map(|d| d.hri())),
                "grade": grade,
            });
            match fields {
                Value::Object(map) => map,
                _ => unreachable!("a JSON object literal"),
            }
        }

        /// `judged` gives only the verdicts and reasons, which were strings then.
        pub fn record_json(
            inspection: &Inspection,
            overall: f64,
            profile: &Profile,
            px_per_mm: Option<f64>,
            judged: &FrameRecord,
        ) -> Value {
            let words = |reasons: &[Reason]| -> Vec<String> {
                reasons.iter().map(ToString::to_string).collect()
            };
            let mut record = symbol_fields(inspection.first(), overall, profile, px_per_mm);
            record.insert("verdict".into(), json!(verdict_word(judged.pass())));
            record.insert("reasons".into(), json!(words(&judged.reasons)));
            let symbols: Vec<Value> = inspection
                .symbols
                .iter()
                .zip(&judged.symbols)
                .map(|(graded, judged)| {
                    let mut fields =
                        symbol_fields(Some(graded), judged.overall, profile, px_per_mm);
                    fields.insert("verdict".into(), json!(verdict_word(judged.pass())));
                    fields.insert("reasons".into(), json!(words(&judged.reasons)));
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
    }

    fn frame_of(spec: GenSpec) -> Frame<'static> {
        render(&spec).expect("renders").into_frame().1
    }

    /// The typed record's JSON is byte for byte the JSON built by hand, for a clean GS1
    /// symbol, a low-contrast one, a frame of several symbols, and a frame with none; with
    /// and without a resolution and an expected count.
    #[test]
    fn the_record_serializes_as_the_hand_built_json() {
        let pack = "0109506000134352172812311012AB34\u{1d}21SN00001234";
        let clean = frame_of(GenSpec {
            text: pack.into(),
            gs1: true,
            module_px: 6.0,
            ..GenSpec::default()
        });
        let low = frame_of(GenSpec {
            text: "LAB-TEST-1".into(),
            size: Some("16x16".into()),
            light: 0.45,
            dark: 0.15,
            ..GenSpec::default()
        });
        let none = frame_of(GenSpec {
            text: "BLANK".into(),
            light: 0.8,
            dark: 0.8,
            ..GenSpec::default()
        });
        let crowd = render_crowd(&CrowdSpec {
            count: 3,
            canvas: (640, 480),
            size: Some("22x22".into()),
            module_px: 5.0,
            seed: 3,
            ..CrowdSpec::default()
        })
        .expect("renders")
        .into_frame()
        .1;
        let iso = Profile::load("iso15415").unwrap();
        let healthcare = Profile::load("gs1-healthcare").unwrap();
        let mut expected = Expected::new("09506000134352", "", "").unwrap();
        expected.count = Some(2);
        let cases = [
            (&clean, &iso, None, Expected::default(), 1, "pass"),
            (
                &clean,
                &healthcare,
                Some(600.0 / 25.4),
                Expected::default(),
                1,
                "fail", // X 0.254 mm, below the healthcare range
            ),
            (&low, &iso, None, Expected::default(), 1, "fail"),
            (&crowd, &iso, None, Expected::default(), 3, "pass"),
            (&crowd, &iso, None, expected.clone(), 3, "fail"),
            (&none, &iso, None, expected, 0, "fail"),
            (
                &none,
                &healthcare,
                Some(600.0 / 25.4),
                Expected::default(),
                0,
                "fail",
            ),
        ];
        for (frame, profile, px_per_mm, expected, symbols, verdict) in cases {
            let inspection = inspect(frame, profile, px_per_mm, &ReadOptions::default());
            assert_eq!(inspection.symbols.len(), symbols);
            let overall = f64::from(inspection.scan_grade());
            let record = judge_frame(inspection.clone(), overall, profile, px_per_mm, &expected);
            let by_hand = by_hand::record_json(&inspection, overall, profile, px_per_mm, &record);
            assert_eq!(by_hand["verdict"], verdict, "{by_hand}");
            assert_eq!(serde_json::to_string(&record).unwrap(), by_hand.to_string());
        }
    }
}
