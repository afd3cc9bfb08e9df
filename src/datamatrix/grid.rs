//! The module grid, established the way ISO/IEC 16022's reference decode does it: the clock
//! tracks are scanned for their module edges at sub-pixel precision, each module's centre on
//! a track is the midpoint of its two edges (so print growth does not move it), column lines
//! run from the clock tracks to the solid edge of the finder L (row lines likewise), and every
//! module centre is the intersection of its column line and its row line.
//!
//! Grading measures axial and grid nonuniformity on these centres and samples each module
//! there.

use super::Candidate;
use super::symbol::SymbolSize;
use crate::frame::Frame;
use crate::geometry::{Homography, Point, intersect_lines};

/// Measured module centres of one symbol, in image coordinates.
#[derive(Clone, Debug)]
pub struct ModuleGrid {
    pub rows: usize,
    pub cols: usize,
    /// Row-major centres, `rows * cols`.
    centres: Vec<Point>,
    /// The map from module coordinates (corner (0,0) at the clock/finder corner, one unit per
    /// module) to the image, fitted to the outline.
    pub outline: Homography,
    /// Light modules on a dark ground (the finder L is light).
    pub light_on_dark: bool,
    /// Share of the clock-track edges that were found where the outline predicts them.
    pub clock_edges_found: f64,
}

impl ModuleGrid {
    pub fn centre(&self, row: usize, col: usize) -> Point {
        self.centres[row * self.cols + col]
    }

    pub fn centres(&self) -> &[Point] {
        &self.centres
    }

    /// Mean distance between horizontally adjacent centres (the X pitch, in pixels).
    pub fn column_pitch(&self) -> f64 {
        mean_step(
            self.rows,
            self.cols,
            |r, c| self.centre(r, c),
            |r, c| (r, c + 1),
        )
    }

    /// Mean distance between vertically adjacent centres (the Y pitch, in pixels).
    pub fn row_pitch(&self) -> f64 {
        mean_step(
            self.rows,
            self.cols,
            |r, c| self.centre(r, c),
            |r, c| (r + 1, c),
        )
    }

    /// The same grid seen through an image-space map (e.g. back from a magnified copy of the
    /// frame to the frame itself).
    pub fn mapped(&self, to_frame: &Homography) -> ModuleGrid {
        ModuleGrid {
            centres: self.centres.iter().map(|&p| to_frame.map(p)).collect(),
            outline: to_frame.compose(&self.outline),
            ..self.clone()
        }
    }

    /// Mean module size in pixels.
    pub fn module_px(&self) -> f64 {
        (self.column_pitch() + self.row_pitch()) / 2.0
    }

    /// Grey level at a module centre: the mean of a 3×3 pattern spread over the middle half
    /// of the module, which rides over print noise without reaching the neighbours.
    pub fn sample(&self, frame: &Frame, row: usize, col: usize) -> f64 {
        let p = self.centre(row, col);
        let (du, dv) = self.local_axes(row, col);
        let mut sum = 0.0;
        for i in -1..=1 {
            for j in -1..=1 {
                let q = p + du * (0.25 * i as f64) + dv * (0.25 * j as f64);
                sum += frame.bilinear(q.x, q.y);
            }
        }
        sum / 9.0
    }

    /// Samples every module (row-major).
    pub fn sample_all(&self, frame: &Frame) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(self.sample(frame, r, c));
            }
        }
        out
    }

    /// Image vectors of one module step along the columns and along the rows at a module.
    fn local_axes(&self, row: usize, col: usize) -> (Point, Point) {
        let step = |a: Point, b: Point| b - a;
        let du = if col + 1 < self.cols {
            step(self.centre(row, col), self.centre(row, col + 1))
        } else {
            step(self.centre(row, col - 1), self.centre(row, col))
        };
        let dv = if row + 1 < self.rows {
            step(self.centre(row, col), self.centre(row + 1, col))
        } else {
            step(self.centre(row - 1, col), self.centre(row, col))
        };
        (du, dv)
    }
}

fn mean_step(
    rows: usize,
    cols: usize,
    at: impl Fn(usize, usize) -> Point,
    next: impl Fn(usize, usize) -> (usize, usize),
) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for r in 0..rows {
        for c in 0..cols {
            let (nr, nc) = next(r, c);
            if nr < rows && nc < cols {
                sum += at(r, c).distance(at(nr, nc));
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Fits the module grid of `size` inside a candidate outline.
pub fn fit(
    frame: &Frame,
    candidate: &Candidate,
    size: &SymbolSize,
    mirrored: bool,
) -> Option<ModuleGrid> {
    let (rows, cols) = (candidate.rows, candidate.cols);
    let module_corners = [
        Point::new(0.0, 0.0),
        Point::new(cols as f64, 0.0),
        Point::new(cols as f64, rows as f64),
        Point::new(0.0, rows as f64),
    ];
    let outline = Homography::fit(&module_corners, &candidate.corners)?;
    // A mirrored symbol is read through the anti-transpose; its fixed pattern, seen in the
    // candidate's module coordinates, is the same L-and-clock shape with rows and columns of
    // the true symbol swapped, so the expected colours come from the true size.
    let fixed_dark = |r: usize, c: usize| -> Option<bool> {
        if mirrored {
            size.fixed_dark(cols - 1 - c, rows - 1 - r)
        } else {
            size.fixed_dark(r, c)
        }
    };
    let grey_at = |u: f64, v: f64| {
        let p = outline.map(Point::new(u, v));
        frame.bilinear(p.x, p.y)
    };

    // Nominal dark and light levels from the fixed pattern at the outline's centres.
    let (mut dark_sum, mut dark_n, mut light_sum, mut light_n) = (0.0, 0, 0.0, 0);
    for r in 0..rows {
        for c in 0..cols {
            match fixed_dark(r, c) {
                Some(true) => {
                    dark_sum += grey_at(c as f64 + 0.5, r as f64 + 0.5);
                    dark_n += 1;
                }
                Some(false) => {
                    light_sum += grey_at(c as f64 + 0.5, r as f64 + 0.5);
                    light_n += 1;
                }
                None => {}
            }
        }
    }
    if dark_n == 0 || light_n == 0 {
        return None;
    }
    let (dark, light) = (dark_sum / dark_n as f64, light_sum / light_n as f64);
    let threshold = (dark + light) / 2.0;
    // +1 where a profile sample is darker than the threshold in the symbol's own polarity.
    let polarity = if dark <= light { 1.0 } else { -1.0 };
    let module_px = (candidate.corners[0].distance(candidate.corners[1]) / cols as f64
        + candidate.corners[0].distance(candidate.corners[3]) / rows as f64)
        / 2.0;
    let steps_per_module = (module_px * 4.0).ceil().clamp(8.0, 64.0) as usize;

    // Column positions measured along each horizontal clock track (module units, offsets from
    // the outline's prediction), and row positions along each vertical one.
    let clock_rows: Vec<usize> = clock_lines(rows, |r| {
        (0..cols).all(|c| fixed_dark(r, c).is_some()) && alternates(cols, |c| fixed_dark(r, c))
    });
    let clock_cols: Vec<usize> = clock_lines(cols, |c| {
        (0..rows).all(|r| fixed_dark(r, c).is_some()) && alternates(rows, |r| fixed_dark(r, c))
    });
    let mut found = 0usize;
    let mut expected = 0usize;
    let col_offsets: Vec<(usize, Vec<f64>)> = clock_rows
        .iter()
        .map(|&r| {
            let v = r as f64 + 0.5;
            let track = measure_track(
                cols,
                steps_per_module,
                |u| polarity * (threshold - grey_at(u, v)),
                |c| fixed_dark(r, c).unwrap_or(false),
            );
            found += track.found;
            expected += track.expected;
            (r, track.offsets)
        })
        .collect();
    let row_offsets: Vec<(usize, Vec<f64>)> = clock_cols
        .iter()
        .map(|&c| {
            let u = c as f64 + 0.5;
            let track = measure_track(
                rows,
                steps_per_module,
                |v| polarity * (threshold - grey_at(u, v)),
                |r| fixed_dark(r, c).unwrap_or(false),
            );
            found += track.found;
            expected += track.expected;
            (c, track.offsets)
        })
        .collect();

    // Knots of each column line: the measured centres on the clock rows, then the finder's
    // solid bottom row, reached along the outline's direction from the last clock row (the
    // solid edge carries no column positions of its own). Row lines likewise: clock columns,
    // then the solid left column.
    let column_knots = |c: usize| -> Vec<(f64, Point)> {
        let mut knots: Vec<(f64, Point)> = col_offsets
            .iter()
            .map(|(r, offs)| {
                let t = *r as f64 + 0.5;
                (t, outline.map(Point::new(c as f64 + 0.5 + offs[c], t)))
            })
            .collect();
        let t = rows as f64 - 0.5;
        if knots.iter().all(|k| k.0 != t) {
            let off = col_offsets.last().map_or(0.0, |(_, offs)| offs[c]);
            knots.push((t, outline.map(Point::new(c as f64 + 0.5 + off, t))));
        }
        knots.sort_by(|a, b| a.0.total_cmp(&b.0));
        knots
    };
    let row_knots = |r: usize| -> Vec<(f64, Point)> {
        let mut knots: Vec<(f64, Point)> = row_offsets
            .iter()
            .map(|(c, offs)| {
                let s = *c as f64 + 0.5;
                (s, outline.map(Point::new(s, r as f64 + 0.5 + offs[r])))
            })
            .collect();
        if knots.iter().all(|k| k.0 != 0.5) {
            let off = row_offsets.first().map_or(0.0, |(_, offs)| offs[r]);
            knots.push((0.5, outline.map(Point::new(0.5, r as f64 + 0.5 + off))));
        }
        knots.sort_by(|a, b| a.0.total_cmp(&b.0));
        knots
    };
    let columns: Vec<Vec<(f64, Point)>> = (0..cols).map(column_knots).collect();
    let rows_k: Vec<Vec<(f64, Point)>> = (0..rows).map(row_knots).collect();
    let mut centres = Vec::with_capacity(rows * cols);
    for (r, row_line) in rows_k.iter().enumerate() {
        for (c, column_line) in columns.iter().enumerate() {
            let (a0, a1) = segment(column_line, r as f64 + 0.5);
            let (b0, b1) = segment(row_line, c as f64 + 0.5);
            let p = intersect_lines(a0, a1, b0, b1)
                .filter(|p| p.x.is_finite() && p.y.is_finite())
                .unwrap_or_else(|| outline.map(Point::new(c as f64 + 0.5, r as f64 + 0.5)));
            centres.push(p);
        }
    }
    Some(ModuleGrid {
        rows,
        cols,
        centres,
        outline,
        light_on_dark: polarity < 0.0,
        clock_edges_found: if expected == 0 {
            0.0
        } else {
            found as f64 / expected as f64
        },
    })
}

/// Indices of the lines (rows or columns) that are clock tracks.
fn clock_lines(n: usize, is_clock: impl Fn(usize) -> bool) -> Vec<usize> {
    (0..n).filter(|&i| is_clock(i)).collect()
}

fn alternates(n: usize, colour: impl Fn(usize) -> Option<bool>) -> bool {
    (1..n).all(|i| colour(i) != colour(i - 1))
}

/// The two knots around parameter `t` (or the nearest pair at the ends).
fn segment(knots: &[(f64, Point)], t: f64) -> (Point, Point) {
    if knots.len() == 1 {
        return (knots[0].1, knots[0].1);
    }
    let i = knots
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(knots.len() - 2);
    (knots[i].1, knots[i + 1].1)
}

struct TrackMeasure {
    /// Per module: measured centre minus the outline's centre, in module units.
    offsets: Vec<f64>,
    found: usize,
    expected: usize,
}

/// Scans one clock track. `darkness(u)` is positive where the track is darker than the
/// threshold at position `u` (module units along the track); `module_dark(i)` is the nominal
/// colour of module `i`. Each module boundary with a colour change is looked for within
/// half a module of where the outline puts it; a module's centre is the midpoint of its two
/// edges, and modules missing an edge take the offset of their measured neighbours.
fn measure_track(
    n: usize,
    steps_per_module: usize,
    darkness: impl Fn(f64) -> f64,
    module_dark: impl Fn(usize) -> bool,
) -> TrackMeasure {
    let step = 1.0 / steps_per_module as f64;
    // Profile from half a module before the track to half a module after it.
    let start = -0.5;
    let count = (n + 1) * steps_per_module + 1;
    let profile: Vec<f64> = (0..count)
        .map(|i| darkness(start + i as f64 * step))
        .collect();
    let position = |i: usize| start + i as f64 * step;
    let colour = |k: isize| -> bool { k >= 0 && (k as usize) < n && module_dark(k as usize) };

    // Every crossing of the threshold, then specks removed: a run shorter than a third of a
    // module is noise, not a module.
    let mut crossings: Vec<(f64, bool)> = profile
        .windows(2)
        .enumerate()
        .filter(|(_, w)| (w[0] > 0.0) != (w[1] > 0.0))
        .map(|(i, w)| (position(i) + step * w[0] / (w[0] - w[1]), w[1] > 0.0))
        .collect();
    while crossings.len() >= 2 {
        let (i, run) = crossings
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one run");
        if run >= 1.0 / 3.0 {
            break;
        }
        crossings.drain(i..i + 2);
    }
    // Module boundaries where the colour changes, with the direction of the change.
    let transitions: Vec<(usize, bool)> = (0..=n)
        .filter_map(|k| {
            let before = colour(k as isize - 1);
            let after = colour(k as isize);
            (before != after).then_some((k, after))
        })
        .collect();
    let mut edges: Vec<Option<f64>> = vec![None; n + 1];
    let in_order = crossings.len() == transitions.len()
        && crossings.iter().zip(&transitions).all(|(c, t)| c.1 == t.1);
    if in_order {
        // One crossing per boundary: assign them in order, however far the pitch has drifted
        // from the outline's.
        for (c, &(k, _)) in crossings.iter().zip(&transitions) {
            edges[k] = Some(c.0);
        }
    } else {
        // Otherwise the nearest crossing of the right direction within half a module.
        for &(k, rising) in &transitions {
            edges[k] = crossings
                .iter()
                .filter(|c| c.1 == rising && (c.0 - k as f64).abs() <= 0.5)
                .min_by(|a, b| (a.0 - k as f64).abs().total_cmp(&(b.0 - k as f64).abs()))
                .map(|c| c.0);
        }
    }
    let expected = transitions.len();
    let found = edges.iter().filter(|e| e.is_some()).count();
    let mut offsets: Vec<Option<f64>> = (0..n)
        .map(|i| match (edges[i], edges[i + 1]) {
            (Some(a), Some(b)) => Some((a + b) / 2.0 - (i as f64 + 0.5)),
            _ => None,
        })
        .collect();
    fill_gaps(&mut offsets);
    TrackMeasure {
        offsets: offsets.into_iter().map(|o| o.unwrap_or(0.0)).collect(),
        found,
        expected,
    }
}

/// Replaces missing values by linear interpolation between the nearest known ones (constant
/// beyond the ends).
fn fill_gaps(values: &mut [Option<f64>]) {
    let known: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
    if known.is_empty() {
        return;
    }
    for i in 0..values.len() {
        if values[i].is_some() {
            continue;
        }
        let next = known.iter().position(|&k| k > i);
        values[i] = Some(match next {
            None => values[*known.last().unwrap()].unwrap(),
            Some(0) => values[known[0]].unwrap(),
            Some(j) => {
                let (a, b) = (known[j - 1], known[j]);
                let (va, vb) = (values[a].unwrap(), values[b].unwrap());
                va + (vb - va) * (i - a) as f64 / (b - a) as f64
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_interpolated_between_measured_neighbours() {
        let mut v = vec![None, Some(1.0), None, None, Some(4.0), None];
        fill_gaps(&mut v);
        assert_eq!(
            v,
            vec![
                Some(1.0),
                Some(1.0),
                Some(2.0),
                Some(3.0),
                Some(4.0),
                Some(4.0)
            ]
        );
    }

    #[test]
    fn a_clean_track_reports_its_true_centres() {
        // A 10-module clock track whose modules sit 0.2 module to the right of the outline.
        let shift = 0.2;
        let track = measure_track(
            10,
            16,
            |u| {
                let m = (u - shift).floor();
                if (0.0..10.0).contains(&m) && (m as usize).is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                }
            },
            |i| i % 2 == 0,
        );
        assert_eq!(track.expected, 10);
        assert_eq!(track.found, 10);
        for off in &track.offsets[..9] {
            assert!((off - shift).abs() < 0.07, "offset {off}");
        }
    }
}
