//! The lab report as one self-contained, printable HTML page: the picture and the bars as
//! inline SVG, the picture's pixels as an embedded PNG, print CSS that puts the summary on a
//! page of its own and keeps each image on one page.

use super::{GRADE_COLOURS, GradeBar, ImageRecord, Picture, hundredths, image_reasons};
use base64::Engine as _;
use verigrade::geometry::Point;
use verigrade::profile::Profile;
use verigrade::verdict::{Parameter, SymbolRecord, letter, verdict_word};

/// Longest side a picture is shown at, at least.
const SHOWN_SIDE: usize = 360;

/// The picture's pixels as PNG.
fn png(picture: &Picture) -> Vec<u8> {
    use image::ImageEncoder as _;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            &picture.pixels,
            picture.width as u32,
            picture.height as u32,
            image::ExtendedColorType::L8,
        )
        .expect("a picture's width x height grey pixels encode into memory");
    png
}

/// The picture with each symbol drawn on it, as inline SVG.
fn picture_svg(picture: &Picture, symbols: &[SymbolRecord]) -> String {
    let mut marks = String::new();
    for symbol in symbols {
        let modules = &symbol.grading.modules;
        let (rows, cols) = (symbol.size.rows, symbol.size.cols);
        if modules.len() != rows * cols {
            continue;
        }
        let module_px = symbol.grading.x_dimension_px / picture.scale;
        // The grid: a line through the module centres of every row and every column.
        let line = |points: &mut dyn Iterator<Item = Point>| {
            let points: Vec<String> = points
                .map(|p| {
                    let q = picture.at(p);
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
            let q = picture.at(m.centre);
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
                let q = picture.at(p);
                format!("{:.1},{:.1}", q.x, q.y)
            })
            .collect();
        marks += &format!(
            "<polygon class=\"outline\" points=\"{}\"/>",
            outline.join(" ")
        );
    }
    // Shown at least SHOWN_SIDE wide or high: a small crop is enlarged, not left tiny.
    let zoom = (SHOWN_SIDE as f64 / picture.width.max(picture.height) as f64).max(1.0);
    format!(
        "<svg class=\"picture\" viewBox=\"0 0 {w} {h}\" width=\"{sw:.0}\" height=\"{sh:.0}\" \
         role=\"img\" aria-label=\"the image with its symbols' outline, grid and modules\">\
         <image width=\"{w}\" height=\"{h}\" href=\"data:image/png;base64,{png}\"/>{marks}</svg>",
        w = picture.width,
        h = picture.height,
        sw = picture.width as f64 * zoom,
        sh = picture.height as f64 * zoom,
        png = base64::engine::general_purpose::STANDARD.encode(png(picture)),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1d}', "<span class=gs>GS</span>")
}

/// A parameter's [`GradeBar`] as inline SVG; empty for a parameter graded without a value.
fn grade_bar(parameter: Parameter, value: f64) -> String {
    let Some(bar) = GradeBar::of(parameter, value) else {
        return String::new();
    };
    const WIDTH: f64 = 160.0;
    let bands: String = bar
        .bands
        .iter()
        .zip(GRADE_COLOURS)
        .map(|((from, to), colour)| {
            format!(
                "<rect x=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{colour}\"/>",
                from * WIDTH,
                (to - from) * WIDTH,
            )
        })
        .collect();
    format!(
        "<svg class=\"bar\" viewBox=\"0 0 {WIDTH} 14\" width=\"{WIDTH}\" height=\"14\">{bands}\
         <rect class=\"mark\" x=\"{:.1}\" y=\"0\" width=\"3\" height=\"14\"/></svg>",
        bar.mark * WIDTH - 1.5
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
            .map(|p| picture_svg(p, symbols))
            .unwrap_or_default();
        let tables: String = symbols.iter().map(symbol_table).collect();
        let own = image_reasons(r);
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
