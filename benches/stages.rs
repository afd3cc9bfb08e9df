//! Each stage of the reader and the grader on its own, on frame 0 of the line-speed set at
//! 1280×1024 (see `common`): binarise, propose regions, trace the outline, fit the module
//! grid, sample and decode, grade per ISO/IEC 15415.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::binarize::Binary;
use verigrade::datamatrix::detect::trace;
use verigrade::datamatrix::grid;
use verigrade::datamatrix::symbol::size_for;
use verigrade::datamatrix::{Candidate, decode_grid};
use verigrade::geometry::Point;
use verigrade::grade::grade;
use verigrade::locate::proposals;
use verigrade::profile::Profile;
use verigrade::reader::ScanLines;
use verigrade::{ReadOptions, read};

fn bench_stages(c: &mut Criterion) {
    let frame = common::line(0, (1280, 1024));
    let binary = Binary::of(&frame);
    let windows = proposals(&binary, false);
    // The region and outline the reader uses for this frame.
    let (window, lines, candidate): (_, _, Candidate) = windows
        .iter()
        .flat_map(|&w| [(w, ScanLines::Centre), (w, ScanLines::All)])
        .find_map(|(w, lines)| {
            trace(
                &binary.crop(w, false, &[]),
                w.origin(),
                lines,
                false,
                &mut Some,
            )
            .map(|c| (w, lines, c))
        })
        .expect("a proposal holds the symbol");
    let size = size_for(candidate.rows, candidate.cols).expect("an ECC200 size");
    let fitted = grid::fit(&frame, &candidate, size, false).expect("grid fits");
    assert!(
        decode_grid(&frame, &fitted, size, false).is_some(),
        "decodes"
    );
    let symbol = read(&frame, &ReadOptions::first_symbol())
        .into_iter()
        .next()
        .expect("frame reads");
    let profile = Profile::default_profile();

    let mut group = c.benchmark_group("stage");
    group.bench_function("binarize", |b| b.iter(|| Binary::of(black_box(&frame))));
    group.bench_function("propose", |b| {
        b.iter(|| proposals(black_box(&binary), false))
    });
    group.bench_function("trace", |b| {
        b.iter(|| {
            // Every outline the window's trace finds.
            let mut found = 0;
            trace::<()>(
                &binary.crop(window, false, &[]),
                Point::default(),
                lines,
                false,
                &mut |_| {
                    found += 1;
                    None
                },
            );
            found
        })
    });
    group.bench_function("grid", |b| {
        b.iter(|| grid::fit(black_box(&frame), &candidate, size, false))
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode_grid(black_box(&frame), &fitted, size, false))
    });
    group.bench_function("grade", |b| {
        b.iter(|| grade(black_box(&frame), &symbol, &profile, None))
    });
    group.finish();
}

criterion_group!(benches, bench_stages);
criterion_main!(benches);
