//! The frames every bench measures, rendered by the project's own generator so that they are
//! the same on every machine: the line-speed set (`verigrade gen --line-frame N`: a GS1 pack
//! code at 5–9 px/module, any angle, anywhere on a cluttered carton).

use verigrade::Frame;
use verigrade::synth::{line_frame, render};

/// Frame `index` of the line-speed set at `canvas` pixels.
pub fn line(index: u64, canvas: (u32, u32)) -> Frame<'static> {
    render(&line_frame(index, canvas))
        .expect("line frame renders")
        .into_frame()
        .1
}
