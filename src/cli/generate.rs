//! `verigrade gen`: synthetic symbols, a tightly cropped one or a crowded frame, with their
//! ground truth beside the image.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use verigrade::synth::{self, CrowdSpec, GenSpec};

#[derive(Args)]
pub struct GenArgs {
    /// Data to encode; `\x1d` stands for GS (an FNC1 separator with --gs1).
    #[arg(long, required_unless_present_any = ["line_frame", "crowd"])]
    text: Option<String>,
    /// Render frame N of the line-speed set instead (a GS1 pack code at 5–9 px/module, any
    /// angle, on a cluttered carton; --canvas sets the frame size, default 1280x1024). The
    /// set's own symbol options replace the others.
    #[arg(long, conflicts_with_all = ["text", "crowd"])]
    line_frame: Option<u64>,
    /// Render a crowded frame instead: N GS1 packs (each its own serial) in a grid on a carton
    /// ground, tilted by up to --tilt degrees and turned by quarter turns, on a --canvas
    /// (default 2448x2048); --size, --module-px, --quiet-zone, --dark, --light, --blur,
    /// --noise and --seed apply to every pack. The ground truth lists every symbol's text and
    /// four corners in frame pixels, finder corner first.
    #[arg(long, value_name = "N", conflicts_with_all = ["text", "crop", "offset", "rotate", "mirror", "carton", "light_on_dark"])]
    crowd: Option<usize>,
    /// With --crowd: the largest tilt of a pack, in degrees either way.
    #[arg(long, default_value_t = 5.0, requires = "crowd")]
    tilt: f64,
    /// With --crowd: every pack the same way up (only the tilt varies).
    #[arg(long, requires = "crowd")]
    no_quarter_turns: bool,
    /// With --crowd: an open case at the aggregation station, its label's SSCC (18 digits)
    /// as a GS1 symbol `(00)…` beside the packs.
    #[arg(long, value_name = "SSCC", requires = "crowd")]
    sscc: Option<String>,
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
    /// Canvas WIDTHxHEIGHT in pixels (default: fit the symbol and its quiet zone, 2 px to
    /// spare).
    #[arg(long, value_parser = parse_canvas)]
    canvas: Option<(u32, u32)>,
    /// Crop the image tightly, axis-aligned, to the symbol plus this many modules (0 to 4,
    /// fractions allowed) beyond its outermost corners, as a flatbed scan or a verifier stand
    /// frames it. --quiet-zone stays the printed clear area: a crop inside it shows part of
    /// it, one beyond it shows the ground (plain paper, or the carton with --carton).
    #[arg(long, value_name = "MODULES", conflicts_with_all = ["canvas", "offset", "line_frame"])]
    crop: Option<f64>,
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

pub fn run(args: &GenArgs) -> Result<()> {
    if let Some(count) = args.crowd {
        let rendered = synth::render_crowd(&crowd_spec(args, count))?;
        return save(&rendered.image, &rendered.truth, &args.out);
    }
    let spec = match (args.line_frame, &args.text) {
        (Some(index), _) => synth::line_frame(index, args.canvas.unwrap_or((1280, 1024))),
        (None, Some(text)) => gen_spec(args, text),
        (None, None) => anyhow::bail!("give --text, --line-frame or --crowd"),
    };
    let rendered = synth::render(&spec)?;
    save(&rendered.image, &rendered.truth, &args.out)
}

/// The image, and its ground truth beside it as .json.
fn save(image: &image::GrayImage, truth: &impl serde::Serialize, out: &Path) -> Result<()> {
    save_image(image, out).with_context(|| format!("cannot write {}", out.display()))?;
    let truth_path = out.with_extension("json");
    std::fs::write(&truth_path, serde_json::to_string_pretty(truth)? + "\n")
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    Ok(())
}

/// The crowded frame the options describe.
fn crowd_spec(args: &GenArgs, count: usize) -> CrowdSpec {
    CrowdSpec {
        count,
        canvas: args.canvas.unwrap_or(CrowdSpec::default().canvas),
        size: args.size.clone(),
        module_px: args.module_px,
        quiet_zone: args.quiet_zone,
        tilt_deg: args.tilt,
        quarter_turns: !args.no_quarter_turns,
        dark: args.dark,
        light: args.light,
        blur: args.blur,
        noise: args.noise,
        seed: args.seed,
        sscc: args.sscc.clone(),
        texts: Vec::new(),
    }
}

/// Saves by extension; `.pgm` as a binary greymap (P5), which every PGM reader takes (the
/// image crate would otherwise write the PAM variant).
fn save_image(image: &image::GrayImage, path: &Path) -> Result<()> {
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
        text: crate::unescape(text),
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
        crop: args.crop,
        offset: args.offset.unwrap_or((0.0, 0.0)),
        carton: args.carton,
        damage_finder: args.damage_finder,
        damage_clock: args.damage_clock,
        displace_quarter: args.displace_quarter,
        seed: args.seed,
    }
}
