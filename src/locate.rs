//! Finding candidate symbols in a frame: binarise, then trace the finder L and the clock
//! tracks with rxing's port of the zxing-cpp Data Matrix detector (any rotation, perspective,
//! several symbols per frame). A candidate is four outer corners and a module count; the
//! grid stage ([`crate::grid`]) turns it into measured module centres.

use crate::frame::Frame;
use crate::geometry::Point;
use rxing::common::{BitMatrix, DetectorRXingResult};
use rxing::datamatrix::detector::zxing_cpp_detector;

/// A symbol outline found in a frame.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Outer corners in module order: (0,0) top-left = clock/finder corner, (cols,0),
    /// (cols,rows), (0,rows) = the corner of the finder L.
    pub corners: [Point; 4],
    pub rows: usize,
    pub cols: usize,
    /// The detector's own module sample, used when the measured grid cannot be read.
    pub bits: BitMatrix,
    /// Found in the inverted binary image: light modules on a dark ground.
    pub light_on_dark: bool,
}

impl Candidate {
    pub fn centre(&self) -> Point {
        let s = self.corners.iter().fold(Point::default(), |a, &p| a + p);
        s * 0.25
    }
}

/// Side of the square tiles over which the binariser measures local brightness.
const TILE: usize = 8;
/// Tiles whose grey range is below this are treated as flat background.
const MIN_TILE_RANGE: u8 = 24;

/// Local-average binarisation (the scheme of zxing's hybrid binariser): each 8×8 tile gets a
/// black point from its own range, each pixel is compared with the mean black point of the
/// 5×5 tiles around it. `true` = darker than its surroundings.
pub fn binarize(frame: &Frame) -> BitMatrix {
    let (w, h) = (frame.width(), frame.height());
    let tiles_x = w.div_ceil(TILE);
    let tiles_y = h.div_ceil(TILE);
    let mut black_points = vec![0u32; tiles_x * tiles_y];
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            let (mut min, mut max, mut sum, mut n) = (u8::MAX, 0u8, 0u32, 0u32);
            for y in ty * TILE..((ty + 1) * TILE).min(h) {
                for &p in &frame.row(y)[tx * TILE..((tx + 1) * TILE).min(w)] {
                    min = min.min(p);
                    max = max.max(p);
                    sum += p as u32;
                    n += 1;
                }
            }
            let mut average = sum / n;
            if max - min <= MIN_TILE_RANGE {
                // A flat tile: call it background unless its neighbours say it is inside a
                // dark area.
                average = min as u32 / 2;
                if tx > 0 && ty > 0 {
                    let above = black_points[(ty - 1) * tiles_x + tx];
                    let left = black_points[ty * tiles_x + tx - 1];
                    let diag = black_points[(ty - 1) * tiles_x + tx - 1];
                    let neighbours = (above + 2 * left + diag) / 4;
                    if (min as u32) < neighbours {
                        average = neighbours;
                    }
                }
            }
            black_points[ty * tiles_x + tx] = average;
        }
    }
    let mut bits = BitMatrix::new(w as u32, h as u32).expect("frame has non-zero size");
    for ty in 0..tiles_y {
        let y0 = ty.saturating_sub(2).min(tiles_y.saturating_sub(5));
        for tx in 0..tiles_x {
            let x0 = tx.saturating_sub(2).min(tiles_x.saturating_sub(5));
            let (mut sum, mut n) = (0u32, 0u32);
            for yy in y0..(y0 + 5).min(tiles_y) {
                for xx in x0..(x0 + 5).min(tiles_x) {
                    sum += black_points[yy * tiles_x + xx];
                    n += 1;
                }
            }
            let threshold = sum / n;
            for y in ty * TILE..((ty + 1) * TILE).min(h) {
                let x0 = tx * TILE;
                let tile_row = &frame.row(y)[x0..((tx + 1) * TILE).min(w)];
                for (dx, &p) in tile_row.iter().enumerate() {
                    if p as u32 <= threshold {
                        bits.set((x0 + dx) as u32, y as u32);
                    }
                }
            }
        }
    }
    bits
}

/// Traces every symbol outline in a binary image. `thorough` scans parallel lines across
/// the whole frame; otherwise only the lines through the centre are traced.
pub fn candidates(bits: &BitMatrix, thorough: bool, light_on_dark: bool) -> Vec<Candidate> {
    let found = match zxing_cpp_detector::detect(bits, thorough, true) {
        Ok(found) => found,
        Err(_) => return Vec::new(),
    };
    found
        .into_iter()
        .filter_map(|res| {
            let pts = res.getPoints();
            if pts.len() != 4 {
                return None;
            }
            let corner = |i: usize| Point::new(pts[i].x as f64, pts[i].y as f64);
            let b = res.getBits();
            Some(Candidate {
                corners: [corner(0), corner(1), corner(2), corner(3)],
                cols: b.getWidth() as usize,
                rows: b.getHeight() as usize,
                bits: b.clone(),
                light_on_dark,
            })
        })
        .collect()
}

/// The binary image with dark and light swapped, for light-on-dark symbols.
pub fn inverted(bits: &BitMatrix) -> BitMatrix {
    let mut inv = bits.clone();
    inv.flip_self();
    inv
}
