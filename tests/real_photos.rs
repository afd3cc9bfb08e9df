//! The real photos in ../shared/data (zxing-cpp's public test suite): every one must decode
//! to its expected text, with the expected symbology identifier and mirroring where the suite
//! records them. zxing-cpp reads all 64; verigrade must read at least as many.

use std::path::{Path, PathBuf};
use verigrade::{Frame, ReadOptions, read};

const ZXING_CPP_READS: usize = 64;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn images(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            images(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("png" | "jpg" | "jpeg" | "webp" | "bmp" | "tif" | "tiff" | "pgm")
        ) {
            out.push(p);
        }
    }
}

/// `key=value` lines of NAME.result.txt.
fn metadata(image: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(image.with_extension("result.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_real_photo_decodes_to_its_expected_text() {
    let dir = data_dir();
    if !dir.is_dir() {
        println!(
            "SKIPPED: {} not present; real-photo test not run",
            dir.display()
        );
        return;
    }
    let mut files = Vec::new();
    images(&dir, &mut files);
    let mut decoded = 0;
    let mut failures = Vec::new();
    for path in &files {
        let frame = Frame::open(path).expect("suite image opens");
        let reads = read(&frame, &ReadOptions::default());
        // Expected text (.txt, UTF-8) or expected bytes (.bin: Latin-1 payloads with ECI).
        let expected = std::fs::read(path.with_extension("txt"))
            .ok()
            .map(|b| String::from_utf8(b).unwrap());
        let hit = reads.iter().find(|r| match &expected {
            Some(text) => r.decoded.text.replace('\u{1d}', "") == text.replace('\u{1d}', ""),
            None => true,
        });
        let Some(hit) = hit else {
            failures.push(format!(
                "{}: read {:?}",
                path.display(),
                reads.iter().map(|r| &r.decoded.text).collect::<Vec<_>>()
            ));
            continue;
        };
        for (key, value) in metadata(path) {
            let ok = match key.as_str() {
                // zxing-cpp reports DMRE symbols as ]d7/]d8 (modifier + 6); verigrade keeps
                // the ISO/IEC 16022 identifiers, so only the modifier's base is compared there.
                "symbologyIdentifier" if hit.size.is_dmre() => {
                    let base = value.trim_start_matches("]d").parse::<u32>().map(|m| m - 6);
                    base.is_ok_and(|m| hit.decoded.symbology_identifier == format!("]d{m}"))
                }
                "symbologyIdentifier" => hit.decoded.symbology_identifier == value,
                "isMirrored" => hit.decoded.mirrored == (value == "true"),
                "contentType" => match value.as_str() {
                    "GS1" => hit.decoded.gs1,
                    "UnknownECI" => hit.decoded.eci,
                    _ => true,
                },
                "readerInit" => hit.decoded.reader_programming == (value == "true"),
                _ => true,
            };
            if !ok {
                failures.push(format!("{}: {key} should be {value}", path.display()));
            }
        }
        decoded += 1;
    }
    println!(
        "real photos: {decoded}/{} decoded to the expected text (zxing-cpp: {ZXING_CPP_READS})",
        files.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert!(
        decoded >= ZXING_CPP_READS,
        "decoded {decoded}, zxing-cpp decodes {ZXING_CPP_READS}"
    );
}

#[test]
fn every_real_photo_grades_and_its_reference_decode_agrees_with_the_reader() {
    let dir = data_dir();
    if !dir.is_dir() {
        println!(
            "SKIPPED: {} not present; real-photo grading not run",
            dir.display()
        );
        return;
    }
    let mut paths = Vec::new();
    images(&dir, &mut paths);
    let profile = verigrade::profile::Profile::default_profile();
    let mut letters = std::collections::BTreeMap::new();
    for path in &paths {
        let frame = Frame::open(path).expect("suite image opens");
        let inspection = verigrade::verdict::inspect(
            &frame,
            &profile,
            None,
            &verigrade::ReadOptions::first_symbol(),
        );
        let grading = &inspection
            .first()
            .unwrap_or_else(|| panic!("{} reads", path.display()))
            .grading;
        // The reference decode (global threshold on aperture samples) must read what the
        // reader read.
        assert_eq!(
            grading.decode,
            4,
            "{}: reference decode failed",
            path.display()
        );
        assert!(grading.scan_grade <= 4);
        assert!(grading.symbol_contrast.value > 0.0 && grading.symbol_contrast.value <= 1.0);
        *letters
            .entry(verigrade::verdict::letter(grading.scan_grade))
            .or_insert(0) += 1;
    }
    println!("real photos graded: {letters:?}");
}
