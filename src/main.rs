//! The `verigrade` command line.

mod cli;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use verigrade::synth::{self, GenSpec};
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
    Gen(Box<GenArgs>),
    /// Run the gRPC service for camera gateways and line controllers.
    Serve(cli::serve::ServeArgs),
    /// Send images to a running service and print the verdicts (exit 0 when all pass).
    Stream(cli::client::StreamArgs),
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

#[derive(Args)]
struct GenArgs {
    /// Data to encode; `\x1d` stands for GS (an FNC1 separator with --gs1).
    #[arg(long, required_unless_present = "line_frame")]
    text: Option<String>,
    /// Render frame N of the line-speed set instead (a GS1 pack code at 5–9 px/module, any
    /// angle, on a cluttered carton; --canvas sets the frame size, default 1280x1024). The
    /// set's own symbol options replace the others.
    #[arg(long, conflicts_with = "text")]
    line_frame: Option<u64>,
    /// Encode as GS1 (leading FNC1, GS → FNC1).
    #[arg(long)]
    gs1: bool,
    /// Symbol size ROWSxCOLS (default: the smallest square that fits).
    #[arg(long)]
    size: Option<String>,
    /// Pixels per module.
    #[arg(long, default_value_t = 8.0)]
    module_px: f64,
    /// Quiet zone in modules.
    #[arg(long, default_value_t = 2.0)]
    quiet_zone: f64,
    /// Reflectance of dark modules (0..1).
    #[arg(long, default_value_t = 0.05)]
    dark: f64,
    /// Reflectance of light modules and background (0..1).
    #[arg(long, default_value_t = 0.90)]
    light: f64,
    /// Stretch along the symbol's x axis (0.08 = 8 %).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    stretch_x: f64,
    /// Stretch along the symbol's y axis.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    stretch_y: f64,
    /// Rotation in degrees, counter-clockwise.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    rotate: f64,
    /// Print growth of dark modules as a fraction of X (negative: loss).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    growth: f64,
    /// Gaussian blur sigma in pixels.
    #[arg(long, default_value_t = 0.0)]
    blur: f64,
    /// Gaussian noise sigma in grey levels.
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    /// Invert a codeword (symbol order index); repeatable.
    #[arg(long = "invert-codeword")]
    invert_codeword: Vec<usize>,
    /// Invert K codewords of Reed–Solomon block B, as B:K; repeatable.
    #[arg(long = "invert-in-block", value_parser = parse_block_damage)]
    invert_in_block: Vec<(usize, usize)>,
    /// Print the symbol mirrored.
    #[arg(long)]
    mirror: bool,
    /// Light modules on a dark ground.
    #[arg(long)]
    light_on_dark: bool,
    /// Canvas WIDTHxHEIGHT in pixels (default: fit the symbol).
    #[arg(long, value_parser = parse_canvas)]
    canvas: Option<(u32, u32)>,
    /// Offset of the symbol centre from the canvas centre, as DX,DY pixels.
    #[arg(long, value_parser = parse_offset, allow_hyphen_values = true)]
    offset: Option<(f64, f64)>,
    /// Print on a cluttered carton (text, a 1D barcode, artwork) around the quiet zone.
    #[arg(long)]
    carton: bool,
    /// Print N modules of the solid finder L light.
    #[arg(long, default_value_t = 0)]
    damage_finder: usize,
    /// Print N clock-track modules in the wrong colour.
    #[arg(long, default_value_t = 0)]
    damage_clock: usize,
    /// Displace the symbol's top-right quarter along x by this fraction of X.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    displace_quarter: f64,
    /// Seed for noise and damage placement.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output image (PNG, BMP, TIFF or PGM by extension); the ground truth goes beside it as .json.
    #[arg(long, short)]
    out: PathBuf,
}

fn parse_block_damage(s: &str) -> std::result::Result<(usize, usize), String> {
    let (b, k) = s.split_once(':').ok_or("expected BLOCK:COUNT, e.g. 0:3")?;
    Ok((
        b.parse().map_err(|_| format!("bad block index {b:?}"))?,
        k.parse().map_err(|_| format!("bad count {k:?}"))?,
    ))
}

fn parse_offset(s: &str) -> std::result::Result<(f64, f64), String> {
    let (x, y) = s
        .split_once(',')
        .ok_or_else(|| format!("offset must be DX,DY, not {s:?}"))?;
    let number = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("offset must be DX,DY in pixels, not {s:?}"))
    };
    Ok((number(x)?, number(y)?))
}

fn parse_canvas(s: &str) -> std::result::Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or("expected WIDTHxHEIGHT, e.g. 1280x1024")?;
    Ok((
        w.parse().map_err(|_| format!("bad width {w:?}"))?,
        h.parse().map_err(|_| format!("bad height {h:?}"))?,
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Grade(args) => cli::grade::run(&args),
        Command::Read(args) => run_read(&args),
        Command::Gen(args) => run_gen(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => cli::serve::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Stream(args) => cli::client::stream(&args),
        Command::Verdicts(args) => cli::client::verdicts(&args),
        Command::Stats(args) => cli::client::stats(&args),
        Command::Gs1(args) => cli::gs1::run(&args),
        Command::Commission(args) => cli::client::commission(&args),
        Command::Reconcile(args) => cli::client::reconcile(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("verigrade: {e:#}");
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
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

fn run_gen(args: &GenArgs) -> Result<()> {
    let spec = match (args.line_frame, &args.text) {
        (Some(index), _) => synth::line_frame(index, args.canvas.unwrap_or((1280, 1024))),
        (None, Some(text)) => gen_spec(args, text),
        (None, None) => anyhow::bail!("give --text or --line-frame"),
    };
    let rendered = synth::render(&spec)?;
    save_image(&rendered.image, &args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let truth_path = args.out.with_extension("json");
    std::fs::write(
        &truth_path,
        serde_json::to_string_pretty(&rendered.truth)? + "\n",
    )
    .with_context(|| format!("cannot write {}", truth_path.display()))?;
    Ok(())
}

/// Saves by extension; `.pgm` as a binary greymap (P5), which every PGM reader takes (the
/// image crate would otherwise write the PAM variant).
fn save_image(image: &image::GrayImage, path: &std::path::Path) -> Result<()> {
    let is_pgm = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pgm"));
    if !is_pgm {
        return Ok(image.save(path)?);
    }
    use image::codecs::pnm::{PnmEncoder, PnmSubtype, SampleEncoding};
    use image::{ExtendedColorType, ImageEncoder};
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    PnmEncoder::new(file)
        .with_subtype(PnmSubtype::Graymap(SampleEncoding::Binary))
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::L8,
        )?;
    Ok(())
}

/// The symbol the options describe.
fn gen_spec(args: &GenArgs, text: &str) -> GenSpec {
    GenSpec {
        text: unescape(text),
        gs1: args.gs1,
        size: args.size.clone(),
        module_px: args.module_px,
        quiet_zone: args.quiet_zone,
        dark: args.dark,
        light: args.light,
        stretch_x: args.stretch_x,
        stretch_y: args.stretch_y,
        rotation_deg: args.rotate,
        growth: args.growth,
        blur: args.blur,
        noise: args.noise,
        invert_codewords: args.invert_codeword.clone(),
        invert_in_block: args.invert_in_block.clone(),
        mirrored: args.mirror,
        light_on_dark: args.light_on_dark,
        canvas: args.canvas,
        offset: args.offset.unwrap_or((0.0, 0.0)),
        carton: args.carton,
        damage_finder: args.damage_finder,
        damage_clock: args.damage_clock,
        displace_quarter: args.displace_quarter,
        seed: args.seed,
    }
}
