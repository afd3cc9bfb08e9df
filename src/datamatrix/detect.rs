//! The outline tracer: the finder L and the clock tracks traced in a binary image with rxing's
//! port of the zxing-cpp Data Matrix detector (any rotation, perspective). A candidate is four
//! outer corners and a module count; the grid stage ([`super::grid`]) turns it into measured
//! module centres.

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
    pub bits: Option<BitMatrix>,
    /// Found in the inverted binary image: light modules on a dark ground.
    pub light_on_dark: bool,
}

/// Traces every symbol outline in a binary image whose top-left pixel is `origin` in the
/// frame. `thorough` scans parallel lines across the whole image; otherwise only the lines
/// through its centre are traced.
pub fn candidates(
    bits: &BitMatrix,
    origin: Point,
    thorough: bool,
    light_on_dark: bool,
) -> Vec<Candidate> {
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
            let corner = |i: usize| origin + Point::new(pts[i].x as f64, pts[i].y as f64);
            let b = res.getBits();
            Some(Candidate {
                corners: [corner(0), corner(1), corner(2), corner(3)],
                cols: b.getWidth() as usize,
                rows: b.getHeight() as usize,
                bits: Some(b.clone()),
                light_on_dark,
            })
        })
        .collect()
}
