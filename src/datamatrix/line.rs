//! A straight edge of a symbol fitted to the pixels the outline tracer ([`super::edge`]) passed,
//! and the module count read off a clock track's gaps. The scheme of zxing-cpp's
//! `RegressionLine` and `DMRegressionLine` (`core/src/RegressionLine.h`,
//! `core/src/datamatrix/DMDetector.cpp`, copyright Axel Waggershauser, Apache License 2.0),
//! rewritten here.

use crate::geometry::Point;

pub(super) fn dot(a: Point, b: Point) -> f64 {
    a.x * b.x + a.y * b.y
}

pub(super) fn normalized(d: Point) -> Point {
    let length = d.norm();
    Point::new(d.x / length, d.y / length)
}

/// A line fitted by orthogonal regression: `a·x + b·y = c`, its normal `(a, b)` pointing into
/// the symbol. Not valid (NaN) until it has been evaluated.
#[derive(Clone, Debug)]
pub(super) struct RegressionLine {
    points: Vec<Point>,
    direction_inward: Point,
    a: f64,
    b: f64,
    c: f64,
    /// The points kept by a filtering evaluation (reused: no allocation per trace).
    kept: Vec<Point>,
}

impl Default for RegressionLine {
    fn default() -> Self {
        RegressionLine {
            points: Vec::with_capacity(16),
            direction_inward: Point::default(),
            a: f64::NAN,
            b: f64::NAN,
            c: f64::NAN,
            kept: Vec::new(),
        }
    }
}

/// The normal `(a, b)` and offset `c` of the line best fitting `points`, its normal turned
/// towards `inward`; and whether the fit turned less than 60° from `inward`.
fn fit(points: &[Point], inward: Point) -> (f64, f64, f64, bool) {
    let n = points.len() as f64;
    let sum = points.iter().fold(Point::default(), |sum, &p| sum + p);
    let mean = Point::new(sum.x / n, sum.y / n);
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for &p in points {
        let d = p - mean;
        xx += d.x * d.x;
        yy += d.y * d.y;
        xy += d.x * d.y;
    }
    let (mut a, mut b) = if yy >= xx {
        let l = (yy * yy + xy * xy).sqrt();
        (yy / l, -xy / l)
    } else {
        let l = (xx * xx + xy * xy).sqrt();
        (xy / l, -xx / l)
    };
    // As `RegressionLine::normal` sees it: no fit (NaN), the inward direction.
    let normal_of = |a: f64, b: f64| if a.is_nan() { inward } else { Point::new(a, b) };
    if dot(inward, normal_of(a, b)) < 0.0 {
        (a, b) = (-a, -b);
    }
    let normal = normal_of(a, b);
    (a, b, dot(normal, mean), dot(inward, normal) > 0.5)
}

impl RegressionLine {
    /// The line through two points (no inward side).
    fn through(p: Point, q: Point) -> RegressionLine {
        let (a, b, c, _) = fit(&[p, q], Point::default());
        RegressionLine {
            a,
            b,
            c,
            ..RegressionLine::default()
        }
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Whole pixels from the first point to the last.
    pub fn length(&self) -> i32 {
        match (self.points.first(), self.points.last()) {
            (Some(&first), Some(&last)) if self.points.len() >= 2 => first.distance(last) as i32,
            _ => 0,
        }
    }

    pub fn is_valid(&self) -> bool {
        !self.a.is_nan()
    }

    pub fn normal(&self) -> Point {
        if self.is_valid() {
            Point::new(self.a, self.b)
        } else {
            self.direction_inward
        }
    }

    /// Distance of `p` from the line, positive inside the symbol.
    pub fn signed_distance(&self, p: Point) -> f64 {
        dot(self.normal(), p) - self.c
    }

    pub fn project(&self, p: Point) -> Point {
        p - self.normal() * self.signed_distance(p)
    }

    pub fn centroid(&self) -> Point {
        let sum = self.points.iter().fold(Point::default(), |s, &p| s + p);
        let n = self.points.len() as f64;
        Point::new(sum.x / n, sum.y / n)
    }

    pub fn reset(&mut self) {
        self.points.clear();
        self.direction_inward = Point::default();
        (self.a, self.b, self.c) = (f64::NAN, f64::NAN, f64::NAN);
    }

    pub fn add(&mut self, p: Point) {
        self.points.push(p);
        if self.points.len() == 1 {
            self.c = dot(self.normal(), p);
        }
    }

    pub fn pop_back(&mut self) {
        self.points.pop();
    }

    pub fn reverse(&mut self) {
        self.points.reverse();
    }

    pub fn set_direction_inward(&mut self, d: Point) {
        self.direction_inward = normalized(d);
    }

    /// Fits the line to its points. With `max_signed_dist`, points further inside than that
    /// (or outside than twice that) are dropped and the line fitted again until none is; it
    /// fails when that drops half of them. `update_points` keeps only the points that stayed.
    pub fn evaluate(&mut self, max_signed_dist: Option<f64>, update_points: bool) -> bool {
        if self.points.is_empty() {
            return false;
        }
        let mut ret;
        (self.a, self.b, self.c, ret) = fit(&self.points, self.direction_inward);
        let Some(max) = max_signed_dist else {
            return ret;
        };
        let mut kept = std::mem::take(&mut self.kept);
        kept.clear();
        kept.extend_from_slice(&self.points);
        let ok = loop {
            let before = kept.len();
            kept.retain(|&p| {
                let sd = self.signed_distance(p);
                sd <= max && sd >= -2.0 * max
            });
            if kept.len() < before / 2 || kept.len() < 2 {
                break false;
            }
            if kept.len() == before {
                break true;
            }
            (self.a, self.b, self.c, ret) = fit(&kept, self.direction_inward);
        };
        if ok && update_points {
            std::mem::swap(&mut self.points, &mut kept);
        }
        self.kept = kept;
        ok && ret
    }

    /// The number of modules between `beg` and `end` along a clock track traced as this line:
    /// the gaps between its points mark the light modules, each pair of modules measured first
    /// dark to first dark and last dark to last dark; outliers (a missed or a split module)
    /// merged or dropped before the mean module pair divides the length.
    pub fn modules(&mut self, beg: Point, end: Point) -> f64 {
        if self.points.len() <= 3 {
            return 0.0;
        }
        self.evaluate(Some(1.2), true);
        let (Some(&front), Some(&back)) = (self.points.first(), self.points.last()) else {
            return 0.0;
        };
        let unit_pixel_dist = bresenham_direction(back - front).norm();
        let mut sum_front = beg.distance(self.project(front)) - unit_pixel_dist;
        let mut sum_back = 0.0;
        let mut mod_sizes = Vec::with_capacity(self.points.len());
        for pair in self.points.windows(2) {
            let dist = self.project(pair[1]).distance(self.project(pair[0]));
            let gap = dist > 1.9 * unit_pixel_dist;
            if gap {
                mod_sizes.push(std::mem::take(&mut sum_back));
            }
            sum_front += dist;
            sum_back += dist;
            if gap {
                mod_sizes.push(std::mem::take(&mut sum_front));
            }
        }
        if mod_sizes.is_empty() {
            return 0.0;
        }
        mod_sizes.push(sum_front + end.distance(self.project(back)));
        // The first is a last-dark-to-last-dark sum before any dark module: no pair.
        mod_sizes[0] = 0.0;
        let line_length = beg.distance(end) - unit_pixel_dist;
        let (min, max) = mod_sizes[1..]
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
        let mut mean = mean_positive(&mod_sizes);
        if max > 2.0 * min {
            for i in 1..mod_sizes.len().saturating_sub(2) {
                if mod_sizes[i] > 0.0 && mod_sizes[i] + mod_sizes[i + 2] < mean * 1.4 {
                    mod_sizes[i] += std::mem::take(&mut mod_sizes[i + 2]);
                } else if mod_sizes[i] > mean * 1.6 {
                    mod_sizes[i] = 0.0;
                }
            }
            mean = mean_positive(&mod_sizes);
        }
        line_length / mean
    }

    /// A left side traced on round the finder's corner and along its bottom: cut at the
    /// corner (the point furthest from the chord), the inward direction set along the bottom.
    pub fn truncate_if_l_shape(&mut self) -> bool {
        let n = self.points.len();
        if n < 16 {
            return false;
        }
        let (front, back) = (self.points[0], self.points[n - 1]);
        let chord = RegressionLine::through(front, back);
        if chord.signed_distance(self.points[n / 2]).abs() < 5.0 {
            return false;
        }
        let (corner, max_d) = self
            .points
            .iter()
            .map(|&p| chord.signed_distance(p).abs())
            .enumerate()
            .fold(
                (0, 0.0),
                |(bi, bd), (i, d)| if d > bd { (i, d) } else { (bi, bd) },
            );
        let len_l = front.distance(self.points[corner]) - 1.0;
        let len_b = self.points[corner].distance(back) - 1.0;
        if max_d < len_l.min(len_b) / 2.0 {
            return false;
        }
        self.set_direction_inward(back - self.points[corner]);
        self.points.truncate(corner.saturating_sub(1));
        true
    }
}

fn mean_positive(values: &[f64]) -> f64 {
    let (sum, n) = values
        .iter()
        .filter(|&&v| v > 0.0)
        .fold((0.0, 0), |(s, n), &v| (s + v, n + 1));
    sum / n as f64
}

/// The direction `d` scaled to one pixel step along its main axis (a Bresenham step).
/// Divided, not multiplied by the inverse: the main component must come out exactly ±1, as
/// the tracer compares directions by their main component.
pub(super) fn bresenham_direction(d: Point) -> Point {
    let max = d.x.abs().max(d.y.abs());
    Point::new(d.x / max, d.y / max)
}

/// Where two valid lines cross.
pub(super) fn intersect(l1: &RegressionLine, l2: &RegressionLine) -> Point {
    let d = l1.a * l2.b - l1.b * l2.a;
    Point::new(
        (l1.c * l2.b - l1.b * l2.c) / d,
        (l1.a * l2.c - l1.c * l2.a) / d,
    )
}
