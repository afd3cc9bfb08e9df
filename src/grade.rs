//! ISO/IEC 15415 print quality of a read Data Matrix, measured on the grid the reader found.
//!
//! Every module (and the quiet-zone ring around the symbol) is sampled once through the
//! synthetic circular aperture and calibrated to reflectance. From those samples come the
//! global threshold, the reference decode and Symbol Contrast, Modulation and Reflectance
//! Margin (with the error-correction overlay), Fixed Pattern Damage and Unused Error
//! Correction; Axial and Grid Nonuniformity come from the module centres; Print Growth from
//! the edges of the clock-track modules.

use crate::datamatrix::SymbolRead;
use crate::datamatrix::decode::{decode_modules, read_codewords};
use crate::datamatrix::symbol::{Block, ModuleRole};
use crate::frame::Frame;
use crate::geometry::Point;
use crate::profile::Profile;
use serde::Serialize;

/// Grade thresholds (A, B, C, D) of ISO/IEC 15415 for parameters where more is better.
pub(crate) const SC_GRADES: [f64; 4] = [0.70, 0.55, 0.40, 0.20];
pub(crate) const MOD_GRADES: [f64; 4] = [0.50, 0.40, 0.30, 0.20];
pub(crate) const UEC_GRADES: [f64; 4] = [0.62, 0.50, 0.37, 0.25];
/// ... and where less is better.
pub(crate) const AN_GRADES: [f64; 4] = [0.06, 0.08, 0.10, 0.12];
pub(crate) const GN_GRADES: [f64; 4] = [0.38, 0.50, 0.63, 0.75];

/// A measured parameter and its grade (4 = A … 0 = F).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Measured {
    pub value: f64,
    pub grade: u8,
}

/// Fixed Pattern Damage: the grade, and the segments it comes from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct FixedPatternGrades {
    pub grade: u8,
    /// Solid left edge of the finder.
    pub l1: u8,
    /// Solid bottom edge of the finder.
    pub l2: u8,
    /// Quiet-zone modules beside L1 and below L2.
    pub qzl1: u8,
    pub qzl2: u8,
    /// Clock tracks and, in multi-region symbols, the alignment patterns.
    pub octasa: u8,
    /// Average over the segments at each grade level (decimal).
    pub average: f64,
}

/// Dark-module size minus X, as a fraction of X, along the symbol's own axes.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct PrintGrowth {
    pub horizontal: f64,
    pub vertical: f64,
}

/// Everything ISO/IEC 15415 measures on one image of a Data Matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Grading {
    /// 4 when the reference decode (global threshold, aperture samples) succeeds, else 0.
    pub decode: u8,
    pub symbol_contrast: Measured,
    /// Value: the lowest modulation of a data module, before the error-correction overlay.
    pub modulation: Measured,
    /// Value: the lowest margin of a data module (0 when one is on the wrong side).
    pub reflectance_margin: Measured,
    pub fixed_pattern_damage: FixedPatternGrades,
    pub axial_nonuniformity: Measured,
    pub grid_nonuniformity: Measured,
    /// Value: the lowest block's 1 − 2t/d.
    pub unused_error_correction: Measured,
    pub print_growth: PrintGrowth,
    /// The lowest parameter grade.
    pub scan_grade: u8,
    pub r_max: f64,
    pub r_min: f64,
    pub global_threshold: f64,
    /// Measured X dimension, pixels.
    pub x_dimension_px: f64,
    pub aperture_px: f64,
    /// Modules within the profile's quiet zone that read dark.
    pub quiet_zone_violations: usize,
    /// Every module as measured, for a picture of the symbol (the reports draw it).
    #[serde(skip)]
    pub modules: Vec<ModuleMark>,
}

/// One module of a graded symbol, row-major in the symbol's own orientation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModuleMark {
    /// The measured centre, in frame pixels.
    pub centre: Point,
    /// Grade 4..0 of the module's reflectance margin: its modulation when it reads as its
    /// nominal colour (the corrected data's, or the finder's and clock's), 0 when it does
    /// not.
    pub margin_grade: u8,
    /// The module belongs to a codeword that was read in error (corrected by Reed–Solomon).
    pub codeword_in_error: bool,
}

/// Grades a symbol the reader found. `px_per_mm` is the image resolution when known (it
/// lets a profile's aperture be set in mils).
pub fn grade(
    frame: &Frame,
    symbol: &SymbolRead,
    profile: &Profile,
    px_per_mm: Option<f64>,
) -> Grading {
    let size = symbol.size;
    let (rows, cols) = (size.rows, size.cols);
    let x_px = symbol.grid.module_px();
    let aperture_px = match (profile.aperture.mils, px_per_mm) {
        (Some(mils), Some(ppmm)) => mils as f64 * 0.0254 * ppmm,
        _ => profile.aperture.x_fraction * x_px,
    };
    let aperture = Aperture::new(aperture_px);
    let margin = (profile.quiet_zone_modules.ceil() as usize).clamp(1, 4);
    let samples = Samples::measure(frame, symbol, &aperture, profile, margin);

    // Symbol contrast and the global threshold over the inspection area: the symbol and
    // one module of quiet zone.
    let (mut r_max, mut r_min) = (f64::MIN, f64::MAX);
    for r in -1..=rows as isize {
        for c in -1..=cols as isize {
            let v = samples.at(r, c);
            r_max = r_max.max(v);
            r_min = r_min.min(v);
        }
    }
    let sc = (r_max - r_min).max(0.0);
    let gt = (r_max + r_min) / 2.0;
    let light_on_dark = symbol.grid.light_on_dark;
    // "Dark" is the finder's colour: the light one on a light-on-dark symbol.
    let inked = |r: isize, c: isize| (samples.at(r, c) < gt) != light_on_dark;
    let modulation = |r: isize, c: isize| {
        if sc > 0.0 {
            2.0 * (samples.at(r, c) - gt).abs() / sc
        } else {
            0.0
        }
    };

    let reference = decode_modules(
        size,
        |r, c| inked(r as isize, c as isize),
        symbol.decoded.mirrored,
    );
    let decode = if reference.is_ok() { 4 } else { 0 };
    // Nominal colours come from the corrected data: the reference decode's, or the reader's
    // when the reference decode fails (the grade is 0 then, the other figures diagnose why).
    let corrected = reference
        .as_ref()
        .map(|d| d.codewords.clone())
        .unwrap_or_else(|_| symbol.decoded.codewords.clone());
    let nominal = size.module_colours(&corrected);
    let read = read_codewords(size, |r, c| inked(r as isize, c as isize));
    let in_error: Vec<bool> = read.iter().zip(&corrected).map(|(a, b)| a != b).collect();

    // Per-module modulation and margin → per-codeword grades (worst module), and every
    // module's mark for the reports' picture, in one pass.
    let total = size.total_codewords();
    let (mut mod_cw, mut rm_cw) = (vec![4u8; total], vec![4u8; total]);
    let (mut mod_min, mut rm_min) = (f64::MAX, f64::MAX);
    let mut modules = Vec::with_capacity(rows * cols);
    for (i, role) in size.roles().iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let (ri, ci) = (r as isize, c as isize);
        let m = modulation(ri, ci);
        let margin = if inked(ri, ci) == nominal[i] { m } else { 0.0 };
        let mut codeword_in_error = false;
        if let ModuleRole::Data(cb) = role {
            let k = cb.codeword as usize;
            mod_cw[k] = mod_cw[k].min(grade_at_least(m, &MOD_GRADES));
            rm_cw[k] = rm_cw[k].min(grade_at_least(margin, &MOD_GRADES));
            mod_min = mod_min.min(m);
            rm_min = rm_min.min(margin);
            codeword_in_error = in_error[k];
        }
        modules.push(ModuleMark {
            centre: symbol.centre(r, c),
            margin_grade: grade_at_least(margin, &MOD_GRADES),
            codeword_in_error,
        });
    }
    let blocks = size.blocks(symbol.decoded.block_order);
    let overlay = |cw_grades: &[u8]| {
        blocks
            .iter()
            .map(|b| overlay_grade(b, cw_grades, &in_error))
            .min()
            .unwrap_or(0)
    };
    let modulation_grade = Measured {
        value: mod_min.min(1.0),
        grade: overlay(&mod_cw),
    };
    let reflectance_margin = Measured {
        value: rm_min.min(1.0),
        grade: overlay(&rm_cw),
    };

    let unused_error_correction = match &reference {
        Ok(d) => {
            let worst = d
                .blocks
                .iter()
                .map(|b| 1.0 - 2.0 * b.corrected as f64 / b.ec_codewords as f64)
                .fold(1.0, f64::min);
            Measured {
                value: worst,
                grade: grade_at_least(worst, &UEC_GRADES),
            }
        }
        Err(_) => Measured {
            value: 0.0,
            grade: 0,
        },
    };

    let fixed_pattern_damage = fixed_pattern_damage(symbol, profile, &inked, &modulation);
    let axial_nonuniformity = axial_nonuniformity(symbol);
    let grid_nonuniformity = grid_nonuniformity(symbol, x_px);
    let print_growth = print_growth(frame, symbol, profile, gt);
    let symbol_contrast = Measured {
        value: sc,
        grade: grade_at_least(sc, &SC_GRADES),
    };
    let quiet_zone_violations = (1..=margin as isize)
        .flat_map(|ring| ring_modules(rows, cols, ring))
        .filter(|&(r, c)| inked(r, c))
        .count();

    let scan_grade = [
        decode,
        symbol_contrast.grade,
        modulation_grade.grade,
        reflectance_margin.grade,
        fixed_pattern_damage.grade,
        axial_nonuniformity.grade,
        grid_nonuniformity.grade,
        unused_error_correction.grade,
    ]
    .into_iter()
    .min()
    .unwrap_or(0);

    Grading {
        decode,
        symbol_contrast,
        modulation: modulation_grade,
        reflectance_margin,
        fixed_pattern_damage,
        axial_nonuniformity,
        grid_nonuniformity,
        unused_error_correction,
        print_growth,
        scan_grade,
        r_max,
        r_min,
        global_threshold: gt,
        x_dimension_px: x_px,
        aperture_px,
        quiet_zone_violations,
        modules,
    }
}

/// Grade 4..0 of a value against A, B, C, D lower bounds.
fn grade_at_least(value: f64, bounds: &[f64; 4]) -> u8 {
    bounds
        .iter()
        .position(|&b| value >= b)
        .map_or(0, |i| 4 - i as u8)
}

/// Grade 4..0 of a value against A, B, C, D upper bounds.
fn grade_at_most(value: f64, bounds: &[f64; 4]) -> u8 {
    bounds
        .iter()
        .position(|&b| value <= b)
        .map_or(0, |i| 4 - i as u8)
}

/// The error-correction overlay of one Reed–Solomon block: at each level L, codewords graded
/// below L are erasures; the block earns min(L, grade of the error correction left), and
/// keeps the best level.
fn overlay_grade(block: &Block, cw_grades: &[u8], in_error: &[bool]) -> u8 {
    let members: Vec<usize> = block.members().collect();
    let d = block.ec.len();
    (1..=4u8)
        .map(|level| {
            let erasures = members.iter().filter(|&&i| cw_grades[i] < level).count();
            let errors = members
                .iter()
                .filter(|&&i| cw_grades[i] >= level && in_error[i])
                .count();
            let used = erasures + 2 * errors;
            let uec_grade = if used > d {
                0
            } else {
                grade_at_least(1.0 - used as f64 / d as f64, &UEC_GRADES)
            };
            level.min(uec_grade)
        })
        .max()
        .unwrap_or(0)
}

/// Sampling points of a circular aperture: a square lattice of at most one pixel pitch, at
/// least eight and at most 65 points across, clipped to the circle.
struct Aperture {
    offsets: Vec<Point>,
}

impl Aperture {
    fn new(diameter_px: f64) -> Self {
        let radius = diameter_px.max(0.0) / 2.0;
        // At most 65 points across, whatever the diameter (a wrong --dpi must not explode).
        let step = (diameter_px / 8.0).clamp(0.05, 1.0).max(radius / 32.0);
        let n = (radius / step).floor() as isize;
        let mut offsets = Vec::new();
        for j in -n..=n {
            for i in -n..=n {
                let p = Point::new(i as f64 * step, j as f64 * step);
                if p.norm() <= radius {
                    offsets.push(p);
                }
            }
        }
        Aperture { offsets }
    }

    /// Mean grey level through the aperture at `p`.
    fn mean_grey(&self, frame: &Frame, p: Point) -> f64 {
        let sum: f64 = self
            .offsets
            .iter()
            .map(|o| frame.bilinear(p.x + o.x, p.y + o.y))
            .sum();
        sum / self.offsets.len() as f64
    }
}

/// Aperture reflectance of every module and of `margin` rings of quiet zone around them.
struct Samples {
    rows: usize,
    cols: usize,
    margin: usize,
    reflectance: Vec<f64>,
}

impl Samples {
    fn measure(
        frame: &Frame,
        symbol: &SymbolRead,
        aperture: &Aperture,
        profile: &Profile,
        margin: usize,
    ) -> Self {
        let (rows, cols) = (symbol.size.rows, symbol.size.cols);
        let m = margin as isize;
        let mut reflectance = Vec::with_capacity((rows + 2 * margin) * (cols + 2 * margin));
        for r in -m..rows as isize + m {
            for c in -m..cols as isize + m {
                let p = module_position(symbol, r, c);
                reflectance.push(
                    profile
                        .calibration
                        .reflectance(aperture.mean_grey(frame, p)),
                );
            }
        }
        Samples {
            rows,
            cols,
            margin,
            reflectance,
        }
    }

    fn at(&self, r: isize, c: isize) -> f64 {
        let m = self.margin as isize;
        let width = self.cols as isize + 2 * m;
        debug_assert!(r >= -m && r < self.rows as isize + m && c >= -m);
        self.reflectance[((r + m) * width + c + m) as usize]
    }
}

/// Image position of module (`r`, `c`) in symbol orientation; outside the symbol (the
/// quiet zone) it continues the grid from the nearest edge module.
fn module_position(symbol: &SymbolRead, r: isize, c: isize) -> Point {
    let (rows, cols) = (symbol.size.rows as isize, symbol.size.cols as isize);
    let (rc, cc) = (r.clamp(0, rows - 1), c.clamp(0, cols - 1));
    let at = |r: isize, c: isize| symbol.centre(r as usize, c as usize);
    let base = at(rc, cc);
    if (rc, cc) == (r, c) {
        return base;
    }
    let col_step = if cc + 1 < cols {
        at(rc, cc + 1) - base
    } else {
        base - at(rc, cc - 1)
    };
    let row_step = if rc + 1 < rows {
        at(rc + 1, cc) - base
    } else {
        base - at(rc - 1, cc)
    };
    base + col_step * (c - cc) as f64 + row_step * (r - rc) as f64
}

/// Modules of the quiet-zone ring `ring` modules outside the symbol.
fn ring_modules(rows: usize, cols: usize, ring: isize) -> impl Iterator<Item = (isize, isize)> {
    let (top, left) = (-ring, -ring);
    let (bottom, right) = (rows as isize - 1 + ring, cols as isize - 1 + ring);
    (left..=right)
        .flat_map(move |c| [(top, c), (bottom, c)])
        .chain((top + 1..bottom).flat_map(move |r| [(r, left), (r, right)]))
}

/// Fixed Pattern Damage from the segments L1, L2, QZL1, QZL2 and OCTASA. A module is damaged
/// at grade level L when it reads the wrong colour or its modulation grades below L; each
/// segment keeps its best min(L, damage grade at L), and so does the average of the segments.
fn fixed_pattern_damage(
    symbol: &SymbolRead,
    profile: &Profile,
    inked: &dyn Fn(isize, isize) -> bool,
    modulation: &dyn Fn(isize, isize) -> f64,
) -> FixedPatternGrades {
    let size = symbol.size;
    let (rows, cols) = (size.rows as isize, size.cols as isize);
    // (row, col, nominal finder colour)
    let l1: Vec<(isize, isize, bool)> = (0..rows).map(|r| (r, 0, true)).collect();
    let l2: Vec<(isize, isize, bool)> = (0..cols).map(|c| (rows - 1, c, true)).collect();
    let qzl1: Vec<(isize, isize, bool)> = (0..rows).map(|r| (r, -1, false)).collect();
    let qzl2: Vec<(isize, isize, bool)> = (0..cols).map(|c| (rows, c, false)).collect();
    let octasa: Vec<(isize, isize, bool)> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter(|&(r, c)| c != 0 && r != rows - 1)
        .filter_map(|(r, c)| size.fixed_dark(r as usize, c as usize).map(|d| (r, c, d)))
        .collect();
    let thresholds = &profile.fixed_pattern_damage;
    let damaged = |segment: &[(isize, isize, bool)], level: u8| {
        segment
            .iter()
            .filter(|&&(r, c, dark)| {
                inked(r, c) != dark || grade_at_least(modulation(r, c), &MOD_GRADES) < level
            })
            .count()
    };
    let count_grade = |n: usize| {
        thresholds
            .segment_damaged_modules
            .iter()
            .position(|&limit| n as u32 <= limit)
            .map_or(0, |i| 4 - i as u8)
    };
    let fraction_grade = |n: usize, of: usize| {
        let share = if of == 0 { 0.0 } else { n as f64 / of as f64 };
        grade_at_most(share, &thresholds.octasa_damaged_fraction)
    };
    // Damage grade of every segment at every level L = 1..4.
    let counted = [&l1, &l2, &qzl1, &qzl2];
    let at_level = |level: u8| -> [u8; 5] {
        let mut g = [0u8; 5];
        for (k, seg) in counted.iter().enumerate() {
            g[k] = count_grade(damaged(seg, level));
        }
        g[4] = fraction_grade(damaged(&octasa, level), octasa.len());
        g
    };
    let levels: Vec<(u8, [u8; 5])> = (1..=4u8).map(|l| (l, at_level(l))).collect();
    let segment = |k: usize| levels.iter().map(|&(l, g)| l.min(g[k])).max().unwrap_or(0);
    let average = levels
        .iter()
        .map(|&(l, g)| (l as f64).min(g.iter().map(|&x| x as f64).sum::<f64>() / 5.0))
        .fold(0.0, f64::max);
    let grades = [segment(0), segment(1), segment(2), segment(3), segment(4)];
    let lowest = grades.iter().copied().min().unwrap_or(0);
    FixedPatternGrades {
        grade: lowest.min(average.floor() as u8),
        l1: grades[0],
        l2: grades[1],
        qzl1: grades[2],
        qzl2: grades[3],
        octasa: grades[4],
        average,
    }
}

/// |X − Y| / mean(X, Y) over the mean column and row pitches.
fn axial_nonuniformity(symbol: &SymbolRead) -> Measured {
    let (x, y) = (symbol.grid.column_pitch(), symbol.grid.row_pitch());
    let an = if x + y > 0.0 {
        (x - y).abs() / ((x + y) / 2.0)
    } else {
        1.0
    };
    Measured {
        value: an,
        grade: grade_at_most(an, &AN_GRADES),
    }
}

/// Largest distance of a module centre from a regular grid fitted to all of them by least
/// squares (an affine map of module indices), in units of X.
fn grid_nonuniformity(symbol: &SymbolRead, x_px: f64) -> Measured {
    let (rows, cols) = (symbol.size.rows, symbol.size.cols);
    let points: Vec<([f64; 3], Point)> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .map(|(r, c)| ([c as f64, r as f64, 1.0], symbol.centre(r, c)))
        .collect();
    let gn = match fit_affine(&points) {
        Some((ax, ay)) if x_px > 0.0 => {
            points
                .iter()
                .map(|(u, p)| {
                    let fx = ax[0] * u[0] + ax[1] * u[1] + ax[2];
                    let fy = ay[0] * u[0] + ay[1] * u[1] + ay[2];
                    p.distance(Point::new(fx, fy))
                })
                .fold(0.0, f64::max)
                / x_px
        }
        _ => f64::INFINITY,
    };
    Measured {
        value: gn,
        grade: grade_at_most(gn, &GN_GRADES),
    }
}

/// Least-squares x = a·u, y = b·u over (u, point) pairs, u = (col, row, 1).
fn fit_affine(points: &[([f64; 3], Point)]) -> Option<([f64; 3], [f64; 3])> {
    let mut ata = [[0.0; 3]; 3];
    let (mut atx, mut aty) = ([0.0; 3], [0.0; 3]);
    for (u, p) in points {
        for i in 0..3 {
            for j in 0..3 {
                ata[i][j] += u[i] * u[j];
            }
            atx[i] += u[i] * p.x;
            aty[i] += u[i] * p.y;
        }
    }
    Some((solve3(ata, atx)?, solve3(ata, aty)?))
}

/// Solves a 3×3 system by Cramer's rule.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-12 {
        return None;
    }
    let mut x = [0.0; 3];
    for (k, xk) in x.iter_mut().enumerate() {
        let mut m = a;
        for i in 0..3 {
            m[i][k] = b[i];
        }
        *xk = det(m) / d;
    }
    Some(x)
}

/// Print growth from the isolated dark modules of the clock tracks: along the top track
/// (horizontal) and the right-hand track (vertical), each dark module's width between its
/// two threshold crossings, against the pitch of its light neighbours.
fn print_growth(frame: &Frame, symbol: &SymbolRead, profile: &Profile, gt: f64) -> PrintGrowth {
    let (rows, cols) = (symbol.size.rows, symbol.size.cols);
    let light_on_dark = symbol.grid.light_on_dark;
    let inked = |p: Point| {
        (profile.calibration.reflectance(frame.bilinear(p.x, p.y)) < gt) != light_on_dark
    };
    // Width of the dark run between two light module centres, in units of their pitch.
    let run = |a: Point, b: Point| -> Option<f64> {
        const STEPS: usize = 96;
        let at = |i: usize| a.lerp(b, i as f64 / STEPS as f64);
        let first = (0..=STEPS).find(|&i| inked(at(i)))?;
        let last = (0..=STEPS).rev().find(|&i| inked(at(i)))?;
        if first == 0 || last == STEPS {
            return None;
        }
        // Sub-step crossings by halving between the last light and first dark sample.
        let crossing = |light: f64, dark: f64| {
            let (mut lo, mut hi) = (light, dark);
            for _ in 0..12 {
                let mid = (lo + hi) / 2.0;
                if inked(a.lerp(b, mid)) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            (lo + hi) / 2.0
        };
        let s = STEPS as f64;
        let enter = crossing((first - 1) as f64 / s, first as f64 / s);
        let leave = crossing((last + 1) as f64 / s, last as f64 / s);
        Some((leave - enter) * 2.0)
    };
    let mean = |v: Vec<f64>| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64 - 1.0
        }
    };
    let horizontal: Vec<f64> = (2..cols.saturating_sub(1))
        .step_by(2)
        .filter_map(|c| run(symbol.centre(0, c - 1), symbol.centre(0, c + 1)))
        .collect();
    let vertical: Vec<f64> = (1..rows.saturating_sub(2))
        .step_by(2)
        .filter_map(|r| {
            run(
                symbol.centre(r - 1, cols - 1),
                symbol.centre(r + 1, cols - 1),
            )
        })
        .collect();
    PrintGrowth {
        horizontal: mean(horizontal),
        vertical: mean(vertical),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_the_tables() {
        assert_eq!(grade_at_least(0.62, &SC_GRADES), 3);
        assert_eq!(grade_at_least(0.45, &SC_GRADES), 2);
        assert_eq!(grade_at_least(0.70, &SC_GRADES), 4);
        assert_eq!(grade_at_least(0.19, &SC_GRADES), 0);
        assert_eq!(grade_at_most(0.077, &AN_GRADES), 3);
        assert_eq!(grade_at_most(0.13, &AN_GRADES), 0);
        assert_eq!(grade_at_most(0.38, &GN_GRADES), 4);
    }

    #[test]
    fn overlay_lets_error_correction_absorb_low_codewords() {
        // One block of 3 data + 5 EC codewords; one codeword graded D, none in error.
        let block = Block {
            data: vec![0, 1, 2],
            ec: vec![3, 4, 5, 6, 7],
        };
        let mut grades = vec![4u8; 8];
        grades[1] = 1;
        let no_errors = vec![false; 8];
        // At level 4 the D codeword is an erasure: UEC = 1 - 1/5 = 0.8 → A; so 4.
        assert_eq!(overlay_grade(&block, &grades, &no_errors), 4);
        // Three D codewords: at level 4, UEC = 0.4 → C (2); at level 1 they count: 1 → 1.
        grades[2] = 1;
        grades[3] = 1;
        assert_eq!(overlay_grade(&block, &grades, &no_errors), 2);
        // An error among the good codewords costs two.
        let mut errors = no_errors.clone();
        errors[5] = true;
        // level 4: 3 + 2 = 5 > 4? used = 5 ≤ d = 5 → UEC 0 → 0; level 1: used 2 → 0.6 → B(3) → 1.
        assert_eq!(overlay_grade(&block, &grades, &errors), 1);
    }

    #[test]
    fn aperture_fills_its_circle() {
        let a = Aperture::new(8.0);
        let area = a.offsets.len() as f64 * 1.0;
        assert!((area - std::f64::consts::PI * 16.0).abs() < 8.0, "{area}");
        assert!(a.offsets.iter().all(|o| o.norm() <= 4.0));
        assert_eq!(Aperture::new(0.0).offsets.len(), 1);
        assert!(Aperture::new(1e9).offsets.len() <= 65 * 65);
    }
}
