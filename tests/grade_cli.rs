//! `verigrade grade` end to end on the samples: contract JSON, CSV, text, the HTML report,
//! averaging and exit codes.

mod cli;

use cli::verigrade;
use serde_json::Value;

fn records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_good_sample_passes_with_the_contract_fields() {
    let (code, stdout, _) = verigrade(&["grade", "samples/gs1.png"]);
    assert_eq!(code, 0);
    let r = &records(&stdout)[0];
    assert_eq!(r["decoded"], true);
    assert_eq!(r["symbology_identifier"], "]d2");
    assert_eq!(r["size"], "24x24");
    assert_eq!(
        r["text"],
        "0109506000134352172812311012AB34\u{1d}21SN00001001"
    );
    assert_eq!(
        r["hri"],
        "(01)09506000134352(17)281231(10)12AB34(21)SN00001001"
    );
    assert_eq!(r["verdict"], "pass");
    let g = &r["grade"];
    assert_eq!(g["overall"], 4.0);
    assert_eq!(g["letter"], "A");
    assert_eq!(g["notation"], "4.0/0.8X/660");
    for name in [
        "symbol_contrast",
        "modulation",
        "reflectance_margin",
        "axial_nonuniformity",
        "grid_nonuniformity",
        "unused_error_correction",
    ] {
        assert!(g[name]["value"].is_number(), "{name}");
        assert_eq!(g[name]["grade"], 4, "{name}");
    }
    assert_eq!(g["fixed_pattern_damage"]["grade"], 4);
    assert!(g["print_growth"]["horizontal"].is_number());
}

#[test]
fn a_failing_sample_fails_with_reasons_and_exit_1() {
    let (code, stdout, _) = verigrade(&["grade", "samples/failing.png", "samples/gs1.png"]);
    assert_eq!(code, 1);
    let rs = records(&stdout);
    assert_eq!(rs[0]["verdict"], "fail");
    let reasons: Vec<&str> = rs[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"grade 1.0 below profile minimum 1.5"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"unused_error_correction D"),
        "{reasons:?}"
    );
    assert_eq!(rs[1]["verdict"], "pass");
}

#[test]
fn averaging_grades_a_group_by_its_mean() {
    // failing (1) + gs1 (4): mean 2.5 → B, above the 1.5 minimum.
    let (code, stdout, _) = verigrade(&[
        "grade",
        "--average",
        "2",
        "samples/failing.png",
        "samples/gs1.png",
    ]);
    let rs = records(&stdout);
    assert_eq!(rs[0]["grade"]["overall"], 2.5);
    assert_eq!(rs[1]["grade"]["overall"], 2.5);
    assert_eq!(rs[1]["grade"]["letter"], "B");
    // The failing image still fails on its own parameters.
    assert_eq!(code, 1);
}

#[test]
fn csv_text_and_html_report() {
    let (_, csv, _) = verigrade(&["grade", "--format", "csv", "samples/"]);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("path,decoded,size,symbology_identifier,text,overall,letter,notation")
    );
    assert_eq!(lines.count(), 4);
    let (_, text, _) = verigrade(&["grade", "--format", "text", "samples/marginal.png"]);
    assert!(text.contains("PASS 2.0/0.8X/660 (C)"), "{text}");
    let report = std::env::temp_dir().join(format!("verigrade-report-{}.html", std::process::id()));
    let (code, _, _) = verigrade(&["grade", "--report", report.to_str().unwrap(), "samples/"]);
    assert_eq!(code, 1);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("4 images: 3 passed, 1 failed"), "{html}");
    std::fs::remove_file(report).ok();
}

#[test]
fn the_report_draws_every_module_and_rings_the_codewords_in_error() {
    let dir = std::env::temp_dir().join(format!("verigrade-lab-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("inverted.png");
    // Codewords 3 and 17 printed inverted: 16 modules read in error, by construction.
    let (code, _, stderr) = verigrade(&[
        "gen",
        "--text",
        "0109506000134352172812311012AB34\x1d21SN1",
        "--gs1",
        "--size",
        "24x24",
        "--module-px",
        "8",
        "--invert-codeword",
        "3",
        "--invert-codeword",
        "17",
        "--rotate",
        "15",
        "-o",
        image.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report = dir.join("report.html");
    let (code, _, stderr) = verigrade(&[
        "grade",
        "--report",
        report.to_str().unwrap(),
        image.to_str().unwrap(),
        "samples/failing.png",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let html = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let sections: Vec<&str> = html.split("<section class=image").skip(1).collect();
    assert_eq!(sections.len(), 2, "one section per image");
    for section in &sections {
        // A 24x24 symbol: 576 modules, a grid line per row and per column, one outline.
        assert_eq!(section.matches("<circle ").count(), 576);
        assert_eq!(section.matches("<polyline ").count(), 48);
        assert_eq!(section.matches("class=\"outline\"").count(), 1);
        // The picture is a PNG that decodes.
        let start = section.find("data:image/png;base64,").unwrap() + 22;
        let end = start + section[start..].find('"').unwrap();
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(&section[start..end])
            .unwrap();
        image::load_from_memory(&png).expect("the picture is a PNG");
        // Every parameter graded from a value has its bar.
        assert_eq!(section.matches("<svg class=\"bar\"").count(), 6);
    }
    assert_eq!(sections[0].matches("class=\"error\"").count(), 16);
    // samples/failing.png: its inverted codewords (ground truth beside it) are ringed.
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("samples/failing.json").unwrap()).unwrap();
    let inverted = truth["inverted"].as_array().unwrap().len();
    assert!(inverted > 0);
    assert_eq!(sections[1].matches("class=\"error\"").count(), 8 * inverted);
    assert!(html.contains("@media print"));
}

#[test]
fn bad_input_gets_one_line_on_stderr_and_exit_2() {
    let (code, _, stderr) = verigrade(&["grade", "--profile", "no-such", "samples/gs1.png"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.contains("unknown profile \"no-such\""));
    let bad = std::env::temp_dir().join(format!("verigrade-bad-{}.png", std::process::id()));
    std::fs::write(&bad, b"not an image").unwrap();
    let (code, stdout, stderr) = verigrade(&["grade", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        records(&stdout)[0]["error"]
            .as_str()
            .unwrap()
            .contains("not a readable image")
    );
    assert_eq!(stderr.lines().count(), 1);
    std::fs::remove_file(bad).ok();
}
#[test]
fn the_pdf_report_has_a_summary_page_and_a_page_per_image_that_render() {
    let dir = std::env::temp_dir().join(format!("verigrade-pdf-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.pdf");
    let (code, _, stderr) = verigrade(&[
        "grade",
        "--report",
        report.to_str().unwrap(),
        "samples/failing.png",
        "samples/gs1.png",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let pdf = std::fs::read(&report).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    // The pages the file declares: the summary, then one per image.
    let text = String::from_utf8_lossy(&pdf);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    assert_eq!(pages, 3);
    let rendered = std::process::Command::new("pdftoppm")
        .args(["-r", "50", "-png"])
        .arg(&report)
        .arg(dir.join("page"))
        .output();
    let Ok(rendered) = rendered else {
        eprintln!(
            "skipped: rendering the PDF needs pdftoppm (Debian's poppler-utils), not installed"
        );
        std::fs::remove_dir_all(&dir).ok();
        return;
    };
    assert!(rendered.status.success(), "{rendered:?}");
    let mut pngs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 3, "{pngs:?}");
    for (i, png) in pngs.iter().enumerate() {
        let page = image::open(png).unwrap().to_rgb8();
        // Text on every page; on an image's page, its green modules.
        assert!(
            page.pixels().any(|p| p.0.iter().all(|&c| c < 100)),
            "page {i} is blank"
        );
        let green = page
            .pixels()
            .filter(|p| p.0[1] > 120 && p.0[1] as i32 > p.0[0] as i32 + 60)
            .count();
        assert_eq!(green > 0, i > 0, "page {i}: {green} green pixels");
    }
    std::fs::remove_dir_all(&dir).ok();
}
