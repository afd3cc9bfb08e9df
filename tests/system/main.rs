//! System tests: each runs the real `verigrade` binary (the service, the gateway, the CLI
//! against it) on loopback ports and temporary data directories, and drives it as a client
//! would. They share one test binary because they share `support` and the gRPC client code:
//! built once instead of once per file, which is most of the test suite's build time.
//!
//! `cargo test --test system` runs them all; `cargo test --test system tls::` one module.

mod support;

mod access;
mod aggregation;
mod audit_trail;
mod batch_report;
mod chaos;
mod dashboard;
mod full_disk;
mod gateway;
mod inflight_memory;
mod line_control;
mod metrics;
mod opcua;
mod serialization;
mod service;
mod service_load;
mod shared_store;
mod tls;
