//! The lab report as one self-contained, printable HTML page: the picture and the bars as
//! inline SVG, the picture's pixels as an embedded PNG, print CSS that puts the summary on a
//! page of its own and keeps each image on one page.

use super::{ImageRecord, image_reasons};
use verigrade::profile::Profile;
use verigrade::report::svg::{self, escape, symbol_table};
use verigrade::verdict::verdict_word;

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
            .map(|p| svg::picture(p, symbols))
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
    let legend = svg::legend();
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
{svg_style}section.image {{ margin-top: 2em; border-top: 2px solid #888; }}
section.image h2 {{ font-size: 1.1em; }}
.body {{ display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap; }}
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
        svg_style = svg::STYLE,
    )
}
