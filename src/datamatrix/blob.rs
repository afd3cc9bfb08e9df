//! A second way to find a symbol, for when the outline tracer cannot follow its finder: one
//! light module in the solid L (a missed nozzle, a scratch) stops the trace. The symbol's
//! dark modules, joined across gaps of about a module, form one blob whose convex hull is the
//! symbol's square whatever the damage inside it or along the L; the hull's minimum-area
//! rectangle gives the corners. Of its sides, the two mostly dark ones are the L and the
//! other two the clock tracks, whose modules give the size. The grid is then measured on the
//! clock tracks as for any candidate, and the decode is the judge.

use super::Candidate;
use super::symbol::size_for;
use crate::binarize::{Binary, WORD};
use crate::geometry::Point;

/// Shortest side, in modules, of any Data Matrix symbol.
const MIN_MODULES: f64 = 8.0;

/// A side of the outline whose samples are at least this dark is taken for a leg of the L
/// (a clock track is half dark).
const MIN_L_DARKNESS: f64 = 0.7;

/// A side of the symbol is where its edge runs along at least this many modules: a clock
/// track's dark modules give half its length, the L all of it.
const EDGE_SUPPORT_MODULES: f64 = 2.5;

/// Module size (pixels) from which lone pixels are dropped before blobs are formed: noise in
/// the quiet zone, joined to the blob across its gaps, tilts the hull of a long thin symbol
/// off its sides. Smaller modules can leave a lone pixel of their own on a low-contrast print.
const MIN_DESPECKLED_MODULE: f64 = 4.0;

/// Blobs tried per window, largest first: on a carton, text and artwork near the symbol
/// make blobs of their own.
const MAX_BLOBS: usize = 4;

/// The symbols `bits` may hold (set where a module of the symbol's colour would be, as the
/// tracer takes them), found from its blobs; `origin` is where its pixel (0, 0) is in the
/// frame. Only blobs with the shape of a Data Matrix are returned.
pub fn candidates(bits: &Binary, origin: Point, light_on_dark: bool) -> Vec<Candidate> {
    let Some(module) = Mask(bits).module_size() else {
        return Vec::new();
    };
    // Modules of four pixels or more have no lone pixels of their own: those are noise.
    let despeckled = (module >= MIN_DESPECKLED_MODULE).then(|| despeckled(bits));
    let mask = Mask(despeckled.as_ref().unwrap_or(bits));
    mask.blobs((module / 2.0).ceil() as usize)
        .iter()
        .take(MAX_BLOBS)
        .flat_map(|rows| mask.candidates(&hull_of_rows(rows), module))
        .map(|candidate| Candidate {
            corners: candidate.corners.map(|p| p + origin),
            light_on_dark,
            ..candidate
        })
        .collect()
}

/// `bits` without its lone set pixels (none of the four beside them set).
fn despeckled(bits: &Binary) -> Binary {
    let (width, height) = (bits.width(), bits.height());
    let mut out = Binary::empty(width, height);
    let none = vec![0usize; width.div_ceil(WORD)];
    for y in 0..height {
        let row = bits.row(y);
        let above = if y > 0 { bits.row(y - 1) } else { &none };
        let below = if y + 1 < height {
            bits.row(y + 1)
        } else {
            &none
        };
        for (i, out) in out.row_mut(y).iter_mut().enumerate() {
            let word = row[i];
            // The pixels beside each bit, across the words' boundaries.
            let left = word << 1 | i.checked_sub(1).map_or(0, |k| row[k] >> (WORD - 1));
            let right = word >> 1 | row.get(i + 1).map_or(0, |&next| next << (WORD - 1));
            *out = word & (left | right | above[i] | below[i]);
        }
    }
    out
}

/// The window's binary image as the blob search reads it, set where it is dark in the
/// symbol's polarity: runs, transitions and dilation are found a word at a time, so that a
/// window of text or artwork, where no symbol is found, costs little.
struct Mask<'a>(&'a Binary);

impl Mask<'_> {
    fn row(&self, y: usize) -> &[usize] {
        self.0.row(y)
    }

    fn get(&self, x: usize, y: usize) -> bool {
        self.0.get(x, y)
    }

    /// The mask with every pixel within `reach` (a square) of a set one set: each row's runs
    /// widened by `reach` on both sides, then each row the union of the widened rows within
    /// `reach` above and below it.
    fn dilated(&self, reach: usize) -> Binary {
        let (width, height) = (self.0.width(), self.0.height());
        let mut widened = Binary::empty(width, height);
        for y in 0..height {
            let row = widened.row_mut(y);
            for (x0, x1) in set_runs(self.row(y)) {
                set_range(row, x0.saturating_sub(reach), x1 + reach);
            }
            // Widened past the row's end: those bits must stay unset.
            if width % WORD != 0
                && let Some(last) = row.last_mut()
            {
                *last &= (1 << (width % WORD)) - 1;
            }
        }
        let mut joined = Binary::empty(width, height);
        for y in 0..height {
            let near = y.saturating_sub(reach)..(y + reach + 1).min(height);
            let out = joined.row_mut(y);
            for source in near {
                for (o, &w) in out.iter_mut().zip(widened.row(source)) {
                    *o |= w;
                }
            }
        }
        joined
    }

    /// The symbol whose outline is `hull`: its minimum-area rectangle, the L where two dark
    /// sides meet, the module counts along the other two (the clock tracks); one candidate per
    /// count that makes a Data Matrix size.
    fn candidates(&self, hull: &[Point], module: f64) -> Vec<Candidate> {
        let Some(corners) = min_area_rectangle(hull) else {
            return Vec::new();
        };
        // Trimming only shortens the sides: a side too short before it (a line of text) is
        // too short after, and is not trimmed.
        let too_short = |corners: &[Point; 4]| {
            (0..4).any(|i| corners[i].distance(corners[(i + 1) % 4]) < MIN_MODULES * module * 0.75)
        };
        if too_short(&corners) {
            return Vec::new();
        }
        let corners = self.trimmed(corners, module);
        if too_short(&corners) {
            return Vec::new();
        }
        let darkness: Vec<f64> = (0..4)
            .map(|i| self.side_darkness(corners[i], corners[(i + 1) % 4], module / 2.0))
            .collect();
        let l_corner = (0..4)
            .max_by(|&a, &b| {
                let score = |k: usize| darkness[(k + 3) % 4] + darkness[k];
                score(a).total_cmp(&score(b))
            })
            .filter(|&k| darkness[(k + 3) % 4].min(darkness[k]) >= MIN_L_DARKNESS);
        let Some(l_corner) = l_corner else {
            return Vec::new();
        };
        // Clockwise from the L corner: the far end of one leg, the clock corner, the other
        // leg's end; the tracer's order starts at the first of these and ends at the L corner.
        let corners = [1, 2, 3, 0].map(|i| corners[(l_corner + i) % 4]);
        let cols = self.clock_modules(corners[0], corners[1], module);
        let rows = self.clock_modules(corners[1], corners[2], module);
        rows.iter()
            .flat_map(|&r| cols.iter().map(move |&c| (r, c)))
            .filter(|&(r, c)| size_for(r, c).or_else(|| size_for(c, r)).is_some())
            .map(|(rows, cols)| Candidate {
                corners,
                rows,
                cols,
                bits: None,
                light_on_dark: false,
            })
            .collect()
    }

    /// `corners` (clockwise) with each side moved in to where the symbol's edge runs along
    /// at least [`EDGE_SUPPORT_MODULES`] of its length: a dark speck in the quiet zone, joined
    /// to the blob, pushes its hull out by a module over a module's length only.
    fn trimmed(&self, corners: [Point; 4], module: f64) -> [Point; 4] {
        let axes = |i: usize| side_axes(corners[i], corners[(i + 1) % 4]);
        let deepest = 3.0 * module;
        let trim: Vec<f64> = (0..4)
            .map(|i| {
                let (along, inward) = axes(i);
                let length = corners[i].distance(corners[(i + 1) % 4]);
                let supported = (EDGE_SUPPORT_MODULES * module) as usize;
                if length as usize <= supported {
                    return 0.0;
                }
                // The side moves in to the depth (in half-pixel steps) by which more than
                // `supported` of the pixels along it have met a dark pixel below them.
                // Searched a depth at a time over the pixels that have not, so that a side
                // along the symbol's edge stops at the first.
                let mut open: Vec<Point> = (0..length as usize)
                    .map(|s| corners[i] + along * (s as f64 + 0.5))
                    .collect();
                for depth in (0..(deepest * 2.0) as usize).map(|d| d as f64 / 2.0) {
                    open.retain(|&start| !self.at(start + inward * (depth + 0.25)));
                    if length as usize - open.len() > supported {
                        return depth;
                    }
                }
                deepest
            })
            .collect();
        std::array::from_fn(|i| {
            let before = (i + 3) % 4;
            corners[i] + axes(i).1 * trim[i] + axes(before).1 * trim[before]
        })
    }

    /// The dark pixels under `run`: how many, and the first and last of them.
    fn dark_in(&self, run: &Run) -> (usize, Option<(usize, usize)>) {
        let row = self.row(run.y);
        let (mut count, mut first, mut last) = (0, None, None);
        let (first_word, end_word) = (run.x0 / WORD, run.x1.div_ceil(WORD));
        for (i, &word) in row.iter().enumerate().take(end_word).skip(first_word) {
            let from = run.x0.saturating_sub(i * WORD);
            let to = (run.x1 - i * WORD).min(WORD);
            let bits = (word >> from << from) & (usize::MAX >> (WORD - to));
            if bits != 0 {
                count += bits.count_ones() as usize;
                first = first.or(Some(i * WORD + bits.trailing_zeros() as usize));
                last = Some(i * WORD + WORD - 1 - bits.leading_zeros() as usize);
            }
        }
        (count, first.zip(last))
    }

    fn at(&self, p: Point) -> bool {
        self.0.pixel(p) == Some(true)
    }

    /// The module size: the commonest run length (two pixels or longer) along rows and
    /// columns, averaged over dark and light runs so that print growth cancels out. Half of
    /// a symbol's runs are one module long, a quarter two.
    fn module_size(&self) -> Option<f64> {
        let (w, h) = (self.0.width(), self.0.height());
        let longest = w.max(h) + 1;
        let mut histograms = [vec![0usize; longest + 2], vec![0usize; longest + 2]];
        // A run is counted where it ends inside the line, at a change of colour; the last run
        // of a line is not. Along a row, pixel x changes where it differs from pixel x - 1.
        for y in 0..h {
            let row = self.row(y);
            let mut start = 0;
            for (i, &word) in row.iter().enumerate() {
                let before = if i == 0 {
                    word & 1
                } else {
                    row[i - 1] >> (WORD - 1)
                };
                let inside = if (i + 1) * WORD <= w {
                    usize::MAX
                } else {
                    usize::MAX >> ((i + 1) * WORD - w)
                };
                let mut changes = (word ^ (word << 1 | before)) & inside;
                while changes != 0 {
                    let x = i * WORD + changes.trailing_zeros() as usize;
                    changes &= changes - 1;
                    histograms[usize::from(!self.get(x, y))][x - start] += 1;
                    start = x;
                }
            }
        }
        // Down the columns: where a row differs from the one above, each column's run since
        // its last change ends.
        let mut starts = vec![0usize; w];
        for y in 1..h {
            let (above, row) = (self.row(y - 1), self.row(y));
            for (i, (&up, &word)) in above.iter().zip(row).enumerate() {
                let mut changes = up ^ word;
                while changes != 0 {
                    let bit = changes.trailing_zeros() as usize;
                    changes &= changes - 1;
                    let x = i * WORD + bit;
                    histograms[up >> bit & 1][y - starts[x]] += 1;
                    starts[x] = y;
                }
            }
        }
        let commonest = |histogram: &[usize]| -> Option<f64> {
            // Runs of one pixel are noise; a module's runs spread over neighbouring lengths.
            let (peak, weight) = (3..histogram.len() - 1)
                .map(|k| (k, histogram[k - 1] + histogram[k] + histogram[k + 1]))
                .max_by_key(|&(k, weight)| (weight, std::cmp::Reverse(k)))?;
            if weight == 0 {
                return None;
            }
            let moment: usize = (peak - 1..=peak + 1).map(|k| k * histogram[k]).sum();
            Some(moment as f64 / weight as f64)
        };
        Some((commonest(&histograms[1])? + commonest(&histograms[0])?) / 2.0)
    }

    /// The groups of dark pixels joined across light gaps of up to `2 * reach` pixels, most
    /// dark pixels first, each as its rows' spans of dark pixels (top to bottom).
    fn blobs(&self, reach: usize) -> Vec<Vec<RowSpan>> {
        let (runs, group) = grouped_runs(&self.dilated(reach));
        // Dark pixels per group, groups in order of their first pixel.
        let mut dark_pixels = vec![0usize; runs.len()];
        for (run, &g) in runs.iter().zip(&group) {
            dark_pixels[g] += self.dark_in(run).0;
        }
        let mut sizes: Vec<(usize, usize)> = (0..runs.len())
            .filter(|&i| group[i] == i)
            .map(|i| (dark_pixels[i], i))
            .collect();
        sizes.sort_unstable_by_key(|&(dark_pixels, _)| std::cmp::Reverse(dark_pixels));
        sizes.truncate(MAX_BLOBS);
        let mut slot_of_root = vec![None; runs.len()];
        for (slot, &(_, chosen)) in sizes.iter().enumerate() {
            slot_of_root[chosen] = Some(slot);
        }
        // Spans, one pass over the runs (row by row) for all chosen groups.
        let mut spans: Vec<Vec<RowSpan>> = vec![Vec::new(); sizes.len()];
        for (i, run) in runs.iter().enumerate() {
            let Some(k) = slot_of_root[group[i]] else {
                continue;
            };
            // A run can hold no dark pixel: joined from the rows above and below.
            let (_, Some((first, last))) = self.dark_in(run) else {
                continue;
            };
            match spans[k].last_mut() {
                Some(span) if span.y == run.y => {
                    (span.left, span.right) = (span.left.min(first), span.right.max(last + 1));
                }
                _ => spans[k].push(RowSpan {
                    y: run.y,
                    left: first,
                    right: last + 1,
                }),
            }
        }
        spans
    }

    /// Samples along the side from `a` to `b`, `inset` pixels inside the outline (which runs
    /// clockwise, so inside is to the right), one per half pixel.
    fn along(&self, a: Point, b: Point, inset: f64) -> Vec<bool> {
        let (along, inward) = side_axes(a, b);
        let steps = (a.distance(b) * 2.0) as usize;
        (0..steps)
            .map(|s| self.at(a + along * ((s as f64 + 0.5) / 2.0) + inward * inset))
            .collect()
    }

    fn side_darkness(&self, a: Point, b: Point, inset: f64) -> f64 {
        let samples = self.along(a, b, inset);
        samples.iter().filter(|&&d| d).count() as f64 / samples.len().max(1) as f64
    }

    /// Module counts for the clock track from `a` to `b`: the track alternates dark and
    /// light, so its runs of either colour are modules (runs shorter than a third of a
    /// module are noise); and, where damage or a steep angle confuses the runs, its length in
    /// modules of the estimated size.
    fn clock_modules(&self, a: Point, b: Point, module: f64) -> Vec<usize> {
        let length = a.distance(b);
        // Every Data Matrix side has an even number of modules.
        let even = |modules: f64| ((modules / 2.0).round() * 2.0) as usize;
        // The module estimate is good to a few per cent: a long side may be two modules off.
        let by_length = even(length / module);
        let mut counts = vec![by_length, by_length + 2, by_length.saturating_sub(2)];
        // A first count at the estimated module size, then the count again along the middle
        // of the track at the module size that count gives.
        let mut modules = length / module;
        for _ in 0..2 {
            let pitch = length / modules;
            let samples = self.along(a, b, pitch / 2.0);
            // Samples are half a pixel apart.
            let shortest = (pitch / 3.0 * 2.0).max(1.0) as usize;
            let mut runs: Vec<(bool, usize)> = Vec::new();
            for s in samples {
                match runs.last_mut() {
                    Some((colour, n)) if *colour == s => *n += 1,
                    Some((_, n)) if *n < shortest => {
                        // The run before was a speck: it belongs to the one it interrupted.
                        runs.pop();
                        match runs.last_mut() {
                            Some((colour, n)) if *colour == s => *n += 1,
                            _ => runs.push((s, 1)),
                        }
                    }
                    _ => runs.push((s, 1)),
                }
            }
            if runs.last().is_some_and(|&(_, n)| n < shortest) {
                runs.pop();
            }
            modules = runs.len() as f64;
            if modules < MIN_MODULES {
                break;
            }
        }
        counts.retain(|&n| n != even(modules));
        counts.insert(0, even(modules));
        counts.retain(|&n| n as f64 >= MIN_MODULES);
        counts
    }
}

/// Unit vectors along the side from `a` to `b` and into the outline (which runs clockwise on
/// screen, so inside is to the right); zero for a side of no length.
fn side_axes(a: Point, b: Point) -> (Point, Point) {
    let along = (b - a) * (1.0 / a.distance(b).max(f64::MIN_POSITIVE));
    (along, Point::new(-along.y, along.x))
}

/// The runs of set pixels in `joined`, row by row, and for each the group it belongs to (the
/// index of the group's first run): a run joins every run it touches in the row above.
fn grouped_runs(joined: &Binary) -> (Vec<Run>, Vec<usize>) {
    let mut runs: Vec<Run> = Vec::new();
    // Union–find over runs; a group's root is its first run in raster order.
    let mut parent: Vec<usize> = Vec::new();
    let mut above = 0..0;
    for y in 0..joined.height() {
        let first_in_row = runs.len();
        let mut overlap = above.start;
        for (x0, x1) in set_runs(joined.row(y)) {
            let this = runs.len();
            runs.push(Run { y, x0, x1 });
            parent.push(this);
            while overlap < above.end && runs[overlap].x1 <= x0 {
                overlap += 1;
            }
            // The last run above that touches this one may touch the next one too.
            let mut k = overlap;
            while k < above.end && runs[k].x0 < x1 {
                let (a, b) = (root(&mut parent, this), root(&mut parent, k));
                parent[a.max(b)] = a.min(b);
                k += 1;
            }
        }
        above = first_in_row..runs.len();
    }
    let group = (0..runs.len()).map(|i| root(&mut parent, i)).collect();
    (runs, group)
}

/// The runs of set bits of a packed row, left to right, as pixel ranges `x0..x1`.
fn set_runs(row: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let end = row.len() * WORD;
    let mut x = 0;
    std::iter::from_fn(move || {
        let x0 = next_bit(row, x, true)?;
        x = next_bit(row, x0, false).unwrap_or(end);
        Some((x0, x))
    })
}

/// The first pixel at or after `from` of a packed row whose bit is `set`.
fn next_bit(row: &[usize], from: usize, set: bool) -> Option<usize> {
    let flip = if set { 0 } else { usize::MAX };
    let mut i = from / WORD;
    let mut bits = (row.get(i)? ^ flip) >> (from % WORD) << (from % WORD);
    while bits == 0 {
        i += 1;
        bits = row.get(i)? ^ flip;
    }
    Some(i * WORD + bits.trailing_zeros() as usize)
}

/// Sets pixels `x0..x1` of a packed row, as far as the row goes.
fn set_range(row: &mut [usize], x0: usize, x1: usize) {
    let x1 = x1.min(row.len() * WORD);
    let (first_word, end_word) = (x0 / WORD, x1.div_ceil(WORD));
    for (i, word) in row.iter_mut().enumerate().take(end_word).skip(first_word) {
        let from = x0.saturating_sub(i * WORD);
        let to = (x1 - i * WORD).min(WORD);
        *word |= (usize::MAX >> from << from) & (usize::MAX >> (WORD - to));
    }
}

/// A run of joined pixels in row `y`, columns `x0..x1`.
struct Run {
    y: usize,
    x0: usize,
    x1: usize,
}

/// The root of `i`'s group, halving the path to it on the way.
fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The dark pixels of one row of a blob: pixel edges from its first dark pixel's left to its
/// last one's right.
#[derive(Clone, Copy, Debug)]
struct RowSpan {
    y: usize,
    left: usize,
    right: usize,
}

/// The convex hull of the pixels of `rows` (top to bottom), corners in counter-clockwise order
/// as seen with y up (clockwise on screen), starting at the leftmost (topmost of those).
///
/// Andrew's monotone chain, over the points sorted by row rather than by column: only each
/// pixel-row edge's two extremes can be corners, and the rows come in order, so nothing is
/// sorted. Sorted that way the chain comes out the other way round, and it is turned to the
/// order above, on which the rectangle fit's tie between equal areas depends.
fn hull_of_rows(rows: &[RowSpan]) -> Vec<Point> {
    // Each edge between pixel rows, top to bottom, with the extremes of the rows above and
    // below it.
    let mut points: Vec<Point> = Vec::with_capacity(2 * rows.len() + 2);
    let mut edge = |y: usize, left: usize, right: usize| {
        let (y, left, right) = (y as f64, left as f64, right as f64);
        points.push(Point::new(left, y));
        points.push(Point::new(right, y));
    };
    for (i, row) in rows.iter().enumerate() {
        // The edge above this row, shared with the row before when that one is adjacent.
        match i.checked_sub(1).map(|k| rows[k]) {
            Some(above) if above.y + 1 == row.y => {
                edge(row.y, row.left.min(above.left), row.right.max(above.right))
            }
            Some(above) => {
                edge(above.y + 1, above.left, above.right);
                edge(row.y, row.left, row.right);
            }
            None => edge(row.y, row.left, row.right),
        }
    }
    if let Some(last) = rows.last() {
        edge(last.y + 1, last.left, last.right);
    }
    let mut hull = monotone_chain(&points);
    if twice_signed_area(&hull) < 0.0 {
        hull.reverse();
    }
    let first = (0..hull.len()).min_by(|&a, &b| {
        let (a, b) = (hull[a], hull[b]);
        a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y))
    });
    if let Some(first) = first {
        hull.rotate_left(first);
    }
    hull
}

/// Andrew's monotone chain over `points` sorted along one axis (ties by the other): the
/// hull's corners, with no point on a side between them.
fn monotone_chain(points: &[Point]) -> Vec<Point> {
    if points.len() < 3 {
        return points.to_vec();
    }
    let cross =
        |o: Point, a: Point, b: Point| (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
    let mut hull: Vec<Point> = Vec::with_capacity(points.len() + 1);
    for forward in [true, false] {
        let start = hull.len();
        let mut add = |p: Point| {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        };
        if forward {
            points.iter().copied().for_each(&mut add);
        } else {
            points.iter().rev().copied().for_each(&mut add);
        }
        hull.pop();
    }
    hull
}

/// The smallest rectangle around `hull` (one of its sides lies on a hull edge), corners in
/// clockwise screen order (y down).
fn min_area_rectangle(hull: &[Point]) -> Option<[Point; 4]> {
    if hull.len() < 3 {
        return None;
    }
    let mut best: Option<(f64, [Point; 4])> = None;
    for i in 0..hull.len() {
        let edge = hull[(i + 1) % hull.len()] - hull[i];
        let length = edge.norm();
        if length == 0.0 {
            continue;
        }
        let u = edge * (1.0 / length);
        let v = Point::new(-u.y, u.x);
        let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &p in hull {
            let (pu, pv) = (p.x * u.x + p.y * u.y, p.x * v.x + p.y * v.y);
            (u0, u1, v0, v1) = (u0.min(pu), u1.max(pu), v0.min(pv), v1.max(pv));
        }
        let area = (u1 - u0) * (v1 - v0);
        if best.is_none_or(|(smallest, _)| area < smallest) {
            let at = |a: f64, b: f64| u * a + v * b;
            best = Some((area, [at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)]));
        }
    }
    let (_, mut corners) = best?;
    if twice_signed_area(&corners) < 0.0 {
        corners.reverse();
    }
    Some(corners)
}

/// Twice the signed area of a polygon (shoelace), which with y down is positive for corners
/// in clockwise order on screen.
fn twice_signed_area(polygon: &[Point]) -> f64 {
    (0..polygon.len())
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % polygon.len()]);
            a.x * b.y - b.x * a.y
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image of `w`×`h` with the given rectangles (x, y, width, height) dark.
    fn mask_with(w: usize, h: usize, rects: &[(usize, usize, usize, usize)]) -> Binary {
        let mut image = Binary::empty(w, h);
        for &(x0, y0, rw, rh) in rects {
            for y in y0..y0 + rh {
                set_range(image.row_mut(y), x0, x0 + rw);
            }
        }
        image
    }

    #[test]
    fn blobs_join_across_gaps_up_to_twice_their_reach() {
        // Two bars 4 pixels apart: one blob at reach 2, two at reach 1.
        let image = mask_with(30, 10, &[(2, 2, 10, 5), (16, 2, 6, 5)]);
        let mask = Mask(&image);
        assert_eq!(mask.blobs(2).len(), 1);
        let apart = mask.blobs(1);
        assert_eq!(apart.len(), 2);
        // Most dark pixels first; spans from the rows' first dark pixel to past their last.
        let xs = |rows: &[RowSpan]| {
            let lo = rows.iter().map(|r| r.left).min();
            let hi = rows.iter().map(|r| r.right).max();
            (lo, hi)
        };
        assert_eq!(xs(&apart[0]), (Some(2), Some(12)));
        assert_eq!(xs(&apart[1]), (Some(16), Some(22)));
        assert_eq!(
            apart[0].iter().map(|r| r.y).collect::<Vec<_>>(),
            [2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn a_u_shape_is_one_blob_though_its_legs_start_apart() {
        // Legs meet only at the bottom row: the runs of the upper rows are joined late.
        let image = mask_with(20, 12, &[(1, 1, 2, 10), (15, 1, 2, 10), (1, 10, 16, 1)]);
        let mask = Mask(&image);
        let blobs = mask.blobs(0);
        assert_eq!(blobs.len(), 1);
        assert_eq!(blobs[0].len(), 10);
    }

    #[test]
    fn despeckling_drops_lone_pixels_only() {
        // Lone pixels (one at a word's last bit, one at the next word's first) and pairs that
        // touch across a word boundary, down a column and along a row's end.
        let (w, h) = (70, 6);
        let image = mask_with(
            w,
            h,
            &[
                (63, 0, 1, 1),
                (64, 2, 1, 1),
                (63, 4, 2, 1),
                (10, 1, 1, 2),
                (68, 5, 2, 1),
            ],
        );
        let kept = despeckled(&image);
        for y in 0..h {
            for x in 0..w {
                let lone = (x, y) == (63, 0) || (x, y) == (64, 2);
                assert_eq!(kept.get(x, y), image.get(x, y) && !lone, "({x}, {y})");
            }
        }
    }

    #[test]
    fn dilation_reaches_exactly_its_reach() {
        // A pixel at a word's edge and one near the row's end, which the dilation must not
        // spread past.
        let (w, h) = (70, 9);
        let image = mask_with(w, h, &[(63, 2, 1, 1), (68, 6, 1, 1)]);
        let mask = Mask(&image);
        let grown = mask.dilated(2);
        for y in 0..h {
            for x in 0..w {
                let near = (x.abs_diff(63) <= 2 && y.abs_diff(2) <= 2)
                    || (x.abs_diff(68) <= 2 && y.abs_diff(6) <= 2);
                assert_eq!(grown.get(x, y), near, "({x}, {y})");
            }
        }
        let past_end = |row: &[usize]| row[1] >> (w - WORD);
        assert!((0..h).all(|y| past_end(grown.row(y)) == 0));
    }

    #[test]
    fn module_size_is_the_commonest_run_of_a_checkerboard() {
        // 5-pixel squares across two words, with one stray pixel (runs of one are noise).
        let squares: Vec<_> = (0..16)
            .flat_map(|r| (0..16).map(move |c| (r, c)))
            .filter(|(r, c)| (r + c) % 2 == 0)
            .map(|(r, c)| (c * 5, r * 5, 5, 5))
            .chain([(1, 1, 1, 1)])
            .collect();
        let image = mask_with(80, 80, &squares);
        let mask = Mask(&image);
        assert_eq!(mask.module_size(), Some(5.0));
    }

    #[test]
    fn dark_pixels_of_a_run_across_words() {
        let image = mask_with(200, 1, &[(60, 0, 10, 1), (130, 0, 3, 1)]);
        let mask = Mask(&image);
        let run = |x0, x1| Run { y: 0, x0, x1 };
        assert_eq!(mask.dark_in(&run(0, 200)), (13, Some((60, 132))));
        assert_eq!(mask.dark_in(&run(62, 131)), (9, Some((62, 130))));
        assert_eq!(mask.dark_in(&run(70, 130)), (0, None));
        assert_eq!(
            set_runs(mask.row(0)).collect::<Vec<_>>(),
            [(60, 70), (130, 133)]
        );
    }

    /// The convex hull of any points, sorted by column: the reference for [`hull_of_rows`].
    fn convex_hull(mut points: Vec<Point>) -> Vec<Point> {
        points.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
        points.dedup_by(|a, b| a.x == b.x && a.y == b.y);
        monotone_chain(&points)
    }

    #[test]
    fn hull_of_rows_is_the_hull_of_every_pixel_corner_in_the_same_order() {
        // Blobs of random rows (some rows skipped, as a run joined by dilation alone leaves
        // them), against the hull of all four corners of every row's span sorted by column.
        let mut state = 0x2545_f491u32;
        let mut next = |n: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % n) as usize
        };
        for _ in 0..500 {
            let mut rows = Vec::new();
            let mut y = next(5);
            for _ in 0..1 + next(30) {
                let left = next(40);
                rows.push(RowSpan {
                    y,
                    left,
                    right: left + 1 + next(40),
                });
                y += 1 + usize::from(next(6) == 0) * next(3);
            }
            let corners: Vec<Point> = rows
                .iter()
                .flat_map(|r| {
                    let (l, rt, t) = (r.left as f64, r.right as f64, r.y as f64);
                    [(l, t), (l, t + 1.0), (rt, t), (rt, t + 1.0)]
                })
                .map(|(x, y)| Point::new(x, y))
                .collect();
            let expected = convex_hull(corners);
            let hull = hull_of_rows(&rows);
            let pairs = |h: &[Point]| h.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>();
            assert_eq!(pairs(&hull), pairs(&expected), "{rows:?}");
        }
    }

    #[test]
    fn rectangle_of_a_rotated_square_is_the_square() {
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let square: Vec<Point> = [
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (5.0, 5.0),
        ]
        .iter()
        .map(|&(x, y)| Point::new(20.0 + c * x - s * y, 20.0 + s * x + c * y))
        .collect();
        let corners = min_area_rectangle(&convex_hull(square)).unwrap();
        for i in 0..4 {
            let side = corners[i].distance(corners[(i + 1) % 4]);
            assert!((side - 10.0).abs() < 1e-9, "side {i}: {side}");
        }
        let cross = |a: Point, b: Point| a.x * b.y - a.y * b.x;
        assert!(
            cross(corners[1] - corners[0], corners[2] - corners[1]) > 0.0,
            "clockwise on screen"
        );
    }
}
