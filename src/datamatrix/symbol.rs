//! ECC200 symbol geometry: the sizes (ISO/IEC 16022 and the DMRE sizes of ISO/IEC 21471),
//! which modules are finder or clock pattern, where each codeword bit sits (the "utah"
//! placement of ISO/IEC 16022 Annex F) and how codewords interleave into Reed–Solomon blocks.
//!
//! Sizes and block structure come from rxing's version table; placement is computed here
//! because grading needs to know, for every module, the codeword it belongs to.

use rxing::datamatrix::decoder::Version;
use serde::Serialize;
use std::sync::OnceLock;

/// One ECC200 symbol size and everything derived from it.
pub struct SymbolSize {
    pub rows: usize,
    pub cols: usize,
    /// Data region height and width in modules (without the region's finder and clock).
    pub region_rows: usize,
    pub region_cols: usize,
    version: &'static Version,
    layout: OnceLock<Layout>,
}

/// A module of the mapping: codeword index (in symbol order) and bit (0 = most significant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CodewordBit {
    pub codeword: u16,
    pub bit: u8,
}

/// What occupies a module position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleRole {
    /// Finder L, clock track or alignment pattern, with its nominal colour.
    Fixed { dark: bool },
    /// A bit of a codeword.
    Data(CodewordBit),
    /// The unused corner of some sizes, nominally dark or light.
    Filler { dark: bool },
}

#[derive(Debug)]
struct Layout {
    roles: Vec<ModuleRole>,
    blocks: Vec<Block>,
    legacy_blocks: Vec<Block>,
}

/// One Reed–Solomon block: the symbol-order codeword indices of its data and of its
/// error-correction codewords.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub data: Vec<u16>,
    pub ec: Vec<u16>,
}

impl Block {
    /// Symbol-order indices of the block's codewords, data then error correction (the order
    /// Reed–Solomon works in).
    pub fn members(&self) -> impl Iterator<Item = usize> + '_ {
        self.data.iter().chain(&self.ec).map(|&i| i as usize)
    }
}

/// How codewords are dealt to blocks. The 144×144 size has two readings in the field: the
/// standard one and the one some encoders wrote before ISO/IEC 16022:2006 fixed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BlockOrder {
    Standard,
    Legacy144,
}

impl std::fmt::Debug for SymbolSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SymbolSize({})", self.name())
    }
}

impl SymbolSize {
    /// Symbol size as `ROWSxCOLS`, the way labels and reports name it.
    pub fn name(&self) -> String {
        format!("{}x{}", self.rows, self.cols)
    }

    pub fn is_square(&self) -> bool {
        self.rows == self.cols
    }

    /// DMRE sizes (ISO/IEC 21471) are the rectangular sizes beyond ISO/IEC 16022's six.
    pub fn is_dmre(&self) -> bool {
        !self.is_square()
            && !matches!(
                (self.rows, self.cols),
                (8, 18) | (8, 32) | (12, 26) | (12, 36) | (16, 36) | (16, 48)
            )
    }

    pub fn regions_vertical(&self) -> usize {
        self.rows / (self.region_rows + 2)
    }

    pub fn regions_horizontal(&self) -> usize {
        self.cols / (self.region_cols + 2)
    }

    pub fn total_codewords(&self) -> usize {
        self.version.getTotalCodewords() as usize
    }

    pub fn data_codewords(&self) -> usize {
        self.blocks(BlockOrder::Standard)
            .iter()
            .map(|b| b.data.len())
            .sum()
    }

    pub fn ec_codewords_per_block(&self) -> usize {
        self.version.getECBlocks().getECCodewords() as usize
    }

    /// What occupies module (`row`, `col`), row 0 at the top clock track, column 0 at the
    /// solid left edge of the finder.
    pub fn role(&self, row: usize, col: usize) -> ModuleRole {
        self.layout().roles[row * self.cols + col]
    }

    pub fn roles(&self) -> &[ModuleRole] {
        &self.layout().roles
    }

    pub fn blocks(&self, order: BlockOrder) -> &[Block] {
        let layout = self.layout();
        match order {
            BlockOrder::Standard => &layout.blocks,
            BlockOrder::Legacy144 => &layout.legacy_blocks,
        }
    }

    /// The block orders worth trying when reading this size.
    pub fn block_orders(&self) -> &'static [BlockOrder] {
        if self.rows == 144 {
            &[BlockOrder::Standard, BlockOrder::Legacy144]
        } else {
            &[BlockOrder::Standard]
        }
    }

    /// Dark/light of every module (row-major, fixed pattern included) for the codewords in
    /// symbol order: the symbol as it should be printed.
    pub fn module_colours(&self, codewords: &[u8]) -> Vec<bool> {
        self.roles()
            .iter()
            .map(|role| match *role {
                ModuleRole::Fixed { dark } | ModuleRole::Filler { dark } => dark,
                ModuleRole::Data(cb) => codewords[cb.codeword as usize] & (0x80 >> cb.bit) != 0,
            })
            .collect()
    }

    /// Nominal colour of a fixed-pattern module, `None` for data modules.
    pub fn fixed_dark(&self, row: usize, col: usize) -> Option<bool> {
        let h = self.region_rows + 2;
        let w = self.region_cols + 2;
        let (lr, lc) = (row % h, col % w);
        if lc == 0 || lr == h - 1 {
            Some(true)
        } else if lr == 0 {
            Some(lc % 2 == 0)
        } else if lc == w - 1 {
            Some(lr % 2 == 1)
        } else {
            None
        }
    }

    /// Rows that carry a horizontal clock track (the top row of each region row).
    pub fn clock_rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.regions_vertical()).map(|i| i * (self.region_rows + 2))
    }

    /// Columns that carry a vertical clock track (the right column of each region column).
    pub fn clock_cols(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.regions_horizontal()).map(|i| i * (self.region_cols + 2) + self.region_cols + 1)
    }

    fn layout(&self) -> &Layout {
        self.layout.get_or_init(|| self.build_layout())
    }

    fn build_layout(&self) -> Layout {
        let nrow = self.region_rows * self.regions_vertical();
        let ncol = self.region_cols * self.regions_horizontal();
        let mapping = utah_placement(nrow, ncol);
        let mut roles = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                roles.push(match self.fixed_dark(r, c) {
                    Some(dark) => ModuleRole::Fixed { dark },
                    None => {
                        let mr = (r / (self.region_rows + 2)) * self.region_rows
                            + r % (self.region_rows + 2)
                            - 1;
                        let mc = (c / (self.region_cols + 2)) * self.region_cols
                            + c % (self.region_cols + 2)
                            - 1;
                        mapping[mr * ncol + mc]
                    }
                });
            }
        }
        Layout {
            roles,
            blocks: self.interleave(BlockOrder::Standard),
            legacy_blocks: self.interleave(BlockOrder::Legacy144),
        }
    }

    fn interleave(&self, order: BlockOrder) -> Vec<Block> {
        let ecb = self.version.getECBlocks();
        let ec_per_block = ecb.getECCodewords() as usize;
        let data_lens: Vec<usize> = ecb
            .getECBlocks()
            .iter()
            .flat_map(|b| std::iter::repeat_n(b.getDataCodewords() as usize, b.getCount() as usize))
            .collect();
        let n = data_lens.len();
        let total_data: usize = data_lens.iter().sum();
        let mut blocks: Vec<Block> = data_lens
            .iter()
            .map(|&d| Block {
                data: Vec::with_capacity(d),
                ec: Vec::with_capacity(ec_per_block),
            })
            .collect();
        for i in 0..total_data {
            blocks[i % n].data.push(i as u16);
        }
        for i in 0..ec_per_block * n {
            let b = match order {
                BlockOrder::Standard => i % n,
                BlockOrder::Legacy144 => (i % n + 8) % n,
            };
            blocks[b].ec.push((total_data + i) as u16);
        }
        blocks
    }
}

/// All ECC200 sizes rxing knows (24 square, 6 rectangular, 18 DMRE), smallest first.
pub fn all_sizes() -> &'static [SymbolSize] {
    static SIZES: OnceLock<Vec<SymbolSize>> = OnceLock::new();
    SIZES.get_or_init(|| {
        let mut sizes = Vec::new();
        for rows in (8..=144).step_by(2) {
            for cols in (8..=144).step_by(2) {
                if let Ok(v) = Version::getVersionForDimensions(rows, cols) {
                    sizes.push(SymbolSize {
                        rows: rows as usize,
                        cols: cols as usize,
                        region_rows: v.getDataRegionSizeRows() as usize,
                        region_cols: v.getDataRegionSizeColumns() as usize,
                        version: v,
                        layout: OnceLock::new(),
                    });
                }
            }
        }
        sizes.sort_by_key(|s| (s.rows * s.cols, s.rows));
        sizes
    })
}

pub fn size_for(rows: usize, cols: usize) -> Option<&'static SymbolSize> {
    all_sizes()
        .iter()
        .find(|s| s.rows == rows && s.cols == cols)
}

/// Parses `ROWSxCOLS` (e.g. `24x24`, `16x48`).
pub fn parse_size(name: &str) -> Option<&'static SymbolSize> {
    let (r, c) = name.split_once(['x', 'X'])?;
    size_for(r.trim().parse().ok()?, c.trim().parse().ok()?)
}

/// The module placement of ISO/IEC 16022 Annex F over the `nrow`×`ncol` mapping matrix
/// (the data regions put together, without finders).
fn utah_placement(nrow: usize, ncol: usize) -> Vec<ModuleRole> {
    struct Placer {
        nrow: i32,
        ncol: i32,
        cells: Vec<Option<ModuleRole>>,
    }
    impl Placer {
        fn module(&mut self, mut row: i32, mut col: i32, chr: usize, bit: u8) {
            if row < 0 {
                row += self.nrow;
                col += 4 - ((self.nrow + 4) % 8);
            }
            if col < 0 {
                col += self.ncol;
                row += 4 - ((self.ncol + 4) % 8);
            }
            // Only DMRE sizes wrap past the bottom here (ISO/IEC 21471 keeps Annex F's rule
            // and lets the row wrap too).
            if row >= self.nrow {
                row -= self.nrow;
            }
            self.cells[(row * self.ncol + col) as usize] = Some(ModuleRole::Data(CodewordBit {
                codeword: chr as u16,
                bit,
            }));
        }
        fn utah(&mut self, row: i32, col: i32, chr: usize) {
            let spots = [
                (-2, -2),
                (-2, -1),
                (-1, -2),
                (-1, -1),
                (-1, 0),
                (0, -2),
                (0, -1),
                (0, 0),
            ];
            for (bit, (dr, dc)) in spots.into_iter().enumerate() {
                self.module(row + dr, col + dc, chr, bit as u8);
            }
        }
        fn corner(&mut self, spots: [(i32, i32); 8], chr: usize) {
            for (bit, (r, c)) in spots.into_iter().enumerate() {
                self.module(r, c, chr, bit as u8);
            }
        }
        fn is_free(&self, row: i32, col: i32) -> bool {
            self.cells[(row * self.ncol + col) as usize].is_none()
        }
    }

    let (nr, nc) = (nrow as i32, ncol as i32);
    let mut p = Placer {
        nrow: nr,
        ncol: nc,
        cells: vec![None; nrow * ncol],
    };
    let mut chr = 0usize;
    let (mut row, mut col) = (4i32, 0i32);
    loop {
        if row == nr && col == 0 {
            p.corner(
                [
                    (nr - 1, 0),
                    (nr - 1, 1),
                    (nr - 1, 2),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 1),
                    (2, nc - 1),
                    (3, nc - 1),
                ],
                chr,
            );
            chr += 1;
        } else if row == nr - 2 && col == 0 && nc % 4 != 0 {
            p.corner(
                [
                    (nr - 3, 0),
                    (nr - 2, 0),
                    (nr - 1, 0),
                    (0, nc - 4),
                    (0, nc - 3),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 1),
                ],
                chr,
            );
            chr += 1;
        } else if row == nr - 2 && col == 0 && nc % 8 == 4 {
            p.corner(
                [
                    (nr - 3, 0),
                    (nr - 2, 0),
                    (nr - 1, 0),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 1),
                    (2, nc - 1),
                    (3, nc - 1),
                ],
                chr,
            );
            chr += 1;
        } else if row == nr + 4 && col == 2 && nc % 8 == 0 {
            p.corner(
                [
                    (nr - 1, 0),
                    (nr - 1, nc - 1),
                    (0, nc - 3),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 3),
                    (1, nc - 2),
                    (1, nc - 1),
                ],
                chr,
            );
            chr += 1;
        }
        // sweep up and to the right
        loop {
            if row < nr && col >= 0 && p.is_free(row, col) {
                p.utah(row, col, chr);
                chr += 1;
            }
            row -= 2;
            col += 2;
            if !(row >= 0 && col < nc) {
                break;
            }
        }
        row += 1;
        col += 3;
        // sweep down and to the left
        loop {
            if row >= 0 && col < nc && p.is_free(row, col) {
                p.utah(row, col, chr);
                chr += 1;
            }
            row += 2;
            col -= 2;
            if !(row < nr && col >= 0) {
                break;
            }
        }
        row += 3;
        col += 1;
        if !(row < nr || col < nc) {
            break;
        }
    }
    // Sizes whose mapping matrix is not filled leave a 2×2 corner: dark on its diagonal.
    p.cells
        .into_iter()
        .enumerate()
        .map(|(i, cell)| {
            cell.unwrap_or_else(|| {
                let (r, c) = (i / ncol, i % ncol);
                let diagonal = (nrow - 1 - r) == (ncol - 1 - c);
                ModuleRole::Filler { dark: diagonal }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_thirty_iso_sizes_and_the_dmre_sizes_are_known() {
        let sizes = all_sizes();
        assert_eq!(sizes.iter().filter(|s| !s.is_dmre()).count(), 30);
        assert_eq!(sizes.iter().filter(|s| s.is_dmre()).count(), 18);
        assert_eq!(sizes[0].name(), "10x10");
    }

    #[test]
    fn every_codeword_bit_is_placed_exactly_once() {
        for size in all_sizes() {
            let mut seen = vec![[false; 8]; size.total_codewords()];
            for role in size.roles() {
                if let ModuleRole::Data(cb) = role {
                    let slot = &mut seen[cb.codeword as usize][cb.bit as usize];
                    assert!(!*slot, "{} places a bit twice", size.name());
                    *slot = true;
                }
            }
            assert!(
                seen.iter().all(|b| b.iter().all(|&x| x)),
                "{} leaves a bit unplaced",
                size.name()
            );
        }
    }

    #[test]
    fn fixed_pattern_matches_the_finder_and_clock_of_a_10x10() {
        let s = size_for(10, 10).unwrap();
        // left column and bottom row solid dark
        assert!((0..10).all(|r| s.fixed_dark(r, 0) == Some(true)));
        assert!((0..10).all(|c| s.fixed_dark(9, c) == Some(true)));
        // top row alternates starting dark; the top-right corner is light
        assert_eq!(s.fixed_dark(0, 1), Some(false));
        assert_eq!(s.fixed_dark(0, 9), Some(false));
        assert_eq!(s.fixed_dark(1, 9), Some(true));
        assert_eq!(s.fixed_dark(4, 4), None);
    }

    #[test]
    fn blocks_cover_every_codeword_once() {
        for size in all_sizes() {
            for &order in size.block_orders() {
                let mut all: Vec<usize> =
                    size.blocks(order).iter().flat_map(Block::members).collect();
                all.sort_unstable();
                assert_eq!(all, (0..size.total_codewords()).collect::<Vec<_>>());
            }
        }
        let big = size_for(144, 144).unwrap();
        let lens: Vec<usize> = big
            .blocks(BlockOrder::Standard)
            .iter()
            .map(|b| b.data.len())
            .collect();
        assert_eq!(lens, [156, 156, 156, 156, 156, 156, 156, 156, 155, 155]);
    }
}
