//! Compiles proto/ with protox (pure Rust, no system protoc) and keeps the encoded descriptor
//! set for server reflection.

use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/verigrade/v1/verigrade.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("verigrade_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // Frames arrive as `bytes::Bytes`: the grader borrows them, and clients share them without copies.
    tonic_prost_build::configure()
        .bytes(".verigrade.v1")
        .compile_fds(descriptors)?;
    Ok(())
}
