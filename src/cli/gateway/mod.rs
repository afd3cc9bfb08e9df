//! `verigrade gateway`: the program a line's PC beside the camera runs. It takes frames from
//! a source (files, standard input, a hot folder; with the `camera` feature a camera, a
//! network stream or a video file), prepares them (region of interest, grey, trigger) and
//! streams them on one `VerifyStream`, printing each verdict. When the server goes away it reconnects with
//! backoff and sends again every frame it has no verdict for, under the same frame ids, so
//! the server answers those from its store and counts nothing twice. On SIGTERM or Ctrl-C it
//! stops capturing and waits for the frames it sent to be answered.

#[cfg(feature = "camera")]
mod camera;
mod prepare;
mod queue;
mod source;

use super::client::{OutputFormat, percentile, print, verdict_json};
use super::connection::{Connection, Connector};
use anyhow::{Context, Result, bail};
use clap::Args;
use prepare::{Preparer, Roi, Trigger};
use queue::Queue;
use source::{Captured, HotFolder, Source, StdinFrames, file_away};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{Verdict, VerifyRequest, verify_request};

#[derive(Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line the frames come from.
    #[arg(long)]
    line: String,
    #[arg(long, default_value = "")]
    camera_id: String,
    /// Profile (empty: the line's default on the server).
    #[arg(long, default_value = "")]
    profile: String,
    /// Frames sent per second at most (0: as fast as the source gives them).
    #[arg(long, default_value_t = 0.0)]
    fps: f64,
    /// Crop each frame to this region before sending it (sent as grey pixels).
    #[arg(long, value_name = "X,Y,W,H")]
    roi: Option<Roi>,
    /// Convert each frame to 8-bit grey on the gateway and send the pixels, not the image.
    #[arg(long)]
    grey: bool,
    /// Which frames are sent: every, every:N (every Nth), change[:GREY] (when the picture
    /// differs from the last one sent by more than GREY levels on average; 6 by default).
    #[arg(long, default_value = "every")]
    trigger: Trigger,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Seconds between status lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    status: u64,
    /// A hot folder: image files dropped into it are sent once complete, then moved to
    /// `done/` (with the verdict as JSON beside them) or `failed/` (with the error).
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// Frames queued for the sender at most; a live source (frames on standard input) drops
    /// its oldest when the server falls behind, counted in the status line.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    queue: u64,
    /// Image files or folders, sent in name order; `-` for standard input: one image, or a
    /// stream of binary PGM frames (`ffmpeg … -f image2pipe -vcodec pgm -`). With the
    /// `camera` feature also a video file (.avi, .mp4, .mkv, …), a camera index (`0`; `./0`
    /// for a file named 0) or a stream URL (`rtsp://…`, `http://…`); a camera or stream is
    /// read until the gateway is stopped, reopened whenever it stops giving frames.
    #[arg(value_name = "SOURCE")]
    paths: Vec<PathBuf>,
}

/// Frames sent and not yet answered, at most: a server slower than the source holds the
/// source back instead of the gateway's memory growing.
const IN_FLIGHT: usize = 32;
/// Waits between attempts to reach the server: the first, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);

/// The wait before the next attempt to reach the server: doubling from [`FIRST_BACKOFF`] to
/// [`LONGEST_BACKOFF`] while it fails, back to the first once it answers.
struct Backoff(Duration);

impl Backoff {
    fn seconds(&self) -> f64 {
        self.0.as_secs_f64()
    }

    /// This wait; the next one is twice as long.
    fn take(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (wait * 2).min(LONGEST_BACKOFF);
        wait
    }

    fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }
}
/// How long a stopped gateway waits for the verdicts of the frames it sent.
const DRAIN: Duration = Duration::from_secs(10);
/// How often a hot folder is looked into.
const POLL: Duration = Duration::from_millis(200);

/// What the capture side hands the sender.
enum Captures {
    /// A frame to send.
    Frame(Outgoing),
    /// A frame that could not be prepared: answered here, never sent.
    Refused {
        frame_id: String,
        file: Option<PathBuf>,
        error: String,
    },
}

/// A frame the server has been or will be sent, until it is answered.
struct Outgoing {
    frame_id: String,
    /// Frames dropped since the last one sent, reported to the server with this one.
    frames_dropped: u64,
    frame: verify_request::Frame,
    file: Option<PathBuf>,
    sent_at: Option<Instant>,
}

/// What the gateway counts, for its status line and exit code.
#[derive(Default)]
struct Tally {
    sent: u64,
    answered: u64,
    passed: u64,
    failed: u64,
    errors: u64,
    resent: u64,
    reconnects: u64,
    latencies_ms: Vec<f64>,
}

pub fn gateway(args: &GatewayArgs) -> Result<ExitCode> {
    if !(args.fps >= 0.0 && args.fps.is_finite()) {
        bail!("--fps {}: expected frames per second, 0 or more", args.fps);
    }
    if args.paths.is_empty() && args.watch.is_none() {
        bail!("nothing to send: name image files, `-` for standard input, or --watch DIR");
    }
    let sources: Vec<Source> = args.paths.iter().map(|p| Source::parse(p)).collect();
    if !cfg!(feature = "camera")
        && let Some(source) = sources
            .iter()
            .find(|s| matches!(s, Source::Video(_) | Source::Camera(_) | Source::Stream(_)))
    {
        bail!(
            "{}: cameras, streams and video files need the `camera` feature, and this verigrade was built without it (cargo build --release --features camera)",
            source.describe()
        );
    }
    if let Some(live) = sources.iter().find(|s| s.is_live())
        && (sources.len() > 1 || args.watch.is_some())
    {
        bail!(
            "{}: a camera or stream is read until the gateway is stopped; name it as the only SOURCE, without --watch",
            live.describe()
        );
    }
    let mut files = Vec::new();
    for source in &sources {
        match source {
            Source::Images(path) => files.extend(
                crate::collect_images(std::slice::from_ref(path))?
                    .into_iter()
                    .map(Named::Image),
            ),
            #[cfg(feature = "camera")]
            Source::Video(path) => {
                if !path.is_file() {
                    bail!("{}: no such file", path.display());
                }
                files.push(Named::Video(source.clone()));
            }
            _ => {}
        }
    }
    let stdin = sources.contains(&Source::Stdin);
    // A camera or stream that cannot be opened at the start is a mistake to say at once; one
    // lost later is reopened.
    #[cfg(feature = "camera")]
    let live = sources
        .iter()
        .find(|s| s.is_live())
        .map(camera::VideoSource::open)
        .transpose()?;
    let hot_folder = args.watch.as_deref().map(HotFolder::open).transpose()?;
    let connector = args.connection.connector()?;
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(Counted::default());
    let queue = Arc::new(Queue::new(args.queue as usize));
    let capture = {
        let stop = stop.clone();
        let counted = counted.clone();
        let preparer = Preparer::new(args.roi, args.grey, args.trigger);
        let pace = (args.fps > 0.0).then(|| Duration::from_secs_f64(1.0 / args.fps));
        let queue = queue.clone();
        std::thread::spawn(move || {
            let mut capture = Capture {
                preparer,
                to_sender: queue.clone(),
                stop,
                counted,
                pace,
                last: None,
            };
            #[cfg(feature = "camera")]
            if let Some(live) = live {
                let captured = capture.run_live(live);
                queue.capture_done();
                return captured;
            }
            let captured = capture.run(files, stdin, hot_folder);
            queue.capture_done();
            captured
        })
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let sent = runtime.block_on(send(args, &connector, &queue, stop, &counted));
    queue.sender_gone();
    let tally = sent?;
    capture
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread panicked"))??;
    status_line(&tally, &counted, &queue);
    Ok(if tally.failed == 0 && tally.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Counts kept by the capture thread.
#[derive(Default)]
struct Counted {
    captured: AtomicU64,
    skipped: AtomicU64,
    /// Times a camera or stream that stopped giving frames was opened again.
    reopens: AtomicU64,
}

/// A file named on the command line, in the order named.
enum Named {
    Image(PathBuf),
    /// A video file, read through OpenCV.
    #[cfg(feature = "camera")]
    Video(Source),
}

/// The capture side: sources in turn, each frame prepared and handed to the sender.
struct Capture {
    preparer: Preparer,
    to_sender: Arc<Queue<Captures>>,
    stop: Arc<AtomicBool>,
    counted: Arc<Counted>,
    pace: Option<Duration>,
    last: Option<Instant>,
}

impl Capture {
    fn run(&mut self, files: Vec<Named>, stdin: bool, folder: Option<HotFolder>) -> Result<()> {
        for file in files {
            if self.stopped() {
                return Ok(());
            }
            match file {
                Named::Image(file) => {
                    let captured = source::file_frame(&file, false);
                    self.hand_over(captured, &file, false)?;
                }
                #[cfg(feature = "camera")]
                Named::Video(video) => self.play(&video)?,
            }
        }
        if stdin {
            let mut frames = StdinFrames::new(std::io::stdin().lock());
            let live = frames.is_stream()?;
            while !self.stopped() {
                match frames.next_frame() {
                    Ok(Some(captured)) => self.hand_over(Ok(captured), Path::new("-"), live)?,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("verigrade gateway: {e:#}");
                        break;
                    }
                }
            }
        }
        let Some(mut folder) = folder else {
            return Ok(());
        };
        while !self.stopped() {
            for file in folder.ready()? {
                if self.stopped() {
                    break;
                }
                let captured = source::file_frame(&file, true);
                self.hand_over(captured, &file, false)?;
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// A video file's frames, in order, none dropped; a video that cannot be opened or read
    /// is an error answered for it alone.
    #[cfg(feature = "camera")]
    fn play(&mut self, video: &Source) -> Result<()> {
        let refused = |frame_id: String, e: anyhow::Error| Captures::Refused {
            frame_id,
            file: None,
            error: format!("{e:#}"),
        };
        let mut frames = match camera::VideoSource::open(video) {
            Ok(frames) => frames,
            Err(e) => return self.pass_on(refused(video.describe(), e), false),
        };
        while !self.stopped() {
            match frames.next_frame() {
                Ok(Some(captured)) => self.hand_over(Ok(captured), Path::new(""), false)?,
                Ok(None) => break,
                Err(e) => return self.pass_on(refused(video.describe(), e), false),
            }
        }
        Ok(())
    }

    /// A camera's or stream's frames until the gateway is stopped, the oldest queued dropped
    /// when the server falls behind. When it stops giving frames it is opened again, waiting
    /// longer after each failed attempt.
    #[cfg(feature = "camera")]
    fn run_live(&mut self, mut live: camera::VideoSource) -> Result<()> {
        let mut backoff = Backoff(FIRST_BACKOFF);
        while !self.stopped() {
            let mut why = match live.next_frame() {
                Ok(Some(captured)) => {
                    backoff.reset();
                    self.hand_over(Ok(captured), Path::new(""), true)?;
                    continue;
                }
                Ok(None) => format!("{}: no frame", live.describe()),
                Err(e) => format!("{e:#}"),
            };
            loop {
                eprintln!(
                    "verigrade gateway: {why}; reopening in {:.1} s",
                    backoff.seconds()
                );
                if !self.sleep_unless_stopped(backoff.take()) {
                    return Ok(());
                }
                match live.reopen() {
                    Ok(()) => {
                        self.counted.reopens.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => why = format!("{e:#}"),
                }
            }
        }
        Ok(())
    }

    /// Sleeps `wait`, or less when the gateway is stopped meanwhile; false when stopped.
    #[cfg(feature = "camera")]
    fn sleep_unless_stopped(&self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        false
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Prepares a captured frame and passes it on, paced (a `live` frame drops the oldest
    /// queued one rather than wait); Err only when the sender is gone.
    fn hand_over(&mut self, captured: Result<Captured>, path: &Path, live: bool) -> Result<()> {
        self.counted.captured.fetch_add(1, Ordering::Relaxed);
        let captured = match captured {
            Ok(c) => c,
            Err(e) => {
                eprintln!("verigrade gateway: {}: {e:#}", path.display());
                return Ok(());
            }
        };
        let Captured {
            frame_id,
            picture,
            file,
        } = captured;
        let item = match self.preparer.prepare(picture) {
            Ok(None) => {
                self.counted.skipped.fetch_add(1, Ordering::Relaxed);
                if let Some(file) = &file {
                    // A hot-folder file the trigger skips leaves the folder all the same.
                    file_away(
                        file,
                        false,
                        "not sent: the trigger skipped it\n",
                        ".skipped.txt",
                    )?;
                }
                return Ok(());
            }
            Ok(Some(frame)) => Captures::Frame(Outgoing {
                frame_id,
                frames_dropped: 0,
                frame,
                file,
                sent_at: None,
            }),
            Err(e) => Captures::Refused {
                frame_id,
                file,
                error: format!("{e:#}"),
            },
        };
        self.pass_on(item, live)
    }

    /// Hands an item to the sender, paced; Err only when the sender is gone.
    fn pass_on(&mut self, item: Captures, live: bool) -> Result<()> {
        if let (Some(pace), Some(last)) = (self.pace, self.last) {
            std::thread::sleep(pace.saturating_sub(last.elapsed()));
        }
        self.last = Some(Instant::now());
        let queued = if live {
            self.to_sender.push_dropping_oldest(item)
        } else {
            self.to_sender.push_waiting(item)
        };
        if !queued {
            bail!("the sender stopped");
        }
        Ok(())
    }
}

/// Sends what the capture side hands over on one stream at a time, reconnecting whenever the
/// stream breaks, until the capture side is done (or stopped) and every frame is answered.
async fn send(
    args: &GatewayArgs,
    connector: &Connector,
    captures: &Queue<Captures>,
    stop: Arc<AtomicBool>,
    counted: &Counted,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut unanswered: VecDeque<Outgoing> = VecDeque::new();
    let mut captures_done = false;
    let mut backoff = Backoff(FIRST_BACKOFF);
    let mut connected_before = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    // Drops handed to a frame so far; a frame answered with an error gives its back.
    let mut reported_drops = 0u64;
    let mut status = (args.status > 0).then(|| {
        let period = Duration::from_secs(args.status);
        tokio::time::interval_at(tokio::time::Instant::now() + period, period)
    });
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let request = |o: &Outgoing| VerifyRequest {
        line_id: args.line.clone(),
        camera_id: args.camera_id.clone(),
        frame_id: o.frame_id.clone(),
        frames_dropped: o.frames_dropped,
        profile: args.profile.clone(),
        frame: Some(o.frame.clone()),
        ..VerifyRequest::default()
    };
    'connect: loop {
        if captures_done && unanswered.is_empty() {
            return Ok(tally);
        }
        if drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Err(unanswered_at_stop(unanswered.len()));
        }
        let stream = async {
            let mut client = VerifierClient::new(connector.connect().await?)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(usize::MAX);
            let (tx, rx) = mpsc::channel::<VerifyRequest>(IN_FLIGHT);
            let answers = client
                .verify_stream(ReceiverStream::new(rx))
                .await
                .with_context(|| format!("cannot open a stream on {}", args.connection.server))?;
            anyhow::Ok((tx, answers.into_inner()))
        };
        let (tx, mut answers) = match stream.await {
            Ok(opened) => opened,
            Err(e) => {
                eprintln!(
                    "verigrade gateway: {e:#}; trying again in {:.1} s",
                    backoff.seconds()
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff.take()) => {}
                    _ = &mut shutdown, if drain_deadline.is_none() => {
                        stop.store(true, Ordering::Relaxed);
                        drain_deadline = Some(tokio::time::Instant::now() + DRAIN);
                    }
                }
                continue 'connect;
            }
        };
        if connected_before {
            tally.reconnects += 1;
        }
        connected_before = true;
        // Everything not answered on the last stream goes again, in order, same ids.
        for outgoing in unanswered.iter_mut() {
            outgoing.sent_at = Some(Instant::now());
            tally.resent += 1;
            if tx.send(request(outgoing)).await.is_err() {
                tokio::time::sleep(backoff.take()).await;
                continue 'connect;
            }
        }
        let mut tx = Some(tx);
        if captures_done {
            tx = None;
        }
        loop {
            tokio::select! {
                captured = captures.pop(), if !captures_done && unanswered.len() < IN_FLIGHT => {
                    match captured {
                        Some(Captures::Frame(mut outgoing)) => {
                            // Drops since the last frame ride with this one; the server counts
                            // them once, with its verdict.
                            let dropped = captures.dropped();
                            outgoing.frames_dropped = dropped - reported_drops;
                            reported_drops = dropped;
                            outgoing.sent_at = Some(Instant::now());
                            tally.sent += 1;
                            let sent = match &tx {
                                Some(tx) => tx.send(request(&outgoing)).await.is_ok(),
                                None => false,
                            };
                            unanswered.push_back(outgoing);
                            if !sent {
                                continue 'connect;
                            }
                        }
                        Some(Captures::Refused { frame_id, file, error }) => {
                            tally.errors += 1;
                            eprintln!("verigrade gateway: frame {frame_id}: {error}");
                            if let Some(file) = &file {
                                file_away(file, true, &format!("{error}\n"), ".error.txt")?;
                            }
                        }
                        None => {
                            captures_done = true;
                            // The server ends the stream once it has answered what it got.
                            tx = None;
                        }
                    }
                }
                answer = answers.message() => match answer {
                    Ok(Some(verdict)) => {
                        backoff.reset();
                        if let Some(error) = &verdict.error
                            && transient(error.code)
                        {
                            eprintln!(
                                "verigrade gateway: frame {}: {}; sending it again in {:.1} s",
                                verdict.frame_id, error.message, backoff.seconds()
                            );
                            tokio::time::sleep(backoff.take()).await;
                            continue 'connect;
                        }
                        let position = unanswered
                            .iter()
                            .position(|o| o.frame_id == verdict.frame_id);
                        let Some(outgoing) = position.and_then(|i| unanswered.remove(i)) else {
                            // An answer to a frame sent twice before a reconnect: already handled.
                            continue;
                        };
                        if verdict.error.is_some() {
                            // Not stored, so its drops were not counted: the next frame carries them.
                            reported_drops -= outgoing.frames_dropped;
                        }
                        answered(&mut tally, &outgoing, &verdict, args.format)?;
                    }
                    Ok(None) => {
                        if captures_done && unanswered.is_empty() {
                            return Ok(tally);
                        }
                        eprintln!("verigrade gateway: the server ended the stream; reconnecting");
                        continue 'connect;
                    }
                    Err(status) => {
                        eprintln!(
                            "verigrade gateway: stream ended: {} ({:?}); reconnecting in {:.1} s",
                            status.message(), status.code(), backoff.seconds()
                        );
                        tokio::time::sleep(backoff.take()).await;
                        continue 'connect;
                    }
                },
                _ = &mut shutdown, if drain_deadline.is_none() => {
                    eprintln!(
                        "verigrade gateway: stopping; waiting up to {} s for {} verdict(s)",
                        DRAIN.as_secs(), unanswered.len()
                    );
                    stop.store(true, Ordering::Relaxed);
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN);
                }
                _ = async { tokio::time::sleep_until(drain_deadline.expect("set")).await }, if drain_deadline.is_some() => {
                    return Err(unanswered_at_stop(unanswered.len()));
                }
                _ = async { status.as_mut().expect("set").tick().await }, if status.is_some() => {
                    status_line(&tally, counted, captures);
                    tally.latencies_ms.clear();
                }
            }
        }
    }
}

/// The error a stopped gateway exits with when its drain deadline passed first.
fn unanswered_at_stop(count: usize) -> anyhow::Error {
    anyhow::anyhow!("stopped with {count} frame(s) sent and not answered")
}

/// In-band errors worth sending the frame again for: the server could not store it now
/// (a full disk, its budget of frames in flight), not that the frame is bad.
fn transient(code: i32) -> bool {
    matches!(
        tonic::Code::from(code),
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted
    )
}

/// Prints an answered frame, counts it and files a hot-folder file away with its verdict.
fn answered(
    tally: &mut Tally,
    outgoing: &Outgoing,
    verdict: &Verdict,
    format: OutputFormat,
) -> Result<()> {
    tally.answered += 1;
    if let Some(sent) = outgoing.sent_at {
        tally
            .latencies_ms
            .push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    match (&verdict.error, verdict.pass) {
        (Some(_), _) => tally.errors += 1,
        (None, true) => tally.passed += 1,
        (None, false) => tally.failed += 1,
    }
    print(verdict, format);
    if let Some(file) = &outgoing.file {
        match &verdict.error {
            Some(error) => file_away(file, true, &format!("{}\n", error.message), ".error.txt")?,
            None => file_away(
                file,
                false,
                &format!("{}\n", verdict_json(verdict)),
                ".verdict.json",
            )?,
        }
    }
    Ok(())
}

/// One line on stderr: what was captured, sent and answered, how often the server was
/// reconnected to and a camera or stream reopened, and the latency since the last.
fn status_line(tally: &Tally, counted: &Counted, queue: &Queue<Captures>) {
    let mut latencies = tally.latencies_ms.clone();
    latencies.sort_by(f64::total_cmp);
    let latency = if latencies.is_empty() {
        String::new()
    } else {
        format!(
            ", latency p50 {:.1} ms p99 {:.1} ms",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        )
    };
    eprintln!(
        "verigrade gateway: captured {}, skipped {}, dropped {}, sent {}, answered {} (passed {}, failed {}, errors {}), resent {}, reconnects {}, reopens {}{latency}",
        counted.captured.load(Ordering::Relaxed),
        counted.skipped.load(Ordering::Relaxed),
        queue.dropped(),
        tally.sent,
        tally.answered,
        tally.passed,
        tally.failed,
        tally.errors,
        tally.resent,
        tally.reconnects,
        counted.reopens.load(Ordering::Relaxed),
    );
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
