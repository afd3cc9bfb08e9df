//! verigrade: a line-speed Data Matrix (ECC200) verifier.
//!
//! The modules follow the data flow of a verification:
//! [`frame`] → [`binarize`] → [`locate`] → [`grid`] → [`decode`] → [`grade`] → [`verdict`] → [`store`] →
//! [`serve`], with [`symbol`] holding the ECC200 geometry every stage shares, [`gs1`] checking
//! GS1 data, and [`synth`] rendering synthetic symbols whose ground truth is known by construction.

pub mod access;
pub mod aggregation;
pub mod binarize;
pub mod control;
pub mod decode;
pub mod epcis;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod grade;
pub mod grid;
pub mod gs1;
pub mod locate;
pub mod profile;
pub mod proto;
pub mod reader;
pub mod report;
pub mod serve;
pub mod store;
pub mod symbol;
pub mod synth;
pub mod verdict;

pub use error::{Error, Result};
pub use frame::Frame;
pub use reader::{ReadOptions, SymbolRead, read};
