//! `verigrade serve` refuses a configuration it cannot honour before it listens: one line on
//! stderr saying what and where, and a non-zero exit.

use std::path::PathBuf;
use std::process::Command;

/// Runs `verigrade serve` on a configuration file holding `toml`, with extra environment;
/// exit code and stderr. A configuration that passes would serve until killed, so only bad
/// ones are run here.
fn serve_with(name: &str, toml: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("verigrade.toml");
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .envs(env.iter().copied())
        .output()
        .expect("verigrade runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !dir.join("data").exists(),
        "{name}: the store was opened before the configuration was checked"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn serve_refuses_a_configuration_naming_a_bad_id_in_one_line() {
    let long = "L".repeat(129);
    for (name, toml, says) in [
        (
            "nul-line",
            "[lines.\"L\\u0000\"]\nprofile = \"eu-fmd\"\n",
            r#"[lines] id "L\0" holds control character U+0000 at byte 1; ids are printable text (max_id_bytes)"#,
        ),
        (
            "escape-camera",
            "[lines.L1.cameras.\"\\u001b[2J\"]\nroi = [0, 0, 64, 64]\n",
            r#"[lines."L1".cameras] id "\u{1b}[2J" holds control character U+001B at byte 0"#,
        ),
        (
            "long-line",
            &format!("[lines.{long}]\n"),
            "is 129 bytes, over the limit of 128 (max_id_bytes)",
        ),
        (
            "newline-profile",
            "[profiles]\n\"house\\n\" = \"house.toml\"\n",
            r#"[profiles] name "house\n" holds control character U+000A at byte 5"#,
        ),
    ] {
        let (code, stderr) = serve_with(name, toml, &[]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr:?}");
        assert!(
            stderr.starts_with("verigrade: invalid configuration ")
                && stderr.contains("verigrade.toml: "),
            "{name}: says which file: {stderr}"
        );
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
}

#[test]
fn the_id_limit_from_the_environment_applies_to_the_file() {
    let (code, stderr) = serve_with(
        "env-limit",
        "[lines.LINE-0001-PACKING]\n",
        &[("VERIGRADE_MAX_ID_BYTES", "10")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(r#"[lines] id "LINE-0001-PACKING" is 17 bytes, over the limit of 10"#),
        "{stderr}"
    );
}
