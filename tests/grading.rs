//! ISO/IEC 15415 parameters against ground truth known by construction: symbols rendered
//! with a chosen contrast, stretch, print growth, displacement, fixed-pattern damage and
//! number of inverted codewords.

use verigrade::grade::{Grading, grade};
use verigrade::profile::Profile;
use verigrade::synth::{GenSpec, GroundTruth, render};
use verigrade::verdict::inspect;
use verigrade::{ReadOptions, read};

const GS1_TEXT: &str = "0109506000134352172812311012AB34\u{1d}21SN00001234";

fn spec() -> GenSpec {
    GenSpec {
        text: GS1_TEXT.into(),
        gs1: true,
        size: Some("24x24".into()),
        module_px: 8.0,
        ..GenSpec::default()
    }
}

fn graded(spec: &GenSpec) -> (GroundTruth, Grading) {
    let (truth, frame) = render(spec).expect("spec renders").into_frame();
    let symbol = read(&frame, &ReadOptions::default())
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("symbol reads: {spec:?}"));
    let grading = grade(&frame, &symbol, &Profile::default_profile(), None);
    (truth, grading)
}

#[test]
fn a_clean_symbol_grades_a_on_every_parameter() {
    let (_, g) = graded(&spec());
    assert!((g.symbol_contrast.value - 0.85).abs() < 0.01, "{g:#?}");
    for (name, grade) in [
        ("decode", g.decode),
        ("SC", g.symbol_contrast.grade),
        ("MOD", g.modulation.grade),
        ("RM", g.reflectance_margin.grade),
        ("FPD", g.fixed_pattern_damage.grade),
        ("AN", g.axial_nonuniformity.grade),
        ("GN", g.grid_nonuniformity.grade),
        ("UEC", g.unused_error_correction.grade),
    ] {
        assert_eq!(grade, 4, "{name}: {g:#?}");
    }
    assert_eq!(g.unused_error_correction.value, 1.0);
    assert!(g.grid_nonuniformity.value < 0.05, "{g:#?}");
    assert!(
        g.print_growth.horizontal.abs() < 0.03 && g.print_growth.vertical.abs() < 0.03,
        "{g:#?}"
    );
    assert_eq!(g.scan_grade, 4);
}

#[test]
fn symbol_contrast_is_the_reflectance_difference() {
    let (_, g) = graded(&GenSpec {
        dark: 0.20,
        light: 0.82,
        ..spec()
    });
    assert!(
        (g.symbol_contrast.value - 0.62).abs() < 0.01,
        "{:?}",
        g.symbol_contrast
    );
    assert_eq!(g.symbol_contrast.grade, 3);
}

#[test]
fn axial_stretch_of_eight_percent_grades_b() {
    let (_, g) = graded(&GenSpec {
        stretch_y: 0.08,
        ..spec()
    });
    // |X − 1.08 X| / 1.04 X = 0.0769
    assert!(
        (g.axial_nonuniformity.value - 0.0769).abs() < 0.004,
        "{:?}",
        g.axial_nonuniformity
    );
    assert_eq!(g.axial_nonuniformity.grade, 3);
}

#[test]
fn inverted_codewords_use_up_exactly_their_error_correction() {
    // 24x24: one block of 24 EC codewords; 52x52: two blocks of 42 (the worst counts).
    for (size, block, k) in [
        ("24x24", 0, 1),
        ("24x24", 0, 3),
        ("24x24", 0, 6),
        ("52x52", 1, 4),
    ] {
        let (truth, g) = graded(&GenSpec {
            size: Some(size.into()),
            invert_in_block: vec![(block, k)],
            ..spec()
        });
        let size = verigrade::datamatrix::symbol::parse_size(&truth.size).unwrap();
        let d = size.ec_codewords_per_block() as f64;
        let expected = 1.0 - 2.0 * k as f64 / d;
        assert!(
            (g.unused_error_correction.value - expected).abs() < 1e-9,
            "{size:?} k={k}: {:?} vs {expected}",
            g.unused_error_correction
        );
        let table = [(0.62, 4), (0.50, 3), (0.37, 2), (0.25, 1)];
        let grade = table
            .iter()
            .find(|(t, _)| expected >= *t)
            .map_or(0, |(_, g)| *g);
        assert_eq!(g.unused_error_correction.grade, grade);
        // Inverted codewords read with full contrast on the wrong side: RM sees them.
        assert_eq!(g.reflectance_margin.value, 0.0);
    }
}

#[test]
fn print_growth_reads_what_was_printed() {
    let (_, g) = graded(&GenSpec {
        growth: 0.3,
        ..spec()
    });
    assert!(
        (g.print_growth.horizontal - 0.3).abs() < 0.05,
        "{:?}",
        g.print_growth
    );
    assert!(
        (g.print_growth.vertical - 0.3).abs() < 0.05,
        "{:?}",
        g.print_growth
    );
}

#[test]
fn a_displaced_region_raises_grid_nonuniformity() {
    let (_, clean) = graded(&spec());
    let (_, shifted) = graded(&GenSpec {
        displace_quarter: 0.6,
        ..spec()
    });
    assert!(
        shifted.grid_nonuniformity.value > clean.grid_nonuniformity.value + 0.3,
        "{:?} vs {:?}",
        shifted.grid_nonuniformity,
        clean.grid_nonuniformity
    );
}

#[test]
fn a_damaged_clock_track_lowers_fixed_pattern_damage() {
    let (_, g) = graded(&GenSpec {
        damage_clock: 3,
        ..spec()
    });
    assert!(
        g.fixed_pattern_damage.grade < 4,
        "{:?}",
        g.fixed_pattern_damage
    );
    assert!(g.fixed_pattern_damage.octasa < 4);
    assert_eq!(g.fixed_pattern_damage.l1, 4);
}

#[test]
fn a_finder_with_light_modules_still_reads_and_grades_its_damage() {
    // Light modules in the solid L stop the outline tracer; the symbol is found from its
    // blob instead, and each leg's fixed pattern damage grade follows the count of its
    // damaged modules through the profile's cut-offs (0/1/2/3 modules for A/B/C/D).
    let grade_for = |damaged: usize| match damaged {
        0 => 4,
        1 => 3,
        2 => 2,
        3 => 1,
        _ => 0,
    };
    for (damage_finder, rotation_deg, seed) in
        [(1, 0.0, 1), (2, 20.0, 2), (3, 63.0, 3), (5, 110.0, 4)]
    {
        let (truth, g) = graded(&GenSpec {
            damage_finder,
            rotation_deg,
            seed,
            ..spec()
        });
        assert_eq!(truth.text, GS1_TEXT);
        let rows = 24;
        let in_l1 = truth.damaged_fixed.iter().filter(|&&(_, c)| c == 0).count();
        let in_l2 = truth
            .damaged_fixed
            .iter()
            .filter(|&&(r, _)| r == rows - 1)
            .count();
        let fpd = &g.fixed_pattern_damage;
        assert_eq!(
            (fpd.l1, fpd.l2),
            (grade_for(in_l1), grade_for(in_l2)),
            "{damage_finder} damaged at {rotation_deg}°: {:?}, {fpd:?}",
            truth.damaged_fixed
        );
        assert_eq!(fpd.grade, grade_for(in_l1.max(in_l2)).min(fpd.octasa));
    }
}

#[test]
fn dark_specks_in_the_quiet_zone_read_and_grade_as_quiet_zone_damage() {
    // Dark modules printed just outside the L (QZL1 left, QZL2 below) bend the finder's outer
    // edge, which stops the outline tracer; each segment's grade follows its speck count.
    let spec = spec();
    let (module, quiet) = (8u32, 16u32);
    for (specks, qzl1, qzl2) in [
        (vec![(24i32, 11i32)], 4, 3),
        (vec![(5, -1), (15, -1), (24, 20)], 2, 3),
        (vec![(3, -1), (9, -1), (12, -1), (20, -1)], 0, 4),
    ] {
        let mut rendered = render(&spec).expect("renders");
        for &(row, col) in &specks {
            let (x0, y0) = (
                (quiet as i32 + col * module as i32) as u32,
                (quiet as i32 + row * module as i32) as u32,
            );
            for y in y0..y0 + module {
                for x in x0..x0 + module {
                    rendered.image.put_pixel(x, y, image::Luma([13]));
                }
            }
        }
        let (truth, frame) = rendered.into_frame();
        let symbol = read(&frame, &ReadOptions::first_symbol())
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("reads with quiet-zone specks at {specks:?}"));
        assert_eq!(symbol.decoded.text, truth.text);
        let g = grade(&frame, &symbol, &Profile::default_profile(), None);
        let fpd = &g.fixed_pattern_damage;
        assert_eq!(
            (fpd.qzl1, fpd.qzl2, fpd.l1, fpd.l2),
            (qzl1, qzl2, 4, 4),
            "{specks:?}: {fpd:?}"
        );
    }
}

#[test]
fn an_undecodable_symbol_grades_zero() {
    // More inverted codewords than the error correction can take: the reader finds nothing
    // to grade, the inspection says so with grade 0.
    let rendered = render(&GenSpec {
        invert_in_block: vec![(0, 14)],
        ..spec()
    })
    .unwrap();
    let (_, frame) = rendered.into_frame();
    let inspection = inspect(
        &frame,
        &Profile::default_profile(),
        None,
        &ReadOptions::first_symbol(),
    );
    assert!(inspection.symbols.is_empty());
    assert_eq!(inspection.scan_grade(), 0);
}

#[test]
fn orientation_mirroring_and_inversion_do_not_change_the_grade() {
    let (_, base) = graded(&GenSpec {
        dark: 0.15,
        light: 0.8,
        growth: 0.15,
        ..spec()
    });
    for variant in [
        GenSpec {
            rotation_deg: 90.0,
            ..spec()
        },
        GenSpec {
            rotation_deg: 33.0,
            ..spec()
        },
        GenSpec {
            mirrored: true,
            ..spec()
        },
        GenSpec {
            light_on_dark: true,
            ..spec()
        },
    ] {
        let (_, g) = graded(&GenSpec {
            dark: 0.15,
            light: 0.8,
            growth: 0.15,
            ..variant.clone()
        });
        assert_eq!(g.scan_grade, base.scan_grade, "{variant:?}");
        assert!((g.symbol_contrast.value - base.symbol_contrast.value).abs() < 0.03);
        assert!(
            (g.modulation.value - base.modulation.value).abs() < 0.08,
            "{:?} vs {:?}",
            g.modulation,
            base.modulation
        );
        assert!(
            (g.print_growth.horizontal - base.print_growth.horizontal).abs() < 0.06,
            "{variant:?} {:?} vs {:?}",
            g.print_growth,
            base.print_growth
        );
        assert!((g.axial_nonuniformity.value - base.axial_nonuniformity.value).abs() < 0.01);
    }
}

#[test]
fn low_contrast_lab_scans_decode_and_grade_on_contrast() {
    // Tightly cropped, sharp, axis-aligned: a lab scan. Symbol Contrast is light − dark
    // reflectance by construction; the reference decode (global threshold) still reads, so
    // only contrast is marked down: D from 0.20 to 0.40, F below 0.20.
    for (light, dark, sc_grade) in [
        (0.60, 0.30, 1),
        (0.80, 0.50, 1),
        (0.50, 0.30, 1),
        (0.70, 0.55, 0),
    ] {
        for module_px in [4.0, 8.0] {
            let spec = GenSpec {
                light,
                dark,
                module_px,
                crop: Some(2.0),
                ..spec()
            };
            let (_, g) = graded(&spec);
            let true_sc = light - dark;
            assert!(
                (g.symbol_contrast.value - true_sc).abs() < 0.02,
                "SC {} for {light}/{dark}",
                g.symbol_contrast.value
            );
            assert_eq!(g.symbol_contrast.grade, sc_grade, "{light}/{dark}: {g:#?}");
            assert_eq!(g.decode, 4, "{light}/{dark}: the reference decode reads");
            assert_eq!(
                g.scan_grade, sc_grade,
                "{light}/{dark}: contrast is what fails"
            );
        }
    }
}

#[test]
fn the_module_map_marks_each_module_where_it_was_printed_and_the_codewords_in_error() {
    let (truth, g) = graded(&GenSpec {
        invert_codewords: vec![3, 17],
        rotation_deg: 20.0,
        ..spec()
    });
    let size = verigrade::datamatrix::symbol::parse_size(&truth.size).unwrap();
    assert_eq!(g.modules.len(), size.rows * size.cols);
    let to_image = truth.module_to_image();
    for (i, (mark, role)) in g.modules.iter().zip(size.roles()).enumerate() {
        let (r, c) = (i / size.cols, i % size.cols);
        let printed = to_image.map(verigrade::geometry::Point::new(
            c as f64 + 0.5,
            r as f64 + 0.5,
        ));
        assert!(
            mark.centre.distance(printed) < 0.25 * truth.spec.module_px,
            "module ({r},{c}) at {:?}, printed at {printed:?}",
            mark.centre
        );
        let inverted = matches!(role, verigrade::datamatrix::symbol::ModuleRole::Data(cb)
            if truth.inverted.contains(&(cb.codeword as usize)));
        assert_eq!(mark.codeword_in_error, inverted, "module ({r},{c})");
        // An inverted codeword's modules that changed colour have no margin; the rest of
        // a clean print grades A.
        if !inverted {
            assert_eq!(mark.margin_grade, 4, "module ({r},{c})");
        }
    }
    assert!(
        g.modules
            .iter()
            .any(|m| m.codeword_in_error && m.margin_grade == 0)
    );
}
