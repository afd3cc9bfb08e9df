//! `verigrade gateway` against a real server process: a hot folder whose files are filed away
//! with their verdicts or errors, and a server killed and restarted mid-stream with no
//! verdict lost or counted twice.

use crate::support::{Gateway, Process, data_dir, line_stats, pack_png, wait_until};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Writes a file the way a scanner would not be caught half-way: under a dot name, then
/// renamed into place.
fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    let partial = dir.join(format!(".{name}.part"));
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(partial, dir.join(name)).unwrap();
}

#[test]
fn a_hot_folder_files_each_image_away_with_its_verdict_or_error() {
    let data = data_dir("gateway-hot");
    let server = Process::start(&data.join("store"), &[]);
    let hot = data.join("hot");
    std::fs::create_dir_all(&hot).unwrap();
    let gateway = Gateway::start(&server.url, "LAB", &["--watch", hot.to_str().unwrap()]);
    drop_file(&hot, "pack-1.png", &pack_png("HOT1"));
    drop_file(&hot, "corrupt.png", b"not an image at all");
    std::thread::sleep(Duration::from_millis(500));
    // Dropped while the gateway runs, after it has handled the first ones.
    drop_file(&hot, "pack-2.png", &pack_png("HOT2"));
    wait_until("three answers", Duration::from_secs(60), || {
        gateway.printed() >= 3
    });
    let (code, verdicts, stderr) = gateway.finish(true);
    assert_eq!(code, 1, "a corrupt file makes the run fail: {stderr}");
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    assert_eq!(
        names(&hot.join("done")),
        [
            "pack-1.png",
            "pack-1.png.verdict.json",
            "pack-2.png",
            "pack-2.png.verdict.json"
        ]
    );
    assert_eq!(
        names(&hot.join("failed")),
        ["corrupt.png", "corrupt.png.error.txt"]
    );
    let filed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(hot.join("done/pack-2.png.verdict.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(filed["serial"], "HOT2");
    assert_eq!(filed["verdict"], "pass");
    let error = std::fs::read_to_string(hot.join("failed/corrupt.png.error.txt")).unwrap();
    assert!(error.contains("not a readable image"), "{error}");
    assert!(
        stderr.contains("answered 3 (passed 2, failed 0, errors 1)"),
        "the status line counts what happened: {stderr}"
    );
    assert_eq!(
        names(&hot).iter().filter(|n| n.ends_with(".png")).count(),
        0
    );
}

#[test]
fn a_server_killed_mid_stream_loses_and_doubles_nothing() {
    const FRAMES: usize = 60;
    let data = data_dir("gateway-restart");
    let frames: PathBuf = data.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for i in 0..FRAMES {
        std::fs::write(
            frames.join(format!("f{i:03}.png")),
            pack_png(&format!("RS{i}")),
        )
        .unwrap();
    }
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let store = data.join("store");
    let server = Process::start_on(&address, &store, &[]);
    let gateway = Gateway::start(
        &server.url,
        "RESTART",
        &["--fps", "40", frames.to_str().unwrap()],
    );
    wait_until("a first verdicts", Duration::from_secs(60), || {
        gateway.printed() >= 10
    });
    server.kill();
    std::thread::sleep(Duration::from_millis(700));
    let server = Process::start_on(&address, &store, &[]);
    let (code, verdicts, stderr) = gateway.finish(false);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("reconnects 1"), "{stderr}");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for v in &verdicts {
        *seen
            .entry(v["frame_id"].as_str().unwrap().to_string())
            .or_default() += 1;
        assert_eq!(v["verdict"], "pass", "{v}");
    }
    assert_eq!(seen.len(), FRAMES, "every frame answered");
    assert!(
        seen.values().all(|&n| n == 1),
        "no frame printed twice: {seen:?}"
    );
    let stats = line_stats(&server, "RESTART");
    assert_eq!(stats.total, FRAMES as u64, "each frame counted once");
    assert_eq!(stats.duplicates, 0);
}

/// A frame of a pack carrying `serial` as binary PGM, as `ffmpeg -f image2pipe -vcodec pgm`
/// writes a camera's frames.
fn pack_pgm(serial: &str) -> Vec<u8> {
    let image = image::load_from_memory(&pack_png(serial))
        .unwrap()
        .to_luma8();
    let mut pgm = format!("P5\n{} {}\n255\n", image.width(), image.height()).into_bytes();
    pgm.extend_from_slice(image.as_raw());
    pgm
}

#[test]
fn a_live_stream_the_server_cannot_take_drops_its_oldest_frames_and_counts_them() {
    const FRAMES: usize = 40;
    let data = data_dir("gateway-live");
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    // No server yet: the gateway cannot send, and its queue of four fills.
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_verigrade"))
        .args([
            "gateway",
            "--server",
            &format!("http://{address}"),
            "--line",
            "LIVE",
        ])
        .args(["--queue", "4", "--format", "json", "--status", "0", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = gateway.stdin.take().unwrap();
        for i in 0..FRAMES {
            stdin.write_all(&pack_pgm(&format!("LV{i}"))).unwrap();
        }
    }
    let server = Process::start_on(&address, &data.join("store"), &[]);
    let out = gateway.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let serials: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["serial"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        serials,
        ["LV36", "LV37", "LV38", "LV39"],
        "the newest frames are sent"
    );
    assert!(
        stderr.contains("captured 40, skipped 0, dropped 36"),
        "{stderr}"
    );
    let stats = line_stats(&server, "LIVE");
    assert_eq!(
        (stats.total, stats.dropped_at_gateway),
        (4, 36),
        "the line's stats show the frames lost at the gateway"
    );
}
