//! The whole frame → verdict path on the line-speed frames (see `common`): locate + decode +
//! grade of the one symbol, at 1280×1024 and at 2448×2048 (5 MP), from scratch and with the
//! camera's previous symbol position known or the pack moved away from it; the reader alone,
//! first symbol and every symbol; a carton whose code was not printed (the no-read verdict)
//! and a belt with no pack at all. Each iteration takes the next frame of the set, so a
//! median is over all of them.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::datamatrix::symbol::parse_size;
use verigrade::geometry::{Point, Rect};
use verigrade::profile::Profile;
use verigrade::reader::Located;
use verigrade::synth::{line_frame, render};
use verigrade::verdict::inspect;
use verigrade::{Frame, ReadOptions, read};

/// Frames of the line-speed set measured per run.
const LINE_FRAMES: u64 = 16;

/// Frame `index` of the line-speed set with its code unprinted: the symbol and its quiet zone
/// are the quiet zone's grey, as on a pack the printer missed. The reader's dearest case: every
/// effort runs before it answers "no read".
fn line_unprinted(index: u64, canvas: (u32, u32)) -> Frame<'static> {
    let mut rendered = render(&line_frame(index, canvas)).expect("line frame renders");
    let to_image = rendered.truth.module_to_image();
    let to_module = to_image.inverse().expect("a rendered symbol's map inverts");
    let size = parse_size(&rendered.truth.size).expect("a rendered size parses");
    // Module coordinates: u along the columns, v down the rows.
    let (cols, rows) = (size.cols as f64, size.rows as f64);
    let margin = rendered.truth.spec.quiet_zone;
    let quiet = to_image.map(Point::new(-margin / 2.0, -margin / 2.0));
    let grey = rendered.image.get_pixel(quiet.x as u32, quiet.y as u32).0[0];
    for (x, y, pixel) in rendered.image.enumerate_pixels_mut() {
        let m = to_module.map(Point::new(x as f64 + 0.5, y as f64 + 0.5));
        if (-margin..cols + margin).contains(&m.x) && (-margin..rows + margin).contains(&m.y) {
            pixel.0[0] = grey;
        }
    }
    rendered.into_frame().1
}

/// Frame `index` of a belt with no pack under the camera: a dark grey ground lit unevenly
/// (brighter to the right and down) with pixel noise of ±6 greys. The gap between packs: no
/// region has a symbol's texture, so no window is searched, and what runs is the whole-frame
/// search at both scales.
fn empty_belt(index: u64, (width, height): (u32, u32)) -> Frame<'static> {
    let (w, h) = (width as usize, height as usize);
    // xorshift32, seeded per frame.
    let mut state = (index as u32 + 1).wrapping_mul(2_654_435_761);
    let pixels = (0..w * h)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let light = 50.0 + 20.0 * x / w as f64 + 10.0 * y / h as f64;
            (light + f64::from(state % 13) - 6.0) as u8
        })
        .collect();
    Frame::from_owned(w, h, w, pixels).expect("the belt's pixels fill it")
}

/// Benches `run` over the frames in turn.
fn over_frames<T>(
    group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    name: &str,
    frames: &[Frame],
    mut run: impl FnMut(usize, &Frame) -> T,
) {
    let mut next = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            next = (next + 1) % frames.len();
            black_box(run(next, &frames[next]))
        })
    });
}

fn bench_frames(c: &mut Criterion) {
    let profile = Profile::default_profile();
    for (name, canvas) in [
        ("frame_1280x1024", (1280, 1024)),
        ("frame_2448x2048", (2448, 2048)),
    ] {
        let frames: Vec<Frame> = (0..LINE_FRAMES).map(|i| common::line(i, canvas)).collect();
        // Where each frame's symbol is: the window the service searches first for the next
        // frame of the same camera.
        let windows: Vec<Option<Rect>> = frames
            .iter()
            .map(|f| {
                let symbol = read(f, &ReadOptions::first_symbol()).into_iter().next();
                let symbol = symbol.expect("every bench frame reads");
                symbol.search_window(f.width(), f.height())
            })
            .collect();
        let mut group = c.benchmark_group(name);
        group.sample_size(60);
        over_frames(&mut group, "locate_decode_grade", &frames, |_, f| {
            inspect(f, &profile, None, &ReadOptions::first_symbol())
        });
        over_frames(
            &mut group,
            "locate_decode_grade_previous_position",
            &frames,
            |i, f| {
                let options = ReadOptions {
                    search_first: windows[i],
                    ..ReadOptions::first_symbol()
                };
                inspect(f, &profile, None, &options)
            },
        );
        // The pack moved: the window searched first is where the previous frame's symbol was.
        over_frames(&mut group, "locate_decode_grade_moved", &frames, |i, f| {
            let options = ReadOptions {
                search_first: windows[(i + frames.len() - 1) % frames.len()],
                ..ReadOptions::first_symbol()
            };
            inspect(f, &profile, None, &options)
        });
        over_frames(&mut group, "read_first_symbol", &frames, |_, f| {
            read(f, &ReadOptions::first_symbol())
        });
        if canvas.0 == 1280 {
            over_frames(&mut group, "read_all_symbols", &frames, |_, f| {
                read(f, &ReadOptions::default())
            });
            let unprinted: Vec<Frame> = (0..LINE_FRAMES)
                .map(|i| line_unprinted(i, canvas))
                .collect();
            assert!(
                unprinted
                    .iter()
                    .all(|f| read(f, &ReadOptions::first_symbol()).is_empty()),
                "an unprinted frame reads"
            );
            over_frames(&mut group, "no_symbol", &unprinted, |_, f| {
                inspect(f, &profile, None, &ReadOptions::first_symbol())
            });
            let belt: Vec<Frame> = (0..LINE_FRAMES).map(|i| empty_belt(i, canvas)).collect();
            assert!(
                belt.iter()
                    .all(|f| read(f, &ReadOptions::first_symbol()).is_empty()),
                "an empty belt reads"
            );
            over_frames(&mut group, "empty_belt", &belt, |_, f| {
                inspect(f, &profile, None, &ReadOptions::first_symbol())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_frames);
criterion_main!(benches);
