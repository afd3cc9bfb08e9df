//! A real server on a loopback port, and frames rendered with known content, for the service tests.

pub mod authority;
pub mod browser;

use bytes::Bytes;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use verigrade::proto::serials_client::SerialsClient;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{GetLineStatsRequest, LineStats, VerifyRequest, verify_request};
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
        http_listen: "off".into(),
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
    png(&GenSpec {
        text: text.into(),
        gs1: true,
        module_px: 6.0,
        canvas: Some((320, 240)),
        ..GenSpec::default()
    })
}

/// The PNG of the symbol `spec` renders.
pub fn png(spec: &GenSpec) -> Bytes {
    let image = render(spec).unwrap().image;
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

/// The `verigrade serve` binary on a free loopback port, in its own process: it can be killed
/// with SIGKILL like a real server, and its memory read from /proc.
pub struct Process {
    child: Child,
    pub url: String,
    /// The line the server starts with: where it listens, its store, whether TLS is on.
    pub started: String,
    /// What the server printed on stderr after its first line, read as it comes.
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    /// Starts `verigrade serve` on `data_dir` with `env` (`VERIGRADE_*` settings) added to
    /// this process's environment; returns once it listens.
    pub fn start(data_dir: &Path, env: &[(&str, String)]) -> Process {
        Process::start_on("127.0.0.1:0", data_dir, env)
    }

    /// As [`Process::start`], listening on `address` (a server restarted where its clients
    /// expect it).
    pub fn start_on(address: &str, data_dir: &Path, env: &[(&str, String)]) -> Process {
        // HTTP on a port of its own, so that servers of tests running at once do not collide
        // on the default one.
        let mut child = Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args(["serve", "--listen", address, "--data-dir"])
            .arg(data_dir)
            .env("VERIGRADE_HTTP_LISTEN", "127.0.0.1:0")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        // The server says where it serves once its store is open; what it says before (a
        // recovery after a kill) is kept with what it says after.
        let mut before = String::new();
        let serving = loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap() == 0 {
                panic!("the server exited before serving: {before:?}");
            }
            if line.contains("serving on") {
                break line;
            }
            before.push_str(&line);
        };
        // A server on every interface is dialled on loopback.
        let address = serving
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:") || w.starts_with("0.0.0.0:"))
            .unwrap_or_else(|| panic!("no address in {serving:?}"))
            .replace("0.0.0.0:", "127.0.0.1:");
        // The rest is read as it comes, so that the server never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(before));
        let reader = {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in lines.lines().map_while(Result::ok) {
                    let mut text = stderr.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            })
        };
        Process {
            child,
            url: format!("http://{address}"),
            started: serving,
            stderr,
            reader: Some(reader),
        }
    }

    /// SIGKILL: no shutdown, no flush; whatever the store had not committed is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as a service manager stops it; its exit status and everything it printed.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.sigterm();
        self.wait()
    }

    /// Sends SIGTERM and returns at once: the server drains while its clients go on.
    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the server to exit; its exit status and everything it printed.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let stderr = self.stderr.lock().unwrap().clone();
        (status, stderr)
    }

    /// The first word the server printed that starts with `scheme` (an address it listens
    /// on, e.g. `opc.tcp://` or `http://`), waited for up to 10 s.
    pub fn printed_url(&self, scheme: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let printed = self.printed();
            if let Some(url) = printed.split_whitespace().find(|w| w.starts_with(scheme)) {
                return url.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {scheme} address in {printed:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server printed on stderr after its first line, so far.
    pub fn printed(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The server's peak resident memory so far (VmHWM), in bytes; Linux only.
    pub fn peak_resident_bytes(&self) -> Option<u64> {
        proc_status_bytes(self.child.id(), "VmHWM:")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of /proc/PID/status, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A small tmpfs mounted for one test, unmounted when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts `size` (as `mount -o size=` takes it), or says why it cannot.
    pub fn mount(name: &str, size: &str) -> Result<Tmpfs, String> {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tmpfs-{name}"));
        let _ = Command::new("umount").arg(&dir).output();
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !mounted.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root or CAP_SYS_ADMIN): {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

/// Fills the filesystem of `path` to the last byte; the file is removed to give the space back.
pub fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    while file.write_all(&chunk[..512]).is_ok() {}
    let _ = file.sync_all();
}

/// A PNG with no symbol in it: a failed frame, kept as evidence when there is room.
pub fn blank_png() -> Bytes {
    let image = image::GrayImage::from_pixel(320, 240, image::Luma([255]));
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png.into()
}

/// Asks the Verifier's health until it is `wanted`, for up to ten seconds.
/// The first alarm `list` answers, asked again until one is raised (the line monitor raises
/// alarms as verdicts are committed, just after they are answered).
pub async fn first_alarm(
    alarms: &mut verigrade::proto::alarms_client::AlarmsClient<tonic::transport::Channel>,
    list: impl Fn() -> tonic::Request<verigrade::proto::ListAlarmsRequest>,
) -> verigrade::proto::Alarm {
    loop {
        let listed = alarms
            .list_alarms(list())
            .await
            .unwrap()
            .into_inner()
            .alarms;
        if let Some(alarm) = listed.into_iter().next() {
            return alarm;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn wait_for_health(url: &str, wanted: ServingStatus) {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let started = Instant::now();
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: "verigrade.v1.Verifier".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == wanted as i32 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "Verifier health is {status}, not {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running `verigrade gateway`, its stdout lines collected as they come.
pub struct Gateway {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Gateway {
    pub fn start(server: &str, line: &str, args: &[&str]) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_verigrade"))
            .args([
                "gateway", "--server", server, "--line", line, "--status", "1", "--format", "json",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in stdout.lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        Gateway {
            child,
            lines,
            reader,
        }
    }

    pub fn printed(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits for the gateway to exit (SIGTERM first when `stop`): its exit code, the verdicts
    /// it printed (JSON) and its stderr.
    pub fn finish(mut self, stop: bool) -> (i32, Vec<serde_json::Value>, String) {
        if stop {
            let sent = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let verdicts = self
            .lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        (status.code().unwrap_or(-1), verdicts, stderr)
    }
}

/// The server's counts for `line`.
pub fn line_stats(server: &Process, line: &str) -> LineStats {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = VerdictsClient::connect(server.url.clone()).await.unwrap();
        client
            .get_line_stats(GetLineStatsRequest {
                line_id: line.into(),
            })
            .await
            .unwrap()
            .into_inner()
    })
}

pub fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
