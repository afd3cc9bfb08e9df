//! The HTML report `verigrade grade --report` files: one self-contained page with the
//! profile, the time, the totals and every image's parameters, grades and reasons.

use super::grade::{PARAMETERS, grade_letter};
use serde_json::Value;
use verigrade::profile::Profile;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1d}', "<span class=gs>GS</span>")
}

pub fn html(records: &[Value], profile: &Profile) -> String {
    let passed = records.iter().filter(|r| r["verdict"] == "pass").count();
    let mut rows = String::new();
    for r in records {
        let g = &r["grade"];
        let verdict = r["verdict"].as_str().unwrap_or("fail");
        let mut cells = format!(
            "<td>{}</td><td class={verdict}>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(r["path"].as_str().unwrap_or("")),
            verdict.to_uppercase(),
            escape(g["notation"].as_str().unwrap_or("")),
            escape(r["size"].as_str().unwrap_or("")),
            escape(r["text"].as_str().unwrap_or("")),
        );
        for (name, _) in PARAMETERS {
            let p = &g[name];
            let value = p["value"]
                .as_f64()
                .map(|v| format!("{v:.2} "))
                .unwrap_or_default();
            cells += &format!("<td>{value}{}</td>", grade_letter(&p["grade"]));
        }
        let reasons: Vec<String> = r["reasons"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(escape).collect())
            .unwrap_or_default();
        cells += &format!("<td>{}</td>", reasons.join("<br>"));
        rows += &format!("<tr>{cells}</tr>\n");
    }
    let headers: String = PARAMETERS
        .iter()
        .map(|(_, label)| format!("<th>{label}</th>"))
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
