//! The lab report `verigrade grade --report` files: one self-contained, printable HTML page.
//! A summary first (profile, totals, every image's verdict), then per image its picture — the
//! symbol cropped from the image, its outline, module grid and every module coloured by its
//! reflectance margin, the modules of codewords read in error ringed — and per symbol every
//! parameter with its value, grade and a bar against the grade bounds, and the reasons.

use super::grade::ImageRecord;
use base64::Engine as _;
use verigrade::Frame;
use verigrade::geometry::{Point, Rect};
use verigrade::profile::Profile;
use verigrade::verdict::{Inspection, Parameter, Reason, SymbolRecord, letter, verdict_word};

/// Longest side of a picture, in its own pixels: enough to see every module of a 26x26
/// symbol at 10 px/module, small enough that a folder of images makes a page a browser opens.
const PICTURE_SIDE: usize = 480;

/// Longest side a picture is shown at, at least.
const SHOWN_SIDE: usize = 360;

/// The part of an image a report shows: around its symbols, shrunk to [`PICTURE_SIDE`].
pub struct Picture {
    /// PNG, grey.
    png: Vec<u8>,
    width: usize,
    height: usize,
    /// The picture's top-left corner in image pixels.
    origin: Point,
    /// Image pixels per picture pixel.
    scale: f64,
}

impl Picture {
    /// The symbols of `inspection` with a quarter of their extent around them (the quiet
    /// zone and what lies beside it), or the whole image when none was read.
    pub fn of(frame: &Frame, inspection: &Inspection) -> Option<Picture> {
        let corners: Vec<Point> = inspection
            .symbols
            .iter()
            .flat_map(|s| s.symbol.corners)
            .collect();
        let rect = match Rect::around(&corners, frame.width(), frame.height()) {
            Some(r) => r.grown(r.width.max(r.height) / 4, frame.width(), frame.height()),
            None => frame.rect(),
        };
        let view = frame.view(rect);
        let factor = rect.width.max(rect.height).div_ceil(PICTURE_SIDE);
        let shrunk;
        let shown = if factor >= 2 {
            shrunk = view.reduced(factor.min(16))?;
            &shrunk
        } else {
            &view
        };
        let (width, height) = (shown.width(), shown.height());
        let pixels: Vec<u8> = (0..height).flat_map(|y| shown.row(y).to_vec()).collect();
        let mut png = Vec::new();
        image::GrayImage::from_raw(width as u32, height as u32, pixels)?
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .ok()?;
        Some(Picture {
            png,
            width,
            height,
            origin: Point::new(rect.x as f64, rect.y as f64),
            scale: rect.width as f64 / width as f64,
        })
    }

    /// An image point in the picture's pixels.
    fn at(&self, p: Point) -> Point {
        (p - self.origin) * (1.0 / self.scale)
    }

    /// The picture with each symbol drawn on it, as inline SVG.
    fn svg(&self, symbols: &[SymbolRecord]) -> String {
        let mut marks = String::new();
        for symbol in symbols {
            let modules = &symbol.grading.modules;
            let (rows, cols) = (symbol.size.rows, symbol.size.cols);
            if modules.len() != rows * cols {
                continue;
            }
            let module_px = symbol.grading.x_dimension_px / self.scale;
            // The grid: a line through the module centres of every row and every column.
            let line = |points: &mut dyn Iterator<Item = Point>| {
                let points: Vec<String> = points
                    .map(|p| {
                        let q = self.at(p);
                        format!("{:.1},{:.1}", q.x, q.y)
                    })
                    .collect();
                format!("<polyline points=\"{}\"/>", points.join(" "))
            };
            marks += "<g class=\"grid\">";
            for r in 0..rows {
                marks += &line(&mut (0..cols).map(|c| modules[r * cols + c].centre));
            }
            for c in 0..cols {
                marks += &line(&mut (0..rows).map(|r| modules[r * cols + c].centre));
            }
            marks += "</g>";
            let radius = (module_px * 0.28).max(0.8);
            for m in modules {
                let q = self.at(m.centre);
                let ring = if m.codeword_in_error {
                    " class=\"error\""
                } else {
                    ""
                };
                marks += &format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius:.1}\" fill=\"{}\"{ring}/>",
                    q.x,
                    q.y,
                    GRADE_COLOURS[m.margin_grade.min(4) as usize],
                );
            }
            let outline: Vec<String> = symbol
                .corners
                .iter()
                .map(|&p| {
                    let q = self.at(p);
                    format!("{:.1},{:.1}", q.x, q.y)
                })
                .collect();
            marks += &format!(
                "<polygon class=\"outline\" points=\"{}\"/>",
                outline.join(" ")
            );
        }
        // Shown at least SHOWN_SIDE wide or high: a small crop is enlarged, not left tiny.
        let zoom = (SHOWN_SIDE as f64 / self.width.max(self.height) as f64).max(1.0);
        format!(
            "<svg class=\"picture\" viewBox=\"0 0 {w} {h}\" width=\"{sw:.0}\" height=\"{sh:.0}\" \
             role=\"img\" aria-label=\"the image with its symbols' outline, grid and modules\">\
             <image width=\"{w}\" height=\"{h}\" href=\"data:image/png;base64,{png}\"/>{marks}</svg>",
            w = self.width,
            h = self.height,
            sw = self.width as f64 * zoom,
            sh = self.height as f64 * zoom,
            png = base64::engine::general_purpose::STANDARD.encode(&self.png),
        )
    }
}

/// A value to two decimals as it is printed, never -0.
fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

/// Fill of a module or a grade band, F to A.
const GRADE_COLOURS: [&str; 5] = ["#d7191c", "#fdae61", "#ffdf6b", "#a6d96a", "#1a9641"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1d}', "<span class=gs>GS</span>")
}

/// A bar across the grade bands of `parameter` (F on the left, A on the right) with a mark at
/// `value`: how far a value is from the next grade up or down.
fn grade_bar(parameter: Parameter, value: f64) -> String {
    let Some(bounds) = parameter.grade_bounds() else {
        return String::new();
    };
    const WIDTH: f64 = 160.0;
    // The scale runs from the worst value shown to the best: 0 to 1 for the fractions, the
    // nonuniformities (where less is better) from twice their D bound down to 0.
    let higher_is_better = bounds[0] > bounds[3];
    let (worst, best) = if higher_is_better {
        (0.0, 1.0)
    } else {
        (2.0 * bounds[3], 0.0)
    };
    let x = |v: f64| ((v - worst) / (best - worst)).clamp(0.0, 1.0) * WIDTH;
    let mut edges = vec![x(worst)];
    edges.extend(bounds.iter().rev().map(|&b| x(b)));
    edges.push(x(best));
    let bands: String = edges
        .windows(2)
        .enumerate()
        .map(|(grade, w)| {
            format!(
                "<rect x=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{}\"/>",
                w[0],
                w[1] - w[0],
                GRADE_COLOURS[grade]
            )
        })
        .collect();
    format!(
        "<svg class=\"bar\" viewBox=\"0 0 {WIDTH} 14\" width=\"{WIDTH}\" height=\"14\">{bands}\
         <rect class=\"mark\" x=\"{:.1}\" y=\"0\" width=\"3\" height=\"14\"/></svg>",
        x(value) - 1.5
    )
}

/// One symbol's parameters: value, grade and bar, then its reasons.
fn symbol_table(symbol: &SymbolRecord) -> String {
    let mut rows = String::new();
    for p in Parameter::ALL {
        let m = symbol.parameter(p);
        let value = m.shown_value();
        rows += &format!(
            "<tr><th title=\"{iso}\">{iso}</th><td class=num>{value}</td><td class=g{grade}>{letter}</td><td>{bar}</td></tr>",
            iso = p.iso_name(),
            value = value.map(|v| format!("{v:.2}")).unwrap_or_default(),
            grade = m.grade.min(4),
            letter = letter(m.grade),
            bar = value.map(|v| grade_bar(p, v)).unwrap_or_default(),
        );
    }
    let growth = &symbol.grading.print_growth;
    rows += &format!(
        "<tr><th>Print Growth (informative)</th><td class=num>{:+.2} / {:+.2}</td><td></td><td>horizontal / vertical</td></tr>",
        hundredths(growth.horizontal),
        hundredths(growth.vertical)
    );
    let reasons: String = symbol
        .reasons
        .iter()
        .map(|r| format!("<li>{}</li>", escape(&r.to_string())))
        .collect();
    let data = symbol.hri().unwrap_or_else(|| symbol.text.clone());
    format!(
        "<div class=symbol><p><b class={verdict}>{VERDICT}</b> {notation} ({letter}) · {size} · \
         {id} <code>{data}</code></p><table class=parameters>{rows}</table>{reasons}</div>",
        verdict = verdict_word(symbol.pass()),
        VERDICT = verdict_word(symbol.pass()).to_uppercase(),
        notation = escape(&symbol.notation),
        letter = symbol.letter(),
        size = symbol.size.name(),
        id = escape(&symbol.symbology_identifier),
        data = escape(&data),
        reasons = if reasons.is_empty() {
            String::new()
        } else {
            format!("<ul class=reasons>{reasons}</ul>")
        },
    )
}

pub fn html(records: &[ImageRecord], profile: &Profile) -> String {
    let passed = records.iter().filter(|r| r.pass()).count();
    let mut summary = String::new();
    let mut images = String::new();
    for (i, r) in records.iter().enumerate() {
        let record = r.record();
        let verdict = verdict_word(r.pass());
        let first = record.and_then(|f| f.first());
        summary += &format!(
            "<tr><td><a href=\"#image-{i}\">{path}</a></td><td class={verdict}>{VERDICT}</td>\
             <td>{notation}</td><td class=num>{symbols}</td><td>{data}</td></tr>\n",
            path = escape(&r.path),
            VERDICT = verdict.to_uppercase(),
            notation = escape(record.map_or("", |f| &f.notation)),
            symbols = record.map_or(0, |f| f.symbols.len()),
            data = escape(
                &first
                    .map(|s| s.hri().unwrap_or_else(|| s.text.clone()))
                    .unwrap_or_default()
            ),
        );
        let symbols = record.map_or(&[][..], |f| &f.symbols[..]);
        let picture = r
            .picture
            .as_ref()
            .map(|p| p.svg(symbols))
            .unwrap_or_default();
        let tables: String = symbols.iter().map(symbol_table).collect();
        // The symbols' reasons stand beside their parameters; here only what fails the image
        // as a whole (a wrong count, a repeated serial, a file that is no image).
        let own: Vec<String> = match &r.outcome {
            Ok(record) => {
                let of_first = record.first().map_or(&[][..], |s| &s.reasons[..]);
                record
                    .reasons
                    .iter()
                    .filter(|reason| {
                        !of_first.contains(reason) && !matches!(reason, Reason::OfSymbol { .. })
                    })
                    .map(ToString::to_string)
                    .collect()
            }
            Err(e) => vec![e.clone()],
        };
        let reasons: String = own
            .iter()
            .map(|s| format!("<li>{}</li>", escape(s)))
            .collect();
        images += &format!(
            "<section class=image id=\"image-{i}\"><h2>{path} <span class={verdict}>{VERDICT}</span></h2>\
             <div class=body>{picture}<div>{tables}{reasons}</div></div></section>\n",
            path = escape(&r.path),
            VERDICT = verdict.to_uppercase(),
            reasons = if reasons.is_empty() {
                String::new()
            } else {
                format!("<p>The image fails:</p><ul class=reasons>{reasons}</ul>")
            },
        );
    }
    let legend: String = (0..5)
        .rev()
        .map(|g| {
            format!(
                "<span class=key style=\"background:{}\"></span>{} ",
                GRADE_COLOURS[g],
                letter(g as u8)
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>verigrade report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: middle; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.pass {{ background: #d8f5d8; }} .fail {{ background: #f8d0d0; }}
h2 .pass, h2 .fail, b.pass, b.fail {{ padding: 0 0.3em; }}
td.g4 {{ background: #1a9641; color: #fff; }} td.g3 {{ background: #a6d96a; }}
td.g2 {{ background: #ffdf6b; }} td.g1 {{ background: #fdae61; }} td.g0 {{ background: #d7191c; color: #fff; }}
.gs {{ font-size: 0.7em; border: 1px solid #888; padding: 0 0.2em; }}
section.image {{ margin-top: 2em; border-top: 2px solid #888; }}
section.image h2 {{ font-size: 1.1em; }}
.body {{ display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap; }}
svg.picture {{ max-width: 100%; height: auto; border: 1px solid #888; }}
svg.picture .grid {{ fill: none; stroke: #2b83ba; stroke-width: 0.5; opacity: 0.6; }}
svg.picture circle {{ stroke: #222; stroke-width: 0.3; }}
svg.picture circle.error {{ stroke: #c000c0; stroke-width: 1.5; }}
svg.picture .outline {{ fill: none; stroke: #2b83ba; stroke-width: 1.5; }}
svg.bar .mark {{ fill: #000; }}
.key {{ display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #555; vertical-align: middle; }}
.ring {{ display: inline-block; width: 0.7em; height: 0.7em; border: 2px solid #c000c0; border-radius: 50%; vertical-align: middle; }}
@media print {{
  body {{ margin: 0; font-size: 10pt; }}
  .summary {{ break-after: page; }}
  section.image {{ break-inside: avoid; }}
  a {{ color: inherit; text-decoration: none; }}
}}
</style></head><body>
<div class=summary>
<h1>Data Matrix print quality report</h1>
<p>Profile <b>{profile}</b> — {description}<br>
Graded per ISO/IEC 15415 by verigrade {version} on {time} (UTC).<br>
{total} images: {passed} passed, {failed} failed.</p>
<p>Modules are coloured by their reflectance margin grade: {legend}; <span class=ring></span> a module of a
codeword read in error. Bars run from F (left) to A (right), the mark at the measured value.</p>
<table><tr><th>image</th><th>verdict</th><th>grade</th><th>symbols</th><th>data</th></tr>
{summary}</table>
</div>
{images}</body></html>
"#,
        profile = escape(&profile.name),
        description = escape(&profile.description),
        version = env!("CARGO_PKG_VERSION"),
        time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        total = records.len(),
        failed = records.len() - passed,
    )
}
