//! The picture and the grade bars as inline SVG, for the HTML lab report and the dashboard:
//! the picture's pixels travel inside it as an embedded PNG, so a page needs no other file.

use super::{GRADE_COLOURS, GradeBar, Picture, hundredths};
use crate::geometry::Point;
use crate::verdict::{Parameter, SymbolRecord, letter, verdict_word};
use base64::Engine as _;

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
pub fn picture(picture: &Picture, symbols: &[SymbolRecord]) -> String {
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

/// A path segment with everything but unreserved characters percent-encoded: ids in links may
/// hold `/`, `?` or spaces.
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1d}', "<span class=gs>GS</span>")
}

/// A parameter's [`GradeBar`] as inline SVG; empty for a parameter graded without a value.
pub fn grade_bar(parameter: Parameter, value: f64) -> String {
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

/// One parameter's table row: its name, value, grade and — for a parameter this build grades,
/// with a value — its [`GradeBar`].
pub fn parameter_row(
    name: &str,
    parameter: Option<Parameter>,
    value: Option<f64>,
    grade: u8,
) -> String {
    format!(
        "<tr><th title=\"{name}\">{name}</th><td class=num>{value}</td><td class=g{class}>{letter}</td><td>{bar}</td></tr>",
        name = escape(name),
        value = value.map(|v| format!("{v:.2}")).unwrap_or_default(),
        class = grade.min(4),
        letter = letter(grade),
        bar = parameter
            .zip(value)
            .map(|(p, v)| grade_bar(p, v))
            .unwrap_or_default(),
    )
}

/// One symbol's parameters: value, grade and bar, then its reasons.
pub fn symbol_table(symbol: &SymbolRecord) -> String {
    let mut rows = String::new();
    for p in Parameter::ALL {
        let m = symbol.parameter(p);
        rows += &parameter_row(p.iso_name(), Some(p), m.shown_value(), m.grade);
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

/// The style the SVG pieces need: grade colours of table cells, the picture's grid, modules,
/// error rings and outline, the bar's mark.
pub const STYLE: &str = "\
td.g4 { background: #1a9641; color: #fff; } td.g3 { background: #a6d96a; }
td.g2 { background: #ffdf6b; } td.g1 { background: #fdae61; } td.g0 { background: #d7191c; color: #fff; }
.gs { font-size: 0.7em; border: 1px solid #888; padding: 0 0.2em; }
svg.picture { max-width: 100%; height: auto; border: 1px solid #888; }
svg.picture .grid { fill: none; stroke: #2b83ba; stroke-width: 0.5; opacity: 0.6; }
svg.picture circle { stroke: #222; stroke-width: 0.3; }
svg.picture circle.error { stroke: #c000c0; stroke-width: 1.5; }
svg.picture .outline { fill: none; stroke: #2b83ba; stroke-width: 1.5; }
svg.bar .mark { fill: #000; }
.key { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #555; vertical-align: middle; }
.ring { display: inline-block; width: 0.7em; height: 0.7em; border: 2px solid #c000c0; border-radius: 50%; vertical-align: middle; }
";

/// The key to the module colours, A to F.
pub fn legend() -> String {
    (0..5)
        .rev()
        .map(|g| {
            format!(
                "<span class=key style=\"background:{}\"></span>{} ",
                GRADE_COLOURS[g],
                letter(g as u8)
            )
        })
        .collect()
}
