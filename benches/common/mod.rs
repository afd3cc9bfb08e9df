//! The frame every bench measures: a 1280×1024 carton (text, a 1D barcode, artwork) with one
//! GS1 symbol at 6 px/module rotated 17°, rendered by the project's own generator so it is the
//! same on every machine.

use verigrade::Frame;
use verigrade::synth::{GenSpec, render};

pub fn carton_frame() -> Frame<'static> {
    let spec = GenSpec {
        text: "0109506000134352172812311012AB34\u{1d}21SN00001234".into(),
        gs1: true,
        module_px: 6.0,
        rotation_deg: 17.0,
        blur: 0.8,
        noise: 4.0,
        canvas: Some((1280, 1024)),
        offset: (180.0, -120.0),
        carton: true,
        ..GenSpec::default()
    };
    render(&spec).expect("bench symbol renders").into_frame().1
}
