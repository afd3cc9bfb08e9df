//! Bad input never panics: corrupt or truncated files, empty and degenerate frames, random
//! bytes and random pixels give a clear error or an empty result.

use proptest::prelude::*;
use std::process::Command;
use verigrade::synth::{GenSpec, render};
use verigrade::{Error, Frame, ReadOptions, read};

fn png_of_a_symbol() -> Vec<u8> {
    let img = render(&GenSpec {
        text: "TRUNCATE ME".into(),
        ..GenSpec::default()
    })
    .unwrap()
    .image;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn truncated_png_is_an_image_error() {
    let png = png_of_a_symbol();
    assert!(Frame::decode(&png).is_ok());
    for cut in [8, 33, png.len() / 2, png.len() - 13] {
        assert!(
            matches!(Frame::decode(&png[..cut]), Err(Error::Image(_))),
            "cut at {cut}"
        );
    }
}

#[test]
fn blank_and_tiny_frames_read_nothing() {
    for (w, h, v) in [
        (1, 1, 0u8),
        (1, 500, 255),
        (640, 480, 255),
        (640, 480, 0),
        (3, 2, 128),
    ] {
        let px = vec![v; w * h];
        let frame = Frame::from_raw(w, h, w, &px).unwrap();
        assert!(read(&frame, &ReadOptions::default()).is_empty());
    }
}

#[test]
fn oversized_images_are_refused_before_decoding() {
    let png = png_of_a_symbol();
    assert!(matches!(
        Frame::decode_limited(&png, 100),
        Err(Error::FrameTooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(frame) = Frame::decode(&bytes) {
            let _ = read(&frame, &ReadOptions::default());
        }
    }

    #[test]
    fn random_pixels_never_panic(w in 1usize..200, h in 1usize..200, seed in any::<u64>()) {
        let mut x = seed | 1;
        let px: Vec<u8> = (0..w * h).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x >> 56) as u8 }).collect();
        let frame = Frame::from_raw(w, h, w, &px).unwrap();
        let _ = read(&frame, &ReadOptions::default());
    }

    #[test]
    fn corrupted_symbol_png_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut png = png_of_a_symbol();
        for (i, v) in flips {
            let at = i.index(png.len());
            png[at] ^= v;
        }
        if let Ok(frame) = Frame::decode(&png) {
            let _ = read(&frame, &ReadOptions::default());
        }
    }
}

fn verigrade() -> Command {
    Command::new(env!("CARGO_BIN_EXE_verigrade"))
}

#[test]
fn cli_exit_codes_say_read_unread_or_error() {
    let dir = std::env::temp_dir().join(format!("verigrade-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.png");
    let status = verigrade()
        .args([
            "gen",
            "--text",
            "0109506000134352\\x1d21ABC",
            "--gs1",
            "--rotate",
            "30",
            "-o",
        ])
        .arg(&good)
        .status()
        .unwrap();
    assert!(status.success());
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("good.json")).unwrap()).unwrap();
    assert_eq!(truth["text"], "0109506000134352\u{1d}21ABC");

    let out = verigrade()
        .args(["read", "--format", "json"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["symbols"][0]["text"], "0109506000134352\u{1d}21ABC");
    assert_eq!(line["symbols"][0]["symbology_identifier"], "]d2");

    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"not a png at all").unwrap();
    let out = verigrade()
        .args(["read", "--format", "json"])
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable file is a failed read"
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("not a readable image")
    );

    let out = verigrade()
        .args(["read"])
        .arg(dir.join("missing.png"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");

    let out = verigrade()
        .args(["gen", "--text", "X", "--size", "9x9", "-o"])
        .arg(dir.join("bad.png"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Data Matrix size"));
    std::fs::remove_dir_all(&dir).unwrap();
}
