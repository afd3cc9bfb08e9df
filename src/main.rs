//! The `verigrade` command line.

mod cli;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use verigrade::{Frame, ReadOptions, SymbolRead, read};

#[derive(Parser)]
#[command(
    name = "verigrade",
    version,
    about = "Data Matrix (ECC200) reader and ISO/IEC 15415 verifier"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Grade every image per ISO/IEC 15415 against a profile; exit 0 when all pass.
    Grade(cli::grade::GradeArgs),
    /// Find and decode every Data Matrix in images or folders of images.
    Read(ReadArgs),
    /// Render a synthetic symbol with known degradations, and its ground truth beside it.
    Gen(Box<cli::generate::GenArgs>),
    /// Run the gRPC service for camera gateways and line controllers.
    Serve(cli::serve::ServeArgs),
    /// Send images to a running service and print the verdicts (exit 0 when all pass).
    Stream(cli::client::StreamArgs),
    /// Stream frames from files, standard input or a hot folder to the service, as a camera
    /// gateway: reconnects and resends what was not answered, prints every verdict.
    Gateway(cli::gateway::GatewayArgs),
    /// List stored verdicts of a running service, newest first, or watch them live.
    Verdicts(cli::client::VerdictsArgs),
    /// Print a line's counts from a running service (JSON).
    Stats(cli::client::StatsArgs),
    /// Parse and validate GS1 data (HRI or element string); exit 0 when valid.
    Gs1(cli::gs1::Gs1Args),
    /// Load commissioned serials for a line and batch into a running service.
    Commission(cli::client::CommissionArgs),
    /// Reconcile a line's batches on a running service: commissioned, verified, outstanding,
    /// passed, failed, no-read, duplicate, not commissioned.
    Reconcile(cli::client::ReconcileArgs),
    /// List a running service's alarms (with a line: its state first), or watch them live.
    Alarms(cli::alarms::AlarmsArgs),
    /// Acknowledge an alarm; a line whose STOP alarms are all acknowledged runs again.
    Ack(cli::alarms::AckArgs),
    /// Draw a line's control chart for a parameter, in the terminal or as SVG.
    Chart(cli::alarms::ChartArgs),
    /// Freeze a line's control limits from its latest points (the process as it runs now).
    Baseline(cli::alarms::BaselineArgs),
    /// Access tokens: create (printed once), list, revoke.
    Token(cli::access::TokenArgs),
    /// The audit trail: verify it and the records it covers, or list it.
    Audit(cli::access::AuditArgs),
    /// The store itself: move an embedded store into PostgreSQL.
    Store(cli::store::StoreArgs),
    /// A batch's electronic signature: close (qa) or reopen with a reason.
    Batch(cli::access::BatchArgs),
    /// Aggregate the packs of a case (or the cases of a pallet) from the station's frame under
    /// the parent's SSCC; exit 0 when aggregated, 1 when refused (the reasons printed).
    Aggregate(cli::aggregate::AggregateArgs),
    /// Print what a parent (SSCC) holds, down to every pack.
    Aggregation(cli::aggregate::AggregationArgs),
    /// Take children (all, or those named) out of a parent, with a reason (qa).
    Disaggregate(cli::aggregate::DisaggregateArgs),
    /// Write the service's serialization events (commissioning, failed inspections, packing,
    /// unpacking) as an EPCIS 2.0 document on standard output.
    Epcis(cli::epcis::EpcisArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Args)]
struct ReadArgs {
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Stop at the first symbol of each image (the line case) instead of searching for more.
    #[arg(long)]
    first: bool,
    /// Read each image N times more, one image at a time, and report the median read time
    /// (`read_ms`; the image already decoded in memory).
    #[arg(long, value_name = "N")]
    timing: Option<usize>,
    /// Image files (PNG, JPEG, BMP, TIFF, PGM, WebP) or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Grade(args) => cli::grade::run(&args),
        Command::Read(args) => run_read(&args),
        Command::Gen(args) => cli::generate::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => cli::serve::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Stream(args) => cli::client::stream(&args),
        Command::Gateway(args) => cli::gateway::gateway(&args),
        Command::Verdicts(args) => cli::client::verdicts(&args),
        Command::Stats(args) => cli::client::stats(&args),
        Command::Gs1(args) => cli::gs1::run(&args),
        Command::Commission(args) => cli::client::commission(&args),
        Command::Reconcile(args) => cli::client::reconcile(&args),
        Command::Alarms(args) => cli::alarms::alarms(&args),
        Command::Ack(args) => cli::alarms::ack(&args),
        Command::Chart(args) => cli::alarms::chart(&args),
        Command::Baseline(args) => cli::alarms::baseline(&args),
        Command::Token(args) => cli::access::token(&args),
        Command::Audit(args) => cli::access::audit(&args),
        Command::Store(args) => cli::store::run(&args),
        Command::Batch(args) => cli::access::batch(&args),
        Command::Aggregate(args) => cli::aggregate::aggregate(&args),
        Command::Aggregation(args) => cli::aggregate::aggregation(&args),
        Command::Disaggregate(args) => cli::aggregate::disaggregate(&args),
        Command::Epcis(args) => cli::epcis::epcis(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                // The server's own words, then the code a script can act on.
                Some(status) if status.message().is_empty() => {
                    eprintln!("verigrade: {} ({:?})", status.code(), status.code())
                }
                Some(status) => eprintln!("verigrade: {} ({:?})", status.message(), status.code()),
                None => eprintln!("verigrade: {e:#}"),
            }
            ExitCode::from(2)
        }
    }
}

const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "bmp", "tif", "tiff", "pgm", "pnm", "pbm", "ppm", "webp",
];

/// Image files named on the command line, folders walked in name order.
pub(crate) fn collect_images(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("cannot list {}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    Ok(out)
}

/// Largest frame the gateway takes from a stream on standard input (a 100-megapixel camera);
/// a header asking for more is corrupt.
pub(crate) const MAX_STDIN_FRAME_PIXELS: usize = 100_000_000;

/// Whether a file's extension names an image format the reader decodes.
pub(crate) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The symbols read from one image, and the median read time when timed.
type ImageRead = (Vec<SymbolRead>, Option<f64>);

fn run_read(args: &ReadArgs) -> Result<ExitCode> {
    let files = collect_images(&args.paths)?;
    let options = if args.first {
        ReadOptions::first_symbol()
    } else {
        ReadOptions::default()
    };
    let read_one = |path: &PathBuf| {
        let outcome = Frame::open(path).map(|frame| {
            let symbols = read(&frame, &options);
            let median_ms = args.timing.filter(|&n| n > 0).map(|n| {
                let mut ms: Vec<f64> = (0..n)
                    .map(|_| {
                        let started = std::time::Instant::now();
                        std::hint::black_box(read(&frame, &options));
                        started.elapsed().as_secs_f64() * 1000.0
                    })
                    .collect();
                ms.sort_by(f64::total_cmp);
                ms[ms.len() / 2]
            });
            (symbols, median_ms)
        });
        (path.clone(), outcome)
    };
    // Timed reads run one at a time, so that no two share the cores.
    let results: Vec<(PathBuf, verigrade::Result<ImageRead>)> = if args.timing.is_some() {
        files.iter().map(read_one).collect()
    } else {
        files.par_iter().map(read_one).collect()
    };
    let mut stdout = std::io::stdout().lock();
    let mut all_read = true;
    for (path, result) in &results {
        let line = match result {
            Err(e) => {
                all_read = false;
                match args.format {
                    Format::Json => json!({"path": path, "error": e.to_string()}).to_string(),
                    Format::Text => format!("{}: error: {e}", path.display()),
                }
            }
            Ok((symbols, median_ms)) => {
                all_read &= !symbols.is_empty();
                match args.format {
                    Format::Json => {
                        let mut record = json!({
                            "path": path,
                            "decoded": !symbols.is_empty(),
                            "symbols": symbols.iter().map(symbol_json).collect::<Vec<_>>(),
                        });
                        if let Some(ms) = median_ms {
                            record["read_ms"] = json!(ms);
                        }
                        record.to_string()
                    }
                    Format::Text if symbols.is_empty() => {
                        format!("{}: no symbol decoded", path.display())
                    }
                    Format::Text => symbols
                        .iter()
                        .map(|s| {
                            format!(
                                "{}: {} {} {:?} (corrected {:?})",
                                path.display(),
                                s.size.name(),
                                s.decoded.symbology_identifier,
                                s.decoded.text,
                                s.decoded
                                    .blocks
                                    .iter()
                                    .map(|b| b.corrected)
                                    .collect::<Vec<_>>()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                }
            }
        };
        writeln!(stdout, "{line}")?;
    }
    Ok(if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn symbol_json(s: &SymbolRead) -> serde_json::Value {
    json!({
        "text": s.decoded.text,
        "symbology_identifier": s.decoded.symbology_identifier,
        "size": s.size.name(),
        "gs1": s.decoded.gs1,
        "mirrored": s.decoded.mirrored,
        "light_on_dark": s.grid.light_on_dark,
        "corrected_per_block": s.decoded.blocks.iter().map(|b| b.corrected).collect::<Vec<_>>(),
        "structured_append": s.decoded.structured_append,
        "reader_programming": s.decoded.reader_programming,
        "module_px": (s.grid.module_px() * 100.0).round() / 100.0,
        "corners": s.corners,
        "sampling": s.sampling,
    })
}

/// `\x1d` → GS, `\\` → backslash; other text as it is.
pub(crate) fn unescape(text: &str) -> String {
    text.replace("\\x1d", "\u{1d}")
        .replace("\\x1D", "\u{1d}")
        .replace("\\\\", "\\")
}
