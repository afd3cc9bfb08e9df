//! A camera's raw 8-bit buffer through the reader and the grader: width, height and stride
//! as a gateway sends them (any value, valid or not), then the pixels.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrade::Frame;

fuzz_target!(|bytes: &[u8]| {
    let Some((header, pixels)) = bytes.split_first_chunk::<6>() else {
        return;
    };
    let [w0, w1, h0, h1, s0, s1] = *header;
    let width = usize::from(u16::from_le_bytes([w0, w1]));
    let height = usize::from(u16::from_le_bytes([h0, h1]));
    // A stride of 0 stands for "rows packed", as most buffers are.
    let stride = match usize::from(u16::from_le_bytes([s0, s1])) {
        0 => width,
        s => s,
    };
    if width.saturating_mul(height) > verigrade_fuzz::MAX_PIXELS {
        return;
    }
    if let Ok(frame) = Frame::from_raw(width, height, stride, pixels) {
        verigrade_fuzz::grade(&frame);
    }
});
