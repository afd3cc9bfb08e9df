//! Plane geometry shared by the locator, the grid fit and the renderer: points, lines and
//! projective maps (a tilted camera sees a symbol through a homography).

use serde::Serialize;
use std::ops::{Add, Mul, Sub};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    pub fn distance(self, other: Point) -> f64 {
        (self - other).norm()
    }

    pub fn norm(self) -> f64 {
        self.x.hypot(self.y)
    }

    pub fn lerp(self, other: Point, t: f64) -> Point {
        self + (other - self) * t
    }
}

impl Add for Point {
    type Output = Point;
    fn add(self, o: Point) -> Point {
        Point::new(self.x + o.x, self.y + o.y)
    }
}

impl Sub for Point {
    type Output = Point;
    fn sub(self, o: Point) -> Point {
        Point::new(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f64> for Point {
    type Output = Point;
    fn mul(self, k: f64) -> Point {
        Point::new(self.x * k, self.y * k)
    }
}

/// An axis-aligned pixel rectangle: a region of interest, a search window, a crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    pub const fn new(x: usize, y: usize, width: usize, height: usize) -> Self {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// The smallest rectangle holding every point, clipped to a `width`×`height` frame;
    /// `None` when that leaves nothing.
    pub fn around(points: &[Point], width: usize, height: usize) -> Option<Rect> {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in points {
            (x0, y0, x1, y1) = (x0.min(p.x), y0.min(p.y), x1.max(p.x), y1.max(p.y));
        }
        let left = x0.floor().clamp(0.0, width as f64) as usize;
        let top = y0.floor().clamp(0.0, height as f64) as usize;
        let right = x1.ceil().clamp(0.0, width as f64) as usize;
        let bottom = y1.ceil().clamp(0.0, height as f64) as usize;
        (right > left && bottom > top).then(|| Rect::new(left, top, right - left, bottom - top))
    }

    /// Grown by `margin` on every side, clipped to a `width`×`height` frame.
    pub fn grown(self, margin: usize, width: usize, height: usize) -> Rect {
        let x = self.x.saturating_sub(margin);
        let y = self.y.saturating_sub(margin);
        let right = (self.x + self.width + margin).min(width);
        let bottom = (self.y + self.height + margin).min(height);
        Rect::new(x, y, right.saturating_sub(x), bottom.saturating_sub(y))
    }

    /// The part inside a `width`×`height` frame; `None` when nothing is.
    pub fn clipped(self, width: usize, height: usize) -> Option<Rect> {
        let right = (self.x.saturating_add(self.width)).min(width);
        let bottom = (self.y.saturating_add(self.height)).min(height);
        (right > self.x && bottom > self.y)
            .then(|| Rect::new(self.x, self.y, right - self.x, bottom - self.y))
    }

    /// The part of `self` inside `outer`, in `outer`'s coordinates; `None` when they do not
    /// overlap.
    pub fn relative_to(self, outer: Rect) -> Option<Rect> {
        let left = self.x.max(outer.x);
        let top = self.y.max(outer.y);
        let right = (self.x + self.width).min(outer.x + outer.width);
        let bottom = (self.y + self.height).min(outer.y + outer.height);
        (right > left && bottom > top)
            .then(|| Rect::new(left - outer.x, top - outer.y, right - left, bottom - top))
    }

    /// Whether `p` (in pixel coordinates, a pixel's centre at +0.5) lies inside.
    pub fn contains(&self, p: Point) -> bool {
        p.x >= self.x as f64
            && p.y >= self.y as f64
            && p.x < (self.x + self.width) as f64
            && p.y < (self.y + self.height) as f64
    }

    pub fn origin(&self) -> Point {
        Point::new(self.x as f64, self.y as f64)
    }
}

/// The mean of `points`: the centre of a symbol's four corners.
pub fn centroid(points: &[Point]) -> Point {
    let n = points.len().max(1) as f64;
    let sum = points.iter().fold(Point::default(), |a, &p| a + p);
    Point::new(sum.x / n, sum.y / n)
}

/// Intersection of the infinite lines through `a0,a1` and `b0,b1`; `None` when parallel.
pub fn intersect_lines(a0: Point, a1: Point, b0: Point, b1: Point) -> Option<Point> {
    let da = a1 - a0;
    let db = b1 - b0;
    let denom = da.x * db.y - da.y * db.x;
    if denom.abs() < 1e-12 {
        return None;
    }
    let t = ((b0.x - a0.x) * db.y - (b0.y - a0.y) * db.x) / denom;
    Some(a0 + da * t)
}

/// A projective map `p' = H p` in homogeneous coordinates, `h[8]` normalised to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography {
    h: [f64; 9],
}

impl Homography {
    pub const IDENTITY: Homography = Homography {
        h: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    };

    pub fn from_matrix(h: [f64; 9]) -> Self {
        Self { h }
    }

    pub fn map(&self, p: Point) -> Point {
        let h = &self.h;
        let w = h[6] * p.x + h[7] * p.y + h[8];
        Point::new(
            (h[0] * p.x + h[1] * p.y + h[2]) / w,
            (h[3] * p.x + h[4] * p.y + h[5]) / w,
        )
    }

    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.h;
        let det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
            + m[2] * (m[3] * m[7] - m[4] * m[6]);
        if det.abs() < 1e-15 {
            return None;
        }
        let inv = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        let s = inv[8];
        if s.abs() < 1e-15 {
            return Some(Homography {
                h: inv.map(|v| v / det),
            });
        }
        Some(Homography {
            h: inv.map(|v| v / s),
        })
    }

    /// Least-squares homography mapping `src[i]` onto `dst[i]` (at least four pairs, no three
    /// collinear). Both point sets are normalised first so that the normal equations stay well
    /// conditioned at pixel scale.
    pub fn fit(src: &[Point], dst: &[Point]) -> Option<Homography> {
        if src.len() != dst.len() || src.len() < 4 {
            return None;
        }
        let (ns, _) = normaliser(src)?;
        let (nd, nd_inv) = normaliser(dst)?;
        let mut ata = [[0.0f64; 8]; 8];
        let mut atb = [0.0f64; 8];
        for (s, d) in src.iter().zip(dst) {
            let s = ns.map(*s);
            let d = nd.map(*d);
            let rows = [
                ([s.x, s.y, 1.0, 0.0, 0.0, 0.0, -d.x * s.x, -d.x * s.y], d.x),
                ([0.0, 0.0, 0.0, s.x, s.y, 1.0, -d.y * s.x, -d.y * s.y], d.y),
            ];
            for (a, b) in rows {
                for i in 0..8 {
                    atb[i] += a[i] * b;
                    for j in 0..8 {
                        ata[i][j] += a[i] * a[j];
                    }
                }
            }
        }
        let x = solve8(ata, atb)?;
        let h = Homography {
            h: [x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], 1.0],
        };
        // dst = nd⁻¹ ∘ h ∘ ns (src)
        Some(nd_inv.compose(&h).compose(&ns))
    }

    /// `self ∘ other`: apply `other` first.
    pub fn compose(&self, other: &Homography) -> Homography {
        let a = &self.h;
        let b = &other.h;
        let mut h = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                h[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
            }
        }
        let s = h[8];
        if s.abs() > 1e-15 {
            h = h.map(|v| v / s);
        }
        Homography { h }
    }
}

/// Similarity moving the centroid to the origin and the mean distance to √2, and its inverse.
fn normaliser(points: &[Point]) -> Option<(Homography, Homography)> {
    let n = points.len() as f64;
    let centre = centroid(points);
    let (cx, cy) = (centre.x, centre.y);
    let mean = points.iter().map(|p| p.distance(centre)).sum::<f64>() / n;
    if mean < 1e-12 {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / mean;
    let fwd = Homography::from_matrix([s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0]);
    let inv = Homography::from_matrix([1.0 / s, 0.0, cx, 0.0, 1.0 / s, cy, 0.0, 0.0, 1.0]);
    Some((fwd, inv))
}

/// Gaussian elimination with partial pivoting for the 8×8 normal equations.
fn solve8(mut a: [[f64; 8]; 8], mut b: [f64; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..8 {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 8];
    for row in (0..8).rev() {
        let s: f64 = (row + 1..8).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_projective_map() {
        let truth =
            Homography::from_matrix([1.3, 0.2, 40.0, -0.1, 0.9, 25.0, 0.0004, -0.0002, 1.0]);
        let src: Vec<Point> = [
            (0.0, 0.0),
            (20.0, 0.0),
            (20.0, 20.0),
            (0.0, 20.0),
            (7.0, 13.0),
        ]
        .iter()
        .map(|&(x, y)| Point::new(x, y))
        .collect();
        let dst: Vec<Point> = src.iter().map(|p| truth.map(*p)).collect();
        let fit = Homography::fit(&src, &dst).unwrap();
        for p in [Point::new(3.0, 17.0), Point::new(11.5, 2.5)] {
            assert!(fit.map(p).distance(truth.map(p)) < 1e-6);
        }
        let inv = fit.inverse().unwrap();
        let q = Point::new(5.0, 6.0);
        assert!(inv.map(fit.map(q)).distance(q) < 1e-6);
    }

    #[test]
    fn lines_intersect_where_expected() {
        let p = intersect_lines(
            Point::new(0.0, 0.0),
            Point::new(2.0, 2.0),
            Point::new(0.0, 2.0),
            Point::new(2.0, 0.0),
        )
        .unwrap();
        assert!(p.distance(Point::new(1.0, 1.0)) < 1e-12);
    }
}
