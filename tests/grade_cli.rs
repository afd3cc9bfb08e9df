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
