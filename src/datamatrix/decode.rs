//! From module colours to data: codewords through the placement map, Reed–Solomon per block
//! (rxing's decoder, counting what each block corrected), then rxing's bit-stream parser for
//! the encodations (ASCII, C40, Text, X12, EDIFACT, Base 256), ECI, FNC1/GS1 and macros.

use super::symbol::{BlockOrder, ModuleRole, SymbolSize};
use rxing::common::reedsolomon::{PredefinedGenericGF, ReedSolomonDecoder};
use rxing::datamatrix::decoder::decoded_bit_stream_parser;
use serde::Serialize;
use std::sync::OnceLock;
use thiserror::Error;

/// Why a module pattern did not decode.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("Reed-Solomon block {block} has more errors than it can correct")]
    Uncorrectable { block: usize },
    #[error("codewords do not form a valid data stream")]
    BadStream,
    #[error(
        "{wrong} of the {fixed} finder and clock modules are the wrong colour and the error \
         correction is nearly spent: a misread of other print, not a symbol"
    )]
    Implausible { wrong: usize, fixed: usize },
}

/// A block whose correction needed more than this share of its error correction codewords
/// (ISO/IEC 15415's unused error correction below 0.25, grade F) is near the limit where
/// texture that is no symbol decodes now and then: a 10x10 region of another symbol's data,
/// two errors corrected, decodes about once in 10⁶ tries, and a crowded frame makes many.
const NEARLY_SPENT: f64 = 0.75;

/// Such a decode is kept only when at most this share of its finder and clock modules is the
/// wrong colour. Texture that is no symbol gets about half of them wrong; every symbol of the
/// robustness matrix and of the real photos has at most 7 % wrong.
const MAX_WRONG_FIXED: f64 = 0.25;

/// One Reed–Solomon block after correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockReport {
    pub data_codewords: usize,
    pub ec_codewords: usize,
    /// Codewords the decoder had to correct (errors, no erasures).
    pub corrected: usize,
}

/// Structured append header (ISO/IEC 16022 5.6): this symbol's position in a series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StructuredAppend {
    /// 1-based position.
    pub position: u8,
    /// Number of symbols in the series (2–16).
    pub total: u8,
    pub file_id: u16,
}

/// The decoded content of one symbol.
#[derive(Clone, Debug, Serialize)]
pub struct Decoded {
    /// Data with FNC1 separators as GS, no leading FNC1, no symbology identifier.
    pub text: String,
    /// AIM symbology identifier: `]d1` plain, `]d2` GS1, `]d3` AIM, `]d4`–`]d6` with ECI.
    pub symbology_identifier: String,
    pub gs1: bool,
    /// The data carries ECI designators (extended channel interpretation).
    pub eci: bool,
    /// The symbol was printed mirrored (read through its transpose).
    pub mirrored: bool,
    pub block_order: BlockOrder,
    pub blocks: Vec<BlockReport>,
    /// Codewords in symbol order after correction (data, then error correction).
    pub codewords: Vec<u8>,
    /// Codewords as read, before correction.
    pub codewords_read: Vec<u8>,
    pub structured_append: Option<StructuredAppend>,
    /// The symbol starts with Reader Programming (codeword 234).
    pub reader_programming: bool,
}

impl Decoded {
    pub fn corrected_total(&self) -> usize {
        self.blocks.iter().map(|b| b.corrected).sum()
    }
}

fn reed_solomon() -> &'static ReedSolomonDecoder {
    static RS: OnceLock<ReedSolomonDecoder> = OnceLock::new();
    RS.get_or_init(|| ReedSolomonDecoder::new(PredefinedGenericGF::DataMatrixField256.into()))
}

/// Reads the codewords of `size` from module colours (`dark(row, col)` in symbol order).
pub fn read_codewords(size: &SymbolSize, dark: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    let mut codewords = vec![0u8; size.total_codewords()];
    for (i, role) in size.roles().iter().enumerate() {
        if let ModuleRole::Data(cb) = role
            && dark(i / size.cols, i % size.cols)
        {
            codewords[cb.codeword as usize] |= 0x80 >> cb.bit;
        }
    }
    codewords
}

/// Decodes a symbol of `size` from its module colours (symbol orientation; the caller maps a
/// mirrored image through its transpose and says so with `mirrored`).
pub fn decode_modules(
    size: &SymbolSize,
    dark: impl Fn(usize, usize) -> bool,
    mirrored: bool,
) -> Result<Decoded, DecodeError> {
    let read = read_codewords(size, &dark);
    let mut last_err = DecodeError::BadStream;
    for &order in size.block_orders() {
        match correct(size, &read, order) {
            Ok((codewords, blocks)) => {
                let spent = |b: &BlockReport| {
                    2.0 * b.corrected as f64 > NEARLY_SPENT * b.ec_codewords as f64
                };
                if blocks.iter().any(spent) {
                    let (wrong, fixed) = wrong_fixed_modules(size, &dark);
                    if wrong as f64 > MAX_WRONG_FIXED * fixed as f64 {
                        last_err = DecodeError::Implausible { wrong, fixed };
                        continue;
                    }
                }
                return parse(size, read.clone(), codewords, blocks, order, mirrored);
            }
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// How many of the finder and clock modules are the wrong colour, of how many.
fn wrong_fixed_modules(size: &SymbolSize, dark: impl Fn(usize, usize) -> bool) -> (usize, usize) {
    let (mut wrong, mut fixed) = (0, 0);
    for (i, role) in size.roles().iter().enumerate() {
        if let ModuleRole::Fixed { dark: expected } = *role {
            fixed += 1;
            wrong += usize::from(dark(i / size.cols, i % size.cols) != expected);
        }
    }
    (wrong, fixed)
}

/// Reed–Solomon correction of every block; returns the corrected codewords and the reports.
fn correct(
    size: &SymbolSize,
    read: &[u8],
    order: BlockOrder,
) -> Result<(Vec<u8>, Vec<BlockReport>), DecodeError> {
    let mut codewords = read.to_vec();
    let mut reports = Vec::new();
    for (b, block) in size.blocks(order).iter().enumerate() {
        let mut buf: Vec<i32> = block.members().map(|i| read[i] as i32).collect();
        let corrected = reed_solomon()
            .decode(&mut buf, block.ec.len() as i32)
            .map_err(|_| DecodeError::Uncorrectable { block: b })?;
        for (i, &v) in block.members().zip(&buf) {
            codewords[i] = v as u8;
        }
        reports.push(BlockReport {
            data_codewords: block.data.len(),
            ec_codewords: block.ec.len(),
            corrected,
        });
    }
    Ok((codewords, reports))
}

fn parse(
    size: &SymbolSize,
    codewords_read: Vec<u8>,
    codewords: Vec<u8>,
    blocks: Vec<BlockReport>,
    block_order: BlockOrder,
    mirrored: bool,
) -> Result<Decoded, DecodeError> {
    let data = &codewords[..size.data_codewords()];
    let parsed =
        decoded_bit_stream_parser::decode(data, mirrored).map_err(|_| DecodeError::BadStream)?;
    let structured_append = (data.first() == Some(&233) && data.len() >= 4).then(|| {
        let indicator = data[1];
        StructuredAppend {
            position: (indicator >> 4) + 1,
            total: 17 - (indicator & 0x0f),
            file_id: u16::from(data[2]) << 8 | u16::from(data[3]),
        }
    });
    let modifier = parsed.getSymbologyModifier();
    let reader_programming = data.first() == Some(&234);
    Ok(Decoded {
        text: parsed.getText().to_string(),
        symbology_identifier: format!("]d{modifier}"),
        gs1: parsed.getContentType() == "GS1",
        eci: (4..=6).contains(&modifier) || parsed.getContentType() == "UnknownECI",
        mirrored,
        block_order,
        blocks,
        codewords,
        codewords_read,
        structured_append,
        reader_programming,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::encode;

    /// The module colours of a 10x10 holding "61": its codewords with the first `errors`
    /// inverted, and the first `wrong_fixed` finder and clock modules in the wrong colour.
    fn modules(errors: usize, wrong_fixed: usize) -> (&'static SymbolSize, Vec<bool>) {
        let (size, mut codewords) = encode("61", false, Some("10x10")).expect("61 encodes");
        for c in &mut codewords[..errors] {
            *c = !*c;
        }
        let mut flipped = 0;
        let dark = size
            .roles()
            .iter()
            .map(|role| match *role {
                ModuleRole::Data(cb) => codewords[cb.codeword as usize] & (0x80 >> cb.bit) != 0,
                ModuleRole::Fixed { dark } | ModuleRole::Filler { dark } => {
                    let wrong = matches!(role, ModuleRole::Fixed { .. }) && flipped < wrong_fixed;
                    flipped += usize::from(wrong);
                    dark != wrong
                }
            })
            .collect();
        (size, dark)
    }

    fn decode(size: &SymbolSize, dark: &[bool]) -> Result<Decoded, DecodeError> {
        decode_modules(size, |r, c| dark[r * size.cols + c], false)
    }

    #[test]
    fn a_fixed_pattern_mostly_wrong_is_refused_when_the_correction_is_nearly_spent() {
        // 10x10: 5 error correction codewords, two errors spend 4 of them. 36 fixed modules.
        let (size, dark) = modules(2, 15);
        assert_eq!(
            decode(size, &dark).err(),
            Some(DecodeError::Implausible {
                wrong: 15,
                fixed: 36
            })
        );
        // The same fixed pattern with correction to spare, and the same errors with a
        // damaged but recognisable finder, still decode.
        for (errors, wrong_fixed) in [(1, 15), (2, 9)] {
            let (size, dark) = modules(errors, wrong_fixed);
            let decoded = decode(size, &dark).expect("decodes");
            assert_eq!(
                (decoded.text.as_str(), decoded.corrected_total()),
                ("61", errors)
            );
        }
    }
}
