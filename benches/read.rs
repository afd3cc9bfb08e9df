//! Locate + decode on a 1280×1024 carton frame (text, a 1D barcode, artwork): one GS1 symbol
//! (6 px/module, rotated 17°), rendered by the project's own generator so the frame is the same on every machine.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::synth::{GenSpec, render};
use verigrade::{Frame, ReadOptions, read};

fn frame_1280x1024() -> Vec<u8> {
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
    render(&spec)
        .expect("bench symbol renders")
        .image
        .into_raw()
}

fn bench_read(c: &mut Criterion) {
    let pixels = frame_1280x1024();
    let frame = Frame::from_raw(1280, 1024, 1280, &pixels).unwrap();
    assert_eq!(
        read(&frame, &ReadOptions::default()).len(),
        1,
        "bench frame must read"
    );
    let mut group = c.benchmark_group("read_1280x1024");
    group.sample_size(30);
    group.bench_function("all_symbols", |b| {
        b.iter(|| read(black_box(&frame), &ReadOptions::default()))
    });
    group.bench_function("first_symbol", |b| {
        b.iter(|| read(black_box(&frame), &ReadOptions { all_symbols: false }))
    });
    group.finish();
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
