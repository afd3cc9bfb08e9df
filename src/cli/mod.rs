//! Command-line front ends that need more than a function in main.rs.

pub mod grade;
pub mod report;
