//! Protobuf messages as a client sends them: decoded as the transport does, then a
//! `VerifyRequest` through the service's engine (limits, ids, frame, expected data, grading)
//! without a server or a store.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::OnceLock;
use std::time::Instant;
use verigrade::proto::{
    CommissionRequest, GetLineStatsRequest, GetVerdictRequest, ListVerdictsRequest,
    ReconcileRequest, VerifyRequest, WatchVerdictsRequest,
};
use verigrade::serve::config::Config;
use verigrade::serve::engine::Engine;

fuzz_target!(|bytes: &[u8]| {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let mut config = Config::default();
        config.limits.max_pixels = verigrade_fuzz::MAX_PIXELS;
        // Evidence of failed frames goes to a folder that does not exist: keeping evidence is
        // best effort, so the write fails and the run stays off the disk.
        let evidence = std::env::temp_dir().join("verigrade-fuzz-no-evidence/none");
        Engine::new(config, evidence).expect("the default configuration is valid")
    });
    if let Ok(request) = VerifyRequest::decode(bytes) {
        let _ = engine.verify(&request, Instant::now());
    }
    let _ = CommissionRequest::decode(bytes);
    let _ = ReconcileRequest::decode(bytes);
    let _ = GetVerdictRequest::decode(bytes);
    let _ = ListVerdictsRequest::decode(bytes);
    let _ = WatchVerdictsRequest::decode(bytes);
    let _ = GetLineStatsRequest::decode(bytes);
});
