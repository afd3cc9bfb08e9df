//! Command-line front ends that need more than a function in main.rs.

pub mod access;
pub mod aggregate;
pub mod alarms;
pub mod batch_report;
pub mod client;
pub mod connection;
pub mod epcis;
pub mod gateway;
pub mod generate;
pub mod grade;
pub mod gs1;
pub mod report;
pub mod serve;
pub mod store;
