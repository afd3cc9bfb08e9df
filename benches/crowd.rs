//! Crowded frames (issue 14): a 2448×2048 (5 MP) view into an open case of 30 GS1 packs at
//! 6 px/module or 100 at 5 px/module (`verigrade gen --crowd`), every symbol read; and the same
//! case with no code printed on any pack, which must cost no more than a full one. Each
//! iteration takes the next frame of the set, so a median is over all of them.
//! `benches/peers.py --set crowd` times zxing-cpp on the same frames. `aggregate_5mp/30`: the
//! aggregation station's work on such a case with its label (issue 16): every symbol read and
//! graded, then sorted and checked by the aggregation rules (the store's transaction is not
//! in it); `aggregate_store/30`: the store's part, the transaction that records the case.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use verigrade::access::Actor;
use verigrade::aggregation::{self, read_frame};
use verigrade::datamatrix::symbol::parse_size;
use verigrade::geometry::{Homography, Point};
use verigrade::profile::Profile;
use verigrade::store::{Packing, Store, Unpacking};
use verigrade::synth::{CrowdSpec, RenderedCrowd, render_crowd};
use verigrade::verdict::{Expected, SymbolRecord, inspect, judge_frame};
use verigrade::{Frame, ReadOptions, read};

/// Frames per set: each a different layout, tilt and serials.
const FRAMES: u64 = 4;

/// Frame `seed` of the case with `count` packs, as `gen --crowd` renders it.
fn case(count: usize, seed: u64) -> CrowdSpec {
    CrowdSpec {
        count,
        size: Some("22x22".into()),
        module_px: if count <= 30 { 6.0 } else { 5.0 },
        seed,
        ..CrowdSpec::default()
    }
}

/// The case with every pack's code and quiet zone painted over in the quiet zone's grey, as
/// when the printer missed the whole case.
fn unprinted(mut rendered: RenderedCrowd) -> Frame<'static> {
    let margin = rendered.truth.spec.quiet_zone;
    for symbol in &rendered.truth.symbols {
        let to_image = Homography::from_matrix(symbol.module_to_image);
        let to_module = to_image.inverse().expect("a rendered symbol's map inverts");
        let size = parse_size(&symbol.size).expect("a rendered size parses");
        let (cols, rows) = (size.cols as f64, size.rows as f64);
        let quiet = to_image.map(Point::new(-margin / 2.0, -margin / 2.0));
        let grey = rendered.image.get_pixel(quiet.x as u32, quiet.y as u32).0[0];
        let reach = (cols.max(rows) + 2.0 * margin) * rendered.truth.spec.module_px;
        let centre = to_image.map(Point::new(cols / 2.0, rows / 2.0));
        let span = |c: f64, limit: u32| {
            ((c - reach).max(0.0) as u32).min(limit)..((c + reach).max(0.0) as u32).min(limit)
        };
        let (width, height) = rendered.image.dimensions();
        for y in span(centre.y, height) {
            for x in span(centre.x, width) {
                let m = to_module.map(Point::new(x as f64 + 0.5, y as f64 + 0.5));
                if (-margin..cols + margin).contains(&m.x)
                    && (-margin..rows + margin).contains(&m.y)
                {
                    rendered.image.put_pixel(x, y, image::Luma([grey]));
                }
            }
        }
    }
    rendered.into_frame().1
}

/// Benches `run` over the frames in turn.
fn over_frames<T>(
    group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    id: BenchmarkId,
    frames: &[Frame],
    mut run: impl FnMut(&Frame) -> T,
) {
    let mut next = 0;
    group.bench_function(id, |b| {
        b.iter(|| {
            next = (next + 1) % frames.len();
            black_box(run(&frames[next]))
        })
    });
}

fn bench_crowd(c: &mut Criterion) {
    let all = ReadOptions::default();
    let mut group = c.benchmark_group("crowd_5mp");
    group.sample_size(20);
    for count in [30, 100] {
        let rendered: Vec<_> = (1..=FRAMES)
            .map(|seed| render_crowd(&case(count, seed)).expect("crowd renders"))
            .collect();
        let frames: Vec<Frame> = rendered.into_iter().map(|r| r.into_frame().1).collect();
        // Today's reader does not read every pack; the bench measures it all the same, and
        // says how many it reads.
        let read_packs: usize = frames.iter().map(|f| read(f, &all).len()).sum();
        eprintln!(
            "crowd_5mp/{count}: {read_packs} of {} packs read over {FRAMES} frames",
            count as u64 * FRAMES
        );
        over_frames(
            &mut group,
            BenchmarkId::from_parameter(count),
            &frames,
            |f| read(f, &all),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("frame_2448x2048");
    group.sample_size(20);
    let empty: Vec<Frame> = (1..=FRAMES)
        .map(|seed| unprinted(render_crowd(&case(30, seed)).expect("crowd renders")))
        .collect();
    assert!(
        empty.iter().all(|f| read(f, &all).is_empty()),
        "an unprinted case reads"
    );
    over_frames(
        &mut group,
        BenchmarkId::from_parameter("no_symbol"),
        &empty,
        |f| read(f, &all),
    );
    group.finish();
}

/// Frame `seed` of the 30-pack case with its label, a valid SSCC of its own.
fn labelled_case(seed: u64) -> Frame<'static> {
    let digits = format!("095060000000000{seed:02}");
    let check = verigrade::gs1::check_digit(&digits);
    let spec = CrowdSpec {
        sscc: Some(format!("{digits}{check}")),
        ..case(30, seed)
    };
    render_crowd(&spec).expect("case renders").into_frame().1
}

/// A case's frame as the aggregation service takes it: read and grade every symbol, then sort
/// the label from the packs and check them.
fn aggregate(frame: &Frame, profile: &Profile, options: &ReadOptions) -> usize {
    let inspection = inspect(frame, profile, None, options);
    let overall = f64::from(inspection.scan_grade());
    let record = judge_frame(inspection, overall, profile, None, &Expected::default());
    let reading = read_frame(&record.symbols, None, Some(30), None);
    reading.children.len()
}

fn bench_aggregate(c: &mut Criterion) {
    let options = aggregation::read_options(Some(30));
    let profile = Profile::default_profile();
    let frames: Vec<Frame> = (1..=FRAMES).map(labelled_case).collect();
    for frame in &frames {
        assert_eq!(
            aggregate(frame, &profile, &options),
            30,
            "every pack of the case"
        );
    }
    let mut group = c.benchmark_group("aggregate_5mp");
    group.sample_size(20);
    over_frames(&mut group, BenchmarkId::from_parameter(30), &frames, |f| {
        aggregate(f, &profile, &options)
    });
    group.finish();
}

/// The store's part of the station's work: the checks against what the store holds and the
/// transaction that records the case (WAL, `synchronous=FULL`, as `serve` runs it), on a line
/// that commissions no serials. Each iteration packs one of the frames' cases, timed, then
/// takes its packs out again, untimed, so that the next can pack them.
fn bench_aggregate_store(c: &mut Criterion) {
    let profile = Profile::default_profile();
    let options = aggregation::read_options(Some(30));
    let cases: Vec<Vec<SymbolRecord>> = (1..=FRAMES)
        .map(|seed| {
            let frame = labelled_case(seed);
            let inspection = inspect(&frame, &profile, None, &options);
            let overall = f64::from(inspection.scan_grade());
            judge_frame(inspection, overall, &profile, None, &Expected::default()).symbols
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("verigrade-bench-store-{}", std::process::id()));
    let store = Store::open(&dir, 1 << 30, 64 << 20).expect("store opens");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime builds");
    let packing = |symbols: &[SymbolRecord]| Packing {
        actor: Actor::open("bench"),
        line_id: "L1".into(),
        frame_id: "f".into(),
        reading: read_frame(symbols, None, Some(30), None),
        symbols: Vec::new(),
    };
    let mut next = 0;
    let mut group = c.benchmark_group("aggregate_store");
    group.sample_size(20);
    group.bench_function(BenchmarkId::from_parameter(30), |b| {
        b.iter_custom(|iterations| {
            let mut packing_time = std::time::Duration::ZERO;
            for _ in 0..iterations {
                next = (next + 1) % cases.len();
                let packing = packing(&cases[next]);
                let parent = packing
                    .reading
                    .parent
                    .clone()
                    .expect("the case has its label");
                let started = std::time::Instant::now();
                let packed = runtime.block_on(store.aggregate(packing)).expect("packs");
                packing_time += started.elapsed();
                assert!(packed.result.pass, "{:?}", packed.result);
                runtime
                    .block_on(store.disaggregate(Unpacking {
                        actor: Actor::open("bench"),
                        parent,
                        children: Vec::new(),
                        reason: "bench".into(),
                    }))
                    .expect("unpacks");
            }
            packing_time
        })
    });
    group.finish();
    store.close();
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(benches, bench_crowd, bench_aggregate, bench_aggregate_store);
criterion_main!(benches);
