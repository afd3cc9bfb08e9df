//! Synthetic symbols with known degradations, for samples, tests and benches.
//!
//! Data is encoded with rxing's minimal encoder (FNC1 for GS1), padded and protected here
//! for any of the 48 sizes, then rendered with anti-aliasing through a known affine map:
//! rotation, axial stretch, mirroring, print growth, blur, noise, reflectances and inverted
//! codewords are all chosen, so every figure a reader or grader reports has a true value.

use crate::datamatrix::symbol::{SymbolSize, all_sizes, parse_size};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::{Homography, Point};
use image::GrayImage;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rxing::common::reedsolomon::{PredefinedGenericGF, ReedSolomonEncoder};
use rxing::datamatrix::decoder::decoded_bit_stream_parser;
use rxing::datamatrix::encoder::{SymbolShapeHint, minimal_encoder};
use serde::{Deserialize, Serialize};

/// Everything that determines a rendered symbol. Reflectances are fractions (0.0–1.0), grey
/// level = 255 × reflectance (the default calibration).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GenSpec {
    /// Data to encode; with `gs1`, GS characters (`\x1d`) become FNC1 separators and a
    /// leading FNC1 is added.
    pub text: String,
    pub gs1: bool,
    /// `ROWSxCOLS`; the smallest square size that holds the data when absent.
    pub size: Option<String>,
    /// Pixels per module (X dimension).
    pub module_px: f64,
    /// Quiet zone around the symbol, in modules.
    pub quiet_zone: f64,
    pub dark: f64,
    pub light: f64,
    /// Stretch of the module pitch along the symbol's own x and y axes (0.08 = 8 % longer).
    pub stretch_x: f64,
    pub stretch_y: f64,
    /// Counter-clockwise rotation in degrees.
    pub rotation_deg: f64,
    /// Dark modules grow by this fraction of X in each axis (negative: shrink).
    pub growth: f64,
    /// Gaussian blur, sigma in pixels.
    pub blur: f64,
    /// Gaussian noise, sigma in grey levels.
    pub noise: f64,
    /// Codewords (symbol order) whose eight modules are printed inverted.
    pub invert_codewords: Vec<usize>,
    /// Per block, how many of its codewords to invert (block index, count), on top of
    /// `invert_codewords`.
    pub invert_in_block: Vec<(usize, usize)>,
    pub mirrored: bool,
    pub light_on_dark: bool,
    /// Canvas size in pixels; the symbol is centred. Fits the symbol and its quiet zone when
    /// absent.
    pub canvas: Option<(u32, u32)>,
    /// A tight, axis-aligned crop instead of a canvas: the image cut this many X (0–4,
    /// fractions allowed) beyond the symbol's outermost corners, as a scanner's or a lab
    /// verifier's crop leaves it. The quiet zone stays what is printed: a crop narrower than
    /// it shows only part of it, a wider one shows the ground beyond it.
    pub crop: Option<f64>,
    /// Offset of the symbol centre from the canvas centre, in pixels.
    pub offset: (f64, f64),
    /// Print on a cluttered carton (text, a 1D barcode, artwork) instead of plain paper;
    /// the quiet zone stays clear.
    pub carton: bool,
    /// Modules of the solid finder L printed light (chosen by the seed).
    pub damage_finder: usize,
    /// Modules of the clock tracks printed in the wrong colour (chosen by the seed).
    pub damage_clock: usize,
    /// The modules of the symbol's top-right quarter (where the clock tracks meet, so the
    /// reference grid follows them) printed displaced along x by this fraction of X: a local
    /// grid distortion.
    pub displace_quarter: f64,
    pub seed: u64,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            text: String::new(),
            gs1: false,
            size: None,
            module_px: 8.0,
            quiet_zone: 2.0,
            dark: 0.05,
            light: 0.90,
            stretch_x: 0.0,
            stretch_y: 0.0,
            rotation_deg: 0.0,
            growth: 0.0,
            blur: 0.0,
            noise: 0.0,
            invert_codewords: Vec::new(),
            invert_in_block: Vec::new(),
            mirrored: false,
            light_on_dark: false,
            canvas: None,
            crop: None,
            offset: (0.0, 0.0),
            carton: false,
            damage_finder: 0,
            damage_clock: 0,
            displace_quarter: 0.0,
            seed: 1,
        }
    }
}

/// What is true of a rendered symbol by construction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroundTruth {
    pub spec: GenSpec,
    /// The symbol's data as a reader reports it.
    pub text: String,
    pub size: String,
    /// Codewords in symbol order as encoded (before any inversion).
    pub codewords: Vec<u8>,
    /// Codewords inverted, in symbol order.
    pub inverted: Vec<usize>,
    /// Per Reed–Solomon block: inverted codewords, i.e. the corrections a reader must make.
    pub errors_per_block: Vec<usize>,
    /// Fixed-pattern modules (row, column) printed in the wrong colour.
    pub damaged_fixed: Vec<(usize, usize)>,
    /// Row-major 3×3 map from module coordinates (u right along the clock track from the
    /// finder, v down from the clock track; one unit per module) to image pixels.
    pub module_to_image: [f64; 9],
    /// Nominal module pitch in pixels along the symbol's x and y axes.
    pub pitch_x: f64,
    pub pitch_y: f64,
}

impl GroundTruth {
    pub fn module_to_image(&self) -> Homography {
        Homography::from_matrix(self.module_to_image)
    }
}

pub struct Rendered {
    pub image: GrayImage,
    pub truth: GroundTruth,
}

impl Rendered {
    /// The image as a frame (its pixels moved, not copied), with the ground truth.
    pub fn into_frame(self) -> (GroundTruth, Frame<'static>) {
        (
            self.truth,
            Frame::from_image(image::DynamicImage::ImageLuma8(self.image)),
        )
    }
}

/// Frame `index` of the line-speed set: one GS1 pack code (its own serial) at 5–9 px/module,
/// any angle, anywhere on a cluttered carton of `canvas` pixels, blurred and noisy like a line
/// camera's frame. Deterministic, so benches and peers measure the same frames.
pub fn line_frame(index: u64, canvas: (u32, u32)) -> GenSpec {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x11e5_f4a3 ^ index);
    let module_px = rng.random_range(5.0..9.0);
    // A symbol of up to 24×24 modules with its quiet zone, at any angle, stays inside the canvas.
    let reach = 28.0 * module_px * std::f64::consts::SQRT_2 / 2.0 + 8.0;
    let room = |side: u32| (side as f64 / 2.0 - reach).max(0.0);
    let (room_x, room_y) = (room(canvas.0), room(canvas.1));
    GenSpec {
        text: format!("0109506000134352172812311012AB34\u{1d}21SN{index:08}"),
        gs1: true,
        module_px,
        rotation_deg: rng.random_range(0.0..360.0),
        blur: rng.random_range(0.5..1.2),
        noise: rng.random_range(2.0..6.0),
        canvas: Some(canvas),
        offset: (
            rng.random_range(-room_x..=room_x),
            rng.random_range(-room_y..=room_y),
        ),
        carton: true,
        seed: index,
        ..GenSpec::default()
    }
}

/// A view into an open case: `count` packs in a grid, each with its own GS1 code (its own
/// serial), small tilts and quarter turns, on a carton ground with dividers. Every symbol has
/// the same size, module size, quiet zone and reflectances; the camera's blur and noise apply
/// to the whole frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct CrowdSpec {
    pub count: usize,
    pub canvas: (u32, u32),
    /// `ROWSxCOLS`; the smallest square size that holds the data when absent.
    pub size: Option<String>,
    pub module_px: f64,
    pub quiet_zone: f64,
    /// Each pack is tilted by up to this many degrees either way.
    pub tilt_deg: f64,
    /// Packs also lie turned by 0, 90, 180 or 270 degrees.
    pub quarter_turns: bool,
    pub dark: f64,
    pub light: f64,
    pub blur: f64,
    pub noise: f64,
    pub seed: u64,
    /// A case label: this SSCC (18 digits) as a GS1 symbol `(00)…` beside the packs, as the
    /// aggregation station sees an open case with its label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    /// Each pack's data (GS for FNC1 separators) in place of [`crowd_text`]'s: a foreign or
    /// repeated pack in a case. Empty: every pack its own serial of the seed's batch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
}

impl Default for CrowdSpec {
    fn default() -> Self {
        CrowdSpec {
            count: 30,
            canvas: (2448, 2048),
            size: None,
            module_px: 6.0,
            quiet_zone: 2.0,
            tilt_deg: 5.0,
            quarter_turns: true,
            dark: 0.05,
            light: 0.90,
            blur: 0.0,
            noise: 0.0,
            seed: 1,
            sscc: None,
            texts: Vec::new(),
        }
    }
}

impl CrowdSpec {
    /// The data of every symbol, in grid order: the packs', then the case label's.
    pub fn symbol_texts(&self) -> Vec<String> {
        let mut texts = if self.texts.is_empty() {
            (0..self.count)
                .map(|index| crowd_text(self.seed, index))
                .collect()
        } else {
            self.texts.clone()
        };
        texts.extend(self.sscc.iter().map(|sscc| format!("00{sscc}")));
        texts
    }
}

/// One symbol of a crowded frame, as constructed.
#[derive(Clone, Debug, Serialize)]
pub struct CrowdSymbol {
    /// The data as a reader reports it (GS for FNC1 separators).
    pub text: String,
    pub size: String,
    /// Outer corners in frame pixels, finder corner first (see [`outer_corners`]).
    pub corners: [Point; 4],
    /// Counter-clockwise rotation in degrees: the quarter turn plus the tilt.
    pub rotation_deg: f64,
    /// Row-major 3×3 map from module coordinates to frame pixels, as in [`GroundTruth`].
    pub module_to_image: [f64; 9],
}

#[derive(Clone, Debug, Serialize)]
pub struct CrowdTruth {
    pub spec: CrowdSpec,
    /// In grid order: left to right, then top to bottom.
    pub symbols: Vec<CrowdSymbol>,
}

pub struct RenderedCrowd {
    pub image: GrayImage,
    pub truth: CrowdTruth,
}

impl RenderedCrowd {
    /// The image as a frame (its pixels moved, not copied), with the ground truth.
    pub fn into_frame(self) -> (CrowdTruth, Frame<'static>) {
        (
            self.truth,
            Frame::from_image(image::DynamicImage::ImageLuma8(self.image)),
        )
    }
}

/// The GS1 data of pack `index` of a crowd: GTIN, expiry, batch (from the seed) and a serial
/// of its own.
pub fn crowd_text(seed: u64, index: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64;
    let serial: String = (0..10)
        .map(|_| ALPHABET[(splitmix(&mut state) % ALPHABET.len() as u64) as usize] as char)
        .collect();
    format!(
        "01095060001343521728123110B{batch:05}\u{1d}21{serial}",
        batch = seed % 100_000
    )
}

/// SplitMix64: a well-mixed hash of a counter, so that a pack's glyphs are a function of their
/// position (painted pixel by pixel, in any order) rather than of a generator's state.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Renders a crowded frame; the ground truth lists every symbol.
pub fn render_crowd(spec: &CrowdSpec) -> Result<RenderedCrowd> {
    check_crowd(spec)?;
    let texts = spec.symbol_texts();
    let faces = texts.len();
    let (width, height) = spec.canvas;
    let (w, h) = (width as usize, height as usize);
    // A grid about as many columns to rows as the canvas is wide to high.
    let grid_cols =
        ((faces as f64 * width as f64 / height as f64).sqrt().ceil() as usize).clamp(1, faces);
    let grid_rows = faces.div_ceil(grid_cols);
    let cell = (
        width as f64 / grid_cols as f64,
        height as f64 / grid_rows as f64,
    );
    let cell_side = cell.0.min(cell.1);
    // Faces fill 90 % of a cell at the largest tilt, which leaves room to shift them a little.
    let tilt_max = spec.tilt_deg.abs().min(45.0).to_radians();
    let face = 0.9 * cell_side / (tilt_max.cos() + tilt_max.sin());
    let wobble = 0.04 * cell_side;

    let paper = 255.0 * spec.light as f32;
    let mut grey = kraft_ground(spec, (grid_cols, grid_rows), cell);
    let mut coverage = vec![0f32; w * h];
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed ^ 0xc40d_ca5e);
    let mut symbols = Vec::with_capacity(faces);
    for (index, text) in texts.into_iter().enumerate() {
        let (size, codewords) = encode(&text, true, spec.size.as_deref())?;
        let symbol_w = (size.cols as f64 + 2.0 * spec.quiet_zone) * spec.module_px;
        let symbol_h = (size.rows as f64 + 2.0 * spec.quiet_zone) * spec.module_px;
        if symbol_w.max(symbol_h) > face {
            let fits = face / (size.rows.max(size.cols) as f64 + 2.0 * spec.quiet_zone);
            return Err(Error::InvalidSpec(format!(
                "{faces} symbols of {} with a {}-module quiet zone fit {}x{} at up to {fits:.1} px/module, not {}",
                size.name(),
                spec.quiet_zone,
                width,
                height,
                spec.module_px
            )));
        }
        let turn = if spec.quarter_turns {
            90.0 * rng.random_range(0..4) as f64
        } else {
            0.0
        };
        let rotation_deg = turn + rng.random_range(-spec.tilt_deg..=spec.tilt_deg);
        let (gx, gy) = ((index % grid_cols) as f64, (index / grid_cols) as f64);
        let face_centre = Point::new(
            (gx + 0.5) * cell.0 + rng.random_range(-wobble..=wobble),
            (gy + 0.5) * cell.1 + rng.random_range(-wobble..=wobble),
        );
        // The symbol somewhere on the face (face coordinates: the pack's own axes), the rest
        // of the face printed with text.
        let room = ((face - symbol_w) / 2.0, (face - symbol_h) / 2.0);
        let on_face = Point::new(
            rng.random_range(-room.0..=room.0),
            rng.random_range(-room.1..=room.1),
        );
        let pack = Pack {
            centre: face_centre,
            side: face,
            rotation: rotation_deg.to_radians().sin_cos(),
            clear: (on_face, symbol_w / 2.0, symbol_h / 2.0),
            paper: paper * rng.random_range(0.94..=1.0),
            ink: 255.0 * spec.dark as f32,
            texture: rng.random(),
            dot: (0.4 * spec.module_px).clamp(1.5, 4.0),
        };
        pack.paint(&mut grey, (w, h));

        let centre = pack.to_frame(on_face);
        let module_to_image = placement(
            size,
            (spec.module_px, spec.module_px),
            rotation_deg,
            false,
            centre,
        );
        let to_image = Homography::from_matrix(module_to_image);
        let to_module = to_image
            .inverse()
            .ok_or_else(|| Error::InvalidSpec("degenerate geometry".into()))?;
        let dark_modules = size.module_colours(&codewords);
        Artwork {
            to_module: &to_module,
            size,
            dark_modules: &dark_modules,
            growth: 0.0,
            displaced: &Displacement::top_right_quarter(size, 0.0),
        }
        .rasterise(
            &mut coverage,
            w,
            footprint(&to_image, size, 1.0, width, height),
        );
        symbols.push(CrowdSymbol {
            text,
            size: size.name(),
            corners: outer_corners(&to_image, size),
            rotation_deg,
            module_to_image,
        });
    }
    let image = finish(
        grey,
        &coverage,
        spec.canvas,
        255.0 * spec.dark as f32,
        (spec.blur, spec.noise),
        spec.seed,
    );
    Ok(RenderedCrowd {
        image,
        truth: CrowdTruth {
            spec: spec.clone(),
            symbols,
        },
    })
}

fn check_crowd(spec: &CrowdSpec) -> Result<()> {
    let bad = |what: &str| Err(Error::InvalidSpec(what.to_string()));
    if !(1..=1000).contains(&spec.count) {
        return bad("a crowd holds 1 to 1000 symbols");
    }
    // The per-symbol limits are the single symbol's.
    check(&GenSpec {
        text: "crowd".into(),
        module_px: spec.module_px,
        quiet_zone: spec.quiet_zone,
        dark: spec.dark,
        light: spec.light,
        blur: spec.blur,
        noise: spec.noise,
        canvas: Some(spec.canvas),
        ..GenSpec::default()
    })?;
    if !(spec.tilt_deg.is_finite() && spec.tilt_deg.abs() <= 45.0) {
        return bad("tilt must be within 0..45 degrees");
    }
    if !spec.texts.is_empty() && spec.texts.len() != spec.count {
        return bad("give every pack's data, or none");
    }
    if let Some(problem) = spec
        .sscc
        .as_ref()
        .and_then(|sscc| crate::gs1::check_ai_value("00", sscc).into_iter().next())
    {
        return Err(Error::InvalidSpec(format!(
            "the case label's SSCC: {problem}"
        )));
    }
    Ok(())
}

/// The inside of a case: kraft board at about half the packs' reflectance, a little shaded,
/// with dark dividers between the rows and columns of packs.
fn kraft_ground(
    spec: &CrowdSpec,
    (grid_cols, grid_rows): (usize, usize),
    cell: (f64, f64),
) -> Vec<f32> {
    let (w, h) = (spec.canvas.0 as usize, spec.canvas.1 as usize);
    let kraft = 0.5 * 255.0 * spec.light as f32;
    let divider = 0.15 * 255.0 * spec.light as f32;
    let half_line = (0.006 * cell.0.min(cell.1)).max(1.0);
    let near_line = |p: f64, pitch: f64, lines: usize| {
        (1..lines).any(|k| (p - k as f64 * pitch).abs() < half_line)
    };
    let mut grey = Vec::with_capacity(w * h);
    for y in 0..h {
        let on_row_line = near_line(y as f64 + 0.5, cell.1, grid_rows);
        for x in 0..w {
            let level = if on_row_line || near_line(x as f64 + 0.5, cell.0, grid_cols) {
                divider
            } else {
                kraft * (0.9 + 0.1 * (x + y) as f32 / (w + h) as f32)
            };
            grey.push(level);
        }
    }
    grey
}

/// One pack's face: a square of paper in the pack's own axes, printed with lines of small
/// glyphs everywhere but the symbol and its quiet zone.
struct Pack {
    centre: Point,
    side: f64,
    /// (sin, cos) of the counter-clockwise rotation.
    rotation: (f64, f64),
    /// The area kept clear, in face coordinates: centre and half extents.
    clear: (Point, f64, f64),
    paper: f32,
    ink: f32,
    /// Seeds the glyphs.
    texture: u64,
    /// Glyph dot size in pixels.
    dot: f64,
}

impl Pack {
    /// Face coordinates (pixels along the pack's axes from its centre) to frame pixels.
    fn to_frame(&self, p: Point) -> Point {
        let (sin, cos) = self.rotation;
        Point::new(
            self.centre.x + cos * p.x + sin * p.y,
            self.centre.y - sin * p.x + cos * p.y,
        )
    }

    fn to_face(&self, p: Point) -> Point {
        let (sin, cos) = self.rotation;
        let (dx, dy) = (p.x - self.centre.x, p.y - self.centre.y);
        Point::new(cos * dx - sin * dy, sin * dx + cos * dy)
    }

    fn paint(&self, grey: &mut [f32], (w, h): (usize, usize)) {
        let half = self.side / 2.0;
        let reach = half * std::f64::consts::SQRT_2 + 1.0;
        let span = |c: f64, limit: usize| {
            ((c - reach).floor().max(0.0) as usize).min(limit)
                ..((c + reach).ceil().max(0.0) as usize).min(limit)
        };
        for y in span(self.centre.y, h) {
            for x in span(self.centre.x, w) {
                let f = self.to_face(Point::new(x as f64 + 0.5, y as f64 + 0.5));
                if f.x.abs() <= half && f.y.abs() <= half {
                    grey[y * w + x] = if self.glyph_dot(f) {
                        self.ink
                    } else {
                        self.paper
                    };
                }
            }
        }
    }

    /// Whether face point `f` lies on a printed dot of the face's text: some lines of 3×5-dot
    /// glyphs, a dot apart, some glyphs left blank as spaces; a border and the symbol's area
    /// (grown by a dot) left clear.
    fn glyph_dot(&self, f: Point) -> bool {
        let (clear_centre, clear_w, clear_h) = self.clear;
        let margin = self.dot;
        if (f.x - clear_centre.x).abs() <= clear_w + margin
            && (f.y - clear_centre.y).abs() <= clear_h + margin
        {
            return false;
        }
        let half = self.side / 2.0;
        let (fx, fy) = (f.x + half, f.y + half);
        if fx < 2.0 * margin
            || fy < 2.0 * margin
            || fx > self.side - 2.0 * margin
            || fy > self.side - 2.0 * margin
        {
            return false;
        }
        let (col, row) = ((fx / self.dot) as u64, (fy / self.dot) as u64);
        let (line, dot_row) = (row / 8, row % 8);
        let (glyph, dot_col) = (col / 4, col % 4);
        if dot_row >= 5 || dot_col >= 3 {
            return false;
        }
        // Two lines in five are printed, each to a length of its own.
        let mut state = self.texture ^ (line << 32);
        let printed = splitmix(&mut state);
        let glyphs_per_line = (self.side / (4.0 * self.dot)) as u64 + 1;
        if printed % 5 >= 2 || glyph >= (printed >> 8) % glyphs_per_line {
            return false;
        }
        let bits = splitmix(&mut state.wrapping_add(glyph));
        // One glyph in six is a space.
        !bits.is_multiple_of(6) && (bits >> 8) & (1 << (dot_row * 3 + dot_col)) != 0
    }
}

/// Encodes and renders a symbol.
pub fn render(spec: &GenSpec) -> Result<Rendered> {
    check(spec)?;
    let (size, codewords) = encode(&spec.text, spec.gs1, spec.size.as_deref())?;
    let inverted = chosen_inversions(spec, size)?;
    let mut printed = codewords.clone();
    for &i in &inverted {
        printed[i] ^= 0xff;
    }
    let mut dark_modules = size.module_colours(&printed);
    let damaged_fixed = damage_fixed_pattern(spec, size, &mut dark_modules);
    let errors_per_block = size
        .blocks(crate::datamatrix::symbol::BlockOrder::Standard)
        .iter()
        .map(|b| b.members().filter(|i| inverted.contains(i)).count())
        .collect();

    let (rows, cols) = (size.rows as f64, size.cols as f64);
    let pitch_x = spec.module_px * (1.0 + spec.stretch_x);
    let pitch_y = spec.module_px * (1.0 + spec.stretch_y);
    let (sin, cos) = spec.rotation_deg.to_radians().sin_cos();
    // Half the axis-aligned extent of the symbol grown by `margin` modules, rotated.
    let extent = |margin: f64| {
        let half_w = (cols / 2.0 + margin) * pitch_x;
        let half_h = (rows / 2.0 + margin) * pitch_y;
        (
            half_w * cos.abs() + half_h * sin.abs(),
            half_w * sin.abs() + half_h * cos.abs(),
        )
    };
    let (width, height, centre) = match (spec.crop, spec.canvas) {
        // A tight crop: left and top edges exactly `crop` X from the symbol's outermost
        // corners, right and bottom rounded up to whole pixels.
        (Some(crop), _) => {
            let (ext_x, ext_y) = extent(0.0);
            let margin = crop * spec.module_px;
            (
                (2.0 * (ext_x + margin)).ceil() as u32,
                (2.0 * (ext_y + margin)).ceil() as u32,
                Point::new(ext_x + margin, ext_y + margin),
            )
        }
        (None, canvas) => {
            let (ext_x, ext_y) = extent(spec.quiet_zone);
            let (width, height) = canvas.unwrap_or((
                (2.0 * ext_x).ceil() as u32 + 2,
                (2.0 * ext_y).ceil() as u32 + 2,
            ));
            let centre = Point::new(
                width as f64 / 2.0 + spec.offset.0,
                height as f64 / 2.0 + spec.offset.1,
            );
            (width, height, centre)
        }
    };
    let module_to_image = placement(
        size,
        (pitch_x, pitch_y),
        spec.rotation_deg,
        spec.mirrored,
        centre,
    );
    let to_image = Homography::from_matrix(module_to_image);
    let to_module = to_image
        .inverse()
        .ok_or_else(|| Error::InvalidSpec("degenerate geometry".into()))?;

    let (ink, paper) = if spec.light_on_dark {
        (spec.light, spec.dark)
    } else {
        (spec.dark, spec.light)
    };
    let displaced = Displacement::top_right_quarter(size, spec.displace_quarter);
    let mut coverage = vec![0f32; width as usize * height as usize];
    // Ink reaches at most the grown, displaced modules; a module more keeps every sample.
    let reach = spec.growth.abs() / 2.0 + spec.displace_quarter.abs() + 1.0;
    Artwork {
        to_module: &to_module,
        size,
        dark_modules: &dark_modules,
        growth: spec.growth,
        displaced: &displaced,
    }
    .rasterise(
        &mut coverage,
        width as usize,
        footprint(&to_image, size, reach, width, height),
    );
    let background = if spec.carton {
        let clear = QuietArea {
            to_module: &to_module,
            rows,
            cols,
            margin: spec.quiet_zone,
        };
        carton(width, height, 255.0 * paper as f32, &clear, spec.seed)
    } else {
        vec![255.0 * paper as f32; coverage.len()]
    };
    let image = finish(
        background,
        &coverage,
        (width, height),
        255.0 * ink as f32,
        (spec.blur, spec.noise),
        spec.seed,
    );
    Ok(Rendered {
        image,
        truth: GroundTruth {
            spec: spec.clone(),
            text: spec.text.clone(),
            size: size.name(),
            codewords,
            inverted,
            errors_per_block,
            damaged_fixed,
            module_to_image,
            pitch_x,
            pitch_y,
        },
    })
}

/// Row-major map from module coordinates (u along the columns, v down the rows) to image
/// pixels: mirror, centre, scale by the pitch, rotate counter-clockwise on screen, place the
/// symbol's centre at `centre`.
fn placement(
    size: &SymbolSize,
    (pitch_x, pitch_y): (f64, f64),
    rotation_deg: f64,
    mirrored: bool,
    centre: Point,
) -> [f64; 9] {
    let (rows, cols) = (size.rows as f64, size.cols as f64);
    let (sin, cos) = rotation_deg.to_radians().sin_cos();
    let mx = if mirrored { -pitch_x } else { pitch_x };
    let a = [cos * mx, sin * pitch_y, -sin * mx, cos * pitch_y];
    let tx = centre.x - (a[0] * cols / 2.0 + a[1] * rows / 2.0);
    let ty = centre.y - (a[2] * cols / 2.0 + a[3] * rows / 2.0);
    [a[0], a[1], tx, a[2], a[3], ty, 0.0, 0.0, 1.0]
}

/// The symbol's four outer corners in image pixels, in the symbol's own order: the finder's
/// corner (where the solid L bends) first, then the end of the L's vertical bar, the clock
/// corner, and the end of the L's horizontal bar.
pub fn outer_corners(module_to_image: &Homography, size: &SymbolSize) -> [Point; 4] {
    let (rows, cols) = (size.rows as f64, size.cols as f64);
    [(0.0, rows), (0.0, 0.0), (cols, 0.0), (cols, rows)]
        .map(|(u, v)| module_to_image.map(Point::new(u, v)))
}

/// The pixels a symbol grown by `margin` modules can touch, clipped to the canvas.
fn footprint(
    module_to_image: &Homography,
    size: &SymbolSize,
    margin: f64,
    width: u32,
    height: u32,
) -> PixelRegion {
    let (rows, cols) = (size.rows as f64, size.cols as f64);
    let corners = [
        (-margin, -margin),
        (cols + margin, -margin),
        (cols + margin, rows + margin),
        (-margin, rows + margin),
    ]
    .map(|(u, v)| module_to_image.map(Point::new(u, v)));
    let span = |values: [f64; 4], limit: u32| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo.floor().max(0.0) as usize).min(limit as usize)
            ..(hi.ceil().max(0.0) as usize).min(limit as usize)
    };
    PixelRegion {
        x: span(corners.map(|p| p.x), width),
        y: span(corners.map(|p| p.y), height),
    }
}

/// A rectangle of pixels, half-open.
#[derive(Clone, Debug)]
struct PixelRegion {
    x: std::ops::Range<usize>,
    y: std::ops::Range<usize>,
}

/// Ink over paper, then the camera: blur, noise and 8-bit quantisation. `background` holds the
/// paper's grey levels, `coverage` each pixel's ink fraction.
fn finish(
    mut grey: Vec<f32>,
    coverage: &[f32],
    (width, height): (u32, u32),
    ink_grey: f32,
    (blur, noise): (f64, f64),
    seed: u64,
) -> GrayImage {
    for (g, &c) in grey.iter_mut().zip(coverage) {
        *g += (ink_grey - *g) * c;
    }
    if blur > 0.0 {
        gaussian_blur(&mut grey, width as usize, height as usize, blur);
    }
    if noise > 0.0 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0, noise as f32).expect("noise sigma is finite and positive");
        for g in &mut grey {
            *g += normal.sample(&mut rng);
        }
    }
    let pixels = grey
        .iter()
        .map(|&g| g.round().clamp(0.0, 255.0) as u8)
        .collect();
    GrayImage::from_raw(width, height, pixels).expect("buffer matches the canvas")
}

fn check(spec: &GenSpec) -> Result<()> {
    let bad = |what: &str| Err(Error::InvalidSpec(what.to_string()));
    if spec.text.is_empty() {
        return bad("text is empty");
    }
    if !(spec.module_px.is_finite() && spec.module_px >= 1.0 && spec.module_px <= 100.0) {
        return bad("module size must be between 1 and 100 pixels");
    }
    for (name, r) in [("dark", spec.dark), ("light", spec.light)] {
        if !(0.0..=1.0).contains(&r) {
            return Err(Error::InvalidSpec(format!(
                "{name} reflectance must be within 0..1"
            )));
        }
    }
    for (name, s) in [("stretch-x", spec.stretch_x), ("stretch-y", spec.stretch_y)] {
        if !(s.is_finite() && s > -0.5 && s < 1.0) {
            return Err(Error::InvalidSpec(format!(
                "{name} must be within -0.5..1.0"
            )));
        }
    }
    if !(spec.growth.is_finite() && spec.growth.abs() < 0.9) {
        return bad("growth must be within -0.9..0.9 of X");
    }
    if !(spec.blur.is_finite() && (0.0..=20.0).contains(&spec.blur)) {
        return bad("blur must be within 0..20 px");
    }
    if !(spec.noise.is_finite() && (0.0..=128.0).contains(&spec.noise)) {
        return bad("noise must be within 0..128 grey levels");
    }
    if !(spec.quiet_zone.is_finite() && (0.0..=20.0).contains(&spec.quiet_zone)) {
        return bad("quiet zone must be within 0..20 modules");
    }
    if !(spec.displace_quarter.is_finite() && spec.displace_quarter.abs() <= 2.0) {
        return bad("displacement must be within -2..2 modules");
    }
    if !(spec.offset.0.is_finite() && spec.offset.1.is_finite()) {
        return bad("offset must be finite");
    }
    if !spec.rotation_deg.is_finite() {
        return bad("rotation must be a number");
    }
    if let Some(crop) = spec.crop {
        if !(crop.is_finite() && (0.0..=20.0).contains(&crop)) {
            return bad("crop must be within 0..20 modules");
        }
        if spec.canvas.is_some() || spec.offset != (0.0, 0.0) {
            return bad(
                "a crop sets the canvas itself: give a crop or a canvas and offset, not both",
            );
        }
    }
    if let Some((w, h)) = spec.canvas
        && (w == 0 || h == 0 || (w as u64 * h as u64) > 64 << 20)
    {
        return bad("canvas must be non-empty and at most 64 Mpixel");
    }
    Ok(())
}

/// Codewords (symbol order, data then error correction) for `text` in the requested size,
/// or the smallest square size that holds it.
pub fn encode(text: &str, gs1: bool, size: Option<&str>) -> Result<(&'static SymbolSize, Vec<u8>)> {
    let target = match size {
        Some(name) => Some(parse_size(name).ok_or_else(|| {
            Error::InvalidSpec(format!("{name} is not a Data Matrix size (ROWSxCOLS)"))
        })?),
        None => None,
    };
    let encoded = minimal_encoder::encodeHighLevelWithDetails(
        text,
        None,
        gs1.then_some('\u{1d}'),
        SymbolShapeHint::FORCE_NONE,
    )
    .map_err(|e| Error::Encode(e.to_string()))?;
    let padded: Vec<u8> = encoded.chars().map(|c| c as u32 as u8).collect();
    let data = strip_padding(&padded);
    let size = match target {
        Some(s) => s,
        None => all_sizes()
            .iter()
            .filter(|s| s.is_square())
            .find(|s| s.data_codewords() >= data.len())
            .ok_or_else(|| Error::Encode("data too long for any Data Matrix size".into()))?,
    };
    let capacity = size.data_codewords();
    if data.len() > capacity {
        return Err(Error::Encode(format!(
            "{} data codewords do not fit {} (capacity {capacity})",
            data.len(),
            size.name()
        )));
    }
    // The minimal encoder may rely on the end of its own symbol (an implied unlatch, a last
    // character in ASCII); in a larger symbol that stream reads differently. Keep the first
    // candidate that reads back as the input: the encoder's stream, with an explicit unlatch,
    // or plain ASCII encodation.
    let ascii = ascii_codewords(text, gs1);
    let candidates = [Some(data.to_vec()), Some([data, &[254]].concat()), ascii];
    let mut codewords = candidates
        .into_iter()
        .flatten()
        .filter(|cw| cw.len() <= capacity)
        .map(|mut cw| {
            pad(&mut cw, capacity);
            cw
        })
        .find(|cw| reads_back(cw, text, gs1))
        .ok_or_else(|| {
            Error::Encode(format!(
                "the encodation of {text:?} does not fit {}",
                size.name()
            ))
        })?;
    codewords.resize(size.total_codewords(), 0);
    let mut rs = ReedSolomonEncoder::new(PredefinedGenericGF::DataMatrixField256.into())
        .map_err(|e| Error::Encode(e.to_string()))?;
    for block in size.blocks(crate::datamatrix::symbol::BlockOrder::Standard) {
        let mut buf: Vec<i32> = block
            .data
            .iter()
            .map(|&i| codewords[i as usize] as i32)
            .collect();
        buf.resize(block.data.len() + block.ec.len(), 0);
        rs.encode(&mut buf, block.ec.len())
            .map_err(|e| Error::Encode(e.to_string()))?;
        for (k, &i) in block.ec.iter().enumerate() {
            codewords[i as usize] = buf[block.data.len() + k] as u8;
        }
    }
    Ok((size, codewords))
}

/// ASCII encodation (ISO/IEC 16022 5.2.3): digit pairs, FNC1 for GS in GS1 data, upper
/// shift for Latin-1 above 127. `None` for characters outside Latin-1.
fn ascii_codewords(text: &str, gs1: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 1);
    if gs1 {
        out.push(232);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
            let pair = c.to_digit(10)? * 10 + chars[i + 1].to_digit(10)?;
            out.push(130 + pair as u8);
            i += 2;
            continue;
        }
        match c as u32 {
            0x1d if gs1 => out.push(232),
            v @ 0..=127 => out.push(v as u8 + 1),
            v @ 128..=255 => out.extend([235, (v - 128) as u8 + 1]),
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

/// Whether data codewords decode to `text` (GS1: a leading FNC1 is implied, not in `text`).
fn reads_back(codewords: &[u8], text: &str, gs1: bool) -> bool {
    decoded_bit_stream_parser::decode(codewords, false)
        .is_ok_and(|d| d.getText() == text && (!gs1 || d.getContentType() == "GS1"))
}

/// Pad codeword for position `pos` (1-based) under the 253-state randomising algorithm.
fn pad_codeword(pos: usize) -> u8 {
    let pseudo_random = (149 * pos) % 253 + 1;
    let v = 129 + pseudo_random;
    (if v <= 254 { v } else { v - 254 }) as u8
}

fn pad(codewords: &mut Vec<u8>, capacity: usize) {
    if codewords.len() < capacity {
        codewords.push(129);
    }
    while codewords.len() < capacity {
        codewords.push(pad_codeword(codewords.len() + 1));
    }
}

/// The data codewords without the padding the encoder added for its own choice of size.
/// Padding is the first 129 followed by exactly the randomised pad sequence; no earlier
/// position can look like that, since no randomised pad value equals 129.
fn strip_padding(codewords: &[u8]) -> &[u8] {
    let is_pad_from = |start: usize| {
        codewords[start] == 129
            && codewords[start + 1..]
                .iter()
                .enumerate()
                .all(|(k, &c)| c == pad_codeword(start + 2 + k))
    };
    match (0..codewords.len()).find(|&i| is_pad_from(i)) {
        Some(i) => &codewords[..i],
        None => codewords,
    }
}

fn chosen_inversions(spec: &GenSpec, size: &SymbolSize) -> Result<Vec<usize>> {
    let total = size.total_codewords();
    let mut chosen: Vec<usize> = Vec::new();
    for &i in &spec.invert_codewords {
        if i >= total {
            return Err(Error::InvalidSpec(format!(
                "codeword {i} does not exist in {} ({total} codewords)",
                size.name()
            )));
        }
        chosen.push(i);
    }
    let blocks = size.blocks(crate::datamatrix::symbol::BlockOrder::Standard);
    for &(b, k) in &spec.invert_in_block {
        let block = blocks.get(b).ok_or_else(|| {
            Error::InvalidSpec(format!(
                "{} has {} Reed–Solomon blocks (numbered from 0), so no block {b}",
                size.name(),
                blocks.len()
            ))
        })?;
        let members: Vec<usize> = block.members().collect();
        if k > members.len() {
            return Err(Error::InvalidSpec(format!(
                "block {b} has only {} codewords",
                members.len()
            )));
        }
        // Spread the damage over the block deterministically (seeded), data and EC alike.
        let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed ^ ((b as u64 + 1) * 0x9e37_79b9));
        let mut pool = members;
        for _ in 0..k {
            let j = rng.random_range(0..pool.len());
            chosen.push(pool.swap_remove(j));
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

/// Flips `damage_finder` modules of the solid L and `damage_clock` modules of the clock
/// tracks (outer edges of the symbol), chosen by the seed; returns them as (row, column).
fn damage_fixed_pattern(
    spec: &GenSpec,
    size: &SymbolSize,
    dark: &mut [bool],
) -> Vec<(usize, usize)> {
    let (rows, cols) = (size.rows, size.cols);
    let finder: Vec<(usize, usize)> = (0..rows)
        .map(|r| (r, 0))
        .chain((1..cols).map(|c| (rows - 1, c)))
        .collect();
    let clock: Vec<(usize, usize)> = (0..cols)
        .map(|c| (0, c))
        .chain((1..rows - 1).map(|r| (r, cols - 1)))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed ^ 0x5eed_f1d0);
    let mut damaged = Vec::new();
    for (mut pool, count) in [(finder, spec.damage_finder), (clock, spec.damage_clock)] {
        for _ in 0..count.min(pool.len()) {
            let (r, c) = pool.swap_remove(rng.random_range(0..pool.len()));
            dark[r * cols + c] ^= true;
            damaged.push((r, c));
        }
    }
    damaged
}

/// A rectangle of modules printed shifted along x (module units).
struct Displacement {
    rows: std::ops::Range<f64>,
    cols: std::ops::Range<f64>,
    shift: f64,
}

impl Displacement {
    /// The top-right quarter of the symbol, shifted by `shift` modules.
    fn top_right_quarter(size: &SymbolSize, shift: f64) -> Self {
        let (r, c) = (size.rows as f64, size.cols as f64);
        Displacement {
            rows: 0.0..(r / 2.0).round(),
            cols: (c / 2.0).round()..c,
            shift,
        }
    }

    /// The module-space point whose ink lands at `p`.
    fn undo(&self, p: Point) -> Point {
        if self.shift != 0.0 && self.rows.contains(&p.y) && self.cols.contains(&(p.x - self.shift))
        {
            Point::new(p.x - self.shift, p.y)
        } else {
            p
        }
    }
}

/// The symbol plus its quiet zone, which clutter must leave clear.
struct QuietArea<'a> {
    to_module: &'a Homography,
    rows: f64,
    cols: f64,
    margin: f64,
}

impl QuietArea<'_> {
    fn contains(&self, x: f64, y: f64) -> bool {
        let m = self.to_module.map(Point::new(x, y));
        let (lo_u, lo_v) = (-self.margin, -self.margin);
        m.x >= lo_u
            && m.y >= lo_v
            && m.x <= self.cols + self.margin
            && m.y <= self.rows + self.margin
    }
}

/// A carton printed around the symbol: a shaded ground, artwork (discs and panels), lines of
/// small glyphs and a 1D barcode, all seeded. Grey levels 0–255.
fn carton(width: u32, height: u32, paper: f32, clear: &QuietArea, seed: u64) -> Vec<f32> {
    let (w, h) = (width as usize, height as usize);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xca47_0000);
    let mut grey: Vec<f32> = (0..w * h)
        .map(|i| paper * (0.92 + 0.08 * ((i % w) as f32 / w.max(1) as f32)))
        .collect();
    let fill = |grey: &mut Vec<f32>, x0: f64, y0: f64, x1: f64, y1: f64, level: f32| {
        let (xa, xb) = (x0.max(0.0) as usize, (x1.min(w as f64)).max(0.0) as usize);
        let (ya, yb) = (y0.max(0.0) as usize, (y1.min(h as f64)).max(0.0) as usize);
        for y in ya..yb {
            for x in xa..xb {
                grey[y * w + x] = level;
            }
        }
    };
    let (fw, fh) = (w as f64, h as f64);
    // Artwork: tinted panels and discs.
    for _ in 0..4 {
        let (x, y) = (rng.random_range(0.0..fw), rng.random_range(0.0..fh));
        let (pw, ph) = (
            rng.random_range(0.1..0.4) * fw,
            rng.random_range(0.05..0.2) * fh,
        );
        fill(
            &mut grey,
            x,
            y,
            x + pw,
            y + ph,
            paper * rng.random_range(0.4..0.8),
        );
    }
    for _ in 0..3 {
        let (cx, cy) = (rng.random_range(0.0..fw), rng.random_range(0.0..fh));
        let radius = rng.random_range(0.03..0.12) * fw.min(fh);
        let level = paper * rng.random_range(0.2..0.7);
        let (ya, yb) = (
            (cy - radius).max(0.0) as usize,
            ((cy + radius).min(fh)) as usize,
        );
        let (xa, xb) = (
            (cx - radius).max(0.0) as usize,
            ((cx + radius).min(fw)) as usize,
        );
        for y in ya..yb {
            for x in xa..xb {
                if (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) <= radius * radius {
                    grey[y * w + x] = level;
                }
            }
        }
    }
    // Text: lines of 3×5 glyphs, 2–3 px per dot.
    for _ in 0..12 {
        let dot = rng.random_range(2..=4) as f64;
        let (mut x, y) = (rng.random_range(0.0..fw * 0.7), rng.random_range(0.0..fh));
        let glyphs = rng.random_range(10..40);
        for _ in 0..glyphs {
            let bits: u16 = rng.random();
            for bit in 0..15 {
                if bits & (1 << bit) != 0 {
                    let (gx, gy) = (x + (bit % 3) as f64 * dot, y + (bit / 3) as f64 * dot);
                    fill(&mut grey, gx, gy, gx + dot, gy + dot, paper * 0.08);
                }
            }
            x += 4.0 * dot;
        }
    }
    // A 1D barcode: bars and spaces of 1–4 units of 2 px.
    let (mut x, y) = (
        rng.random_range(0.0..fw * 0.6),
        rng.random_range(0.0..fh * 0.8),
    );
    let bar_height = rng.random_range(0.08..0.15) * fh;
    for bar in 0..60 {
        let width = 2.0 * rng.random_range(1..=4) as f64;
        if bar % 2 == 0 {
            fill(&mut grey, x, y, x + width, y + bar_height, paper * 0.06);
        }
        x += width;
    }
    // The quiet zone and the symbol area stay plain paper.
    for y in 0..h {
        for x in 0..w {
            if clear.contains(x as f64 + 0.5, y as f64 + 0.5) {
                grey[y * w + x] = paper;
            }
        }
    }
    grey
}

/// A symbol's printed modules and how they land on the canvas.
struct Artwork<'a> {
    to_module: &'a Homography,
    size: &'a SymbolSize,
    /// Row-major, true where a module is printed dark.
    dark_modules: &'a [bool],
    /// Dark modules cover their cell widened by `growth`/2 on every side.
    growth: f64,
    displaced: &'a Displacement,
}

impl Artwork<'_> {
    /// Adds the ink coverage (0..1) of the pixels in `region` to `coverage` (a canvas `width`
    /// pixels wide), from 4×4 samples per pixel mapped back into module space.
    fn rasterise(&self, coverage: &mut [f32], width: usize, region: PixelRegion) {
        const SUB: usize = 4;
        let (rows, cols) = (self.size.rows as isize, self.size.cols as isize);
        let is_dark = |r: isize, c: isize| {
            r >= 0 && c >= 0 && r < rows && c < cols && self.dark_modules[(r * cols + c) as usize]
        };
        let half = self.growth / 2.0;
        let inked = |u: f64, v: f64| -> bool {
            let (c, r) = (u.floor() as isize, v.floor() as isize);
            for dr in -1..=1 {
                for dc in -1..=1 {
                    let (mr, mc) = (r + dr, c + dc);
                    if is_dark(mr, mc)
                        && u >= mc as f64 - half
                        && u < (mc + 1) as f64 + half
                        && v >= mr as f64 - half
                        && v < (mr + 1) as f64 + half
                    {
                        return true;
                    }
                }
            }
            false
        };
        // A pixel wholly inside one module, clear of where a neighbour's growth reaches, is that
        // module's colour: the 16 samples would all agree (the map is affine; a displaced quarter
        // moves ink, so then every pixel is sampled).
        let whole_module = |x: f64, y: f64| -> Option<bool> {
            if self.displaced.shift != 0.0 {
                return None;
            }
            let margin = half.abs();
            let corners = [(x, y), (x + 1.0, y), (x, y + 1.0), (x + 1.0, y + 1.0)]
                .map(|(px, py)| self.to_module.map(Point::new(px, py)));
            let (c, r) = (corners[0].x.floor(), corners[0].y.floor());
            corners
                .iter()
                .all(|m| {
                    m.x >= c + margin
                        && m.x <= c + 1.0 - margin
                        && m.y >= r + margin
                        && m.y <= r + 1.0 - margin
                })
                .then(|| is_dark(r as isize, c as isize))
        };
        for y in region.y {
            for x in region.x.clone() {
                if let Some(dark) = whole_module(x as f64, y as f64) {
                    if dark {
                        coverage[y * width + x] = 1.0;
                    }
                    continue;
                }
                let mut hits = 0;
                for sy in 0..SUB {
                    for sx in 0..SUB {
                        let p = Point::new(
                            x as f64 + (sx as f64 + 0.5) / SUB as f64,
                            y as f64 + (sy as f64 + 0.5) / SUB as f64,
                        );
                        let m = self.displaced.undo(self.to_module.map(p));
                        if inked(m.x, m.y) {
                            hits += 1;
                        }
                    }
                }
                let c = &mut coverage[y * width + x];
                *c = (*c + hits as f32 / (SUB * SUB) as f32).min(1.0);
            }
        }
    }
}

/// Separable Gaussian blur, edges clamped.
fn gaussian_blur(buf: &mut [f32], w: usize, h: usize, sigma: f64) {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let norm: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / norm).collect();
    let mut tmp = vec![0f32; buf.len()];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for (k, wgt) in kernel.iter().enumerate() {
                let xx = (x as isize + k as isize - radius).clamp(0, w as isize - 1) as usize;
                s += buf[y * w + xx] * wgt;
            }
            tmp[y * w + x] = s;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for (k, wgt) in kernel.iter().enumerate() {
                let yy = (y as isize + k as isize - radius).clamp(0, h as isize - 1) as usize;
                s += tmp[yy * w + x] * wgt;
            }
            buf[y * w + x] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_stripped_exactly() {
        let mut cw = vec![66, 67, 68];
        pad(&mut cw, 12);
        assert_eq!(strip_padding(&cw), &[66, 67, 68]);
        assert_eq!(strip_padding(&[66, 67]), &[66, 67]);
    }

    #[test]
    fn encoding_fits_the_smallest_square_and_a_chosen_size() {
        let (size, cw) = encode("123456", false, None).unwrap();
        assert_eq!(size.name(), "10x10");
        assert_eq!(cw.len(), 8);
        // "123456" in ASCII digit pairs: 12+130, 34+130, 56+130
        assert_eq!(&cw[..3], &[142, 164, 186]);
        let (size, _) = encode("123456", false, Some("8x64")).unwrap();
        assert_eq!(size.name(), "8x64");
        assert!(encode("123456", false, Some("9x9")).is_err());
    }
}
