//! Symbols rendered with known degradations must read back exactly: the text, the size, and
//! the number of codewords Reed–Solomon corrected in every block.

use verigrade::datamatrix::symbol::all_sizes;
use verigrade::geometry::Point;
use verigrade::synth::{GenSpec, GroundTruth, render};
use verigrade::{Frame, ReadOptions, SymbolRead, read};

fn read_rendered(spec: &GenSpec) -> (GroundTruth, Vec<SymbolRead>) {
    let (truth, frame) = render(spec).expect("spec renders").into_frame();
    (truth, read(&frame, &ReadOptions::default()))
}

/// Reads a rendered symbol and checks it against its ground truth; returns the read.
fn assert_reads_exactly(spec: &GenSpec) -> SymbolRead {
    let (truth, reads) = read_rendered(spec);
    assert_eq!(reads.len(), 1, "expected one symbol for {spec:?}");
    let r = reads.into_iter().next().unwrap();
    assert_eq!(r.decoded.text, truth.text, "text of {}", truth.size);
    assert_eq!(r.size.name(), truth.size);
    let corrected: Vec<usize> = r.decoded.blocks.iter().map(|b| b.corrected).collect();
    assert_eq!(
        corrected, truth.errors_per_block,
        "corrections per block of {}",
        truth.size
    );
    r
}

/// A text that fills about half of a size's data capacity.
fn text_for(capacity: usize) -> String {
    "VERIGRADE-0123456789-abcdefghij-"
        .chars()
        .cycle()
        .take(capacity.max(2) / 2 + 1)
        .collect()
}

#[test]
fn every_size_reads_back_exactly() {
    for size in all_sizes() {
        let spec = GenSpec {
            text: text_for(size.data_codewords()),
            size: Some(size.name()),
            module_px: 5.0,
            ..GenSpec::default()
        };
        assert_reads_exactly(&spec);
    }
}

#[test]
fn any_rotation_reads() {
    for angle in [
        0.0, 7.0, 30.0, 45.0, 90.0, 133.0, 180.0, 222.0, 270.0, 315.5,
    ] {
        let spec = GenSpec {
            text: "0109506000134352172812311012AB34\u{1d}21SN00001234".into(),
            gs1: true,
            module_px: 6.0,
            rotation_deg: angle,
            ..GenSpec::default()
        };
        let r = assert_reads_exactly(&spec);
        assert!(r.decoded.gs1);
        assert_eq!(r.decoded.symbology_identifier, "]d2");
    }
}

#[test]
fn module_sizes_from_2_5_to_30_pixels_read() {
    for module_px in [2.5, 3.0, 4.5, 9.0, 17.0, 30.0] {
        let spec = GenSpec {
            text: "LOT 4711 EXP 2612".into(),
            module_px,
            rotation_deg: 11.0,
            quiet_zone: 3.0,
            ..GenSpec::default()
        };
        assert_reads_exactly(&spec);
    }
}

#[test]
fn mirrored_and_light_on_dark_symbols_read() {
    for (mirrored, light_on_dark) in [(true, false), (false, true), (true, true)] {
        for size in ["18x18", "12x36", "16x48"] {
            let spec = GenSpec {
                text: "MIRROR".into(),
                size: Some(size.into()),
                module_px: 6.0,
                mirrored,
                light_on_dark,
                rotation_deg: 23.0,
                ..GenSpec::default()
            };
            let r = assert_reads_exactly(&spec);
            assert_eq!(r.decoded.mirrored, mirrored, "{size}");
            assert_eq!(r.grid.light_on_dark, light_on_dark, "{size}");
        }
    }
}

#[test]
fn blur_noise_and_low_contrast_read() {
    // Noise may flip a module, so only the data is ground truth here, not the corrections.
    for (blur, noise) in [(1.2, 6.0), (0.8, 10.0), (2.0, 3.0)] {
        let spec = GenSpec {
            text: "(01)09506000134352".into(),
            module_px: 5.0,
            blur,
            noise,
            dark: 0.35,
            light: 0.75,
            rotation_deg: 63.0,
            quiet_zone: 4.0,
            ..GenSpec::default()
        };
        let (truth, reads) = read_rendered(&spec);
        assert_eq!(reads.len(), 1, "blur {blur} noise {noise}");
        assert_eq!(reads[0].decoded.text, truth.text);
    }
}

#[test]
fn axial_stretch_up_to_12_percent_reads() {
    for stretch in [0.05, 0.08, 0.10, 0.12] {
        for (sx, sy) in [(stretch, 0.0), (0.0, stretch)] {
            for size in ["24x24", "32x32", "16x48"] {
                let spec = GenSpec {
                    text: text_for(20),
                    size: Some(size.into()),
                    module_px: 5.0,
                    stretch_x: sx,
                    stretch_y: sy,
                    rotation_deg: 31.0,
                    ..GenSpec::default()
                };
                let r = assert_reads_exactly(&spec);
                let (x, y) = (r.grid.column_pitch(), r.grid.row_pitch());
                let ratio = if sx > 0.0 { x / y } else { y / x };
                // the pitch ratio is measured, not assumed: 1 + stretch within half a percent
                assert!(
                    (ratio - (1.0 + stretch)).abs() < 0.005 * (1.0 + stretch),
                    "{size} stretch {stretch}: measured pitch ratio {ratio}"
                );
            }
        }
    }
}

#[test]
fn inverted_codewords_are_corrected_and_counted_per_block() {
    // (size, damage per block): up to half the EC codewords of a block can be corrected.
    let cases: &[(&str, &[(usize, usize)])] = &[
        ("16x16", &[(0, 1)]),
        ("16x16", &[(0, 6)]),
        ("52x52", &[(0, 3), (1, 14)]),
        ("88x88", &[(0, 0), (1, 9), (2, 2), (3, 21)]),
        ("144x144", &[(0, 1), (3, 31), (8, 5), (9, 12)]),
        ("26x48", &[(0, 14)]),
    ];
    for &(size, damage) in cases {
        let spec = GenSpec {
            text: text_for(30),
            size: Some(size.into()),
            module_px: 4.0,
            invert_in_block: damage.to_vec(),
            seed: 7,
            ..GenSpec::default()
        };
        assert_reads_exactly(&spec);
    }
}

#[test]
fn too_many_inverted_codewords_do_not_decode_as_something_else() {
    let spec = GenSpec {
        text: "SERIAL 0001".into(),
        size: Some("16x16".into()),
        module_px: 6.0,
        invert_in_block: vec![(0, 9)],
        ..GenSpec::default()
    };
    let (truth, reads) = read_rendered(&spec);
    assert!(
        reads
            .iter()
            .all(|r| r.decoded.text != truth.text || r.decoded.corrected_total() <= 6)
    );
}

#[test]
fn grid_centres_land_on_the_true_module_centres() {
    let spec = GenSpec {
        text: text_for(40),
        size: Some("32x32".into()),
        module_px: 7.0,
        rotation_deg: 21.0,
        stretch_y: 0.07,
        growth: 0.2,
        ..GenSpec::default()
    };
    let (truth, reads) = read_rendered(&spec);
    let r = &reads[0];
    let to_image = truth.module_to_image();
    let mut worst = 0.0f64;
    for row in 0..r.size.rows {
        for col in 0..r.size.cols {
            let expected = to_image.map(Point::new(col as f64 + 0.5, row as f64 + 0.5));
            worst = worst.max(r.centre(row, col).distance(expected));
        }
    }
    let worst_modules = worst / spec.module_px;
    println!("grid: worst centre error {worst:.3} px = {worst_modules:.3} X");
    assert!(worst_modules < 0.1, "worst centre error {worst_modules} X");
}

#[test]
fn several_symbols_in_one_frame_are_each_reported() {
    let texts = ["FIRST-SYMBOL", "SECOND-SYMBOL", "THIRD"];
    let mut canvas = image::GrayImage::from_pixel(900, 700, image::Luma([230]));
    for (i, text) in texts.iter().enumerate() {
        let spec = GenSpec {
            text: (*text).into(),
            module_px: 6.0,
            rotation_deg: 25.0 * i as f64,
            ..GenSpec::default()
        };
        let sym = render(&spec).unwrap().image;
        image::imageops::overlay(&mut canvas, &sym, 60 + 280 * i as i64, 80 + 170 * i as i64);
    }
    let (w, h) = canvas.dimensions();
    let frame = Frame::from_owned(w as usize, h as usize, w as usize, canvas.into_raw()).unwrap();
    let mut found: Vec<String> = read(&frame, &ReadOptions::default())
        .into_iter()
        .map(|r| r.decoded.text)
        .collect();
    found.sort();
    let mut expected: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn structured_append_and_macro_headers_are_reported() {
    // Macro 06 header/trailer are encoded as one codeword and come back expanded.
    let spec = GenSpec {
        text: "[)>\u{1e}06\u{1d}25PLEIBMAQ7\u{1e}\u{4}".into(),
        module_px: 6.0,
        ..GenSpec::default()
    };
    assert_reads_exactly(&spec);
}

#[test]
fn symbols_on_a_cluttered_carton_read_at_any_angle() {
    // Text, a 1D barcode and artwork around the quiet zone; 5–9 px/module, like a line camera.
    for (i, (angle, module_px)) in [
        (0.0, 5.0),
        (23.0, 6.0),
        (47.0, 7.0),
        (135.0, 9.0),
        (290.0, 5.5),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = GenSpec {
            text: "0109506000134352172812311012AB34\u{1d}21SN00001234".into(),
            gs1: true,
            module_px,
            rotation_deg: angle,
            blur: 0.8,
            noise: 4.0,
            carton: true,
            canvas: Some((1280, 1024)),
            offset: (-200.0 + 100.0 * i as f64, 150.0 - 60.0 * i as f64),
            seed: 11 + i as u64,
            ..GenSpec::default()
        };
        let r = assert_reads_exactly(&spec);
        assert_eq!(r.decoded.symbology_identifier, "]d2");
    }
}

#[test]
fn a_finder_with_light_modules_reads_at_any_angle_size_and_polarity() {
    // Light modules in the solid L (a missed nozzle, a scratch) stop the outline tracer; the
    // symbol's blob still gives its square, and the clock tracks its size.
    type Variant = fn(GenSpec) -> GenSpec;
    let cases: [(&str, f64, usize, Variant); 6] = [
        ("20x20", 0.0, 1, |s| s),
        ("26x26", 17.0, 3, |s| GenSpec {
            mirrored: true,
            ..s
        }),
        ("44x44", 72.0, 5, |s| GenSpec {
            light_on_dark: true,
            ..s
        }),
        ("16x48", 45.0, 3, |s| s),
        ("26x26", 45.0, 2, |s| GenSpec {
            carton: true,
            canvas: Some((640, 480)),
            blur: 1.0,
            noise: 4.0,
            ..s
        }),
        ("20x20", 290.0, 4, |s| GenSpec {
            carton: true,
            canvas: Some((640, 480)),
            offset: (120.0, -60.0),
            ..s
        }),
    ];
    for (i, (size, rotation_deg, damage_finder, variant)) in cases.into_iter().enumerate() {
        let spec = variant(GenSpec {
            text: "0109506000134352172812311012AB34".into(),
            gs1: true,
            size: Some(size.into()),
            module_px: 6.0,
            rotation_deg,
            damage_finder,
            seed: 20 + i as u64,
            ..GenSpec::default()
        });
        assert_reads_exactly(&spec);
    }
}

#[test]
fn a_missing_nozzle_line_across_the_whole_symbol_reads() {
    // An inkjet head with a blocked nozzle leaves a light line through the print, across the
    // finder L and a clock track: up to a module wide, along either axis.
    let spec = GenSpec {
        text: "0109506000134352172812311012AB34".into(),
        gs1: true,
        size: Some("26x26".into()),
        module_px: 8.0,
        ..GenSpec::default()
    };
    for (vertical, at, width) in [
        (true, 60, 2),
        (true, 100, 4),
        (true, 61, 8),
        (false, 100, 3),
        (false, 141, 8),
    ] {
        let mut rendered = render(&spec).expect("renders");
        let (w, h) = rendered.image.dimensions();
        for y in 0..h {
            for x in 0..w {
                let across = if vertical { x } else { y };
                if (at..at + width).contains(&across) {
                    rendered.image.put_pixel(x, y, image::Luma([230]));
                }
            }
        }
        let (truth, frame) = rendered.into_frame();
        let reads = read(&frame, &ReadOptions::first_symbol());
        let text = reads.first().map(|r| r.decoded.text.as_str());
        assert_eq!(
            text,
            Some(truth.text.as_str()),
            "line {width} px at {at}, vertical {vertical}"
        );
    }
}

/// The line-speed frame set (`gen --line-frame`): 5–9 px/module, any angle, anywhere on a
/// cluttered carton (frame 27: text up to the quiet zone; 31: on mid-grey artwork). Every
/// frame must read its own serial, first-symbol mode as on a line.
#[test]
fn line_speed_frames_read_their_own_serial() {
    let mut missed = Vec::new();
    for index in 0..40 {
        let spec = verigrade::synth::line_frame(index, (1280, 1024));
        let (truth, frame) = render(&spec).expect("renders").into_frame();
        let read = read(&frame, &ReadOptions::first_symbol());
        if read.first().map(|r| &r.decoded.text) != Some(&truth.text) {
            missed.push(index);
        }
    }
    assert!(missed.is_empty(), "frames not read: {missed:?}");
}

/// A region of interest limits the search, and what is read inside it is reported in the
/// frame's own coordinates; a search-first window that misses falls back to the whole frame.
#[test]
fn region_of_interest_and_search_first_window() {
    let spec = verigrade::synth::line_frame(5, (1280, 1024));
    let (truth, frame) = render(&spec).expect("renders").into_frame();
    let to_image = truth.module_to_image();
    let size: Vec<usize> = truth.size.split('x').map(|n| n.parse().unwrap()).collect();
    let corners = [
        to_image.map(Point::new(0.0, 0.0)),
        to_image.map(Point::new(size[1] as f64, size[0] as f64)),
    ];
    let around = verigrade::geometry::Rect::around(&corners, 1280, 1024).unwrap();
    let symbol_at = |options: &ReadOptions| {
        let reads = read(&frame, options);
        reads
            .first()
            .map(|r| (r.decoded.text.clone(), r.centre(0, 0)))
    };
    let whole = symbol_at(&ReadOptions::first_symbol()).expect("reads without a region");
    assert_eq!(whole.0, truth.text);

    // The same symbol, whether traced in a region or in the whole frame: within a tenth of
    // a module (at least 5 px here) of the same place.
    let roi = around.grown(60, 1280, 1024);
    let inside = symbol_at(&ReadOptions {
        region: Some(roi),
        ..ReadOptions::first_symbol()
    })
    .expect("reads inside its region");
    assert_eq!(inside.0, truth.text);
    assert!(
        inside.1.distance(whole.1) < 0.5,
        "frame coordinates: {:?} vs {:?}",
        inside.1,
        whole.1
    );

    // A region on the far side of the frame holds no symbol.
    let far = verigrade::geometry::Rect::new(if around.x > 640 { 0 } else { 900 }, 0, 380, 1024);
    assert_eq!(
        symbol_at(&ReadOptions {
            region: Some(far),
            ..ReadOptions::first_symbol()
        }),
        None
    );

    for window in [roi, far] {
        let found = symbol_at(&ReadOptions {
            search_first: Some(window),
            ..ReadOptions::first_symbol()
        })
        .expect("search-first falls back to the whole frame");
        assert_eq!(found.0, truth.text);
        assert!(found.1.distance(whole.1) < 0.5);
    }
}
