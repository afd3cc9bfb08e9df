//! The edge tracer: a cursor that follows the border between dark and light pixels of a binary
//! image, a pixel at a time along a solid edge (the finder L) or gap to gap along a dotted one
//! (a clock track), collecting the border points into a [`RegressionLine`]. The scheme of
//! zxing-cpp's Data Matrix `EdgeTracer` (`core/src/datamatrix/DMDetector.cpp`, copyright Axel
//! Waggershauser, Apache License 2.0), rewritten here. Where zxing-cpp asserts that a trace
//! makes progress, it ends here: no input can make it loop.

use super::line::{RegressionLine, bresenham_direction, dot, normalized};
use crate::binarize::Binary;
use crate::geometry::Point;
use std::cell::Cell;

/// How a step along an edge ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepResult {
    /// The edge goes on: the cursor moved to its next point.
    Found,
    /// No dark pixel ahead: the edge ends in the open (a corner of the symbol).
    OpenEnd,
    /// Dark ahead but no border to follow, or the border already traced.
    ClosedEnd,
}

/// Which pixels a thorough trace already passed along, and in which state of its outline
/// (left side, bottom, right side): a later scan line that meets them stops there instead of
/// tracing the same outline again. Each scan direction starts afresh: its marks are offset by
/// a base of its own, so that the marks of the direction before need no clearing.
pub(super) struct History {
    width: usize,
    cells: Vec<Cell<u8>>,
    base: u8,
}

impl History {
    pub fn new(width: usize, height: usize) -> History {
        History {
            width,
            cells: vec![Cell::new(0); width * height],
            base: 0,
        }
    }

    /// Forgets the marks made so far (up to 63 times; states are 1–3).
    pub fn restart(&mut self) {
        self.base += 4;
    }
}

/// The pixel centre of the pixel holding `p`.
fn centered(p: Point) -> Point {
    Point::new(p.x.floor() + 0.5, p.y.floor() + 0.5)
}

/// `d` reduced to its larger component.
fn main_direction(d: Point) -> Point {
    if d.x.abs() > d.y.abs() {
        Point::new(d.x, 0.0)
    } else {
        Point::new(0.0, d.y)
    }
}

fn neg(d: Point) -> Point {
    Point::new(-d.x, -d.y)
}

/// A position and a direction in a binary image (`true` = dark).
#[derive(Clone, Copy)]
pub(super) struct EdgeTracer<'a> {
    image: &'a Binary,
    width: f64,
    height: f64,
    pub p: Point,
    d: Point,
    history: Option<&'a History>,
    /// The part of the outline being traced, as marked in the history.
    pub state: u8,
}

impl<'a> EdgeTracer<'a> {
    pub fn new(
        image: &'a Binary,
        p: Point,
        d: Point,
        history: Option<&'a History>,
    ) -> EdgeTracer<'a> {
        EdgeTracer {
            image,
            width: image.width() as f64,
            height: image.height() as f64,
            p,
            d: bresenham_direction(d),
            history,
            state: 0,
        }
    }

    pub fn is_in(&self, p: Point) -> bool {
        0.0 <= p.x && p.x < self.width && 0.0 <= p.y && p.y < self.height
    }

    /// The pixel at `p`: `None` outside the image. As [`Binary::pixel`], with the image's
    /// size kept as floating point: this is the tracer's inner loop.
    fn test_at(&self, p: Point) -> Option<bool> {
        // Cast through i32, which is cheaper than to usize and exact inside any image.
        self.is_in(p)
            .then(|| self.image.get(p.x as i32 as usize, p.y as i32 as usize))
    }

    fn black_at(&self, p: Point) -> bool {
        self.test_at(p) == Some(true)
    }

    fn white_at(&self, p: Point) -> bool {
        self.test_at(p) == Some(false)
    }

    pub fn front(&self) -> Point {
        self.d
    }

    pub fn back(&self) -> Point {
        neg(self.d)
    }

    pub fn left(&self) -> Point {
        Point::new(self.d.y, -self.d.x)
    }

    pub fn right(&self) -> Point {
        Point::new(-self.d.y, self.d.x)
    }

    pub fn turn_right(&mut self) {
        self.d = self.right();
    }

    pub fn set_direction(&mut self, d: Point) {
        self.d = bresenham_direction(d);
    }

    fn step(&mut self, s: f64) -> bool {
        self.p = self.p + self.d * s;
        self.is_in(self.p)
    }

    /// One step along the edge on the `d_edge` side: the nearest dark pixel ahead (searched up
    /// to `max_step_size` pixels ahead, and sideways in a widening fan), then outward from it
    /// to the first light pixel, which is the edge's next point.
    fn trace_step(
        &mut self,
        d_edge: Point,
        max_step_size: i32,
        good_direction: bool,
    ) -> StepResult {
        let d_edge = main_direction(d_edge);
        let breadths = if max_step_size == 1 {
            2
        } else if good_direction {
            1
        } else {
            3
        };
        for breadth in 1..=breadths {
            for step in 1..=max_step_size {
                // The fan of the breadth before was searched and held no dark pixel: only
                // its widening is new.
                let fan = 2 * (step / 4 + 1);
                let searched = if breadth == 1 {
                    0
                } else {
                    fan * (breadth - 1) + 1
                };
                let ahead = self.p + self.d * step as f64;
                for i in searched..=fan * breadth {
                    let side = if i & 1 == 1 { (i + 1) / 2 } else { -i / 2 };
                    let mut p_edge = ahead + d_edge * side as f64;
                    if !self.black_at(p_edge + d_edge) {
                        continue;
                    }
                    // A dark pixel: outward from it until the border.
                    for _ in 0..max_step_size.max(3) {
                        if !self.is_in(p_edge) {
                            break;
                        }
                        if self.white_at(p_edge) {
                            // Inside the image, where the floor is a truncation.
                            let next = Point::new(
                                (p_edge.x as i32) as f64 + 0.5,
                                (p_edge.y as i32) as f64 + 0.5,
                            );
                            // No progress would trace the same pixel for ever.
                            if next == self.p {
                                return StepResult::ClosedEnd;
                            }
                            self.p = next;
                            if let (Some(history), 1) = (self.history, max_step_size) {
                                let (x, y) = (self.p.x as i32 as usize, self.p.y as i32 as usize);
                                let cell = &history.cells[y * history.width + x];
                                let mark = history.base + self.state;
                                if cell.get() == mark {
                                    return StepResult::ClosedEnd;
                                }
                                cell.set(mark);
                            }
                            return StepResult::Found;
                        }
                        p_edge = p_edge - d_edge;
                        if self.black_at(p_edge - self.d) {
                            p_edge = p_edge - self.d;
                        }
                    }
                    // No border within reach.
                    return StepResult::ClosedEnd;
                }
            }
        }
        StepResult::OpenEnd
    }

    /// Turns towards `p` seen from `origin`, unless that is backwards; keeps to the same
    /// quadrant, so that the trace cannot turn round in a loop.
    pub fn update_direction_from_origin(&mut self, origin: Point) -> bool {
        let old = self.d;
        self.set_direction(self.p - origin);
        if dot(self.d, old) < 0.0 {
            return false;
        }
        let old_main = main_direction(old);
        if self.d.x.abs() == self.d.y.abs() {
            self.d = old_main + (self.d - old_main) * 0.99;
        } else if main_direction(self.d) != old_main {
            self.d = old_main + main_direction(self.d) * 0.99;
        }
        true
    }

    fn update_direction_from_line(&mut self, line: &mut RegressionLine) -> bool {
        line.evaluate(Some(1.5), false) && {
            let first = line.points()[0];
            self.update_direction_from_origin(self.p - line.project(self.p) + first)
        }
    }

    fn update_direction_from_line_centroid(&mut self, line: &RegressionLine) -> bool {
        self.update_direction_from_origin(line.centroid())
    }

    /// Follows a solid edge (the dark side towards `d_edge`) a pixel at a time, to its open
    /// end.
    pub fn trace_line(&mut self, d_edge: Point, line: &mut RegressionLine) -> bool {
        // A straight edge has at most a pixel per step across the image; more is a loop.
        let longest = 2 * (self.width + self.height) as usize;
        line.set_direction_inward(d_edge);
        loop {
            line.add(self.p);
            let n = line.points().len();
            if n % 50 == 10 && !self.update_direction_from_line_centroid(line) {
                return false;
            }
            if n > longest {
                return false;
            }
            let result = self.trace_step(d_edge, 1, line.is_valid());
            if result != StepResult::Found {
                return result == StepResult::OpenEnd
                    && line.points().len() > 1
                    && self.update_direction_from_line_centroid(line);
            }
        }
    }

    /// Follows a dotted edge (a clock track, dark side towards `d_edge`) from dark module to
    /// dark module, at most `max_step_size` pixels a gap. It ends across `finish_line` (when
    /// valid), or once it is `min_dist` from its start (when not zero) after four gaps.
    pub fn trace_gaps(
        &mut self,
        d_edge: Point,
        line: &mut RegressionLine,
        mut max_step_size: i32,
        finish_line: &RegressionLine,
        min_dist: f64,
    ) -> bool {
        // Longer than an edge across the image: a trace cycling among a few pixels, each gap
        // raising its step limit.
        let longest = 2 * (self.width + self.height) as usize;
        line.set_direction_inward(d_edge);
        let (mut gaps, mut steps, max_steps_per_gap) = (0, 0, max_step_size);
        let mut last_p = Point::default();
        loop {
            // Lack of progress would loop for ever.
            if self.p == std::mem::replace(&mut last_p, self.p) || steps as usize > longest {
                return false;
            }
            if steps > (if gaps == 0 { 2 } else { gaps + 1 }) * max_steps_per_gap {
                return false;
            }
            steps += 1;
            // Drifted too far outside the symbol.
            if line.is_valid()
                && line.signed_distance(self.p) < -5.0
                && (!line.evaluate(None, false) || line.signed_distance(self.p) < -5.0)
            {
                return false;
            }
            if line.is_valid() && line.signed_distance(self.p) > 3.0 {
                // Drifting inside: back onto the line, unless the direction has turned more
                // than 45° from it (back-projecting would then loop).
                if dot(normalized(self.d), line.normal()).abs() > 0.7 {
                    return false;
                }
                if !line.evaluate(Some(1.5), false) {
                    return false;
                }
                let Some(&last) = line.points().last() else {
                    return false;
                };
                let mut np = line.project(self.p);
                let last = line.project(last);
                let mut pushes = 0;
                while np.distance(last) < 1.0 {
                    np = np + self.d;
                    pushes += 1;
                    if pushes > 4 {
                        return false;
                    }
                }
                self.p = centered(np);
            } else {
                let step = line.points().last().map(|&last| self.p - last);
                let step_in_main_dir = step.map_or(0.0, |s| dot(main_direction(self.d), s));
                line.add(self.p);
                if step_in_main_dir > 1.0 || step.is_some_and(|s| s.x.abs().max(s.y.abs()) >= 2.0) {
                    gaps += 1;
                    if gaps >= 2 || line.points().len() > 5 {
                        if !self.update_direction_from_line(line) {
                            return false;
                        }
                        // Half of the top edge traced (every symbol has at least 4 gaps on
                        // it): the right edge is traced next, then the top from here.
                        if min_dist != 0.0
                            && gaps >= 4
                            && self.p.distance(line.points()[0]) > min_dist
                        {
                            line.pop_back();
                            return true;
                        }
                    }
                } else if gaps == 0 && line.points().len() as i64 >= 2 * max_step_size as i64 {
                    // A solid edge, not a clock track.
                    return false;
                }
            }
            if finish_line.is_valid() {
                max_step_size = max_step_size.min(finish_line.signed_distance(self.p) as i32);
            }
            let result = self.trace_step(d_edge, max_step_size, line.is_valid());
            if result != StepResult::Found {
                // Done when the edge ends in the open across the finish line.
                return result == StepResult::OpenEnd
                    && finish_line.is_valid()
                    && finish_line.signed_distance(self.p) as i32 <= max_step_size + 1;
            }
        }
    }

    /// One more step, the corner there, then round it towards `dir`.
    pub fn trace_corner(&mut self, dir: Point, corner: &mut Point) -> bool {
        self.step(1.0);
        *corner = self.p;
        let old = std::mem::replace(&mut self.d, dir);
        self.trace_step(neg(old), 2, false);
        self.is_in(*corner) && self.is_in(self.p)
    }

    /// Along the (axis-aligned) direction to the next light pixel after a dark one: where a
    /// symbol's outline may be met. False at the image's border.
    pub fn move_to_next_white_after_black(&mut self) -> bool {
        if !self.is_in(self.p) {
            return false;
        }
        let (dx, dy) = (self.d.x as i64, self.d.y as i64);
        let to_next_edge = |p: Point| {
            self.image
                .steps_to_change(p.x as usize, p.y as usize, dx, dy) as f64
        };
        if !self.step(to_next_edge(self.p)) {
            return false;
        }
        if self.white_at(self.p) {
            return true;
        }
        self.step(to_next_edge(self.p))
    }
}
