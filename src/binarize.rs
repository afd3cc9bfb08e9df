//! Binarisation: a grey frame to one bit per pixel, dark = 1, packed in machine words. A local-average threshold for camera frames (uneven light);
//! one global threshold, Otsu's, for a window on mid-grey artwork; and one per polarity at the
//! valley by the ground's peak, for a symbol on a carton whose print is a third grey. The
//! symbology's tracer follows the result; its grid stage goes back to the grey pixels.

use crate::frame::Frame;
use crate::geometry::{Point, Rect};
use std::cell::OnceCell;
use std::ops::Range;

/// Side of the square tiles over which the binariser measures local brightness.
pub(crate) const TILE: usize = 8;
/// Tiles whose grey range is at most this are treated as flat background (zxing's value)…
const MIN_TILE_RANGE: u8 = 24;
/// …or at most this multiple of the median grey difference between neighbouring pixels: on a
/// noisy camera frame that difference is the noise (edges are a minority of pixel pairs even
/// inside a symbol at 2.5 px/module), and thresholding flat ground at its mean would turn the
/// noise into speckle. Measured on pixel pairs rather than on tile ranges, because a tightly
/// cropped symbol fills most tiles with edges and its contrast would pass for noise.
const NOISE_RANGE_FACTOR: u32 = 7;
/// Bits per word of the packed binary image.
pub(crate) const WORD: usize = usize::BITS as usize;

/// A binarised frame, one bit per pixel packed in machine words (bit `x % WORD` of word
/// `x / WORD` is pixel x), `true` = darker than its surroundings: what the tracer follows.
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
    /// the 5×5 tiles around it. Dark modules are marked, and flat ground counts as light.
    pub fn of(frame: &Frame) -> Binary {
        Binary::local(frame, &Tiles::of(frame), false)
    }

    /// The same binarisation of the frame's inverted greys: light modules are marked, and flat
    /// ground counts as the dark ground of a light-on-dark symbol (the quiet zone that frames
    /// its light finder) unless its neighbours say it lies inside a light area. Inverting
    /// [`Binary::of`] instead calls that ground light, and the finder merges with it into one
    /// light area the tracer cannot follow. zxing-cpp inverts the grey image for the same
    /// reason.
    pub fn of_light(frame: &Frame) -> Binary {
        Binary::local(frame, &Tiles::of(frame), true)
    }

    /// [`Binary::of`], or with `invert` [`Binary::of_light`], from the frame's `tiles`.
    fn local(frame: &Frame, tiles: &Tiles, invert: bool) -> Binary {
        let thresholds = tiles.thresholds(&tiles.black_points(invert));
        Binary::thresholded(frame, invert, |y, threshold| {
            if y % TILE != 0 {
                return;
            }
            let ty = y / TILE;
            let tile_row = &thresholds[ty * tiles.across..(ty + 1) * tiles.across];
            for (pixels, &t) in threshold.chunks_mut(TILE).zip(tile_row) {
                // Assigned as an array where the tile is whole: a fill is a call.
                if let Some(tile) = pixels.first_chunk_mut::<TILE>() {
                    *tile = [t; TILE];
                } else {
                    pixels.fill(t);
                }
            }
        })
    }

    /// One threshold for the whole frame, Otsu's (the split that best separates two grey
    /// populations): for a window around a symbol on mid-grey artwork, where a local
    /// threshold calls the artwork dark and merges it with the finder and clock tracks.
    pub fn global(frame: &Frame) -> Binary {
        let threshold = otsu(&histogram(frame));
        Binary::thresholded(frame, false, |_, row| row.fill(threshold))
    }

    /// One threshold for the whole frame at [`ground_valley`] in the polarity's greys
    /// (`invert`: light modules marked), or Otsu's where the histogram has no such valley.
    fn valley(frame: &Frame, histogram: &[u64; 256], invert: bool) -> Binary {
        let mut greys = *histogram;
        if invert {
            greys.reverse();
        }
        let threshold = ground_valley(&greys).unwrap_or_else(|| otsu(&greys));
        Binary::thresholded(frame, invert, |_, row| row.fill(threshold))
    }

    /// The frame with each pixel marked where it is at or below its threshold, or with
    /// `invert` where its inverted grey is. `thresholds` is called for every row in order with
    /// the per-pixel thresholds of the row before, to change what differs; both passes run
    /// over whole rows, so they vectorise.
    fn thresholded(
        frame: &Frame,
        invert: bool,
        mut thresholds: impl FnMut(usize, &mut [u8]),
    ) -> Binary {
        let (w, h) = (frame.width(), frame.height());
        let words_per_row = w.div_ceil(WORD);
        let mut words = vec![0usize; words_per_row * h];
        let mut threshold = vec![0u8; w];
        // 0/1 per pixel, padded to whole words.
        let mut dark = vec![0u8; w.next_multiple_of(WORD)];
        // 255 - p, as an exclusive or that keeps the comparison vectorised.
        let flip = if invert { u8::MAX } else { 0 };
        for y in 0..h {
            thresholds(y, &mut threshold);
            for ((d, &p), &t) in dark.iter_mut().zip(frame.row(y)).zip(&threshold) {
                *d = (p ^ flip <= t) as u8;
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

    pub(crate) fn row(&self, y: usize) -> &[usize] {
        &self.words[y * self.words_per_row..(y + 1) * self.words_per_row]
    }

    /// The pixel holding the point `p`, `None` outside the image. A cast truncates, which is
    /// the floor from zero up; without SSE4.1 `floor` is a call.
    #[inline]
    pub fn pixel(&self, p: Point) -> Option<bool> {
        let inside =
            0.0 <= p.x && p.x < self.width as f64 && 0.0 <= p.y && p.y < self.height as f64;
        inside.then(|| self.get(p.x as usize, p.y as usize))
    }

    pub(crate) fn row_mut(&mut self, y: usize) -> &mut [usize] {
        &mut self.words[y * self.words_per_row..(y + 1) * self.words_per_row]
    }

    /// Inlined: the tracer reads a pixel at a time.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.words[y * self.words_per_row + x / WORD] >> (x % WORD) & 1 == 1
    }

    /// Steps from pixel (`x`, `y`) in the axis direction (`dx`, `dy`) (one of them ±1, the
    /// other 0) to the first pixel of the other value, or one step past the border if there
    /// is none: along a row a word at a time.
    pub fn steps_to_change(&self, x: usize, y: usize, dx: i64, dy: i64) -> usize {
        let here = self.get(x, y);
        let flip = if here { usize::MAX } else { 0 };
        let row = self.row(y);
        // Bits past a row's end are unset: a change there for a dark pixel, which the `min`
        // with the width turns into one step past the border.
        match (dx, dy) {
            (1, 0) => {
                let (mut i, bit) = (x / WORD, x % WORD);
                let mut differ = (row[i] ^ flip) & (usize::MAX << bit) & !(1 << bit);
                loop {
                    if differ != 0 {
                        let at = i * WORD + differ.trailing_zeros() as usize;
                        return at.min(self.width) - x;
                    }
                    i += 1;
                    if i == self.words_per_row {
                        return self.width - x;
                    }
                    differ = row[i] ^ flip;
                }
            }
            (-1, 0) => {
                let (mut i, bit) = (x / WORD, x % WORD);
                let mut differ = (row[i] ^ flip) & low_bits(bit);
                loop {
                    if differ != 0 {
                        let at = i * WORD + (WORD - 1 - differ.leading_zeros() as usize);
                        return x - at;
                    }
                    if i == 0 {
                        return x + 1;
                    }
                    i -= 1;
                    differ = row[i] ^ flip;
                }
            }
            _ => {
                let (word, bit) = (x / WORD, x % WORD);
                let column = |y: usize| self.words[y * self.words_per_row + word] >> bit & 1 == 1;
                if dy > 0 {
                    (y + 1..self.height)
                        .position(|y| column(y) != here)
                        .map_or(self.height - y, |p| p + 1)
                } else {
                    (0..y)
                        .rev()
                        .position(|y| column(y) != here)
                        .map_or(y + 1, |p| p + 1)
                }
            }
        }
    }

    /// An image of `width`×`height` with no pixel set.
    pub fn empty(width: usize, height: usize) -> Binary {
        let words_per_row = width.div_ceil(WORD);
        Binary {
            width,
            height,
            words_per_row,
            words: vec![0; words_per_row * height],
        }
    }

    pub fn set(&mut self, x: usize, y: usize) {
        self.words[y * self.words_per_row + x / WORD] |= 1 << (x % WORD);
    }

    /// `rect` of the image, dark and light swapped when `invert`, with the `cleared` runs (in
    /// `rect`'s pixels, by row) left light whatever the image holds there: a symbol already
    /// read, which would hide what lies behind it on a scan line. Copied and cleared a word at
    /// a time.
    pub fn crop(&self, rect: Rect, invert: bool, cleared: &[Run]) -> Binary {
        let mut out = Binary::empty(rect.width, rect.height);
        let out_words = out.words_per_row;
        let shift = rect.x % WORD;
        let first = rect.x / WORD;
        let tail = rect.width % WORD;
        let mut runs = cleared.iter().peekable();
        for (y, words) in out.words.chunks_exact_mut(out_words.max(1)).enumerate() {
            let row = self.row(rect.y + y);
            for (i, word) in words.iter_mut().enumerate() {
                let lo = row[first + i] >> shift;
                let hi = match (shift, row.get(first + i + 1)) {
                    (0, _) | (_, None) => 0,
                    (_, Some(&next)) => next << (WORD - shift),
                };
                *word = if invert { !(lo | hi) } else { lo | hi };
            }
            if tail != 0 {
                words[out_words - 1] &= low_bits(tail);
            }
            while let Some(run) = runs.next_if(|run| run.y <= y) {
                if run.y < y {
                    continue;
                }
                let (from, to) = (run.x0.min(rect.width), run.x1.min(rect.width));
                for (i, word) in words.iter_mut().enumerate().take(to.div_ceil(WORD)) {
                    let start = (i * WORD).max(from) - i * WORD;
                    let end = ((i + 1) * WORD).min(to).saturating_sub(i * WORD);
                    if start < end {
                        *word &= !(low_bits(end) & !low_bits(start));
                    }
                }
            }
        }
        out
    }
}

/// A frame's binary images for both polarities of symbol, as the tracer takes them.
pub struct Binaries<'a> {
    dark: Binary,
    light: Light<'a>,
}

/// Where a [`Binaries`]' light modules come from.
enum Light<'a> {
    /// One threshold marks both polarities: the light modules are the dark image inverted.
    Inverted,
    /// Thresholded on its own (see [`Binaries::valley`]).
    OwnThreshold(Binary),
    /// The local binarisation of the frame's inverted greys ([`Binary::of_light`]), made on
    /// first use: most symbols are dark and read before it is needed.
    Local {
        frame: &'a Frame<'a>,
        tiles: Tiles,
        binary: OnceCell<Binary>,
    },
}

impl<'a> Binaries<'a> {
    /// The local-average binarisation for each polarity ([`Binary::of`], [`Binary::of_light`]).
    pub fn local(frame: &'a Frame<'a>) -> Binaries<'a> {
        let tiles = Tiles::of(frame);
        Binaries {
            dark: Binary::local(frame, &tiles, false),
            light: Light::Local {
                frame,
                tiles,
                binary: OnceCell::new(),
            },
        }
    }

    /// One global threshold for both ([`Binary::global`]).
    pub fn global(frame: &Frame) -> Binaries<'a> {
        Binaries {
            dark: Binary::global(frame),
            light: Light::Inverted,
        }
    }

    /// One global threshold per polarity, each at the valley next to the ground's peak in the
    /// polarity's greys (zxing's global-histogram rule) of the frame's central three fifths,
    /// where a symbol traced through the centre lies: a symbol on a carton whose print makes a
    /// third grey population, which Otsu's split takes for one of the symbol's. Over the whole
    /// frame, that print outweighs the symbol.
    pub fn valley(frame: &Frame) -> Binaries<'a> {
        let (w, h) = (frame.width(), frame.height());
        let centre = Rect::new(w / 5, h / 5, w - 2 * (w / 5), h - 2 * (h / 5));
        let histogram = histogram(&frame.view(centre));
        Binaries {
            dark: Binary::valley(frame, &histogram, false),
            light: Light::OwnThreshold(Binary::valley(frame, &histogram, true)),
        }
    }

    /// The dark modules' image: texture and blobs look the same in either.
    pub fn dark(&self) -> &Binary {
        &self.dark
    }

    /// `rect` with the modules of a dark-on-light or a `light_on_dark` symbol set, and the
    /// `cleared` runs left unset (see [`Binary::crop`]).
    pub fn crop(&self, rect: Rect, light_on_dark: bool, cleared: &[Run]) -> Binary {
        match (&self.light, light_on_dark) {
            (_, false) => self.dark.crop(rect, false, cleared),
            (Light::Inverted, true) => self.dark.crop(rect, true, cleared),
            (Light::OwnThreshold(light), true) => light.crop(rect, false, cleared),
            (
                Light::Local {
                    frame,
                    tiles,
                    binary,
                },
                true,
            ) => binary
                .get_or_init(|| Binary::local(frame, tiles, true))
                .crop(rect, false, cleared),
        }
    }
}

/// Pixels `x0..x1` of row `y` of a crop, left light by [`Binary::crop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Run {
    pub y: usize,
    pub x0: usize,
    pub x1: usize,
}

/// A word with its lowest `n` bits set (`n` up to a whole word).
fn low_bits(n: usize) -> usize {
    if n >= WORD {
        usize::MAX
    } else {
        (1usize << n) - 1
    }
}

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

/// The frame's grey histogram from every other pixel of every other row: the same
/// populations at a quarter of the cost, which is most of a global binarisation's (one
/// counter update per pixel does not vectorise; the thresholding does).
fn histogram(frame: &Frame) -> [u64; 256] {
    let mut histogram = [0u64; 256];
    for y in (0..frame.height()).step_by(2) {
        for &p in frame.row(y).iter().step_by(2) {
            histogram[p as usize] += 1;
        }
    }
    histogram
}

/// Buckets of [`ground_valley`]'s coarse histogram: eight grey levels each, so that noise
/// does not split a population into peaks.
const VALLEY_BUCKETS: usize = 32;

/// The threshold of zxing's global-histogram binariser, in the greys of the polarity traced
/// (modules dark): the tallest peak, the second (favouring distance from the first), the
/// darker of the two taken for the modules and the lighter for the ground, and the emptiest
/// grey between them, pulled towards the ground.
/// On a carton whose own dark print is a third population, Otsu's split falls between that
/// print and the symbol's ground; this one falls between the ground and the modules, and
/// close to the ground it keeps a blurred finder whole. `None` when the two peaks lie within
/// two buckets (no contrast to split).
fn ground_valley(histogram: &[u64; 256]) -> Option<u8> {
    let mut buckets = [0u64; VALLEY_BUCKETS];
    for (grey, &n) in histogram.iter().enumerate() {
        buckets[grey * VALLEY_BUCKETS / 256] += n;
    }
    let tallest = *buckets.iter().max()?;
    let first = buckets.iter().position(|&n| n == tallest)?;
    // The first bucket of the highest score, as zxing scans.
    let score = |x: usize| buckets[x] * (x.abs_diff(first) as u64).pow(2);
    let second =
        (0..VALLEY_BUCKETS).fold(0, |best, x| if score(x) > score(best) { x } else { best });
    let (modules, ground) = (first.min(second), first.max(second));
    if ground - modules <= VALLEY_BUCKETS / 16 {
        return None;
    }
    // From the ground down, as zxing scans: of equal scores, the first met (nearest the
    // ground) wins.
    let valley_score = |x: usize| {
        let from_modules = (x - modules) as u64;
        from_modules * from_modules * (ground - x) as u64 * (tallest - buckets[x])
    };
    let valley = (modules + 1..=ground).rev().fold(ground, |best, x| {
        if valley_score(x) > valley_score(best) {
            x
        } else {
            best
        }
    });
    // Dark is below the bucket's first grey in zxing; at or below the threshold here.
    Some((valley * 256 / VALLEY_BUCKETS - 1) as u8)
}

/// Eight 0/1 bytes packed into the low eight bits, byte i to bit i: the multiplier moves
/// byte i's bit from position 8i to 56 + i, with no two partial products overlapping.
fn pack_bits(eight: &[u8]) -> usize {
    let bytes = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
    (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize
}

/// The frame's 8×8 tiles (row-major): each one's darkest and lightest grey, grey sum and
/// pixel count, measured once for the black points of both polarities.
struct Tiles {
    across: usize,
    down: usize,
    min: Vec<u8>,
    max: Vec<u8>,
    sum: Vec<u32>,
    pixels: Vec<u32>,
    /// See [`flat_range`].
    flat_range: u8,
}

impl Tiles {
    fn of(frame: &Frame) -> Tiles {
        let (w, h) = (frame.width(), frame.height());
        let (across, down) = (w.div_ceil(TILE), h.div_ceil(TILE));
        let mut tiles = Tiles {
            across,
            down,
            min: vec![0u8; across * down],
            max: vec![0u8; across * down],
            sum: vec![0u32; across * down],
            pixels: vec![0u32; across * down],
            flat_range: flat_range(frame),
        };
        // Per pixel column over the tile's rows, element-wise so that it vectorises; reduced
        // per tile afterwards, a tile's eight columns at a time. The columns past the frame's
        // edge, in its last tile, stay at values that change no reduction.
        let mut min = vec![u8::MAX; across * TILE];
        let mut max = vec![0u8; across * TILE];
        let mut sum = vec![0u16; across * TILE];
        for ty in 0..down {
            min[..w].fill(u8::MAX);
            max[..w].fill(0);
            sum[..w].fill(0);
            let rows = ty * TILE..((ty + 1) * TILE).min(h);
            let tile_rows = rows.len();
            for y in rows {
                let row = frame.row(y);
                let (lo, hi, total) = (&mut min[..w], &mut max[..w], &mut sum[..w]);
                for (((lo, hi), total), &p) in lo.iter_mut().zip(hi).zip(total).zip(row) {
                    *lo = (*lo).min(p);
                    *hi = (*hi).max(p);
                    *total += p as u16;
                }
            }
            let columns = min
                .chunks_exact(TILE)
                .zip(max.chunks_exact(TILE))
                .zip(sum.chunks_exact(TILE));
            for (tx, ((lo, hi), total)) in columns.enumerate() {
                let t = ty * across + tx;
                tiles.min[t] = lo.iter().fold(u8::MAX, |a, &b| a.min(b));
                tiles.max[t] = hi.iter().fold(0, |a, &b| a.max(b));
                tiles.sum[t] = total.iter().map(|&s| s as u32).sum::<u32>();
                tiles.pixels[t] = (tile_rows * (w - tx * TILE).min(TILE)) as u32;
            }
        }
        tiles
    }

    /// The threshold of every tile's pixels: the mean of the `black_points` of the 5×5 tiles
    /// around it, the 5×5 moved inside the frame at its border (zxing's hybrid binariser).
    /// Summed across through each row's running totals, then down five rows at a time.
    fn thresholds(&self, black_points: &[u32]) -> Vec<u8> {
        let (across, down) = (self.across, self.down);
        if across == 0 || down == 0 {
            return Vec::new();
        }
        let window = |i: usize, n: usize| {
            let start = i.saturating_sub(2).min(n.saturating_sub(5));
            start..(start + 5).min(n)
        };
        let spans: Vec<Range<usize>> = (0..across).map(|tx| window(tx, across)).collect();
        let mut across_sums = vec![0u32; across * down];
        let mut running = vec![0u32; across + 1];
        for (sums, points) in across_sums
            .chunks_exact_mut(across)
            .zip(black_points.chunks_exact(across))
        {
            for (tx, &p) in points.iter().enumerate() {
                running[tx + 1] = running[tx] + p;
            }
            for (s, span) in sums.iter_mut().zip(&spans) {
                *s = running[span.end] - running[span.start];
            }
        }
        let mut thresholds = vec![0u8; across * down];
        let mut column = vec![0u32; across];
        for (ty, out) in thresholds.chunks_exact_mut(across).enumerate() {
            let rows = window(ty, down);
            column.fill(0);
            for sums in across_sums[rows.start * across..rows.end * across].chunks_exact(across) {
                for (c, &s) in column.iter_mut().zip(sums) {
                    *c += s;
                }
            }
            for ((t, &total), span) in out.iter_mut().zip(&column).zip(&spans) {
                // A mean of black points, each at most 255; most tiles have all 25 (a
                // division by a constant is a multiplication).
                let tiles = (rows.len() * span.len()) as u32;
                *t = if tiles == 25 {
                    total / 25
                } else {
                    total / tiles
                } as u8;
            }
        }
        thresholds
    }

    /// Black point of every tile: its mean grey, or for a flat tile just below its minimum
    /// unless its neighbours say it lies inside a dark area; with `invert`, of the inverted
    /// greys.
    fn black_points(&self, invert: bool) -> Vec<u32> {
        // The mean grey, rounded down in the polarity's own greys.
        let mut black_points: Vec<u32> = self
            .sum
            .iter()
            .zip(&self.pixels)
            .map(|(&sum, &n)| {
                let total = if invert {
                    u8::MAX as u32 * n - sum
                } else {
                    sum
                };
                // A whole tile's division is a shift.
                if n == (TILE * TILE) as u32 {
                    total / (TILE * TILE) as u32
                } else {
                    total / n
                }
            })
            .collect();
        for ty in 0..self.down {
            for tx in 0..self.across {
                let t = ty * self.across + tx;
                if self.max[t] - self.min[t] > self.flat_range {
                    continue;
                }
                // Flat ground is light unless its neighbours say it lies inside a dark area:
                // its black point goes just below its darkest pixel (zxing halves that pixel,
                // which calls a dark module light whenever dark is more than half as bright
                // as light).
                let lowest = if invert {
                    u8::MAX - self.max[t]
                } else {
                    self.min[t]
                } as u32;
                let mut average = (lowest / 2).max(lowest.saturating_sub(self.flat_range as u32));
                if tx > 0 && ty > 0 {
                    let above = black_points[t - self.across];
                    let left = black_points[t - 1];
                    let diag = black_points[t - self.across - 1];
                    let neighbours = (above + 2 * left + diag) / 4;
                    if lowest < neighbours {
                        average = neighbours;
                    }
                }
                black_points[t] = average;
            }
        }
        black_points
    }
}

/// The largest grey range of a tile that is still flat ground: [`MIN_TILE_RANGE`], raised on
/// noisy frames to [`NOISE_RANGE_FACTOR`] times the median neighbour difference, sampled on
/// the first row of every tile row.
fn flat_range(frame: &Frame) -> u8 {
    let mut histogram = [0usize; 256];
    let mut differences = vec![0u8; frame.width().saturating_sub(1)];
    for y in (0..frame.height()).step_by(TILE) {
        let row = frame.row(y);
        // Element-wise first, so that it vectorises.
        for ((d, &a), &b) in differences
            .iter_mut()
            .zip(row)
            .zip(row.get(1..).unwrap_or_default())
        {
            *d = a.abs_diff(b);
        }
        for &d in &differences {
            histogram[d as usize] += 1;
        }
    }
    let pairs: usize = histogram.iter().sum();
    let mut seen = 0;
    let median = (0..256u32)
        .find(|&d| {
            seen += histogram[d as usize];
            2 * seen >= pairs
        })
        .unwrap_or(0);
    MIN_TILE_RANGE.max((median * NOISE_RANGE_FACTOR).min(255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valley_splits_a_light_symbols_ground_from_its_modules_nearer_the_ground() {
        // Three populations, each spread ±6 greys, as in the centre of a light-on-dark symbol
        // on a printed carton: the carton's dark print (grey 24, 10 %), the symbol's ground
        // (73, 60 %) and its light modules (124, 30 %).
        let mut histogram = [0u64; 256];
        for (centre, count) in [(24usize, 100u64), (73, 600), (124, 300)] {
            for n in &mut histogram[centre - 6..=centre + 6] {
                *n += count;
            }
        }
        // In the light modules' greys (inverted), the valley lies between the ground and the
        // modules, nearer the ground: inverted greys 255 - 124 = 131 and 255 - 73 = 182.
        histogram.reverse();
        let valley = ground_valley(&histogram).expect("two peaks far apart");
        assert!((131 + 6..182 - 6).contains(&valley), "{valley}");
        assert!(
            u32::from(valley) > (131 + 182) / 2,
            "{valley} is nearer the ground"
        );
    }

    #[test]
    fn one_grey_population_has_no_valley() {
        let mut histogram = [0u64; 256];
        histogram[120..=130].fill(50);
        assert_eq!(ground_valley(&histogram), None);
    }

    /// A frame of pseudo-random grey levels with a dark square, odd-sized so that rows end
    /// inside a word and a tile.
    fn frame() -> Frame<'static> {
        square_frame(30, 200)
    }

    /// [`frame`] with the square's grey `square` and the ground's `ground`.
    fn square_frame(square: u8, ground: u8) -> Frame<'static> {
        let (w, h) = (203, 77);
        let mut state = 12345u32;
        let pixels = (0..w * h)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let (x, y) = (i % w, i / w);
                let base = if (40..90).contains(&x) && (20..60).contains(&y) {
                    square
                } else {
                    ground
                };
                base + (state >> 24) as u8 % 20
            })
            .collect();
        Frame::from_owned(w, h, w, pixels).unwrap()
    }

    #[test]
    fn tile_thresholds_are_the_mean_black_point_of_the_five_by_five_tiles_around() {
        // Tile grids smaller than, equal to and larger than the 5×5.
        for (w, h) in [(203, 77), (40, 40), (17, 9)] {
            let frame =
                Frame::from_owned(w, h, w, (0..w * h).map(|i| (i * 37 % 251) as u8).collect())
                    .unwrap();
            let tiles = Tiles::of(&frame);
            let black_points = &tiles.black_points(false);
            let thresholds = tiles.thresholds(black_points);
            let (across, down) = (tiles.across, tiles.down);
            for ty in 0..down {
                for tx in 0..across {
                    // The 5×5 around the tile, moved inside the grid, written out directly.
                    let span = |i: usize, n: usize| {
                        let start = i.saturating_sub(2).min(n.saturating_sub(5));
                        start..(start + 5).min(n)
                    };
                    let (rows, columns) = (span(ty, down), span(tx, across));
                    let n = (rows.len() * columns.len()) as u32;
                    let sum: u32 = rows
                        .flat_map(|y| columns.clone().map(move |x| black_points[y * across + x]))
                        .sum();
                    assert_eq!(
                        thresholds[ty * across + tx],
                        (sum / n) as u8,
                        "{w}x{h} ({tx},{ty})"
                    );
                }
            }
        }
    }

    #[test]
    fn an_image_with_no_pixels_binarises_to_no_pixels() {
        for (w, h) in [(0, 5), (5, 0), (0, 0)] {
            let frame = Frame::from_image(image::DynamicImage::new_luma8(w, h));
            for binary in [Binary::of(&frame), Binary::of_light(&frame)] {
                assert_eq!((binary.width(), binary.height()), (w as usize, h as usize));
            }
        }
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
    fn light_modules_are_marked_and_flat_dark_ground_is_not() {
        // A light square on flat dark ground: a light-on-dark symbol in its quiet zone.
        let frame = square_frame(200, 30);
        let light = Binary::of_light(&frame);
        assert!(light.get(60, 40) && light.get(40, 20) && light.get(89, 59));
        assert!(!light.get(150, 40) && !light.get(10, 10) && !light.get(120, 70));
        // The dark binarisation calls that flat ground light too, so inverting it would
        // merge the square with its ground.
        let dark = Binary::of(&frame);
        assert!(!dark.get(150, 40) && !dark.get(10, 10));
    }

    #[test]
    fn cleared_runs_are_light_and_nothing_else_changes() {
        let binary = Binary::of(&frame());
        let rect = Rect::new(5, 3, 190, 70);
        // Runs inside one word, across a word boundary, past the rect's end, empty, and two
        // on one row.
        let cleared = [
            Run { y: 0, x0: 2, x1: 9 },
            Run {
                y: 17,
                x0: 30,
                x1: 140,
            },
            Run {
                y: 17,
                x0: 150,
                x1: 400,
            },
            Run {
                y: 40,
                x0: 0,
                x1: 64,
            },
            Run {
                y: 41,
                x0: 70,
                x1: 70,
            },
            Run {
                y: 69,
                x0: 63,
                x1: 65,
            },
        ];
        for invert in [false, true] {
            let matrix = binary.crop(rect, invert, &cleared);
            for y in 0..rect.height {
                for x in 0..rect.width {
                    let is_cleared = cleared
                        .iter()
                        .any(|r| r.y == y && (r.x0..r.x1).contains(&x));
                    let expected = !is_cleared && binary.get(rect.x + x, rect.y + y) != invert;
                    assert_eq!(matrix.get(x, y), expected, "({x},{y}) {invert}");
                }
            }
        }
    }

    #[test]
    fn steps_to_change_agree_with_stepping_a_pixel_at_a_time() {
        let binary = Binary::of(&frame());
        // Inverted, dark pixels reach the row ends, where the bits past them are unset.
        let inverted = binary.crop(binary.rect(), true, &[]);
        for binary in [binary, inverted] {
            let (w, h) = (binary.width(), binary.height());
            for y in (0..h).step_by(3) {
                for x in 0..w {
                    for (dx, dy) in [(1i64, 0i64), (-1, 0), (0, 1), (0, -1)] {
                        let here = binary.get(x, y);
                        let mut steps = 1;
                        loop {
                            let (nx, ny) = (x as i64 + steps * dx, y as i64 + steps * dy);
                            let inside = (0..w as i64).contains(&nx) && (0..h as i64).contains(&ny);
                            if !inside || binary.get(nx as usize, ny as usize) != here {
                                break;
                            }
                            steps += 1;
                        }
                        assert_eq!(
                            binary.steps_to_change(x, y, dx, dy),
                            steps as usize,
                            "from ({x},{y}) by ({dx},{dy})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn crops_are_the_same_pixels_at_any_offset() {
        let binary = Binary::of(&frame());
        for rect in [
            Rect::new(0, 0, 203, 77),
            Rect::new(1, 3, 130, 50),
            Rect::new(63, 10, 65, 9),
            Rect::new(64, 0, 139, 77),
            Rect::new(37, 20, 1, 1),
        ] {
            for invert in [false, true] {
                let matrix = binary.crop(rect, invert, &[]);
                assert_eq!((matrix.width(), matrix.height()), (rect.width, rect.height));
                for y in 0..rect.height {
                    for x in 0..rect.width {
                        assert_eq!(
                            matrix.get(x, y),
                            binary.get(rect.x + x, rect.y + y) != invert,
                            "{rect:?} invert={invert} at ({x},{y})"
                        );
                    }
                }
            }
        }
    }
}
