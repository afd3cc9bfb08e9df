//! A real server on a loopback port, and frames rendered with known content, for the service tests.

#![allow(dead_code)] // each test file uses its own part of this

use bytes::Bytes;
use std::io::Cursor;
use std::path::PathBuf;
use tokio::sync::oneshot;
use verigrade::proto::serials_client::SerialsClient;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{VerifyRequest, verify_request};
use verigrade::serve::config::Config;
use verigrade::synth::{GenSpec, render};

pub struct Server {
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<verigrade::Result<verigrade::serve::Stopped>>,
}

impl Server {
    /// Starts the service on 127.0.0.1 with a free port.
    pub async fn start(config: Config) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, signal) = oneshot::channel::<()>();
        let handle = tokio::spawn(verigrade::serve::run(config, listener, async {
            let _ = signal.await;
        }));
        Server {
            url,
            shutdown: Some(shutdown),
            handle,
        }
    }

    pub async fn verifier(&self) -> VerifierClient<tonic::transport::Channel> {
        VerifierClient::connect(self.url.clone())
            .await
            .unwrap()
            .max_encoding_message_size(usize::MAX)
    }

    pub async fn verdicts(&self) -> VerdictsClient<tonic::transport::Channel> {
        VerdictsClient::connect(self.url.clone()).await.unwrap()
    }

    pub async fn serials(&self) -> SerialsClient<tonic::transport::Channel> {
        SerialsClient::connect(self.url.clone()).await.unwrap()
    }

    /// Graceful shutdown, as on SIGTERM; what the run stored and did not.
    pub async fn stop(mut self) -> verigrade::serve::Stopped {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.handle.await.unwrap().unwrap()
    }
}

/// A fresh, empty folder for one test's store.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("service-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        workers: 2,
        ..Config::default()
    }
}

/// GS1 data of a pack with this serial.
pub fn gs1_text(serial: &str) -> String {
    format!("0109506000134352172812311012AB34\u{1d}21{serial}")
}

/// A PNG of a clean GS1 symbol carrying `serial`, on a small canvas.
pub fn pack_png(serial: &str) -> Bytes {
    gs1_png(&gs1_text(serial))
}

/// A PNG of a clean GS1 symbol carrying `text` (an element string), on a small canvas.
pub fn gs1_png(text: &str) -> Bytes {
    let spec = GenSpec {
        text: text.into(),
        gs1: true,
        module_px: 6.0,
        canvas: Some((320, 240)),
        ..GenSpec::default()
    };
    let image = render(&spec).unwrap().image;
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    Bytes::from(png)
}

pub fn image_request(line: &str, frame: &str, image: Bytes) -> VerifyRequest {
    VerifyRequest {
        line_id: line.into(),
        frame_id: frame.into(),
        frame: Some(verify_request::Frame::Image(image)),
        ..VerifyRequest::default()
    }
}
