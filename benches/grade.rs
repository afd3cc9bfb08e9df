//! ISO/IEC 15415 grading of one decoded symbol (22×22 GS1, 6 px/module, rotated 17°, on a
//! 1280×1024 carton frame): everything after the read — aperture sampling, reference decode,
//! every parameter.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::grade::grade;
use verigrade::profile::Profile;
use verigrade::synth::{GenSpec, render};
use verigrade::{Frame, ReadOptions, read};

fn bench_grade(c: &mut Criterion) {
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
    let pixels = render(&spec)
        .expect("bench symbol renders")
        .image
        .into_raw();
    let frame = Frame::from_raw(1280, 1024, 1280, &pixels).unwrap();
    let symbol = read(&frame, &ReadOptions::default())
        .into_iter()
        .next()
        .expect("bench frame must read");
    let profile = Profile::default_profile();
    c.bench_function("grade_one_symbol", |b| {
        b.iter(|| grade(black_box(&frame), black_box(&symbol), &profile, None))
    });
}

criterion_group!(benches, bench_grade);
criterion_main!(benches);
