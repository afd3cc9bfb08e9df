//! `verigrade grade`: batch grading for lab staff — JSON Lines, CSV or text on stdout, an
//! optional HTML report to file, exit 0 when every symbol passes.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::profile::{DEFAULT_PROFILE, Profile};
use verigrade::verdict::{Expected, Inspection, inspect, record_json};
use verigrade::{Frame, ReadOptions};

#[derive(Clone, Copy, ValueEnum)]
pub enum GradeFormat {
    Json,
    Csv,
    Text,
}

#[derive(Args)]
pub struct GradeArgs {
    /// Application profile: a name from models/ (iso15415, gs1-healthcare, eu-fmd, dscsa) or
    /// a .toml path.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    profile: String,
    #[arg(long, value_enum, default_value = "json")]
    format: GradeFormat,
    /// Also write a report to file (HTML).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Images per symbol: the overall grade is the mean of the scan grades of each group of
    /// N consecutive files (ISO/IEC 15415 asks for several images of one symbol).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    average: u32,
    /// Image resolution in dots per inch, when known: lets the profile set the aperture in
    /// mils and check the X dimension.
    #[arg(long)]
    dpi: Option<f64>,
    /// The GTIN the line was told to print; a pack with another (01) fails.
    #[arg(long, value_name = "GTIN")]
    expect_gtin: Option<String>,
    /// The batch the line was told to print (10).
    #[arg(long, value_name = "BATCH")]
    expect_batch: Option<String>,
    /// The expiry the line was told to print (17), YYMMDD.
    #[arg(long, value_name = "YYMMDD")]
    expect_expiry: Option<String>,
    /// File of commissioned serials, one per line: a pack whose (21) is not listed fails.
    #[arg(long, value_name = "FILE")]
    commissioned: Option<PathBuf>,
    /// Symbols each image must hold (a case of packs): an image with more or fewer fails,
    /// naming how many it held.
    #[arg(long, value_name = "N")]
    expect_count: Option<usize>,
    /// Stop at the first symbol of each image (the line case, faster) instead of grading
    /// every symbol in it.
    #[arg(long, conflicts_with = "expect_count")]
    first: bool,
    /// Image files (PNG, JPEG, BMP, TIFF, PGM) or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// What the line was told to print, from the `--expect-*` and `--commissioned` options.
fn expected(args: &GradeArgs) -> Result<Expected> {
    let field = |f: &Option<String>| f.clone().unwrap_or_default();
    let mut expected = Expected::new(
        &field(&args.expect_gtin),
        &field(&args.expect_batch),
        &field(&args.expect_expiry),
    )?;
    if let Some(path) = &args.commissioned {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        expected.commissioned = Some(read_serials(&text));
    }
    expected.count = args.expect_count;
    Ok(expected)
}

/// Serials one per line; blank lines and `#` comments are skipped.
pub fn read_serials<C: FromIterator<String>>(text: &str) -> C {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// One file's outcome: its inspection, or why it could not be read as an image.
type Outcome = std::result::Result<Inspection, String>;

pub fn run(args: &GradeArgs) -> Result<ExitCode> {
    let profile = Profile::load(&args.profile)?;
    let expected = expected(args)?;
    let px_per_mm = match args.dpi {
        Some(dpi) if dpi.is_finite() && dpi > 0.0 => Some(dpi / 25.4),
        Some(dpi) => anyhow::bail!("--dpi must be a positive number, not {dpi}"),
        None => None,
    };
    let files = crate::collect_images(&args.paths)?;
    let read_options = if args.first {
        ReadOptions::first_symbol()
    } else {
        ReadOptions::default()
    };
    let progress = ProgressBar::with_draw_target(
        Some(files.len() as u64),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, eta {eta}")
            .expect("progress template is valid"),
    );
    let outcomes: Vec<Outcome> = files
        .par_iter()
        .map(|path| {
            let outcome = Frame::open(path)
                .map(|frame| inspect(&frame, &profile, px_per_mm, &read_options))
                .map_err(|e| e.to_string());
            progress.inc(1);
            outcome
        })
        .collect();
    progress.finish_and_clear();

    // Overall grade of each image: the mean scan grade of its group.
    let group = args.average as usize;
    let overall: Vec<f64> = outcomes
        .chunks(group)
        .flat_map(|chunk| {
            let mean = chunk
                .iter()
                .map(|o| o.as_ref().map_or(0.0, |i| i.scan_grade() as f64))
                .sum::<f64>()
                / chunk.len() as f64;
            std::iter::repeat_n(mean, chunk.len())
        })
        .collect();

    let mut records = Vec::with_capacity(files.len());
    let mut unreadable = 0;
    for ((path, outcome), &overall) in files.iter().zip(&outcomes).zip(&overall) {
        let shown = path.display().to_string();
        records.push(match outcome {
            Ok(inspection) => {
                record_json(&shown, inspection, overall, &profile, px_per_mm, &expected)
            }
            Err(e) => {
                unreadable += 1;
                eprintln!("verigrade: {shown}: {e}");
                serde_json::json!({"path": shown, "decoded": false, "error": e,
                                   "verdict": "fail", "reasons": [e]})
            }
        });
    }

    let mut out = std::io::stdout().lock();
    match args.format {
        GradeFormat::Json => {
            for r in &records {
                writeln!(out, "{r}")?;
            }
        }
        GradeFormat::Csv => write_csv(&mut out, &records)?,
        GradeFormat::Text => {
            for r in &records {
                writeln!(out, "{}", text_line(r))?;
            }
        }
    }
    out.flush()?;
    if let Some(report) = &args.report {
        std::fs::write(report, super::report::html(&records, &profile))
            .with_context(|| format!("cannot write {}", report.display()))?;
    }
    let all_pass = records.iter().all(|r| r["verdict"] == "pass");
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Parameters in report order: contract name and short label.
pub const PARAMETERS: [(&str, &str); 8] = [
    ("decode", "DEC"),
    ("symbol_contrast", "SC"),
    ("modulation", "MOD"),
    ("reflectance_margin", "RM"),
    ("fixed_pattern_damage", "FPD"),
    ("axial_nonuniformity", "AN"),
    ("grid_nonuniformity", "GN"),
    ("unused_error_correction", "UEC"),
];

/// Letter of an integer grade in a record.
pub fn grade_letter(v: &Value) -> &'static str {
    v.as_u64()
        .map_or("-", |g| verigrade::verdict::letter(g.min(4) as u8))
}

fn csv_field(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\u{1d}']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\u{1d}', "\\x1d"))
    } else {
        s
    }
}

fn write_csv(out: &mut impl Write, records: &[Value]) -> Result<()> {
    let mut header = vec![
        "path",
        "decoded",
        "size",
        "symbology_identifier",
        "text",
        "overall",
        "letter",
        "notation",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for (name, _) in PARAMETERS {
        header.push(format!("{name}_value"));
        header.push(format!("{name}_grade"));
    }
    header.extend(
        [
            "print_growth_horizontal",
            "print_growth_vertical",
            "verdict",
            "reasons",
        ]
        .map(String::from),
    );
    writeln!(out, "{}", header.join(","))?;
    for r in records {
        let g = &r["grade"];
        let mut row: Vec<String> = [
            &r["path"],
            &r["decoded"],
            &r["size"],
            &r["symbology_identifier"],
            &r["text"],
            &g["overall"],
            &g["letter"],
            &g["notation"],
        ]
        .into_iter()
        .map(csv_field)
        .collect();
        for (name, _) in PARAMETERS {
            row.push(csv_field(&g[name]["value"]));
            row.push(csv_field(&g[name]["grade"]));
        }
        row.push(csv_field(&g["print_growth"]["horizontal"]));
        row.push(csv_field(&g["print_growth"]["vertical"]));
        row.push(csv_field(&r["verdict"]));
        let reasons: Vec<&str> = r["reasons"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        row.push(csv_field(&Value::String(reasons.join("; "))));
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

fn text_line(r: &Value) -> String {
    let path = r["path"].as_str().unwrap_or("");
    if let Some(e) = r["error"].as_str() {
        return format!("{path}: error: {e}");
    }
    let verdict = r["verdict"].as_str().unwrap_or("fail").to_uppercase();
    let g = &r["grade"];
    let mut line = format!(
        "{path}: {verdict} {} ({})",
        g["notation"].as_str().unwrap_or(""),
        g["letter"].as_str().unwrap_or("F"),
    );
    if r["decoded"] == true {
        line += &format!(
            " {} {} {:?}\n ",
            r["size"].as_str().unwrap_or(""),
            r["symbology_identifier"].as_str().unwrap_or(""),
            r["text"].as_str().unwrap_or(""),
        );
        for (name, label) in PARAMETERS {
            let p = &g[name];
            line += &match p["value"].as_f64() {
                Some(v) => format!(" {label} {v:.2} {}", grade_letter(&p["grade"])),
                None => format!(" {label} {}", grade_letter(&p["grade"])),
            };
        }
        line += &format!(
            "  growth {:+.2}/{:+.2}",
            g["print_growth"]["horizontal"].as_f64().unwrap_or(0.0),
            g["print_growth"]["vertical"].as_f64().unwrap_or(0.0)
        );
    }
    let symbols = r["symbols"].as_array().map_or(&[][..], Vec::as_slice);
    if symbols.len() > 1 {
        for (k, s) in symbols.iter().enumerate() {
            line += &format!(
                "\n  symbol {}: {} {} ({}) {} {:?}",
                k + 1,
                s["verdict"].as_str().unwrap_or("fail").to_uppercase(),
                s["grade"]["notation"].as_str().unwrap_or(""),
                s["grade"]["letter"].as_str().unwrap_or("F"),
                s["size"].as_str().unwrap_or(""),
                s["text"].as_str().unwrap_or(""),
            );
        }
    }
    if let Some(reasons) = r["reasons"].as_array().filter(|a| !a.is_empty()) {
        for reason in reasons.iter().filter_map(Value::as_str) {
            line += &format!("\n  - {reason}");
        }
    }
    line
}
