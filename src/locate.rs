//! Where to look: the regions of a binarised frame ([`crate::binarize`]) whose texture looks
//! like a 2-D symbol, for the symbology's tracer ([`crate::reader::Symbology`]) to search.

mod propose;

pub use propose::proposals;
