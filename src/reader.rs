//! The search of one frame for symbols: binarise → propose the windows that look like a symbol
//! → trace outlines there at rising efforts, at full size and shrunk → read each outline, for
//! dark-on-light and light-on-dark symbols. What knows a symbology's shape (its tracer, its
//! blobs, how an outline is read) stands behind [`Symbology`]; [`read`] searches for Data Matrix.

use crate::binarize::{self, Binaries, Binary, Run};
use crate::datamatrix::{DataMatrix, SymbolRead};
use crate::frame::Frame;
use crate::geometry::{Homography, Point, Rect, centroid};
use crate::locate;

#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Keep scanning the whole frame after a first symbol is read, to report every symbol.
    pub all_symbols: bool,
    /// Read only inside this part of the frame (a fixed line's region of interest).
    pub region: Option<Rect>,
    /// Look here first (where this camera last saw a symbol), then everywhere.
    pub search_first: Option<Rect>,
    /// How many symbols the frame holds when all is well, where the caller knows (a case's
    /// pattern, an expected count): once that many are read, the windows left are looked
    /// at once each, at the cheapest effort, and not searched harder. In a case of packs
    /// they hold the packs' print, and the dearer efforts spent on them cost more than
    /// reading every pack. A symbol beyond the count still shows when it reads easily.
    pub expected: Option<usize>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            all_symbols: true,
            region: None,
            search_first: None,
            expected: None,
        }
    }
}

impl ReadOptions {
    /// The line case: one symbol per frame, stop as soon as it is read.
    pub fn first_symbol() -> Self {
        ReadOptions {
            all_symbols: false,
            ..ReadOptions::default()
        }
    }
}

/// What the reader asks of a symbology: the parts that know a symbol's shape. The search
/// itself (binarising, proposing windows, the efforts and the scales, erasing what was read)
/// is the reader's and the same for every symbology, as zxing-cpp keeps one folder per format
/// behind one reader interface.
pub trait Symbology {
    /// An outline found in a binary image, before it is read.
    type Candidate;
    /// A symbol read.
    type Read: Located;

    /// Traces outlines in `bits` (a symbol's modules set, its pixel (0, 0) at `origin` in the
    /// frame) along the `lines` asked for. Each is handed to `found` as it is traced, and the
    /// trace stops at the first for which `found` returns something (the first that reads).
    fn trace<T>(
        &self,
        bits: &Binary,
        origin: Point,
        lines: ScanLines,
        light_on_dark: bool,
        found: &mut dyn FnMut(Self::Candidate) -> Option<T>,
    ) -> Option<T>;

    /// The outlines of blobs in `bits` with a symbol's shape: a symbol whose finder the tracer
    /// cannot follow. None, for a symbology without such a search.
    fn blobs(&self, bits: &Binary, origin: Point, light_on_dark: bool) -> Vec<Self::Candidate> {
        let _ = (bits, origin, light_on_dark);
        Vec::new()
    }

    /// Reads a candidate in the frame's grey pixels.
    fn read(&self, frame: &Frame, candidate: &Self::Candidate) -> Option<Self::Read>;

    /// A symbol read in the frame shrunk, measured again in `frame` (`to_frame` maps the
    /// shrunk frame's pixels to its own); as read, mapped to the frame, by default.
    fn remeasured(&self, frame: &Frame, small: Self::Read, to_frame: &Homography) -> Self::Read {
        let _ = frame;
        small.mapped(to_frame)
    }
}

/// The scan lines a trace follows across an image, in each of the four directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanLines {
    /// The line through the image's centre.
    Centre,
    /// Parallel lines across all of it, the centre's first.
    All,
    /// All but the centre's: the same pixels were just traced along the centre lines, and
    /// nothing those lines met read.
    OffCentre,
}

/// What the search needs to know of a symbol read, whatever its symbology.
pub trait Located: Sized {
    /// The outer corners, in the frame's pixels.
    fn corners(&self) -> [Point; 4];

    /// Light modules on a dark ground.
    fn light_on_dark(&self) -> bool;

    /// The same read, its positions mapped by `to_frame` (from a view's or a scaled frame's
    /// pixels to the frame's).
    fn mapped(self, to_frame: &Homography) -> Self;

    /// The window to search first in the camera's next frame: the symbol's bounding box grown
    /// by its own size on every side (a pack lands near where the last one did).
    fn search_window(&self, width: usize, height: usize) -> Option<Rect> {
        let around = Rect::around(&self.corners(), width, height)?;
        Some(around.grown(around.width.max(around.height), width, height))
    }
}

/// The map that moves a view's pixels by `offset` to its frame's.
fn shift(offset: Point) -> Homography {
    Homography::from_matrix([1.0, 0.0, offset.x, 0.0, 1.0, offset.y, 0.0, 0.0, 1.0])
}

/// Frames smaller than this (longest side, pixels) are also tried magnified: tightly cropped
/// symbols printed at one or two pixels per module.
const SMALL_FRAME: usize = 160;

/// Finds and decodes the Data Matrix symbols in a frame. Symbols that cannot be decoded are
/// not reported.
pub fn read(frame: &Frame, options: &ReadOptions) -> Vec<SymbolRead> {
    read_symbology(&DataMatrix, frame, options)
}

/// Finds and decodes the symbols of `symbology` in a frame.
pub fn read_symbology<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    options: &ReadOptions,
) -> Vec<F::Read> {
    if let Some(region) = options.region {
        let Some(region) = region.clipped(frame.width(), frame.height()) else {
            return Vec::new();
        };
        let inside = ReadOptions {
            region: None,
            search_first: options.search_first.and_then(|r| r.relative_to(region)),
            ..options.clone()
        };
        let to_frame = shift(region.origin());
        return read_symbology(symbology, &frame.view(region), &inside)
            .into_iter()
            .map(|r| r.mapped(&to_frame))
            .collect();
    }
    if !options.all_symbols {
        let window = options
            .search_first
            .and_then(|r| r.clipped(frame.width(), frame.height()));
        if let Some(window) = window {
            let view = frame.view(window);
            let binary = Binaries::local(&view);
            // Only what looks like a symbol, at the cheap efforts: when the pack has moved,
            // the search of the whole frame's proposals finds it faster than a thorough search
            // of this window.
            let efforts = [Effort::CentreLines];
            let found = read_windows(
                symbology,
                &view,
                &binary,
                &locate::proposals(binary.dark(), false),
                &efforts,
                options,
                DearWindows {
                    traced: FIRST_SYMBOL_DEAR_WINDOWS,
                    blob: BLOB_WINDOWS,
                },
                &Known::default(),
            );
            if let Some(read) = found.into_iter().next() {
                return vec![read.mapped(&shift(window.origin()))];
            }
        }
    }
    let small = lab_scan_sized(frame);
    let mut reads = read_at_scale(symbology, frame, options, None, small);
    if !reads.is_empty() && !options.all_symbols {
        return reads;
    }
    if frame.width().max(frame.height()) < SMALL_FRAME {
        if reads.is_empty() {
            reads = read_magnified(symbology, frame, options);
        }
        return reads;
    }
    let coarse = read_coarse(symbology, frame, options, &reads, !small);
    reads.extend(coarse);
    if reads.is_empty() && small {
        reads = read_tiles_shifted(symbology, frame, options);
    }
    reads
}

/// How far [`read_tiles_shifted`] moves a frame: half the binariser's tile.
const TILE_SHIFT: usize = binarize::TILE / 2;

/// Reads a small frame (a lab scan, a crop round one symbol) in which nothing read, moved
/// right and down by [`TILE_SHIFT`] pixels (its first row and column repeated into the
/// margin), and measures what it finds in the frame's own pixels. The binariser's tiles then
/// fall across the symbol otherwise: a low-contrast symbol beside dark print, whose local
/// threshold the print pulls down, reads at some tile positions and not at others.
fn read_tiles_shifted<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    options: &ReadOptions,
) -> Vec<F::Read> {
    let (w, h) = (frame.width(), frame.height());
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let (sw, sh) = (w + TILE_SHIFT, h + TILE_SHIFT);
    let mut pixels = vec![0u8; sw * sh];
    for (y, out) in pixels.chunks_exact_mut(sw).enumerate() {
        let row = frame.row(y.saturating_sub(TILE_SHIFT));
        out[..TILE_SHIFT].fill(row[0]);
        out[TILE_SHIFT..].copy_from_slice(row);
    }
    let Ok(shifted) = Frame::from_owned(sw, sh, sw, pixels) else {
        return Vec::new();
    };
    let back = shift(Point::new(-(TILE_SHIFT as f64), -(TILE_SHIFT as f64)));
    read_at_scale(symbology, &shifted, options, None, true)
        .into_iter()
        .map(|r| symbology.remeasured(frame, r, &back))
        .collect()
}

/// The factor by which [`read_coarse`] shrinks a frame: 30 px modules become 10 px, which the
/// binariser's tiles and the proposals' blocks see as texture.
const COARSE: usize = 3;

/// Reads the frame shrunk by [`COARSE`], for symbols whose modules are too large for the
/// binariser's 8-pixel tiles to threshold well (a lab scan at 20–30 px/module, a case label's
/// code beside its packs). The `known` symbols are not read again. A whole-frame scan at full
/// size finds fewer of them, at many times the cost on every frame, empty ones included.
/// With `whole_frame` (a frame larger than a lab scan) and nothing `known`, the shrunk frame
/// is also traced whole at a global threshold: the symbols that trace reads there have
/// modules of 15–30 px, 5–10 px shrunk, and through the full-size frame's centre it crosses
/// every line of its print.
fn read_coarse<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    options: &ReadOptions,
    known: &[F::Read],
    whole_frame: bool,
) -> Vec<F::Read> {
    let Some(reduced) = frame.reduced(COARSE) else {
        return Vec::new();
    };
    let scale = COARSE as f64;
    let mut shrunk = Known::default();
    for read in known {
        shrunk.add(
            read.corners().map(|p| p * (1.0 / scale)),
            read.light_on_dark(),
        );
    }
    let back = Homography::from_matrix([scale, 0.0, 0.0, 0.0, scale, 0.0, 0.0, 0.0, 1.0]);
    read_at_scale(
        symbology,
        &reduced,
        options,
        Some(&shrunk),
        whole_frame && known.is_empty(),
    )
    .into_iter()
    .map(|r| symbology.remeasured(frame, r, &back))
    .collect()
}

/// Windows searched for a blob, most symbol-like first: the effort is for a damaged symbol
/// in its own window, and costs a frame without any symbol most.
const BLOB_WINDOWS: usize = 4;

/// [`BLOB_WINDOWS`] on the shrunk frame: only its first, most symbol-like window. A symbol of
/// modules large enough to need the shrunk frame is the largest texture there, and every
/// blob read on it in the robustness matrix came from its first window; the windows after it
/// hold print, a blob search of which cost an unprinted pack a tenth of its time.
const COARSE_BLOB_WINDOWS: usize = 1;

/// In a frame larger than a lab scan, a window of more than a quarter of it is not traced at
/// the dearer efforts: it is the frame's print grouped into one region (a carton's text and
/// artwork), whose symbol-like parts are proposed on their own before it. Every symbol the
/// robustness matrix read on such a window at those efforts is read without them (at the
/// cheapest effort, or on the shrunk frame), and tracing one cost an unprinted pack a sixth
/// of its time.
const WHOLE_PRINT_SHARE: usize = 4;

/// How many windows the efforts dearer than the centre lines search.
#[derive(Clone, Copy)]
struct DearWindows {
    /// At the dearer tracing efforts: the most symbol-like of those that the symbols read so
    /// far do not explain.
    traced: usize,
    /// At the blob search: the first windows proposed.
    blob: usize,
}

/// Windows searched at any effort dearer than the centre lines: the most symbol-like of those
/// that the symbols read so far do not explain. Those efforts are for a damaged or hard symbol
/// in its own window, which ranks among the first; spent on every window of text and artwork
/// in a case of packs, they made a frame without any symbol cost several times a full one.
/// Sixteen when every symbol is wanted, at full size.
const DEAR_WINDOWS: usize = 16;

/// [`DEAR_WINDOWS`] when only the first symbol is wanted (the line's one pack): the first five
/// windows searched, most symbol-like first (with four symbol cores proposed, they and the
/// most symbol-like group). Every read at a dearer effort in the robustness matrix came from
/// the first five windows, and an unprinted pack spent half its time on the windows after
/// them. Five too on the shrunk frame, whatever is wanted: it is searched for a symbol of
/// large modules, the largest texture there (a lab scan's, a case label's beside the packs
/// read at full size), and its other windows hold print (in a case, every pack's); a frame
/// larger than a lab scan is then traced whole there, at a global threshold. Sixteen there
/// made an unprinted case of packs cost more than a full one.
const FIRST_SYMBOL_DEAR_WINDOWS: usize = 5;

/// The symbols a search has read: their outlines (in the frame searched), which are not read
/// again, and their polarities.
#[derive(Clone, Default)]
struct Known {
    outlines: Vec<[Point; 4]>,
    /// Whether any is dark-on-light, and whether any is light-on-dark.
    polarities: [bool; 2],
}

impl Known {
    fn add(&mut self, outline: [Point; 4], light_on_dark: bool) {
        self.outlines.push(outline);
        self.polarities[usize::from(light_on_dark)] = true;
    }

    /// The polarities the dearer efforts look for: the one every symbol read so far shares,
    /// both while none is read. A case's packs are printed alike, and a symbol of the other
    /// polarity among them still reads at the cheapest effort, which looks for both.
    fn dear_polarities(&self) -> &'static [bool] {
        match self.polarities {
            [true, false] => &[false],
            [false, true] => &[true],
            _ => &BOTH_POLARITIES,
        }
    }
}

/// How hard a window is searched. Every window is tried at one effort before any is tried
/// at the next: the symbol's own window usually reads at the cheapest, and a large window of
/// text costs most at the dearest.
#[derive(Clone, Copy)]
enum Effort {
    /// The lines through the window's centre, from all four sides.
    CentreLines,
    /// Parallel lines across the whole window.
    AllLines,
    /// Both, on the window thresholded as a whole (a symbol on mid-grey artwork).
    GlobalThreshold,
    /// The window's blobs of a symbol's shape ([`Symbology::blobs`]): a finder with gaps,
    /// which the tracer cannot follow.
    Blob,
}

/// Reads the symbols traced in `windows` of the binary image at each of `efforts` in turn,
/// stopping at the first unless `options.all_symbols`, and at the cheapest effort once the
/// `options.expected` symbols are read; at efforts dearer than the cheapest, only the `dear`
/// windows. The `known` symbols (read before, in this frame's pixels) are not
/// read again, and count towards the expected.
#[allow(clippy::too_many_arguments)]
fn read_windows<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    binary: &Binaries,
    windows: &[Rect],
    efforts: &[Effort],
    options: &ReadOptions,
    dear: DearWindows,
    known: &Known,
) -> Vec<F::Read> {
    let mut reads: Vec<F::Read> = Vec::new();
    let mut known = known.clone();
    // A core window can be its whole group's as well: each window is searched once.
    let repeated: Vec<bool> = (0..windows.len())
        .map(|i| windows[..i].contains(&windows[i]))
        .collect();
    // Each window thresholded as a whole, made by the first effort that needs it.
    let mut globals: Vec<Option<Binaries>> = (0..windows.len()).map(|_| None).collect();
    // Pixels of each window that the symbols read so far take up: a window mostly taken up
    // is the symbol's own (its core, or its group with the text beside it) and is searched
    // no further; a wider one (two packs side by side, a whole case) is, with them erased.
    let mut covered = vec![0usize; windows.len()];
    // The largest symbol read in each window (pixels of its bounding box).
    let mut largest = vec![0usize; windows.len()];
    // Per window, the last trace along its centre lines that read nothing: how many symbols
    // were erased for it, and in which polarities. Traced across all its lines with the same,
    // those lines would meet the same outlines again.
    let mut centre_traced: Vec<Option<(usize, &[bool])>> = vec![None; windows.len()];
    let cover = |covered: &mut [usize], largest: &mut [usize], outline: &[Point; 4]| {
        let centre = centroid(outline);
        let grown = with_quiet_zone(outline);
        let Some(bounds) = Rect::around(&grown, frame.width(), frame.height()) else {
            return;
        };
        for ((c, l), w) in covered.iter_mut().zip(largest.iter_mut()).zip(windows) {
            if w.contains(centre) {
                *c += bounds.relative_to(*w).map_or(0, |r| r.width * r.height);
                *l = (*l).max(bounds.width * bounds.height);
            }
        }
    };
    for outline in &known.outlines {
        cover(&mut covered, &mut largest, outline);
    }
    for &effort in efforts {
        let cheapest = matches!(effort, Effort::CentreLines);
        if !cheapest && options.expected.is_some_and(|n| known.outlines.len() >= n) {
            break;
        }
        let mut dear_windows = 0;
        // The windows traced across all their lines at this effort so far. The local
        // binarisation is the frame's, so a later window's pixels inside them were traced
        // already: they are left out (a text group holding the cores searched before it).
        let mut all_lines_traced: Vec<Rect> = Vec::new();
        for (i, &window) in windows.iter().enumerate() {
            let area = window.width * window.height;
            let explained = 2 * covered[i] >= area;
            // A window with symbols read in it is traced at its own threshold only, and across
            // all its lines only when it is a few symbols large (one symbol's core window
            // holding its neighbour too), not when it holds a whole case of packs.
            let occupied = covered[i] > 0;
            let few_symbols = area <= NEIGHBOURS * largest[i];
            let dearer = occupied
                && match effort {
                    Effort::CentreLines => false,
                    Effort::AllLines => !few_symbols,
                    Effort::GlobalThreshold | Effort::Blob => true,
                };
            let whole_print = matches!(effort, Effort::AllLines | Effort::GlobalThreshold)
                && !lab_scan_sized(frame)
                && WHOLE_PRINT_SHARE * area > frame.width() * frame.height();
            if repeated[i]
                || explained
                || dearer
                || whole_print
                || (matches!(effort, Effort::Blob) && i >= dear.blob)
            {
                continue;
            }
            if !cheapest {
                if dear_windows == dear.traced {
                    break;
                }
                dear_windows += 1;
            }
            // A window goes on being searched at this effort, what it read erased, while it
            // reads more: two packs side by side in one core window. Its next symbols are
            // looked for in the polarity of the first, as packs of one case are printed alike.
            let mut polarities: &[bool] = if cheapest {
                &BOTH_POLARITIES
            } else {
                known.dear_polarities()
            };
            loop {
                let erased = &known.outlines[..];
                let found = match effort {
                    Effort::CentreLines => trace_window(
                        symbology,
                        frame,
                        binary,
                        window,
                        Point::default(),
                        ScanLines::Centre,
                        erased,
                        &[],
                        polarities,
                    ),
                    Effort::AllLines => {
                        let traced_before: Vec<Rect> = all_lines_traced
                            .iter()
                            .filter(|r| r.relative_to(window).is_some())
                            .copied()
                            .collect();
                        let same_as_centre = traced_before.is_empty()
                            && centre_traced[i].is_some_and(|(n, traced)| {
                                n == erased.len() && polarities.iter().all(|p| traced.contains(p))
                            });
                        let lines = if same_as_centre {
                            ScanLines::OffCentre
                        } else {
                            ScanLines::All
                        };
                        trace_window(
                            symbology,
                            frame,
                            binary,
                            window,
                            Point::default(),
                            lines,
                            erased,
                            &traced_before,
                            polarities,
                        )
                    }
                    Effort::GlobalThreshold => {
                        let global =
                            globals[i].get_or_insert_with(|| Binaries::global(&frame.view(window)));
                        // Across all lines but the centre's, once those have read nothing.
                        [ScanLines::Centre, ScanLines::OffCentre]
                            .into_iter()
                            .find_map(|lines| {
                                trace_window(
                                    symbology,
                                    frame,
                                    global,
                                    global.dark().rect(),
                                    window.origin(),
                                    lines,
                                    erased,
                                    &[],
                                    polarities,
                                )
                            })
                    }
                    Effort::Blob => {
                        let global =
                            globals[i].get_or_insert_with(|| Binaries::global(&frame.view(window)));
                        // The window thresholded as a whole, then as the local binariser saw
                        // it: a small symbol on a carton may make a blob of a symbol's shape
                        // at one and not at the other.
                        let thresholds = [(&*global, global.dark().rect()), (binary, window)];
                        polarities.iter().find_map(|&light_on_dark| {
                            thresholds.iter().find_map(|&(binaries, rect)| {
                                let bits = binaries.crop(rect, light_on_dark, &[]);
                                symbology
                                    .blobs(&bits, window.origin(), light_on_dark)
                                    .iter()
                                    .find_map(|candidate| symbology.read(frame, candidate))
                            })
                        })
                    }
                };
                let Some(symbol) = found else {
                    if cheapest {
                        centre_traced[i] = Some((erased.len(), polarities));
                    }
                    break;
                };
                // Windows overlap (a symbol's core and its whole group): one symbol, one read.
                let centre = centroid(&symbol.corners());
                if known.outlines.iter().any(|o| inside(o, centre)) {
                    break;
                }
                polarities = if symbol.light_on_dark() {
                    &[true]
                } else {
                    &[false]
                };
                cover(&mut covered, &mut largest, &symbol.corners());
                known.add(symbol.corners(), symbol.light_on_dark());
                reads.push(symbol);
                if !options.all_symbols {
                    return reads;
                }
                if 2 * covered[i] >= area {
                    break;
                }
            }
            if matches!(effort, Effort::AllLines) {
                all_lines_traced.push(window);
            }
        }
    }
    reads
}

/// Dark-on-light, then light-on-dark: the order symbols are looked for in a window.
const BOTH_POLARITIES: [bool; 2] = [false, true];

/// A window this many times the size of a symbol read in it may hold another symbol beside
/// it, worth a search at every effort.
const NEIGHBOURS: usize = 8;

/// A symbol read is erased with this much of its size around it (its quiet zone), and
/// counts as taking up as much of a window.
const QUIET_MARGIN: f64 = 1.2;

/// A symbol's outline grown about its centre by [`QUIET_MARGIN`].
fn with_quiet_zone(outline: &[Point; 4]) -> [Point; 4] {
    let centre = centroid(outline);
    outline.map(|p| centre + (p - centre) * QUIET_MARGIN)
}

/// Traces `window` of `binary`, whose pixel (0, 0) is at `origin` in the frame, in each of
/// `polarities` (light-on-dark or not) in turn, with the `erased` symbols (frame pixels) and
/// the parts of it inside the `searched` rectangles (`binary`'s pixels) cleared first, and
/// reads the first candidate that decodes.
#[allow(clippy::too_many_arguments)]
fn trace_window<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    binary: &Binaries,
    window: Rect,
    origin: Point,
    lines: ScanLines,
    erased: &[[Point; 4]],
    searched: &[Rect],
    polarities: &[bool],
) -> Option<F::Read> {
    let at = origin + window.origin();
    let mut cleared: Vec<Run> = erased
        .iter()
        .flat_map(|outline| quiet_zone_runs(outline.map(|p| p - at), window))
        .collect();
    for part in searched.iter().filter_map(|r| r.relative_to(window)) {
        cleared.extend((part.y..part.y + part.height).map(|y| Run {
            y,
            x0: part.x,
            x1: part.x + part.width,
        }));
    }
    cleared.sort_unstable();
    polarities.iter().find_map(|&light_on_dark| {
        let bits = binary.crop(window, light_on_dark, &cleared);
        symbology.trace(&bits, at, lines, light_on_dark, &mut |candidate| {
            symbology.read(frame, &candidate)
        })
    })
}

/// The pixel runs, row by row, of a symbol (its outer corners in `window`'s pixels) and its
/// quiet zone inside `window`: a symbol already read hides what lies behind it on a scan
/// line, and would be traced again.
fn quiet_zone_runs(corners: [Point; 4], window: Rect) -> impl Iterator<Item = Run> {
    let grown = with_quiet_zone(&corners);
    let (w, h) = (window.width, window.height);
    let (top, bottom) = grown
        .iter()
        .fold((f64::MAX, f64::MIN), |(t, b), p| (t.min(p.y), b.max(p.y)));
    let (left, right) = grown
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, r), p| (l.min(p.x), r.max(p.x)));
    // A symbol beside the window, not only above or below it, leaves no row to clear.
    let beside = right < 0.0 || left > w as f64;
    let rows = if beside {
        0..0
    } else {
        (top.max(0.0) as usize).min(h)..(bottom.ceil().max(0.0) as usize).min(h)
    };
    rows.filter_map(move |y| {
        // The outline is convex: each row of pixel centres crosses it in one span.
        let yc = y as f64 + 0.5;
        let (mut left, mut right) = (f64::MAX, f64::MIN);
        for i in 0..4 {
            let (a, b) = (grown[i], grown[(i + 1) % 4]);
            if (a.y <= yc) != (b.y <= yc) {
                let x = a.x + (yc - a.y) / (b.y - a.y) * (b.x - a.x);
                (left, right) = (left.min(x), right.max(x));
            }
        }
        let x0 = (left.round().max(0.0) as usize).min(w);
        let x1 = (right.round().max(0.0) as usize).min(w);
        (left <= right && x0 < x1).then_some(Run { y, x0, x1 })
    })
}

/// Reads a small frame magnified (nearest neighbour) inside a padded quiet zone, light then
/// dark, and maps what it finds back to the frame's own coordinates.
fn read_magnified<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    options: &ReadOptions,
) -> Vec<F::Read> {
    let (w, h) = (frame.width(), frame.height());
    let scale = (SMALL_FRAME * 2).div_ceil(w.max(h)).clamp(2, 16);
    let pad = 4 * scale;
    let (bw, bh) = (w * scale + 2 * pad, h * scale + 2 * pad);
    let mut histogram = [0usize; 256];
    for y in 0..h {
        for &p in frame.row(y) {
            histogram[p as usize] += 1;
        }
    }
    let percentile = |q: f64| {
        let target = (q * (w * h) as f64) as usize;
        let mut seen = 0;
        (0..256)
            .find(|&g| {
                seen += histogram[g];
                seen > target
            })
            .unwrap_or(255) as u8
    };
    let back = Homography::from_matrix([
        1.0 / scale as f64,
        0.0,
        -(pad as f64) / scale as f64,
        0.0,
        1.0 / scale as f64,
        -(pad as f64) / scale as f64,
        0.0,
        0.0,
        1.0,
    ]);
    for background in [percentile(0.95), percentile(0.05)] {
        let mut pixels = vec![background; bw * bh];
        for y in 0..h * scale {
            let src = frame.row(y / scale);
            let dst = &mut pixels[(y + pad) * bw + pad..(y + pad) * bw + pad + w * scale];
            for (x, d) in dst.iter_mut().enumerate() {
                *d = src[x / scale];
            }
        }
        let Ok(magnified) = Frame::from_owned(bw, bh, bw, pixels) else {
            continue;
        };
        let reads = read_at_scale(symbology, &magnified, options, None, true);
        if !reads.is_empty() {
            return reads.into_iter().map(|r| r.mapped(&back)).collect();
        }
    }
    Vec::new()
}

/// Reads the regions of `frame` that look like a symbol. On a `coarse` pass, the symbols read
/// at full size (in this frame's pixels) are not read again. With `whole_frame`, a frame where
/// no region reads is also traced through its centre at a global threshold, Otsu's and then
/// the valley by the ground's peak ([`Binaries::valley`]).
fn read_at_scale<F: Symbology>(
    symbology: &F,
    frame: &Frame,
    options: &ReadOptions,
    coarse: Option<&Known>,
    whole_frame: bool,
) -> Vec<F::Read> {
    let binary = Binaries::local(frame);
    let traced = if options.all_symbols && coarse.is_none() {
        DEAR_WINDOWS
    } else {
        FIRST_SYMBOL_DEAR_WINDOWS
    };
    let blob = if coarse.is_some() {
        COARSE_BLOB_WINDOWS
    } else {
        BLOB_WINDOWS
    };
    let dear = DearWindows { traced, blob };
    let nothing_known = Known::default();
    // The regions that look like a symbol: tracing a small region is cheap, and its centre
    // lines cross the symbol.
    let efforts = [
        Effort::CentreLines,
        Effort::AllLines,
        Effort::GlobalThreshold,
        Effort::Blob,
    ];
    let proposals = locate::proposals(binary.dark(), options.all_symbols);
    let mut reads = read_windows(
        symbology,
        frame,
        &binary,
        &proposals,
        &efforts,
        options,
        dear,
        coarse.unwrap_or(&nothing_known),
    );
    if reads.is_empty() && coarse.is_none() && lab_scan_sized(frame) {
        // A small frame where no region read is searched whole at every effort: a lab scan
        // or a crop around one symbol too short for the proposals' blocks (an 8-module-high
        // rectangle at 3 px/module is 24 px), at little cost.
        reads = read_windows(
            symbology,
            frame,
            &binary,
            &[frame.rect()],
            &efforts,
            options,
            dear,
            &nothing_known,
        );
    }
    if reads.is_empty() && whole_frame {
        // The frame thresholded as a whole, traced through its centre: a lab scan of a
        // low-contrast symbol whose modules are larger than the binariser's tiles, so that
        // the local threshold sees flat ground inside them and no region looks textured.
        // Otsu's threshold first, then the valley by the ground's peak: a symbol on a carton
        // whose print makes a third grey, where the two splits differ.
        reads.extend(
            [Binaries::global, Binaries::valley]
                .iter()
                .find_map(|threshold| {
                    trace_window(
                        symbology,
                        frame,
                        &threshold(frame),
                        frame.rect(),
                        Point::default(),
                        ScanLines::Centre,
                        &[],
                        &[],
                        &BOTH_POLARITIES,
                    )
                }),
        );
    }
    reads
}

/// Frames of at most this many pixels (a lab scan, a crop around one symbol) are searched
/// whole at every effort when no region of them reads.
const WHOLE_FRAME_AREA: usize = 640 * 480;

/// Whether `frame` is no larger than a lab scan ([`WHOLE_FRAME_AREA`]).
fn lab_scan_sized(frame: &Frame) -> bool {
    frame.width() * frame.height() <= WHOLE_FRAME_AREA
}

/// Whether `p` lies inside the convex quadrilateral `q`.
fn inside(q: &[Point; 4], p: Point) -> bool {
    let mut sign = 0.0f64;
    for i in 0..4 {
        let a = q[i];
        let b = q[(i + 1) % 4];
        let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        if cross * sign < 0.0 {
            return false;
        }
        if cross != 0.0 {
            sign = cross;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symbology of its own, standing beside Data Matrix behind [`Symbology`]: a patch of
    /// dark cells, traced as the bounding box of the set pixels and read when it is at least
    /// `MIN_SIDE` pixels on each side.
    struct Patches;

    const MIN_SIDE: f64 = 40.0;

    #[derive(Clone, Copy)]
    struct Patch {
        corners: [Point; 4],
        light_on_dark: bool,
    }

    impl Located for Patch {
        fn corners(&self) -> [Point; 4] {
            self.corners
        }

        fn light_on_dark(&self) -> bool {
            self.light_on_dark
        }

        fn mapped(self, to_frame: &Homography) -> Patch {
            Patch {
                corners: self.corners.map(|p| to_frame.map(p)),
                ..self
            }
        }
    }

    impl Symbology for Patches {
        type Candidate = Patch;
        type Read = Patch;

        fn trace<T>(
            &self,
            bits: &Binary,
            origin: Point,
            _lines: ScanLines,
            light_on_dark: bool,
            found: &mut dyn FnMut(Patch) -> Option<T>,
        ) -> Option<T> {
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            for y in 0..bits.height() {
                for x in 0..bits.width() {
                    if bits.get(x, y) {
                        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                    }
                }
            }
            if x0 > x1 {
                return None;
            }
            let corner = |x: usize, y: usize| origin + Point::new(x as f64, y as f64);
            found(Patch {
                corners: [
                    corner(x0, y0),
                    corner(x1, y0),
                    corner(x1, y1),
                    corner(x0, y1),
                ],
                light_on_dark,
            })
        }

        fn read(&self, _frame: &Frame, candidate: &Patch) -> Option<Patch> {
            let [a, b, c, _] = candidate.corners;
            (b.x - a.x >= MIN_SIDE && c.y - b.y >= MIN_SIDE).then_some(*candidate)
        }
    }

    /// A checkerboard of 6-pixel cells (a 2-D symbol's texture) over x 102..192, y 60..150
    /// on a flat light ground, 320×240.
    fn checkerboard_patch() -> Frame<'static> {
        let (w, h) = (320, 240);
        let pixels = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let inside = (102..192).contains(&x) && (60..150).contains(&y);
                if inside && (x / 6 + y / 6) % 2 == 0 {
                    20
                } else {
                    220
                }
            })
            .collect();
        Frame::from_owned(w, h, w, pixels).expect("pixels fill the frame")
    }

    #[test]
    fn what_a_window_traced_before_holds_is_not_traced_again() {
        let frame = checkerboard_patch();
        let binary = Binaries::local(&frame);
        let window = frame.rect();
        let trace = |searched: &[Rect]| {
            let polarities = [false];
            trace_window(
                &Patches,
                &frame,
                &binary,
                window,
                Point::default(),
                ScanLines::All,
                &[],
                searched,
                &polarities,
            )
            .map(|patch| patch.corners())
        };
        let whole = trace(&[]).expect("the patch is traced");
        assert_eq!((whole[0].x, whole[0].y), (102.0, 60.0));
        // A window searched before holds the patch's left half: only its right half is left.
        let right_half = trace(&[Rect::new(0, 0, 150, 240)]).expect("the rest is traced");
        assert_eq!((right_half[0].x, right_half[0].y), (150.0, 60.0));
        assert_eq!((right_half[2].x, right_half[2].y), (192.0, 150.0));
        // One that holds all of it leaves nothing.
        assert!(trace(&[Rect::new(90, 50, 120, 120)]).is_none());
    }

    #[test]
    fn another_symbology_is_searched_through_the_same_windows_and_mapped_to_the_frame() {
        let frame = checkerboard_patch();
        let (w, h) = (frame.width(), frame.height());
        // Read inside a region of interest: the patch is found in the region's view and
        // reported in the frame's pixels.
        let options = ReadOptions {
            region: Some(Rect::new(50, 20, 200, 180)),
            ..ReadOptions::first_symbol()
        };
        let reads = read_symbology(&Patches, &frame, &options);
        assert_eq!(reads.len(), 1);
        let [top_left, _, bottom_right, _] = reads[0].corners();
        assert!(!reads[0].light_on_dark(), "dark cells on light ground");
        assert_eq!((top_left.x, top_left.y), (102.0, 60.0));
        assert_eq!((bottom_right.x, bottom_right.y), (192.0, 150.0));
        assert_eq!(
            reads[0].search_window(w, h),
            Some(Rect::new(12, 0, 270, 240)),
            "the box grown by its own size, clipped to the frame"
        );
    }
}
