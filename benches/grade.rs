//! ISO/IEC 15415 grading of one decoded symbol on the carton frame (see `common`):
//! everything after the read — aperture sampling, reference decode, every parameter.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::grade::grade;
use verigrade::profile::Profile;
use verigrade::{ReadOptions, read};

fn bench_grade(c: &mut Criterion) {
    let frame = common::carton_frame();
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
