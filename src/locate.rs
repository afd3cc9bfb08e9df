//! Finding candidate symbols in a frame: binarise, propose the regions whose texture looks
//! like a 2-D symbol, then trace the finder L and the clock tracks there with rxing's port of
//! the zxing-cpp Data Matrix detector (any rotation, perspective). A candidate is four outer
//! corners and a module count; the grid stage ([`crate::grid`]) turns it into measured module
//! centres.

pub mod blob;

use crate::frame::Frame;
use crate::geometry::{Point, Rect, centroid};
use rxing::common::{BitArray, BitMatrix, DetectorRXingResult};
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

impl Candidate {
    pub fn centre(&self) -> Point {
        centroid(&self.corners)
    }
}

/// Side of the square tiles over which the binariser measures local brightness.
const TILE: usize = 8;
/// Tiles whose grey range is at most this are treated as flat background (zxing's value)…
const MIN_TILE_RANGE: u8 = 24;
/// …or at most this multiple of the frame's median tile range: on a noisy camera frame most
/// tiles are flat ground whose range is the noise, and thresholding them at their mean would
/// turn the noise into speckle.
const NOISE_RANGE_FACTOR: f64 = 1.5;
/// Bits per word of the packed binary image; rxing's `BitMatrix` uses the same word.
const WORD: usize = usize::BITS as usize;

/// A binarised frame, one bit per pixel packed in machine words (bit `x % WORD` of word
/// `x / WORD` is pixel x, as in rxing's `BitMatrix`), `true` = darker than its surroundings.
#[derive(Clone, Debug)]
pub struct Binary {
    width: usize,
    height: usize,
    words_per_row: usize,
    words: Vec<usize>,
}

impl Binary {
    /// Local-average binarisation (the scheme of zxing's hybrid binariser): each 8×8 tile gets
    /// a black point from its own range, each pixel is compared with the mean black point of
    /// the 5×5 tiles around it.
    pub fn of(frame: &Frame) -> Binary {
        let tiles_x = frame.width().div_ceil(TILE);
        let tiles_y = frame.height().div_ceil(TILE);
        let black_points = black_points(frame, tiles_x, tiles_y);
        Binary::thresholded(frame, |y, threshold| {
            if y % TILE != 0 {
                return;
            }
            let ty = y / TILE;
            let y0 = ty.saturating_sub(2).min(tiles_y.saturating_sub(5));
            let y1 = (y0 + 5).min(tiles_y);
            for (tx, tile_threshold) in threshold.chunks_mut(TILE).enumerate() {
                let x0 = tx.saturating_sub(2).min(tiles_x.saturating_sub(5));
                let x1 = (x0 + 5).min(tiles_x);
                let sum: u32 = (y0..y1)
                    .map(|yy| {
                        black_points[yy * tiles_x + x0..yy * tiles_x + x1]
                            .iter()
                            .sum::<u32>()
                    })
                    .sum();
                // A mean of black points, each at most 255.
                tile_threshold.fill((sum / ((y1 - y0) * (x1 - x0)) as u32) as u8);
            }
        })
    }

    /// One threshold for the whole frame, Otsu's (the split that best separates two grey
    /// populations): for a window around a symbol on mid-grey artwork, where a local
    /// threshold calls the artwork dark and merges it with the finder and clock tracks.
    pub fn global(frame: &Frame) -> Binary {
        let mut histogram = [0u64; 256];
        for y in 0..frame.height() {
            for &p in frame.row(y) {
                histogram[p as usize] += 1;
            }
        }
        let threshold = otsu(&histogram);
        Binary::thresholded(frame, |_, row| row.fill(threshold))
    }

    /// The frame with each pixel dark where it is at or below its threshold. `thresholds`
    /// is called for every row in order with the per-pixel thresholds of the row before, to
    /// change what differs; both passes run over whole rows, so they vectorise.
    fn thresholded(frame: &Frame, mut thresholds: impl FnMut(usize, &mut [u8])) -> Binary {
        let (w, h) = (frame.width(), frame.height());
        let words_per_row = w.div_ceil(WORD);
        let mut words = vec![0usize; words_per_row * h];
        let mut threshold = vec![0u8; w];
        // 0/1 per pixel, padded to whole words.
        let mut dark = vec![0u8; w.next_multiple_of(WORD)];
        for y in 0..h {
            thresholds(y, &mut threshold);
            for ((d, &p), &t) in dark.iter_mut().zip(frame.row(y)).zip(&threshold) {
                *d = (p <= t) as u8;
            }
            let out = &mut words[y * words_per_row..(y + 1) * words_per_row];
            for (word, bytes) in out.iter_mut().zip(dark.chunks_exact(WORD)) {
                *word = bytes
                    .chunks_exact(8)
                    .enumerate()
                    .fold(0, |acc, (i, eight)| acc | (pack_bits(eight) << (8 * i)));
            }
        }
        Binary {
            width: w,
            height: h,
            words_per_row,
            words,
        }
    }

    /// The whole image as a rectangle.
    pub fn rect(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    fn row(&self, y: usize) -> &[usize] {
        &self.words[y * self.words_per_row..(y + 1) * self.words_per_row]
    }

    pub fn get(&self, x: usize, y: usize) -> bool {
        self.row(y)[x / WORD] >> (x % WORD) & 1 == 1
    }

    /// `rect` of the image as rxing's bit matrix, dark and light swapped when `invert`.
    pub fn bit_matrix(&self, rect: Rect, invert: bool) -> BitMatrix {
        let mut matrix =
            BitMatrix::new(rect.width as u32, rect.height as u32).expect("rect is not empty");
        let out_words = rect.width.div_ceil(WORD);
        let shift = rect.x % WORD;
        let first = rect.x / WORD;
        let tail = rect.width % WORD;
        let mut out = BitArray::with_size(rect.width);
        for y in 0..rect.height {
            let row = self.row(rect.y + y);
            for i in 0..out_words {
                let lo = row[first + i] >> shift;
                let hi = match (shift, row.get(first + i + 1)) {
                    (0, _) | (_, None) => 0,
                    (_, Some(&next)) => next << (WORD - shift),
                };
                let mut word = if invert { !(lo | hi) } else { lo | hi };
                if i == out_words - 1 && tail != 0 {
                    word &= (1usize << tail) - 1;
                }
                out.setBulk(i * WORD, word);
            }
            matrix.setRow(y as u32, &out);
        }
        matrix
    }

    /// Regions worth tracing, most symbol-like first: connected groups of 16×16 blocks with
    /// dark/light transitions along both axes (a 2-D symbol's texture; a 1-D barcode has them
    /// along one axis, flat print and background along none), large enough to hold a symbol
    /// and grown by a quiet-zone margin.
    pub fn proposals(&self) -> Vec<Rect> {
        let blocks = Blocks {
            across: self.width.div_ceil(BLOCK),
            down: self.height.div_ceil(BLOCK),
        };
        let textured = self.textured_blocks(blocks.across, blocks.down);
        let neighbours = blocks.neighbour_counts(&textured);
        // Cores first: textured blocks in a textured neighbourhood, the inside of a symbol
        // (lines of text are too thin), in a window just large enough for the symbol around
        // them, clear of the text and artwork that a wider group takes in.
        let core: Vec<bool> = textured
            .iter()
            .zip(&neighbours)
            .map(|(&t, &n)| t && n >= CORE_NEIGHBOURS)
            .collect();
        let mut cores = blocks.groups(&core, &core);
        cores.sort_by_key(|&(count, _)| std::cmp::Reverse(count));
        let core_windows = cores
            .into_iter()
            .take(MAX_CORES)
            .map(|(_, group)| self.window(group, CORE_MARGIN_BLOCKS));
        // Then whole groups, one-block gaps (a solid module, a quiet finder edge) closed.
        let grown: Vec<bool> = neighbours.iter().map(|&n| n > 0).collect();
        let mut groups: Vec<(usize, Rect)> = blocks
            .groups(&grown, &textured)
            .into_iter()
            .filter(|&(_, [x0, y0, x1, y1])| {
                // A grown group is one block wider on each side than its textured blocks.
                x1 - x0 + 1 >= MIN_REGION_BLOCKS + 2 && y1 - y0 + 1 >= MIN_REGION_BLOCKS + 2
            })
            .map(|(count, group @ [x0, y0, x1, y1])| {
                // Much texture in a squarish box first (text lines grouped together make
                // long boxes).
                let (across, down) = (x1 - x0 + 1, y1 - y0 + 1);
                (
                    count * across.min(down) / across.max(down),
                    self.window(group, 1),
                )
            })
            .collect();
        groups.sort_by_key(|&(score, _)| std::cmp::Reverse(score));
        core_windows
            .chain(groups.into_iter().map(|(_, window)| window))
            .take(MAX_PROPOSALS)
            .collect()
    }

    /// The pixels of blocks `[x0, y0, x1, y1]` (inclusive) and `margin` blocks around them.
    fn window(&self, [x0, y0, x1, y1]: [usize; 4], margin: usize) -> Rect {
        let right = ((x1 + 1) * BLOCK).min(self.width);
        let bottom = ((y1 + 1) * BLOCK).min(self.height);
        Rect::new(
            x0 * BLOCK,
            y0 * BLOCK,
            right - x0 * BLOCK,
            bottom - y0 * BLOCK,
        )
        .grown(margin * BLOCK, self.width, self.height)
    }

    /// Per 16×16 block: whether it has at least [`MIN_TRANSITIONS`] dark/light transitions
    /// between horizontal neighbours and as many between vertical neighbours.
    fn textured_blocks(&self, blocks_x: usize, blocks_y: usize) -> Vec<bool> {
        let mut horizontal = vec![0u32; blocks_x * blocks_y];
        let mut vertical = vec![0u32; blocks_x * blocks_y];
        for y in 0..self.height {
            let row = self.row(y);
            let below = self.row((y + 1).min(self.height - 1));
            let counts = y / BLOCK * blocks_x;
            for (i, &word) in row.iter().enumerate() {
                // Bit x set where pixel x differs from pixel x + 1.
                let next = row.get(i + 1).copied().unwrap_or(0);
                let across = word ^ (word >> 1 | next << (WORD - 1));
                let down = word ^ below[i];
                for lane in 0..WORD / BLOCK {
                    let bx = (i * WORD) / BLOCK + lane;
                    if bx >= blocks_x {
                        break;
                    }
                    let mask = ((1usize << BLOCK) - 1) << (lane * BLOCK);
                    horizontal[counts + bx] += (across & mask).count_ones();
                    vertical[counts + bx] += (down & mask).count_ones();
                }
            }
        }
        horizontal
            .iter()
            .zip(&vertical)
            .map(|(&h, &v)| h >= MIN_TRANSITIONS && v >= MIN_TRANSITIONS)
            .collect()
    }
}

/// The grid of 16×16 blocks over a frame.
struct Blocks {
    across: usize,
    down: usize,
}

impl Blocks {
    /// The 3×3 neighbourhood of every block (itself included), clipped at the edges.
    fn neighbourhood(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let (bx, by) = (i % self.across, i / self.across);
        (by.saturating_sub(1)..(by + 2).min(self.down)).flat_map(move |ny| {
            (bx.saturating_sub(1)..(bx + 2).min(self.across)).map(move |nx| ny * self.across + nx)
        })
    }

    /// Per block: how many blocks of its 3×3 neighbourhood are set.
    fn neighbour_counts(&self, set: &[bool]) -> Vec<usize> {
        (0..set.len())
            .map(|i| self.neighbourhood(i).filter(|&n| set[n]).count())
            .collect()
    }

    /// 8-connected groups of `member` blocks: how many `counted` blocks each holds, and its
    /// bounding blocks `[x0, y0, x1, y1]` (inclusive).
    fn groups(&self, member: &[bool], counted: &[bool]) -> Vec<(usize, [usize; 4])> {
        let mut groups = Vec::new();
        let mut seen = vec![false; member.len()];
        let mut stack = Vec::new();
        for start in 0..member.len() {
            if !member[start] || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let mut bounds = [usize::MAX, usize::MAX, 0, 0];
            let mut count = 0;
            while let Some(i) = stack.pop() {
                let (bx, by) = (i % self.across, i / self.across);
                bounds = [
                    bounds[0].min(bx),
                    bounds[1].min(by),
                    bounds[2].max(bx),
                    bounds[3].max(by),
                ];
                count += counted[i] as usize;
                for n in self.neighbourhood(i) {
                    if member[n] && !seen[n] {
                        seen[n] = true;
                        stack.push(n);
                    }
                }
            }
            groups.push((count, bounds));
        }
        groups
    }
}

/// Side of the blocks whose texture [`Binary::proposals`] measures.
const BLOCK: usize = 16;
/// Transitions along each axis that make a block textured: a 5–9 px/module symbol gives
/// 14–25 in a 16×16 block, a line of text or the edge of a shape far fewer along one axis.
const MIN_TRANSITIONS: u32 = 8;
/// Textured blocks a region needs across each axis: 10 modules at 5 px are 50 px.
const MIN_REGION_BLOCKS: usize = 3;
/// Regions traced before the whole frame is scanned instead.
const MAX_PROPOSALS: usize = 16;
/// Textured blocks of its 3×3 neighbourhood that make a textured block a core block.
const CORE_NEIGHBOURS: usize = 7;
/// Core groups proposed, largest first.
const MAX_CORES: usize = 4;
/// Blocks around a core group: the symbol's edge blocks (whose texture is one-sided) and
/// its quiet zone.
const CORE_MARGIN_BLOCKS: usize = 3;

/// Otsu's threshold: the grey level (dark = at or below it) that maximises the variance
/// between the two classes it makes.
fn otsu(histogram: &[u64; 256]) -> u8 {
    let total: u64 = histogram.iter().sum();
    let grey_sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(g, &n)| g as f64 * n as f64)
        .sum();
    let (mut below, mut below_sum) = (0u64, 0.0f64);
    let (mut best, mut best_variance) = (0u8, -1.0f64);
    for (g, &n) in histogram.iter().enumerate() {
        below += n;
        below_sum += g as f64 * n as f64;
        let above = total - below;
        if below == 0 || above == 0 {
            continue;
        }
        let mean_below = below_sum / below as f64;
        let mean_above = (grey_sum - below_sum) / above as f64;
        let variance = below as f64 * above as f64 * (mean_above - mean_below).powi(2);
        if variance > best_variance {
            (best, best_variance) = (g as u8, variance);
        }
    }
    best
}

/// Eight 0/1 bytes packed into the low eight bits, byte i to bit i: the multiplier moves
/// byte i's bit from position 8i to 56 + i, with no two partial products overlapping.
fn pack_bits(eight: &[u8]) -> usize {
    let bytes = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
    (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize
}

/// Black point of every tile (row-major): its mean grey, or for a flat tile half its minimum
/// unless its neighbours say it lies inside a dark area.
fn black_points(frame: &Frame, tiles_x: usize, tiles_y: usize) -> Vec<u32> {
    let (w, h) = (frame.width(), frame.height());
    let mut tile_min = vec![0u8; tiles_x * tiles_y];
    let mut tile_max = vec![0u8; tiles_x * tiles_y];
    let mut tile_mean = vec![0u32; tiles_x * tiles_y];
    // Per pixel column over the tile's rows, element-wise so that it vectorises; reduced
    // per tile afterwards.
    let mut min = vec![u8::MAX; w];
    let mut max = vec![0u8; w];
    let mut sum = vec![0u16; w];
    for ty in 0..tiles_y {
        min.fill(u8::MAX);
        max.fill(0);
        sum.fill(0);
        let rows = ty * TILE..((ty + 1) * TILE).min(h);
        let tile_rows = rows.len();
        for y in rows {
            let row = frame.row(y);
            for (((lo, hi), total), &p) in min.iter_mut().zip(&mut max).zip(&mut sum).zip(row) {
                *lo = (*lo).min(p);
                *hi = (*hi).max(p);
                *total += p as u16;
            }
        }
        for tx in 0..tiles_x {
            let columns = tx * TILE..((tx + 1) * TILE).min(w);
            let n = (tile_rows * columns.len()) as u32;
            let t = ty * tiles_x + tx;
            tile_min[t] = min[columns.clone()].iter().copied().min().unwrap_or(0);
            tile_max[t] = max[columns.clone()].iter().copied().max().unwrap_or(0);
            tile_mean[t] = sum[columns].iter().map(|&s| s as u32).sum::<u32>() / n;
        }
    }
    let flat_range = flat_range(&tile_min, &tile_max);
    let mut black_points = tile_mean;
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            let t = ty * tiles_x + tx;
            if tile_max[t] - tile_min[t] > flat_range {
                continue;
            }
            let mut average = tile_min[t] as u32 / 2;
            if tx > 0 && ty > 0 {
                let above = black_points[t - tiles_x];
                let left = black_points[t - 1];
                let diag = black_points[t - tiles_x - 1];
                let neighbours = (above + 2 * left + diag) / 4;
                if (tile_min[t] as u32) < neighbours {
                    average = neighbours;
                }
            }
            black_points[t] = average;
        }
    }
    black_points
}

/// The largest grey range of a tile that is still flat ground: [`MIN_TILE_RANGE`], raised on
/// noisy frames to [`NOISE_RANGE_FACTOR`] times the median tile range.
fn flat_range(tile_min: &[u8], tile_max: &[u8]) -> u8 {
    let mut histogram = [0usize; 256];
    for (&lo, &hi) in tile_min.iter().zip(tile_max) {
        histogram[(hi - lo) as usize] += 1;
    }
    let mut seen = 0;
    let median = (0..256)
        .find(|&range| {
            seen += histogram[range];
            2 * seen >= tile_min.len()
        })
        .unwrap_or(0);
    MIN_TILE_RANGE.max((median as f64 * NOISE_RANGE_FACTOR).min(255.0) as u8)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of pseudo-random grey levels with a dark square, odd-sized so that rows end
    /// inside a word and a tile.
    fn frame() -> Frame<'static> {
        let (w, h) = (203, 77);
        let mut state = 12345u32;
        let pixels = (0..w * h)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let (x, y) = (i % w, i / w);
                let base = if (40..90).contains(&x) && (20..60).contains(&y) {
                    30
                } else {
                    200
                };
                base + (state >> 24) as u8 % 20
            })
            .collect();
        Frame::from_owned(w, h, w, pixels).unwrap()
    }

    #[test]
    fn packed_bits_follow_pixel_order() {
        assert_eq!(pack_bits(&[1, 0, 0, 0, 0, 0, 0, 1]), 0b1000_0001);
        assert_eq!(pack_bits(&[0, 1, 1, 0, 1, 0, 0, 0]), 0b0001_0110);
        assert_eq!(pack_bits(&[1; 8]), 0xff);
    }

    #[test]
    fn binary_marks_the_dark_square_and_nothing_past_the_row_end() {
        let binary = Binary::of(&frame());
        assert!(binary.get(60, 40) && binary.get(40, 20) && binary.get(89, 59));
        assert!(!binary.get(150, 40) && !binary.get(10, 10));
        let last = binary.row(0)[binary.words_per_row - 1];
        assert_eq!(last >> (binary.width % WORD), 0, "padding bits stay clear");
    }

    #[test]
    fn bit_matrix_crops_are_the_same_pixels_at_any_offset() {
        let binary = Binary::of(&frame());
        for rect in [
            Rect::new(0, 0, 203, 77),
            Rect::new(1, 3, 130, 50),
            Rect::new(63, 10, 65, 9),
            Rect::new(64, 0, 139, 77),
            Rect::new(37, 20, 1, 1),
        ] {
            for invert in [false, true] {
                let matrix = binary.bit_matrix(rect, invert);
                assert_eq!(
                    (matrix.getWidth() as usize, matrix.getHeight() as usize),
                    (rect.width, rect.height)
                );
                for y in 0..rect.height {
                    for x in 0..rect.width {
                        assert_eq!(
                            matrix.get(x as u32, y as u32),
                            binary.get(rect.x + x, rect.y + y) != invert,
                            "{rect:?} invert={invert} at ({x},{y})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn proposals_find_a_textured_square_and_skip_flat_ground() {
        // A checkerboard of 6-pixel cells (a symbol's texture) on a flat light ground.
        let (w, h) = (320, 240);
        let pixels = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let inside = (100..190).contains(&x) && (60..150).contains(&y);
                if inside && (x / 6 + y / 6) % 2 == 0 {
                    20
                } else {
                    220
                }
            })
            .collect();
        let frame = Frame::from_owned(w, h, w, pixels).unwrap();
        let proposals = Binary::of(&frame).proposals();
        // Its core, then its whole group; nothing on the flat ground.
        assert_eq!(proposals.len(), 2, "{proposals:?}");
        for r in proposals {
            assert!(r.x <= 100 && r.y <= 60 && r.x + r.width >= 190 && r.y + r.height >= 150);
            // Rounding out to whole blocks and three blocks of margin (or the one-block
            // closing and one-block margin) add at most four blocks on each side.
            let most = 90 + 8 * BLOCK;
            assert!(
                r.width <= most && r.height <= most,
                "{r:?} is tight around the texture"
            );
        }
    }
}
