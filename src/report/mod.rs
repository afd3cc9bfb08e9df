//! What a person looks at beside the numbers: the part of an image around its symbols with
//! their outline, module grid and every module coloured by its reflectance margin grade
//! ([`Picture`]), and each parameter on a bar across its grade bands ([`GradeBar`]). The lab
//! report (`grade --report`, HTML and PDF) and the dashboard's verdict page draw the same ones;
//! [`svg`] draws them for the web; [`chart`] draws a line's control chart.

pub mod batch;
pub mod chart;
pub mod svg;

use crate::Frame;
use crate::geometry::{Point, Rect};
use crate::verdict::{Inspection, Parameter};

/// Longest side of a picture, in its own pixels: enough to see every module of a 26x26
/// symbol at 10 px/module, small enough that a folder of images makes a page a browser opens.
const PICTURE_SIDE: usize = 480;

/// The part of an image a report shows: around its symbols, shrunk to [`PICTURE_SIDE`].
pub struct Picture {
    /// Grey, row-major.
    pub pixels: Vec<u8>,
    pub width: usize,
    pub height: usize,
    /// The picture's top-left corner in image pixels.
    pub origin: Point,
    /// Image pixels per picture pixel.
    pub scale: f64,
}

impl Picture {
    /// The symbols of `inspection` with a quarter of their extent around them (the quiet
    /// zone and what lies beside it), or the whole image when none was read.
    pub fn of(frame: &Frame, inspection: &Inspection) -> Option<Picture> {
        let corners: Vec<Point> = inspection
            .symbols
            .iter()
            .flat_map(|s| s.symbol.corners)
            .collect();
        let rect = match Rect::around(&corners, frame.width(), frame.height()) {
            Some(r) => r.grown(r.width.max(r.height) / 4, frame.width(), frame.height()),
            None => frame.rect(),
        };
        let view = frame.view(rect);
        let factor = rect.width.max(rect.height).div_ceil(PICTURE_SIDE);
        let shrunk;
        let shown = if factor >= 2 {
            shrunk = view.reduced(factor.min(16))?;
            &shrunk
        } else {
            &view
        };
        let (width, height) = (shown.width(), shown.height());
        Some(Picture {
            pixels: (0..height).flat_map(|y| shown.row(y).to_vec()).collect(),
            width,
            height,
            origin: Point::new(rect.x as f64, rect.y as f64),
            scale: rect.width as f64 / width as f64,
        })
    }

    /// An image point in the picture's pixels.
    pub fn at(&self, p: Point) -> Point {
        (p - self.origin) * (1.0 / self.scale)
    }
}

/// Fill of a module or a grade band, F to A.
pub const GRADE_COLOURS: [&str; 5] = ["#d7191c", "#fdae61", "#ffdf6b", "#a6d96a", "#1a9641"];

/// A bar across a parameter's grade bands, F on the left and A on the right, with a mark at
/// the measured value: how far a value is from the next grade up or down. Positions run from
/// 0 to 1 along the bar.
pub struct GradeBar {
    /// Where each band begins and ends, F to A.
    pub bands: [(f64, f64); 5],
    pub mark: f64,
}

impl GradeBar {
    /// None for parameters graded without a value (decode, fixed pattern damage).
    pub fn of(parameter: Parameter, value: f64) -> Option<GradeBar> {
        let bounds = parameter.grade_bounds()?;
        // The scale runs from the worst value shown to the best: 0 to 1 for the fractions,
        // the nonuniformities (where less is better) from twice their D bound down to 0.
        let higher_is_better = bounds[0] > bounds[3];
        let (worst, best) = if higher_is_better {
            (0.0, 1.0)
        } else {
            (2.0 * bounds[3], 0.0)
        };
        let at = |v: f64| ((v - worst) / (best - worst)).clamp(0.0, 1.0);
        // Edges: the worst end, the D, C, B and A bounds, the best end.
        let edges = [
            0.0,
            at(bounds[3]),
            at(bounds[2]),
            at(bounds[1]),
            at(bounds[0]),
            1.0,
        ];
        Some(GradeBar {
            bands: std::array::from_fn(|grade| (edges[grade], edges[grade + 1])),
            mark: at(value),
        })
    }
}

/// Milliseconds since 1970 as a UTC date and time a person reads: `2026-11-27 10:19:43`.
pub fn utc(unix_ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// A value to two decimals as it is printed, never -0.
pub fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}
