//! Data Matrix (ECC200, ISO/IEC 16022; DMRE, ISO/IEC 21471): everything the reader needs to
//! know of the symbology, behind [`Symbology`]. The symbol's geometry ([`symbol`]), the outline
//! tracer ([`detect`]) and the blob search for a finder it cannot follow ([`blob`]), the module
//! grid measured on the clock tracks ([`grid`]), and the decode ([`decode`]). Another
//! symbology stands beside it as its own module implementing [`Symbology`]; the reader's search
//! (binarising, proposing windows, the efforts and scales) is the same for all.

pub mod blob;
pub mod decode;
pub mod detect;
mod edge;
pub mod grid;
mod line;
mod read;
pub mod symbol;

pub use detect::Candidate;
pub use read::{Sampling, SymbolRead, decode_grid, read_candidate};

use crate::binarize::Binary;
use crate::frame::Frame;
use crate::geometry::{Homography, Point};
use crate::reader::{Located, ScanLines, Symbology};

/// The Data Matrix symbology, as the reader searches for it.
pub struct DataMatrix;

impl Symbology for DataMatrix {
    type Candidate = Candidate;
    type Read = SymbolRead;

    fn trace<T>(
        &self,
        bits: &Binary,
        origin: Point,
        lines: ScanLines,
        light_on_dark: bool,
        found: &mut dyn FnMut(Candidate) -> Option<T>,
    ) -> Option<T> {
        detect::trace(bits, origin, lines, light_on_dark, found)
    }

    fn blobs(&self, bits: &Binary, origin: Point, light_on_dark: bool) -> Vec<Candidate> {
        blob::candidates(bits, origin, light_on_dark)
    }

    fn read(&self, frame: &Frame, candidate: &Candidate) -> Option<SymbolRead> {
        read_candidate(frame, candidate)
    }

    /// Found small, measured at full size where that reads: the grid the grades are measured
    /// on comes from the frame's own pixels.
    fn remeasured(&self, frame: &Frame, small: SymbolRead, to_frame: &Homography) -> SymbolRead {
        let candidate = Candidate {
            corners: small.corners.map(|p| to_frame.map(p)),
            rows: small.grid.rows,
            cols: small.grid.cols,
            bits: None,
            light_on_dark: small.grid.light_on_dark,
        };
        read_candidate(frame, &candidate).unwrap_or_else(|| small.mapped(to_frame))
    }
}

impl Located for SymbolRead {
    fn corners(&self) -> [Point; 4] {
        self.corners
    }

    fn light_on_dark(&self) -> bool {
        self.grid.light_on_dark
    }

    fn mapped(self, to_frame: &Homography) -> SymbolRead {
        SymbolRead {
            grid: self.grid.mapped(to_frame),
            corners: self.corners.map(|p| to_frame.map(p)),
            ..self
        }
    }
}
