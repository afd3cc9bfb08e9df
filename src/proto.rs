//! The gRPC contract (`proto/verigrade/v1/verigrade.proto`), generated at build time.

tonic::include_proto!("verigrade.v1");

/// The encoded descriptor set of the contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/verigrade_descriptor.bin"));
