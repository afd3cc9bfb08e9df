//! verigrade: a line-speed Data Matrix (ECC200) verifier.
//!
//! The modules follow the data flow of a verification:
//! [`frame`] → [`binarize`] → [`locate`] → [`reader`] → [`grade`] → [`verdict`] → [`store`] →
//! [`serve`]. The reader searches a frame for the symbology behind its [`reader::Symbology`] seam:
//! [`datamatrix`] holds the outline tracer, the module grid, the decode and the ECC200 geometry
//! every stage shares. [`gs1`] checks GS1 data, and [`synth`] renders synthetic symbols whose
//! ground truth is known by construction.

pub mod access;
pub mod aggregation;
pub mod binarize;
pub mod control;
pub mod datamatrix;
pub mod epcis;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod grade;
pub mod gs1;
pub mod locate;
pub mod profile;
pub mod proto;
pub mod reader;
pub mod report;
pub mod serve;
pub mod store;
pub mod synth;
pub mod verdict;

pub use datamatrix::SymbolRead;
pub use error::{Error, Result};
pub use frame::Frame;
pub use reader::{ReadOptions, read};
