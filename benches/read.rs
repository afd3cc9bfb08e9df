//! Locate + decode on the 1280×1024 carton frame (see `common`).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::{ReadOptions, read};

fn bench_read(c: &mut Criterion) {
    let frame = common::carton_frame();
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
        b.iter(|| read(black_box(&frame), &ReadOptions::first_symbol()))
    });
    group.finish();
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
