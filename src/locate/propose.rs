//! Proposals: the regions of a binarised frame whose texture looks like a 2-D symbol, most
//! symbol-like first, so that the tracer searches a few small windows, never the whole frame.

use crate::binarize::{Binary, WORD};
use crate::geometry::Rect;

/// Regions worth tracing, most symbol-like first: connected groups of 16×16 blocks with
/// dark/light transitions along both axes (a 2-D symbol's texture; a 1-D barcode has them
/// along one axis, flat print and background along none), large enough to hold a symbol
/// and grown by a quiet-zone margin. With `every_symbol` (a case of packs, a sheet of labels)
/// every region is proposed; otherwise the few most symbol-like, since the line's one symbol
/// is among them and a frame without one must stay cheap.
pub fn proposals(binary: &Binary, every_symbol: bool) -> Vec<Rect> {
    let (most_cores, most_proposals) = if every_symbol {
        (usize::MAX, usize::MAX)
    } else {
        (MAX_CORES, MAX_PROPOSALS)
    };
    let blocks = Blocks {
        across: binary.width().div_ceil(BLOCK),
        down: binary.height().div_ceil(BLOCK),
    };
    let textured = textured_blocks(binary, blocks.across, blocks.down);
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
        .take(most_cores)
        .map(|(_, group)| window(binary, group, CORE_MARGIN_BLOCKS));
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
                window(binary, group, 1),
            )
        })
        .collect();
    groups.sort_by_key(|&(score, _)| std::cmp::Reverse(score));
    core_windows
        .chain(groups.into_iter().map(|(_, window)| window))
        .take(most_proposals)
        .collect()
}

/// The pixels of blocks `[x0, y0, x1, y1]` (inclusive) and `margin` blocks around them.
fn window(binary: &Binary, [x0, y0, x1, y1]: [usize; 4], margin: usize) -> Rect {
    let right = ((x1 + 1) * BLOCK).min(binary.width());
    let bottom = ((y1 + 1) * BLOCK).min(binary.height());
    Rect::new(
        x0 * BLOCK,
        y0 * BLOCK,
        right - x0 * BLOCK,
        bottom - y0 * BLOCK,
    )
    .grown(margin * BLOCK, binary.width(), binary.height())
}

/// Per 16×16 block: whether it has at least [`MIN_TRANSITIONS`] dark/light transitions
/// between horizontal neighbours and as many between vertical neighbours.
fn textured_blocks(binary: &Binary, blocks_x: usize, blocks_y: usize) -> Vec<bool> {
    let mut horizontal = vec![0u32; blocks_x * blocks_y];
    let mut vertical = vec![0u32; blocks_x * blocks_y];
    // Per word of a row, the transitions of each block's lane summed over the block's rows
    // so far, a lane's count in its own bits (at most 16 rows of 16).
    let words = binary.width().div_ceil(WORD);
    let (mut across_sums, mut down_sums) = (vec![0usize; words], vec![0usize; words]);
    for y in 0..binary.height() {
        let row = binary.row(y);
        let below = binary.row((y + 1).min(binary.height() - 1));
        for (i, &word) in row.iter().enumerate() {
            // Bit x set where pixel x differs from pixel x + 1.
            let next = row.get(i + 1).copied().unwrap_or(0);
            across_sums[i] += lane_counts(word ^ (word >> 1 | next << (WORD - 1)));
            down_sums[i] += lane_counts(word ^ below[i]);
        }
        if y % BLOCK != BLOCK - 1 && y + 1 != binary.height() {
            continue;
        }
        let counts = y / BLOCK * blocks_x;
        for (i, (across, down)) in across_sums.iter_mut().zip(&mut down_sums).enumerate() {
            for lane in 0..WORD / BLOCK {
                let bx = (i * WORD) / BLOCK + lane;
                if bx >= blocks_x {
                    break;
                }
                let lane_count = |sums: usize| ((sums >> (lane * BLOCK)) & LANE) as u32;
                horizontal[counts + bx] = lane_count(*across);
                vertical[counts + bx] = lane_count(*down);
            }
            (*across, *down) = (0, 0);
        }
    }
    horizontal
        .iter()
        .zip(&vertical)
        .map(|(&h, &v)| h >= MIN_TRANSITIONS && v >= MIN_TRANSITIONS)
        .collect()
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

/// Side of the blocks whose texture [`proposals`] measures.
const BLOCK: usize = 16;

/// The low [`BLOCK`] bits: one lane of a word.
const LANE: usize = (1 << BLOCK) - 1;

/// The number of set bits in each [`BLOCK`]-bit lane of `x`, in that lane (the bit-parallel
/// population count stopped at lanes of 16; without a popcount instruction in the baseline
/// target, a count per lane costs as much as this does for the whole word).
fn lane_counts(x: usize) -> usize {
    let pairs = x - ((x >> 1) & (usize::MAX / 3));
    let nibbles = (pairs & (usize::MAX / 5)) + ((pairs >> 2) & (usize::MAX / 5));
    let bytes = (nibbles + (nibbles >> 4)) & (usize::MAX / 17);
    (bytes + (bytes >> 8)) & (usize::MAX / 257)
}

/// Transitions along each axis that make a block textured: a 5–9 px/module symbol gives
/// 14–25 in a 16×16 block, a line of text or the edge of a shape far fewer along one axis.
const MIN_TRANSITIONS: u32 = 8;
/// Textured blocks a region needs across each axis: 10 modules at 5 px are 50 px.
const MIN_REGION_BLOCKS: usize = 3;
/// Regions traced for the first symbol; the frame shrunk by three is read after them.
const MAX_PROPOSALS: usize = 16;
/// Textured blocks of its 3×3 neighbourhood that make a textured block a core block.
const CORE_NEIGHBOURS: usize = 7;
/// Core groups proposed for the first symbol, largest first.
const MAX_CORES: usize = 4;
/// Blocks around a core group: the symbol's edge blocks (whose texture is one-sided) and
/// its quiet zone.
const CORE_MARGIN_BLOCKS: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    #[test]
    fn lane_counts_are_each_lanes_population_count() {
        let mut x = 0x9e37_79b9_7f4a_7c15usize;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            for word in [x, x & x >> 7, usize::MAX, 0] {
                let counts = lane_counts(word);
                for lane in 0..WORD / BLOCK {
                    let mask = LANE << (lane * BLOCK);
                    assert_eq!(
                        counts >> (lane * BLOCK) & LANE,
                        (word & mask).count_ones() as usize
                    );
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
        let proposals = proposals(&Binary::of(&frame), false);
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
