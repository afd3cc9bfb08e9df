//! The outline tracer: the finder L and the clock tracks of a Data Matrix traced in a binary
//! image from scan lines through it (any rotation, perspective), the scheme of zxing-cpp's
//! Data Matrix detector ([`super::edge`] follows the edges, [`super::line`] fits them). A
//! candidate is four outer corners and a module count; the grid stage ([`super::grid`]) turns
//! it into measured module centres.
//!
//! The algorithm is zxing-cpp's (`core/src/datamatrix/DMDetector.cpp`, copyright Axel
//! Waggershauser, Apache License 2.0), rewritten here; its alignment-pattern and timing-track
//! corrections of the sample are left out, as the grid stage measures the clock tracks itself.

use super::edge::{EdgeTracer, History};
use super::line::{RegressionLine, intersect, normalized};
use super::symbol::size_for;
use crate::binarize::Binary;
use crate::geometry::{Homography, Point};
use crate::reader::ScanLines;

/// A symbol outline found in a frame.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Outer corners in module order: (0,0) top-left = clock/finder corner, (cols,0),
    /// (cols,rows), (0,rows) = the corner of the finder L.
    pub corners: [Point; 4],
    pub rows: usize,
    pub cols: usize,
    /// The detector's own module sample, used when the measured grid cannot be read.
    pub bits: Option<Binary>,
    /// Found in the inverted binary image: light modules on a dark ground.
    pub light_on_dark: bool,
}

/// Traces the symbol outlines in a binary image whose top-left pixel is `origin` in the
/// frame, handing each to `found` as it is traced, until `found` returns something. Scan
/// lines run across the image in each of the four directions: the `lines` through its centre,
/// or parallel lines a minimum symbol apart across all of it. Stopping at the first outline
/// that reads spares the scan lines after it.
pub fn trace<T>(
    bits: &Binary,
    origin: Point,
    lines: ScanLines,
    light_on_dark: bool,
    found: &mut dyn FnMut(Candidate) -> Option<T>,
) -> Option<T> {
    let (width, height) = (bits.width() as i32, bits.height() as i32);
    let thorough = lines != ScanLines::Centre;
    let mut history = thorough.then(|| History::new(width as usize, height as usize));
    let mut sides: [RegressionLine; 4] = Default::default();
    let (cx, cy) = (width / 2, height / 2);
    for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
        // From the image's border opposite the direction, half a minimum symbol in.
        let start = Point::new(
            (cx - cx * dx + MIN_SYMBOL_PIXELS / 2 * dx) as f64 + 0.5,
            (cy - cy * dy + MIN_SYMBOL_PIXELS / 2 * dy) as f64 + 0.5,
        );
        if let Some(history) = &mut history {
            history.restart();
        }
        for i in 1.. {
            let direction = Point::new(dx as f64, dy as f64);
            let mut tracer = EdgeTracer::new(bits, start, direction, history.as_ref());
            let offset = i / 2 * MIN_SYMBOL_PIXELS * if i & 1 == 1 { -1 } else { 1 };
            tracer.p = tracer.p + tracer.right() * offset as f64;
            if !tracer.is_in(tracer.p) {
                break;
            }
            if offset == 0 && lines == ScanLines::OffCentre {
                continue;
            }
            while tracer.move_to_next_white_after_black() {
                if let Some(candidate) = outline_at(&tracer, &mut sides, bits, light_on_dark) {
                    let candidate = Candidate {
                        corners: candidate.corners.map(|p| origin + p),
                        ..candidate
                    };
                    if let Some(result) = found(candidate) {
                        return Some(result);
                    }
                }
            }
            if !thorough {
                break;
            }
        }
    }
    None
}

/// The smallest symbol worth a scan line: 8 modules of 2 pixels.
const MIN_SYMBOL_PIXELS: i32 = 16;

/// Whether the symbol's module counts name an ECC200 size, as printed or mirrored.
fn is_size(rows: i32, cols: i32) -> bool {
    let (Ok(rows), Ok(cols)) = (usize::try_from(rows), usize::try_from(cols)) else {
        return false;
    };
    size_for(rows, cols).is_some() || size_for(cols, rows).is_some()
}

/// The outline whose finder's left side the scan line `start` has just crossed (light after
/// dark): up and down that side, along the bottom, then the clock tracks of the top and the
/// right side, each check failing fast on what is not a symbol.
fn outline_at(
    start: &EdgeTracer,
    lines: &mut [RegressionLine; 4],
    bits: &Binary,
    light_on_dark: bool,
) -> Option<Candidate> {
    macro_rules! check {
        ($condition:expr) => {
            if !$condition {
                return None;
            }
        };
    }
    lines.iter_mut().for_each(RegressionLine::reset);
    let [line_l, line_b, line_r, line_t] = lines;
    let (mut tl, mut bl, mut br, mut tr) = Default::default();

    // The left side upwards, round the top-left corner.
    let mut t = *start;
    t.turn_right();
    t.state = 1;
    check!(t.trace_line(t.right(), line_l));
    check!(t.trace_corner(t.right(), &mut tl));
    line_l.reverse();
    let mut tl_tracer = t;

    // The left side downwards, round the finder's corner.
    t = *start;
    t.state = 1;
    t.set_direction(tl_tracer.right());
    check!(t.trace_line(t.left(), line_l));
    // Traced on round the corner and along the bottom: back to just before the corner.
    if line_l.truncate_if_l_shape() {
        t.p = *line_l.points().last()?;
    }
    t.update_direction_from_origin(tl);
    let up = t.back();
    check!(t.trace_corner(t.left(), &mut bl));
    // A leg shorter than 8 pixels (a letter's stroke) fails the L's check below whatever the
    // bottom: not worth tracing it.
    let len_l = tl.distance(bl) - 1.0;
    if len_l < 8.0 {
        return None;
    }

    // The bottom, rightwards.
    t.state = 2;
    check!(t.trace_line(t.left(), line_b));
    t.update_direction_from_origin(bl);
    let right = t.front();
    check!(t.trace_corner(t.left(), &mut br));

    let len_b = bl.distance(br) - 1.0;
    check!(len_b >= 10.0 && len_b >= len_l / 4.0 && len_b <= len_l * 18.0);

    // A plausible L: the top's clock track half way (the bottom has at least 10 modules),
    // the right side's up to it, then the rest of the top across the right side.
    let mut max_step_size = (len_b / 5.0 + 1.0) as i32;
    tl_tracer.set_direction(right);
    check!(tl_tracer.trace_gaps(
        tl_tracer.right(),
        line_t,
        max_step_size,
        &RegressionLine::default(),
        len_b / 2.0
    ));
    max_step_size = (line_t.length() / 3).min((len_l / 5.0) as i32) * 2;
    t.set_direction(up);
    t.state = 3;
    check!(t.trace_gaps(t.left(), line_r, max_step_size, line_t, 0.0));
    check!(t.trace_corner(t.left(), &mut tr));

    let len_t = tl.distance(tr) - 1.0;
    let len_r = tr.distance(br) - 1.0;
    check!(
        (len_t - len_b).abs() / len_b < 0.5
            && (len_r - len_l).abs() / len_l < 0.5
            && line_t.points().len() >= 5
            && line_r.points().len() >= 5
    );
    check!(tl_tracer.trace_gaps(tl_tracer.right(), line_t, max_step_size, line_r, 0.0));

    for line in [&mut *line_l, &mut *line_b, &mut *line_t, &mut *line_r] {
        line.evaluate(Some(1.0), false);
    }
    // The corners to sub-pixel precision, where the fitted sides cross.
    bl = intersect(line_b, line_l);
    tl = intersect(line_t, line_l);
    tr = intersect(line_t, line_r);
    br = intersect(line_b, line_r);

    // Each clock track has one light gap per two modules.
    // A count no symbol has (two near-parallel sides meet far off) is no count.
    let split = |modules: f64| {
        if modules.is_normal() && modules.abs() <= 144.0 {
            let whole = modules.round();
            (whole as i32, (modules - whole).abs())
        } else {
            (0, f64::INFINITY)
        }
    };
    let (dim_t, frac_t) = split(line_t.modules(tl, tr));
    let (dim_r, frac_r) = split(line_r.modules(br, tr));
    let (mut cols, mut rows) = (dim_t * 2, dim_r * 2);
    // Almost square but no size: all rectangular sizes differ by at least 10 modules, so a
    // square one; the side that names a size, or else the one nearer a whole count.
    if !is_size(rows, cols) && (cols - rows).abs() < 10 {
        let (by_top, by_right) = (is_size(cols, cols), is_size(rows, rows));
        let side = if by_top != by_right {
            if by_top { cols } else { rows }
        } else if frac_r < frac_t {
            rows
        } else {
            cols
        };
        (cols, rows) = (side, side);
    }
    check!(is_size(rows, cols));

    // From the centres of the light pixels outside the symbol in to its border.
    let moved_towards = |a: Point, b1: Point, b2: Point, d: f64| {
        a + normalized(normalized(b1 - a) + normalized(b2 - a)) * d
    };
    let corners = [
        moved_towards(tl, tr, bl, 0.5),
        // The jagged top and right sides lean inward a little: moved less.
        moved_towards(tr, br, tl, 0.3),
        moved_towards(br, bl, tr, 0.5),
        moved_towards(bl, tl, br, 0.5),
    ];
    let (rows, cols) = (rows as usize, cols as usize);
    Some(Candidate {
        corners,
        rows,
        cols,
        bits: sample(bits, &corners, rows, cols),
        light_on_dark,
    })
}

/// The binary image's pixel at each module centre of the outline `corners` (top-left first,
/// clockwise): the detector's own reading of the modules. None when a centre falls outside.
fn sample(bits: &Binary, corners: &[Point; 4], rows: usize, cols: usize) -> Option<Binary> {
    let (w, h) = (cols as f64, rows as f64);
    let square = [
        Point::new(0.0, 0.0),
        Point::new(w, 0.0),
        Point::new(w, h),
        Point::new(0.0, h),
    ];
    let to_image = Homography::fit(&square, corners)?;
    let mut modules = Binary::empty(cols, rows);
    for row in 0..rows {
        for col in 0..cols {
            let p = to_image.map(Point::new(col as f64 + 0.5, row as f64 + 0.5));
            if bits.pixel(p)? {
                modules.set(col, row);
            }
        }
    }
    Some(modules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binarize::Binaries;
    use crate::synth::{GenSpec, render};

    /// Every outline [`trace`] finds.
    fn candidates(
        bits: &Binary,
        origin: Point,
        lines: ScanLines,
        light_on_dark: bool,
    ) -> Vec<Candidate> {
        let mut all = Vec::new();
        trace::<()>(bits, origin, lines, light_on_dark, &mut |c| {
            all.push(c);
            None
        });
        all
    }

    /// Renders `spec`, traces its local binarisation thoroughly and returns the candidates
    /// with the symbol's true outer corners (module (0, 0), (cols, 0), (cols, rows),
    /// (0, rows) mapped into the image) and size.
    fn traced(spec: GenSpec) -> (Vec<Candidate>, [Point; 4], (usize, usize)) {
        let (truth, frame) = render(&spec).expect("renders").into_frame();
        let size = crate::datamatrix::symbol::parse_size(&truth.size).expect("a size");
        let (rows, cols) = (size.rows as f64, size.cols as f64);
        let to_image = truth.module_to_image();
        let corners = [(0.0, 0.0), (cols, 0.0), (cols, rows), (0.0, rows)]
            .map(|(x, y)| to_image.map(Point::new(x, y)));
        let binaries = Binaries::local(&frame);
        let light_on_dark = spec.light_on_dark;
        let bits = binaries.crop(frame.rect(), light_on_dark, &[]);
        let found = candidates(&bits, Point::default(), ScanLines::All, light_on_dark);
        (found, corners, (size.rows, size.cols))
    }

    fn spec(text: &str, size: &str, module_px: f64, rotation_deg: f64) -> GenSpec {
        GenSpec {
            text: text.into(),
            size: Some(size.into()),
            module_px,
            rotation_deg,
            ..GenSpec::default()
        }
    }

    #[test]
    fn traces_the_true_outline_and_size_of_rendered_symbols() {
        let cases = [
            spec("SQUARE-16", "16x16", 6.0, 0.0),
            spec("TURNED-24", "24x24", 4.0, 33.0),
            // Long rectangles at 2.5–3 px/module, turned: the top's clock track is traced
            // half its length before the right side, which a first half of four gaps would
            // cut far short.
            spec("RECT-8X64", "8x64", 3.0, 59.6),
            spec(
                "RECT-8X144-LONG-ENOUGH-FOR-THE-BIG-ONE",
                "8x144",
                2.5,
                308.6,
            ),
            spec("RECT-16X48", "16x48", 3.0, 200.0),
        ];
        for case in cases {
            let name = case.size.clone().unwrap();
            let (found, truth, (rows, cols)) = traced(case);
            let candidate = found
                .iter()
                .find(|c| (c.rows, c.cols) == (rows, cols))
                .unwrap_or_else(|| panic!("{name}: no outline of its size in {found:?}"));
            for (got, want) in candidate.corners.iter().zip(truth) {
                assert!(
                    got.distance(want) < 1.5,
                    "{name}: corner {got:?}, true {want:?}"
                );
            }
            assert!(candidate.bits.is_some(), "{name}: sampled");
        }
    }

    #[test]
    fn a_light_on_dark_symbol_is_traced_in_the_inverted_image() {
        let (found, _, size) = traced(GenSpec {
            light_on_dark: true,
            ..spec("LIGHT-ON-DARK", "18x18", 5.0, 12.0)
        });
        assert!(
            found
                .iter()
                .any(|c| (c.rows, c.cols) == size && c.light_on_dark)
        );
    }

    #[test]
    fn texture_without_a_finder_gives_no_outline() {
        // A checkerboard of 4-pixel cells: edges everywhere, no solid L.
        let (w, h) = (200, 160);
        let mut bits = Binary::empty(w, h);
        for y in 0..h {
            for x in 0..w {
                if (x / 4 + y / 4) % 2 == 0 {
                    bits.set(x, y);
                }
            }
        }
        assert!(candidates(&bits, Point::default(), ScanLines::All, false).is_empty());
    }
}
