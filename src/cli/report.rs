//! The HTML report `verigrade grade --report` files: one self-contained page with the
//! profile, the time, the totals and every image's parameters, grades and reasons.

use super::grade::{ImageRecord, parameter_shown};
use verigrade::profile::Profile;
use verigrade::verdict::{Parameter, verdict_word};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1d}', "<span class=gs>GS</span>")
}

pub fn html(records: &[ImageRecord], profile: &Profile) -> String {
    let passed = records.iter().filter(|r| r.pass()).count();
    let mut rows = String::new();
    for r in records {
        let record = r.record();
        let first = record.and_then(|f| f.first());
        let verdict = verdict_word(r.pass());
        let mut cells = format!(
            "<td>{}</td><td class={verdict}>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&r.path),
            verdict.to_uppercase(),
            escape(record.map_or("", |f| &f.notation)),
            escape(&first.map(|s| s.size.name()).unwrap_or_default()),
            escape(first.map_or("", |s| &s.text)),
        );
        for p in Parameter::ALL {
            let (value, grade) = parameter_shown(record, p);
            let value = value.map(|v| format!("{v:.2} ")).unwrap_or_default();
            cells += &format!("<td>{value}{grade}</td>");
        }
        let reasons: Vec<String> = r.reasons().iter().map(|s| escape(s)).collect();
        cells += &format!("<td>{}</td>", reasons.join("<br>"));
        rows += &format!("<tr>{cells}</tr>\n");
    }
    let headers: String = Parameter::ALL
        .iter()
        .map(|p| format!("<th title=\"{}\">{}</th>", p.iso_name(), p.label()))
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>verigrade report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }}
td.pass {{ background: #d8f5d8; }} td.fail {{ background: #f8d0d0; }}
.gs {{ font-size: 0.7em; border: 1px solid #888; padding: 0 0.2em; }}
</style></head><body>
<h1>Data Matrix print quality report</h1>
<p>Profile <b>{profile}</b> — {description}<br>
Graded per ISO/IEC 15415 by verigrade {version} on {time} (UTC).<br>
{total} images: {passed} passed, {failed} failed.</p>
<table><tr><th>image</th><th>verdict</th><th>grade</th><th>size</th><th>data</th>{headers}<th>reasons</th></tr>
{rows}</table></body></html>
"#,
        profile = escape(&profile.name),
        description = escape(&profile.description),
        version = env!("CARGO_PKG_VERSION"),
        time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        total = records.len(),
        failed = records.len() - passed,
    )
}
