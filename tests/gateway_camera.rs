//! `verigrade gateway` reading through OpenCV (the `camera` feature) against a real server: a
//! video file of rendered packs, an HTTP MJPEG stream that drops and comes back, and a camera
//! that does not exist. Built without the feature, a camera source is refused in one line.
//!
//! A test binary of its own, beside `tests/system`: CI builds it a second time with the feature,
//! and this way that second build is this file and the system tests' support, not all of them.

#[cfg(feature = "camera")]
#[allow(dead_code)] // the system tests' support, of which these tests use a part
#[path = "system/support/mod.rs"]
mod support;

#[cfg(not(feature = "camera"))]
#[test]
fn camera_sources_need_the_camera_feature() {
    println!(
        "SKIPPED: built without the camera feature; video, stream and camera tests not run (cargo test --features camera --test gateway_camera)"
    );
}

#[cfg(not(feature = "camera"))]
#[test]
fn without_the_feature_a_camera_source_is_refused_in_one_line() {
    for source in ["0", "rtsp://127.0.0.1:9/line1", "clip.avi"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args(["gateway", "--server", "http://127.0.0.1:9", "--line", "L"])
            .arg(source)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("built without") && stderr.contains("--features camera"),
            "{stderr}"
        );
    }
}

#[cfg(feature = "camera")]
mod camera {
    use crate::support::{Gateway, Process, data_dir, gs1_text, line_stats, wait_until};
    use opencv::core::{Mat, Size};
    use opencv::prelude::*;
    use opencv::{imgproc, videoio};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;
    use verigrade::synth::{GenSpec, render};

    const WIDTH: i32 = 320;
    const HEIGHT: i32 = 240;

    /// A frame of a pack carrying `serial`: 8-bit grey, 320x240, 6 px per module, so the
    /// symbol survives JPEG compression.
    fn pack_frame(serial: &str) -> Vec<u8> {
        let spec = GenSpec {
            text: gs1_text(serial),
            gs1: true,
            module_px: 6.0,
            canvas: Some((WIDTH as u32, HEIGHT as u32)),
            ..GenSpec::default()
        };
        render(&spec).unwrap().image.into_raw()
    }

    /// The grey pixels as the BGR Mat a colour camera gives.
    fn bgr(grey: &[u8]) -> Mat {
        let grey = Mat::new_rows_cols_with_data(HEIGHT, WIDTH, grey).unwrap();
        let mut bgr = Mat::default();
        imgproc::cvt_color_def(&grey, &mut bgr, imgproc::COLOR_GRAY2BGR).unwrap();
        bgr
    }

    /// Writes the frames as an MJPG AVI with OpenCV's own encoder, at high quality.
    fn write_video(path: &Path, frames: &[Vec<u8>]) {
        let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
        let mut writer = videoio::VideoWriter::new_with_backend(
            path.to_str().unwrap(),
            videoio::CAP_OPENCV_MJPEG,
            fourcc,
            10.0,
            Size::new(WIDTH, HEIGHT),
            true,
        )
        .unwrap();
        assert!(writer.is_opened().unwrap(), "OpenCV writes MJPG AVI files");
        writer.set(videoio::VIDEOWRITER_PROP_QUALITY, 95.0).unwrap();
        for frame in frames {
            writer.write(&bgr(frame)).unwrap();
        }
        writer.release().unwrap();
    }

    fn jpeg(grey: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
            .encode(
                grey,
                WIDTH as u32,
                HEIGHT as u32,
                image::ExtendedColorType::L8,
            )
            .unwrap();
        out
    }

    #[test]
    fn every_frame_of_a_video_file_is_answered_in_order() {
        const FRAMES: usize = 12;
        let data = data_dir("gateway-video");
        let serials: Vec<String> = (0..FRAMES).map(|i| format!("VID{i}")).collect();
        let frames: Vec<Vec<u8>> = serials.iter().map(|s| pack_frame(s)).collect();
        let video = data.join("line.avi");
        write_video(&video, &frames);
        let server = Process::start(&data.join("store"), &[]);
        let gateway = Gateway::start(&server.url, "VIDEO", &[video.to_str().unwrap()]);
        let (code, verdicts, stderr) = gateway.finish(false);
        assert_eq!(code, 0, "the video's end ends the run: {stderr}");
        let got: Vec<(&str, &str)> = verdicts
            .iter()
            .map(|v| {
                assert_eq!(v["verdict"], "pass", "{v}");
                (
                    v["serial"].as_str().unwrap(),
                    v["frame_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got.len(), FRAMES, "{stderr}");
        for (i, (serial, frame_id)) in got.iter().enumerate() {
            assert_eq!(*serial, serials[i], "frame {} in order", i + 1);
            assert!(
                frame_id.starts_with("line.avi@") && frame_id.ends_with(&format!("#{}", i + 1)),
                "{frame_id}"
            );
        }
        assert!(
            stderr.contains(&format!("captured {FRAMES}, skipped 0, dropped 0")),
            "{stderr}"
        );
        assert_eq!(line_stats(&server, "VIDEO").total, FRAMES as u64);
    }

    /// Serves `parts` as an HTTP MJPEG stream (multipart/x-mixed-replace, as IP cameras send
    /// it) to each of the first `connections.len()` clients, then closes; later clients find
    /// nothing listening.
    fn mjpeg_server(connections: Vec<Vec<Vec<u8>>>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // A password in the URL, as a camera's often has: the gateway never prints it.
        let url = format!(
            "http://line:secret@{}/stream.mjpg",
            listener.local_addr().unwrap()
        );
        let serving = std::thread::spawn(move || {
            for parts in connections {
                let (mut client, _) = listener.accept().unwrap();
                let mut request = [0u8; 4096];
                let _ = client.read(&mut request).unwrap();
                client
                    .write_all(
                        b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n",
                    )
                    .unwrap();
                for part in parts {
                    let header = format!(
                        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        part.len()
                    );
                    client.write_all(header.as_bytes()).unwrap();
                    client.write_all(&part).unwrap();
                    client.write_all(b"\r\n").unwrap();
                }
            }
        });
        (url, serving)
    }

    #[test]
    fn a_stream_that_drops_is_reopened_and_counted() {
        const PER_CONNECTION: usize = 6;
        let data = data_dir("gateway-stream");
        let serials: Vec<String> = ["A", "B"]
            .iter()
            .flat_map(|c| (0..PER_CONNECTION).map(move |i| format!("ST{c}{i}")))
            .collect();
        let connections: Vec<Vec<Vec<u8>>> = serials
            .chunks(PER_CONNECTION)
            .map(|chunk| chunk.iter().map(|s| jpeg(&pack_frame(s))).collect())
            .collect();
        let (url, serving) = mjpeg_server(connections);
        let server = Process::start(&data.join("store"), &[]);
        let gateway = Gateway::start(&server.url, "STREAM", &[&url]);
        wait_until(
            "every streamed frame answered",
            Duration::from_secs(120),
            || gateway.printed() >= serials.len(),
        );
        serving.join().unwrap();
        let (code, verdicts, stderr) = gateway.finish(true);
        assert_eq!(code, 0, "stopped by SIGTERM after a drain: {stderr}");
        let got: Vec<&str> = verdicts
            .iter()
            .map(|v| v["serial"].as_str().unwrap())
            .collect();
        assert_eq!(got, serials, "both connections' frames, in order: {stderr}");
        for (i, v) in verdicts.iter().enumerate() {
            let id = v["frame_id"].as_str().unwrap();
            assert!(
                id.starts_with("stream-") && id.ends_with(&format!("-{}", i + 1)),
                "frames are numbered across a reopen: {id}"
            );
        }
        assert!(stderr.contains("reopening in"), "{stderr}");
        assert!(stderr.contains("reopens 1"), "{stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    }

    #[test]
    fn a_camera_that_does_not_exist_is_refused_at_once_in_one_line() {
        let out = Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args([
                "gateway",
                "--server",
                "http://127.0.0.1:9",
                "--line",
                "L",
                "97",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr.trim_end(),
            "verigrade: camera 97: cannot open it (no such camera, or another program is using it)"
        );
    }

    #[test]
    fn a_camera_is_the_only_source_of_a_gateway() {
        let out = Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args(["gateway", "--server", "http://127.0.0.1:9", "--line", "L"])
            .args(["0", "-"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("name it as the only SOURCE"), "{stderr}");
    }
}
