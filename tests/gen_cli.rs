//! `verigrade gen --crop` and `--crowd`: the image and its ground truth as the command line
//! writes them, and the errors it gives for options that do not go together.

mod cli;

use cli::verigrade;
use serde_json::Value;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verigrade-gen-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn truth(image: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(image.with_extension("json")).unwrap()).unwrap()
}

#[test]
fn a_crop_cuts_the_image_q_modules_beyond_the_symbol() {
    let dir = scratch("crop");
    for (crop, expected_side) in [("0", 128), ("0.5", 136), ("2", 160)] {
        let out = dir.join(format!("crop{crop}.png"));
        let (code, _, stderr) = verigrade(&[
            "gen",
            "--text",
            "LAB-TEST-1",
            "--size",
            "16x16",
            "--module-px",
            "8",
            "--crop",
            crop,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let image = image::open(&out).unwrap();
        // 16 modules of 8 px plus the crop on both sides.
        assert_eq!(
            (image.width(), image.height()),
            (expected_side, expected_side)
        );
        assert_eq!(truth(&out)["spec"]["crop"], crop.parse::<f64>().unwrap());
        let to_image = truth(&out)["module_to_image"].clone();
        let margin = crop.parse::<f64>().unwrap() * 8.0;
        // Module (0, 0) sits exactly `crop` modules in from the top-left corner.
        assert!((to_image[2].as_f64().unwrap() - margin).abs() < 1e-9);
        assert!((to_image[5].as_f64().unwrap() - margin).abs() < 1e-9);
        let (code, stdout, _) = verigrade(&["read", out.to_str().unwrap()]);
        assert_eq!(code, 0, "a cropped lab scan reads: {stdout}");
        assert!(stdout.contains("LAB-TEST-1"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crop_and_a_canvas_do_not_go_together() {
    let dir = scratch("conflict");
    let out = dir.join("x.png");
    let (code, _, stderr) = verigrade(&[
        "gen",
        "--text",
        "X",
        "--crop",
        "1",
        "--canvas",
        "100x100",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--canvas"), "{stderr}");
    let (code, _, stderr) = verigrade(&[
        "gen",
        "--text",
        "X",
        "--crop",
        "nan",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("crop must be within 0..20 modules"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crowd_lists_every_symbol_with_its_own_serial_inside_the_frame() {
    let dir = scratch("crowd");
    let out = dir.join("case.png");
    let (code, _, stderr) = verigrade(&[
        "gen",
        "--crowd",
        "12",
        "--canvas",
        "1600x1200",
        "--size",
        "22x22",
        "--module-px",
        "6",
        "--seed",
        "9",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let image = image::open(&out).unwrap();
    assert_eq!((image.width(), image.height()), (1600, 1200));
    let truth = truth(&out);
    let symbols = truth["symbols"].as_array().unwrap();
    assert_eq!(symbols.len(), 12);
    let mut texts: Vec<&str> = symbols
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 12, "every pack has its own serial");
    for symbol in symbols {
        assert_eq!(symbol["size"], "22x22");
        let corners = symbol["corners"].as_array().unwrap();
        assert_eq!(corners.len(), 4);
        for c in corners {
            let (x, y) = (c["x"].as_f64().unwrap(), c["y"].as_f64().unwrap());
            assert!((0.0..1600.0).contains(&x) && (0.0..1200.0).contains(&y));
        }
        // The sides are 22 modules of 6 px.
        let side = |a: &Value, b: &Value| {
            (a["x"].as_f64().unwrap() - b["x"].as_f64().unwrap())
                .hypot(a["y"].as_f64().unwrap() - b["y"].as_f64().unwrap())
        };
        assert!((side(&corners[0], &corners[1]) - 132.0).abs() < 1e-6);
        assert!((side(&corners[1], &corners[2]) - 132.0).abs() < 1e-6);
    }
    // Deterministic per seed.
    let again = dir.join("again.png");
    verigrade(&[
        "gen",
        "--crowd",
        "12",
        "--canvas",
        "1600x1200",
        "--size",
        "22x22",
        "--module-px",
        "6",
        "--seed",
        "9",
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crowd_that_does_not_fit_says_what_would() {
    let dir = scratch("crowd-too-big");
    let (code, _, stderr) = verigrade(&[
        "gen",
        "--crowd",
        "100",
        "--size",
        "22x22",
        "--module-px",
        "8",
        "-o",
        dir.join("x.png").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("fit 2448x2048 at up to 6.5 px/module"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
