//! Frames with many symbols: every symbol is read, with its corners where it was printed, and
//! `grade --expect-count` judges the frame by its count. Ground truth from `synth::render_crowd`.

mod cli;

use cli::verigrade;
use verigrade::geometry::Point;
use verigrade::synth::{CrowdSpec, GenSpec, render, render_crowd};
use verigrade::{Frame, ReadOptions, read};

#[test]
fn every_pack_of_a_case_is_read_at_its_printed_corners() {
    for (count, module_px, seed) in [(30, 6.0, 1), (30, 6.0, 2), (100, 5.0, 1)] {
        let spec = CrowdSpec {
            count,
            size: Some("22x22".into()),
            module_px,
            seed,
            ..CrowdSpec::default()
        };
        let (truth, frame) = render_crowd(&spec).expect("crowd renders").into_frame();
        let reads = read(&frame, &ReadOptions::default());
        assert_eq!(reads.len(), count, "{count} packs, seed {seed}");
        for expected in &truth.symbols {
            let found = reads
                .iter()
                .find(|r| r.decoded.text == expected.text)
                .unwrap_or_else(|| panic!("{} is read (seed {seed})", expected.text));
            // Corners within half a module of where they were printed, finder corner first.
            for (got, want) in found.corners_finder_first().iter().zip(&expected.corners) {
                let off: Point = *got - *want;
                assert!(
                    off.x.hypot(off.y) < module_px / 2.0,
                    "{}: corner {got:?} vs {want:?}",
                    expected.text
                );
            }
        }
    }
}

#[test]
fn an_expected_count_stops_no_cheap_read_and_hides_no_extra_pack() {
    let spec = CrowdSpec {
        count: 30,
        size: Some("22x22".into()),
        module_px: 6.0,
        seed: 2,
        ..CrowdSpec::default()
    };
    let (truth, frame) = render_crowd(&spec).expect("crowd renders").into_frame();
    let texts = |reads: Vec<verigrade::SymbolRead>| {
        let mut texts: Vec<String> = reads.into_iter().map(|r| r.decoded.text).collect();
        texts.sort();
        texts
    };
    let mut printed: Vec<String> = truth.symbols.iter().map(|s| s.text.clone()).collect();
    printed.sort();
    // The count as printed, one short (a pack too many in the case), one more (a pack
    // missing): every pack is read each time.
    for expected in [30, 29, 31] {
        let options = ReadOptions {
            expected: Some(expected),
            ..ReadOptions::default()
        };
        assert_eq!(
            texts(read(&frame, &options)),
            printed,
            "expecting {expected} symbols"
        );
    }
}

#[test]
fn grade_expect_count_fails_a_frame_that_holds_another_number() {
    let dir = std::env::temp_dir().join(format!("verigrade-crowd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("case.png");
    let image = image.to_str().unwrap();
    let (code, _, stderr) = verigrade(&[
        "gen",
        "--crowd",
        "12",
        "--canvas",
        "1280x1024",
        "--size",
        "22x22",
        "--module-px",
        "5",
        "--seed",
        "3",
        "-o",
        image,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = verigrade(&["grade", "--expect-count", "12", image]);
    let record: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 0, "{record}");
    assert_eq!(record["verdict"], "pass");
    let symbols = record["symbols"].as_array().unwrap();
    assert_eq!(symbols.len(), 12);
    for s in symbols {
        assert_eq!(s["verdict"], "pass");
        assert_eq!(s["corners"].as_array().unwrap().len(), 4);
        assert!(s["hri"].as_str().unwrap().starts_with("(01)09506000134352"));
    }
    let (code, stdout, _) = verigrade(&["grade", "--expect-count", "13", image]);
    let record: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(code, 1);
    assert_eq!(record["verdict"], "fail");
    assert_eq!(
        record["reasons"],
        serde_json::json!(["the frame holds 12 symbols, the line expects 13"])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_light_on_dark_symbol_beside_dark_packs_is_read_with_them() {
    // The dearer efforts look only for the polarity a frame's symbols share; a symbol of the
    // other polarity among them must still be read. Six dark packs on the left, a
    // light-on-dark symbol on its own ground on the right.
    let packs = CrowdSpec {
        count: 6,
        canvas: (1200, 900),
        size: Some("22x22".into()),
        module_px: 6.0,
        seed: 3,
        ..CrowdSpec::default()
    };
    let crowd = render_crowd(&packs).expect("crowd renders");
    let label = render(&GenSpec {
        text: "LIGHT-ON-DARK-LABEL".into(),
        module_px: 6.0,
        light_on_dark: true,
        canvas: Some((400, 900)),
        ..GenSpec::default()
    })
    .expect("symbol renders");
    let (w, h) = (1600usize, 900usize);
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h as u32 {
        pixels.extend((0..1200).map(|x| crowd.image.get_pixel(x, y).0[0]));
        pixels.extend((0..400).map(|x| label.image.get_pixel(x, y).0[0]));
    }
    let frame = Frame::from_owned(w, h, w, pixels).expect("pixels fill the frame");
    let reads = read(&frame, &ReadOptions::default());
    let mut texts: Vec<&str> = reads.iter().map(|r| r.decoded.text.as_str()).collect();
    texts.sort_unstable();
    let mut expected: Vec<&str> = crowd
        .truth
        .symbols
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    expected.push("LIGHT-ON-DARK-LABEL");
    expected.sort_unstable();
    assert_eq!(texts, expected);
    let light = reads
        .iter()
        .find(|r| r.decoded.text == "LIGHT-ON-DARK-LABEL");
    assert!(
        light.is_some_and(|r| r.grid.light_on_dark),
        "read as light-on-dark"
    );
}
