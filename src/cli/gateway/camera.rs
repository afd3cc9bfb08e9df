//! Frames from OpenCV's videoio (the `camera` feature): a camera by index, a network stream or
//! a video file. Each frame is made 8-bit grey here, on the gateway, and sent as raw pixels:
//! the server gets what it reads, with no lossy re-encoding between the camera and it.

use super::source::{Captured, Picture, Source, file_frame_id};
use anyhow::{Context, Result, bail};
use opencv::core::{CV_8U, CV_16U, Mat, Vector};
use opencv::prelude::*;
use opencv::{imgproc, videoio};
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};
use verigrade::Frame;

/// How long opening a network stream, and waiting for its next frame, may take before the
/// stream counts as lost (OpenCV's FFmpeg backend waits 30 s by default).
const STREAM_TIMEOUT_MS: i32 = 5_000;

/// A camera, network stream or video file opened through OpenCV, and the frames read from it.
pub struct VideoSource {
    source: Source,
    capture: videoio::VideoCapture,
    /// Every frame id is this and the frame's number, counted from 1 across reopens.
    id_prefix: String,
    frames: u64,
    /// The frame as read (BGR, usually) and as grey, reused from frame to frame.
    read: Mat,
    grey: Mat,
}

impl VideoSource {
    /// Opens a camera, stream or video file; an error names it and says why.
    pub fn open(source: &Source) -> Result<VideoSource> {
        quiet_opencv_logging();
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        // A video's frames keep their ids across gateway runs (its name, modification time
        // and frame number); a live source's are numbered from when the gateway started.
        let id_prefix = match source {
            Source::Video(path) => format!("{}#", file_frame_id(path)?),
            Source::Camera(index) => format!("camera{index}-{started_ms}-"),
            Source::Stream(_) => format!("stream-{started_ms}-"),
            Source::Images(_) | Source::Stdin => {
                bail!("{} is not a camera, stream or video", source.describe())
            }
        };
        Ok(VideoSource {
            capture: open_capture(source)?,
            source: source.clone(),
            id_prefix,
            frames: 0,
            read: Mat::default(),
            grey: Mat::default(),
        })
    }

    /// The next frame as grey pixels; None when the source gave none (a video's end, or a
    /// live source lost: unplugged, rebooted, the network gone).
    pub fn next_frame(&mut self) -> Result<Option<Captured>> {
        let read = self
            .capture
            .read(&mut self.read)
            .with_context(|| format!("{}: cannot read a frame", self.source.describe()))?;
        if !read || self.read.empty() {
            return Ok(None);
        }
        self.frames += 1;
        let frame = grey_frame(&self.read, &mut self.grey)
            .with_context(|| format!("{}: frame {}", self.source.describe(), self.frames))?;
        Ok(Some(Captured {
            frame_id: format!("{}{}", self.id_prefix, self.frames),
            picture: Picture::Grey(frame),
            file: None,
        }))
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// Closes the source and opens it again (a live source that stopped giving frames).
    pub fn reopen(&mut self) -> Result<()> {
        // Released first: a V4L2 camera opens only once at a time.
        self.capture.release()?;
        self.capture = open_capture(&self.source)?;
        Ok(())
    }
}

/// OpenCV logs every failed attempt to open a camera on stderr, several lines each; the
/// gateway says what failed in one line of its own. OPENCV_LOG_LEVEL, when set, still rules.
fn quiet_opencv_logging() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        if std::env::var_os("OPENCV_LOG_LEVEL").is_none() {
            let _ = opencv::core::set_log_level(opencv::core::LogLevel::LOG_LEVEL_SILENT);
        }
    });
}

fn open_capture(source: &Source) -> Result<videoio::VideoCapture> {
    let named = source.describe();
    let capture = match source {
        Source::Camera(index) => videoio::VideoCapture::new(*index, videoio::CAP_ANY),
        Source::Stream(url) => {
            let timeouts = Vector::from_slice(&[
                videoio::CAP_PROP_OPEN_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
                videoio::CAP_PROP_READ_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
            ]);
            videoio::VideoCapture::from_file_with_params(url, videoio::CAP_ANY, &timeouts)
        }
        Source::Video(path) => {
            let path = path
                .to_str()
                .with_context(|| format!("{named}: the path is not UTF-8, which OpenCV needs"))?;
            videoio::VideoCapture::from_file(path, videoio::CAP_ANY)
        }
        Source::Images(_) | Source::Stdin => bail!("{named} is not a camera, stream or video"),
    }
    .with_context(|| format!("{named}: cannot open it"))?;
    if !capture.is_opened()? {
        bail!(
            "{named}: cannot open it ({})",
            match source {
                Source::Camera(_) => "no such camera, or another program is using it",
                Source::Stream(_) => "the stream does not answer, or is in no format OpenCV reads",
                _ => "not a video file OpenCV reads",
            }
        );
    }
    Ok(capture)
}

/// `read` as 8-bit grey pixels: colour converted (`grey` is the buffer reused for it), a
/// 16-bit camera's frame scaled down to 8 bits.
fn grey_frame(read: &Mat, grey: &mut Mat) -> Result<Frame<'static>> {
    let code = match read.channels() {
        1 => None,
        3 => Some(imgproc::COLOR_BGR2GRAY),
        4 => Some(imgproc::COLOR_BGRA2GRAY),
        n => bail!("{n} channels per pixel; expected 1, 3 or 4"),
    };
    let single = match code {
        Some(code) => {
            imgproc::cvt_color_def(read, grey, code)?;
            &*grey
        }
        None => read,
    };
    let eight_bit;
    let single = match single.depth() {
        CV_8U => single,
        CV_16U => {
            eight_bit = {
                let mut out = Mat::default();
                single.convert_to(&mut out, CV_8U, 1.0 / 256.0, 0.0)?;
                out
            };
            &eight_bit
        }
        depth => bail!("pixel depth {depth} is neither 8 nor 16 bits"),
    };
    let (width, height) = (single.cols() as usize, single.rows() as usize);
    // A continuous single-channel 8-bit Mat's rows are `width` bytes apart; a view into a
    // larger one (a camera's own region) is copied out continuous first.
    let pixels = if single.is_continuous() {
        single.data_bytes()?.to_vec()
    } else {
        single.try_clone()?.data_bytes()?.to_vec()
    };
    Ok(Frame::from_owned(width, height, width, pixels)?)
}
