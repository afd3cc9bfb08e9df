//! `verigrade gs1` and the GS1 checks of `verigrade grade`, end to end through the binary.

mod cli;

use cli::verigrade;
use serde_json::Value;
use std::path::PathBuf;
use verigrade::synth::{GenSpec, render};

/// Renders a GS1 symbol carrying `text` to a PNG under the test temp folder.
fn rendered(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("gs1-cli-{name}.png"));
    let spec = GenSpec {
        text: text.into(),
        gs1: true,
        module_px: 6.0,
        ..GenSpec::default()
    };
    render(&spec).unwrap().image.save(&path).unwrap();
    path
}

const PACK: &str = "0109506000134352172812311012AB34\u{1d}21SN00001234";

#[test]
fn gs1_command_validates_hri_and_element_strings() {
    let (code, stdout, _) = verigrade(&[
        "gs1",
        "(01)09506000134352(17)281231(10)12AB34(21)SN00001234",
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("(01) 09506000134352  GTIN\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("valid\n"));

    let (code, stdout, _) = verigrade(&[
        "gs1",
        "--format",
        "json",
        "0109506000134352172812311012AB34\\x1d21SN00001234",
    ]);
    assert_eq!(code, 0);
    let record: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["valid"], true);
    assert_eq!(
        record["hri"],
        "(01)09506000134352(17)281231(10)12AB34(21)SN00001234"
    );
    assert_eq!(record["element_string"], PACK);
    assert_eq!(record["elements"][3]["ai"], "21");
    assert_eq!(record["elements"][3]["value"], "SN00001234");
}

#[test]
fn gs1_command_reports_every_problem_and_exits_1() {
    let (code, stdout, _) = verigrade(&[
        "gs1",
        "--format",
        "json",
        "(01)09506000134353(17)281301(21)SN 1",
    ]);
    assert_eq!(code, 1);
    let record: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["valid"], false);
    assert_eq!(
        record["problems"],
        serde_json::json!([
            "GS1: check digit of (01) is wrong: 3, should be 2",
            "GS1: (17) is not a valid date: 281301",
            "GS1: (21) contains ' ', not allowed (GS1 character set 82)"
        ])
    );
    // A market profile adds its own rules.
    let (code, stdout, _) = verigrade(&[
        "gs1",
        "--profile",
        "eu-fmd",
        "(01)09506000134352(10)AB(21)SN1",
    ]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("invalid: GS1: (17) is missing (eu-fmd requires it)"),
        "{stdout}"
    );
}

#[test]
fn gs1_command_usage_errors_exit_2() {
    let (code, _, stderr) = verigrade(&["gs1"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = verigrade(&["gs1", "--profile", "no-such", "(01)1"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown profile"));
}

#[test]
fn a_rendered_symbol_with_a_wrong_gtin_check_digit_fails_with_that_reason() {
    let path = rendered("bad-check-digit", &PACK.replace("134352", "134353"));
    let (code, stdout, _) = verigrade(&["grade", "--profile", "eu-fmd", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    let record: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(record["decoded"], true);
    assert_eq!(record["grade"]["letter"], "A", "printed well, data wrong");
    assert_eq!(record["verdict"], "fail");
    assert_eq!(
        record["reasons"],
        serde_json::json!(["GS1: check digit of (01) is wrong: 3, should be 2"])
    );
}

#[test]
fn grade_compares_the_pack_with_what_the_line_was_told_to_print() {
    let path = rendered("expected", PACK);
    let path = path.to_str().unwrap();
    let (code, _, _) = verigrade(&["grade", "--profile", "eu-fmd", path]);
    assert_eq!(code, 0, "the pack itself is valid");

    let commissioned = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gs1-cli-serials.txt");
    std::fs::write(&commissioned, "# batch 12AB34\nSN00001233\nSN00001235\n").unwrap();
    let (code, stdout, _) = verigrade(&[
        "grade",
        "--profile",
        "eu-fmd",
        "--expect-gtin",
        "9506000134352",
        "--expect-batch",
        "12AB35",
        "--expect-expiry",
        "281231",
        "--commissioned",
        commissioned.to_str().unwrap(),
        path,
    ]);
    assert_eq!(code, 1);
    let record: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        record["reasons"],
        serde_json::json!([
            "batch (10) is 12AB34, the line expects 12AB35",
            "serial (21) SN00001234 was never commissioned"
        ]),
        "the GTIN-13 given is the pack's GTIN-14; the expiry matches"
    );

    let (code, _, stderr) = verigrade(&["grade", "--expect-gtin", "9506000134353", path]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("expected gtin: check digit of (01) is wrong"),
        "{stderr}"
    );
}
