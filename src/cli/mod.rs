//! Command-line front ends that need more than a function in main.rs.

pub mod client;
pub mod grade;
pub mod report;
pub mod serve;
