//! The server's TOML configuration file, and every lookup the service makes in it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrade::serve::config::Config;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(config) = Config::parse(text, "fuzz") else {
        return;
    };
    for (line, settings) in &config.lines {
        let _ = config.check_id("line_id", line);
        std::hint::black_box(config.line_profile(line));
        std::hint::black_box(config.roi(line, ""));
        for camera in settings.cameras.keys() {
            let _ = config.check_id("camera_id", camera);
            std::hint::black_box(config.roi(line, camera));
        }
    }
});
