//! Encoded image bytes (PNG, JPEG, BMP, TIFF, PNM, WebP) through the decoder, the reader and
//! the grader: what `verigrade grade` and the service do with an image.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrade::Frame;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(frame) = Frame::decode_limited(bytes, verigrade_fuzz::MAX_PIXELS) {
        verigrade_fuzz::grade(&frame);
    }
});
