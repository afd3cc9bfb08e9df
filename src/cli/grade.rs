//! `verigrade grade`: batch grading for lab staff — JSON Lines, CSV or text on stdout, an
//! optional HTML or PDF report to file, exit 0 when every symbol passes.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::profile::{DEFAULT_PROFILE, Profile};
use verigrade::report::Picture;
use verigrade::verdict::{
    Expected, FrameRecord, Inspection, Parameter, inspect, judge_frame, letter, shown, verdict_word,
};
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
    /// Also write a printable report to file, HTML or (FILE.pdf) PDF: a summary, then each
    /// image with its symbols drawn on it (outline, module grid, every module coloured by its
    /// margin grade) and every parameter against its grade bounds.
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
        ReadOptions {
            expected: args.expect_count,
            ..ReadOptions::default()
        }
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
    // The report's pictures are cut while each image is in memory.
    let (outcomes, pictures): (Vec<Outcome>, Vec<Option<Picture>>) = files
        .par_iter()
        .map(|path| {
            let graded = Frame::open(path)
                .map(|frame| {
                    let inspection = inspect(&frame, &profile, px_per_mm, &read_options);
                    let picture = args
                        .report
                        .as_ref()
                        .and_then(|_| Picture::of(&frame, &inspection));
                    (inspection, picture)
                })
                .map_err(|e| e.to_string());
            progress.inc(1);
            match graded {
                Ok((inspection, picture)) => (Ok(inspection), picture),
                Err(e) => (Err(e), None),
            }
        })
        .unzip();
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
    for (((path, outcome), picture), &overall) in
        files.iter().zip(outcomes).zip(pictures).zip(&overall)
    {
        let path = path.display().to_string();
        let outcome = match outcome {
            Ok(inspection) => Ok(judge_frame(
                inspection, overall, &profile, px_per_mm, &expected,
            )),
            Err(e) => {
                unreadable += 1;
                eprintln!("verigrade: {path}: {e}");
                Err(e)
            }
        };
        records.push(ImageRecord {
            path,
            outcome,
            picture,
        });
    }

    let mut out = std::io::stdout().lock();
    match args.format {
        GradeFormat::Json => {
            for r in &records {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
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
        let pdf = report
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
        let bytes = if pdf {
            super::report::pdf(&records, &profile)
        } else {
            super::report::html(&records, &profile).into_bytes()
        };
        std::fs::write(report, bytes)
            .with_context(|| format!("cannot write {}", report.display()))?;
    }
    let all_pass = records.iter().all(ImageRecord::pass);
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One image's line of output: its path, and its record or why it could not be read.
pub struct ImageRecord {
    pub path: String,
    pub outcome: std::result::Result<FrameRecord, String>,
    /// What the HTML report shows of the image, when one is written.
    pub picture: Option<Picture>,
}

impl ImageRecord {
    pub fn pass(&self) -> bool {
        self.outcome.as_ref().is_ok_and(FrameRecord::pass)
    }

    pub fn record(&self) -> Option<&FrameRecord> {
        self.outcome.as_ref().ok()
    }

    /// The frame's reasons in words; an unreadable file's is its error.
    pub fn reasons(&self) -> Vec<String> {
        match &self.outcome {
            Ok(record) => record.reasons.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.clone()],
        }
    }
}

/// The contract's JSON line: `path`, then the frame's record, or for an unreadable file
/// `decoded` false, the `error`, and the error as the reason it fails.
impl Serialize for ImageRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Graded<'a> {
            path: &'a str,
            #[serde(flatten)]
            record: &'a FrameRecord,
        }
        match &self.outcome {
            Ok(record) => Graded {
                path: &self.path,
                record,
            }
            .serialize(serializer),
            Err(error) => {
                let mut map = serializer.serialize_map(Some(5))?;
                map.serialize_entry("path", &self.path)?;
                map.serialize_entry("decoded", &false)?;
                map.serialize_entry("error", error)?;
                map.serialize_entry("verdict", verdict_word(false))?;
                map.serialize_entry("reasons", &[error])?;
                map.end()
            }
        }
    }
}

/// A parameter's value and letter as the text line and the report show them: `0.61 A`, or
/// the letter alone for a parameter graded without a value, `-` for one not graded.
pub fn parameter_shown(record: Option<&FrameRecord>, p: Parameter) -> (Option<f64>, &'static str) {
    match record.and_then(|r| r.parameter(p)) {
        Some(m) => (m.shown_value(), letter(m.grade)),
        None => (None, "-"),
    }
}

/// A number as the JSON writes it.
fn json_number(v: f64) -> String {
    serde_json::Value::from(v).to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\u{1d}']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\u{1d}', "\\x1d"))
    } else {
        s.to_string()
    }
}

/// A CSV column: its header and its cell of a line (empty when the line has no such field).
type Column = (String, Box<dyn Fn(&ImageRecord) -> Option<String>>);

/// The CSV columns, in order: the frame's fields, each parameter's value and grade, print
/// growth, verdict and reasons.
fn csv_columns() -> Vec<Column> {
    fn column(name: &str, cell: impl Fn(&ImageRecord) -> Option<String> + 'static) -> Column {
        (name.to_string(), Box::new(cell))
    }
    let mut columns = vec![
        column("path", |r| Some(r.path.clone())),
        column("decoded", |r| {
            Some(r.record().is_some_and(FrameRecord::decoded).to_string())
        }),
        column("size", |r| Some(r.record()?.first()?.size.name())),
        column("symbology_identifier", |r| {
            Some(r.record()?.first()?.symbology_identifier.clone())
        }),
        column("text", |r| Some(r.record()?.first()?.text.clone())),
        column("overall", |r| {
            Some(json_number((r.record()?.overall * 10.0).round() / 10.0))
        }),
        column("letter", |r| Some(r.record()?.letter().to_string())),
        column("notation", |r| Some(r.record()?.notation.clone())),
    ];
    for p in Parameter::ALL {
        columns.push(column(&format!("{}_value", p.name()), move |r| {
            r.record()?.parameter(p)?.shown_value().map(json_number)
        }));
        columns.push(column(&format!("{}_grade", p.name()), move |r| {
            Some(r.record()?.parameter(p)?.grade.to_string())
        }));
    }
    let growth = |r: &ImageRecord| Some(r.record()?.first()?.grading.print_growth);
    columns.extend([
        column("print_growth_horizontal", move |r| {
            shown(growth(r)?.horizontal).map(json_number)
        }),
        column("print_growth_vertical", move |r| {
            shown(growth(r)?.vertical).map(json_number)
        }),
        column("verdict", |r| Some(verdict_word(r.pass()).to_string())),
        column("reasons", |r| Some(r.reasons().join("; "))),
    ]);
    columns
}

fn write_csv(out: &mut impl Write, records: &[ImageRecord]) -> Result<()> {
    let columns = csv_columns();
    let header: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    writeln!(out, "{}", header.join(","))?;
    for r in records {
        let row: Vec<String> = columns
            .iter()
            .map(|(_, cell)| csv_field(&cell(r).unwrap_or_default()))
            .collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

fn text_line(r: &ImageRecord) -> String {
    let path = &r.path;
    let record = match &r.outcome {
        Ok(record) => record,
        Err(e) => return format!("{path}: error: {e}"),
    };
    let verdict = verdict_word(record.pass()).to_uppercase();
    let mut line = format!(
        "{path}: {verdict} {} ({})",
        record.notation,
        record.letter()
    );
    if let Some(first) = record.first() {
        line += &format!(
            " {} {} {:?}\n ",
            first.size.name(),
            first.symbology_identifier,
            first.text,
        );
        for p in Parameter::ALL {
            line += &match parameter_shown(Some(record), p) {
                (Some(v), grade) => format!(" {} {v:.2} {grade}", p.label()),
                (None, grade) => format!(" {} {grade}", p.label()),
            };
        }
        let growth = first.grading.print_growth;
        line += &format!(
            "  growth {:+.2}/{:+.2}",
            shown(growth.horizontal).unwrap_or(0.0),
            shown(growth.vertical).unwrap_or(0.0)
        );
    }
    if record.symbols.len() > 1 {
        for (k, s) in record.symbols.iter().enumerate() {
            line += &format!(
                "\n  symbol {}: {} {} ({}) {} {:?}",
                k + 1,
                verdict_word(s.pass()).to_uppercase(),
                s.notation,
                s.letter(),
                s.size.name(),
                s.text,
            );
        }
    }
    for reason in &record.reasons {
        line += &format!("\n  - {reason}");
    }
    line
}
