//! Where a gateway's frames come from: image files named on the command line (folders
//! walked), one image on standard input, or a hot folder a scanner or a lab drops files into;
//! and, with the `camera` feature, a camera, a network stream or a video file (`camera.rs`).
//! Each frame carries an id that stays the same when it is sent again, so the server answers
//! a resent frame from its store instead of counting it twice.

use anyhow::bail;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use verigrade::Frame;

/// One captured frame: its id and its picture.
#[derive(Debug)]
pub struct Captured {
    pub frame_id: String,
    pub picture: Picture,
    /// The hot-folder file it came from, moved to `done/` or `failed/` once answered.
    pub file: Option<PathBuf>,
}

/// A frame's picture as its source gave it.
#[derive(Debug)]
pub enum Picture {
    /// An encoded image (PNG, JPEG, PGM…): a file's bytes or standard input's.
    Encoded(Vec<u8>),
    /// 8-bit grey pixels, converted from a camera's or a video's frame on the gateway.
    #[cfg_attr(not(feature = "camera"), allow(dead_code))]
    Grey(Frame<'static>),
}

/// A SOURCE named on the gateway's command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// An image file, or a folder of them.
    Images(PathBuf),
    /// Standard input (`-`): one image, or a stream of PGM frames.
    Stdin,
    /// A video file: its frames in order, then the source is done.
    Video(PathBuf),
    /// A camera by its index (`0` is the first USB or V4L2 camera): live until stopped.
    Camera(i32),
    /// A network stream (`rtsp://…`, `http://…`): live until stopped.
    Stream(String),
}

/// File extensions read as videos, not images.
const VIDEO_EXTENSIONS: &[&str] = &[
    "avi", "mkv", "mov", "mp4", "m4v", "mpg", "mpeg", "mjpeg", "mjpg", "ts", "webm", "wmv",
];

impl Source {
    /// What a command-line SOURCE names: `-`, a URL (`scheme://…`), a camera index (digits
    /// only; `./0` for a file named `0`), a video file by its extension, or images.
    pub fn parse(named: &Path) -> Source {
        let Some(text) = named.to_str() else {
            return Source::Images(named.to_path_buf());
        };
        if text == "-" {
            return Source::Stdin;
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        {
            return Source::Stream(text.to_string());
        }
        if !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && let Ok(index) = text.parse::<i32>()
        {
            return Source::Camera(index);
        }
        let video = named
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if video {
            Source::Video(named.to_path_buf())
        } else {
            Source::Images(named.to_path_buf())
        }
    }

    /// Whether the source gives frames until the gateway is stopped.
    pub fn is_live(&self) -> bool {
        matches!(self, Source::Camera(_) | Source::Stream(_))
    }

    /// How the source is named in messages: a stream's URL without its user and password.
    pub fn describe(&self) -> String {
        match self {
            Source::Images(path) | Source::Video(path) => path.display().to_string(),
            Source::Stdin => "standard input".into(),
            Source::Camera(index) => format!("camera {index}"),
            Source::Stream(url) => match url.split_once("://") {
                Some((scheme, rest)) => {
                    let host_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                    match rest[..host_start].rfind('@') {
                        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                        None => url.clone(),
                    }
                }
                None => url.clone(),
            },
        }
    }
}

/// The folder names a hot folder's answered files go to.
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// A frame id for a file: its name and modification time. The same file sent again (after a
/// reconnect, or by a gateway restarted while it was still in the folder) keeps its id; a
/// scanner that reuses a name for a new scan gives a new one.
pub fn file_frame_id(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(frame_id(&name, modified_ms))
}

/// `name@millis`, the name kept to printable ASCII and short enough for the server's id
/// limit (128 bytes by default).
pub fn frame_id(name: &str, millis: u128) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '@' {
                c
            } else {
                '_'
            }
        })
        .take(96)
        .collect();
    format!("{clean}@{millis}")
}

/// Frames on standard input: a stream of binary PGM images one after another, as
/// `ffmpeg -i CAMERA_OR_VIDEO -f image2pipe -vcodec pgm -` writes a camera's frames, or any one
/// image. Each frame's id is when the stream started and its number in it.
pub struct StdinFrames<R> {
    input: R,
    started_ms: u128,
    frames: u64,
    /// Whether the input is a PGM stream; decided by its first bytes.
    stream: Option<bool>,
}

impl<R: BufRead> StdinFrames<R> {
    pub fn new(input: R) -> StdinFrames<R> {
        StdinFrames {
            input,
            started_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            frames: 0,
            stream: None,
        }
    }

    /// Whether the input is a stream of frames (a live source) rather than one image.
    pub fn is_stream(&mut self) -> Result<bool> {
        if self.stream.is_none() {
            let head = self
                .input
                .fill_buf()
                .context("cannot read standard input")?;
            self.stream = Some(head.starts_with(b"P5"));
        }
        Ok(self.stream == Some(true))
    }

    /// The next frame; None at the end of the input.
    pub fn next_frame(&mut self) -> Result<Option<Captured>> {
        let image = if self.is_stream()? {
            match self.next_pgm()? {
                Some(image) => image,
                None => return Ok(None),
            }
        } else {
            if self.frames > 0 {
                return Ok(None);
            }
            let mut image = Vec::new();
            self.input
                .read_to_end(&mut image)
                .context("cannot read standard input")?;
            image
        };
        self.frames += 1;
        Ok(Some(Captured {
            frame_id: format!("stdin-{}-{}", self.started_ms, self.frames),
            picture: Picture::Encoded(image),
            file: None,
        }))
    }

    /// One binary PGM image (header and pixels), or None at a clean end of input.
    fn next_pgm(&mut self) -> Result<Option<Vec<u8>>> {
        let frame = self.frames + 1;
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut fields = Vec::new();
        for _ in 0..4 {
            fields.push(self.header_field(frame)?);
        }
        if fields[0] != "P5" {
            bail!("frame {frame} on standard input is not a binary PGM (P5) image");
        }
        let number = |i: usize, what: &str| {
            fields[i]
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("frame {frame}: bad PGM {what} {:?}", fields[i]))
        };
        let (width, height, max) = (
            number(1, "width")?,
            number(2, "height")?,
            number(3, "maxval")?,
        );
        if max > 255 {
            bail!("frame {frame}: 16-bit PGM (maxval {max}) is not supported; send 8-bit grey");
        }
        let pixels = width
            .checked_mul(height)
            .filter(|&n| n <= crate::MAX_STDIN_FRAME_PIXELS)
            .with_context(|| format!("frame {frame}: {width}x{height} is too large a frame"))?;
        let mut image = format!("P5\n{width} {height}\n{max}\n").into_bytes();
        let header = image.len();
        image.resize(header + pixels, 0);
        self.input.read_exact(&mut image[header..]).with_context(|| {
            format!("frame {frame} on standard input is truncated ({width}x{height} pixels expected)")
        })?;
        Ok(Some(image))
    }

    /// One whitespace-separated header field, `#` comments skipped; the single whitespace
    /// byte after the last field (maxval) is consumed with it.
    fn header_field(&mut self, frame: u64) -> Result<String> {
        let mut field = Vec::new();
        let mut byte = [0u8];
        loop {
            if self.input.read(&mut byte)? == 0 {
                bail!("frame {frame} on standard input ends inside its PGM header");
            }
            match byte[0] {
                b'#' if field.is_empty() => {
                    let mut comment = Vec::new();
                    self.input.read_until(b'\n', &mut comment)?;
                }
                b if b.is_ascii_whitespace() => {
                    if !field.is_empty() {
                        return Ok(String::from_utf8_lossy(&field).into_owned());
                    }
                }
                b => {
                    field.push(b);
                    if field.len() > 16 {
                        bail!("frame {frame} on standard input has no PGM header");
                    }
                }
            }
        }
    }
}

/// Reads a named file as a frame.
pub fn file_frame(path: &Path, from_hot_folder: bool) -> Result<Captured> {
    let frame_id = file_frame_id(path)?;
    let image = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Captured {
        frame_id,
        picture: Picture::Encoded(image),
        file: from_hot_folder.then(|| path.to_path_buf()),
    })
}

/// A hot folder: image files that appear in it are frames once their size has stopped
/// changing (a scanner may still be writing one). Files already handed out are not handed
/// out again until they leave the folder; `done/` and `failed/` are not looked into.
pub struct HotFolder {
    dir: PathBuf,
    /// Size of each file at the last look, for files not yet handed out.
    growing: HashMap<PathBuf, u64>,
    handed_out: std::collections::HashSet<PathBuf>,
}

impl HotFolder {
    pub fn open(dir: &Path) -> Result<HotFolder> {
        for sub in [DONE, FAILED] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        Ok(HotFolder {
            dir: dir.to_path_buf(),
            growing: HashMap::new(),
            handed_out: Default::default(),
        })
    }

    /// The files that are ready now, oldest name first.
    pub fn ready(&mut self) -> Result<Vec<PathBuf>> {
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type()?.is_file() {
                continue;
            }
            if !crate::is_image_file(&path) {
                continue;
            }
            present.push((path, entry.metadata()?.len()));
        }
        present.sort();
        self.handed_out
            .retain(|p| present.iter().any(|(q, _)| q == p));
        let mut ready = Vec::new();
        let mut sizes = HashMap::new();
        for (path, size) in present {
            if self.handed_out.contains(&path) {
                continue;
            }
            if self.growing.get(&path) == Some(&size) && size > 0 {
                self.handed_out.insert(path.clone());
                ready.push(path);
            } else {
                sizes.insert(path, size);
            }
        }
        self.growing = sizes;
        Ok(ready)
    }
}

/// Moves an answered hot-folder file into `done/` or `failed/` beside it, with `note` (its
/// verdict as JSON, or what went wrong) written next to it under the extra extension `note_ext`.
pub fn file_away(file: &Path, failed: bool, note: &str, note_ext: &str) -> Result<()> {
    let name = file.file_name().context("a hot-folder file has a name")?;
    let folder = file
        .parent()
        .unwrap_or(Path::new("."))
        .join(if failed { FAILED } else { DONE });
    let target = folder.join(name);
    std::fs::rename(file, &target)
        .with_context(|| format!("cannot move {} to {}", file.display(), folder.display()))?;
    let mut note_name = name.to_os_string();
    note_name.push(note_ext);
    std::fs::write(folder.join(note_name), note)
        .with_context(|| format!("cannot write beside {}", target.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pgm(width: usize, height: usize, grey: u8) -> Vec<u8> {
        let mut bytes = format!("P5\n# a comment\n{width} {height}\n255\n").into_bytes();
        bytes.extend(std::iter::repeat_n(grey, width * height));
        bytes
    }

    fn encoded(picture: Picture) -> Vec<u8> {
        match picture {
            Picture::Encoded(bytes) => bytes,
            Picture::Grey(_) => panic!("standard input gives encoded images"),
        }
    }

    #[test]
    fn a_stream_of_pgm_frames_is_split_into_frames() {
        let mut input = pgm(4, 3, 7);
        input.extend(pgm(2, 2, 9));
        let mut frames = StdinFrames::new(std::io::Cursor::new(input));
        assert!(frames.is_stream().unwrap());
        let first = frames.next_frame().unwrap().unwrap();
        assert_eq!(
            encoded(first.picture),
            [b"P5\n4 3\n255\n".as_slice(), &[7; 12]].concat()
        );
        let second = frames.next_frame().unwrap().unwrap();
        assert!(second.frame_id.ends_with("-2"));
        assert!(encoded(second.picture).ends_with(&[9; 4]));
        assert!(frames.next_frame().unwrap().is_none());
    }

    #[test]
    fn a_truncated_frame_is_named() {
        let mut input = pgm(4, 3, 7);
        input.extend(&pgm(8, 8, 1)[..30]);
        let mut frames = StdinFrames::new(std::io::Cursor::new(input));
        frames.next_frame().unwrap().unwrap();
        let e = frames.next_frame().unwrap_err();
        assert!(
            format!("{e:#}").contains("frame 2 on standard input is truncated"),
            "{e:#}"
        );
    }

    #[test]
    fn any_other_input_is_one_image() {
        let mut frames = StdinFrames::new(std::io::Cursor::new(b"\x89PNG not really".to_vec()));
        assert!(!frames.is_stream().unwrap());
        let image = encoded(frames.next_frame().unwrap().unwrap().picture);
        assert_eq!(image.len(), 15);
        assert!(frames.next_frame().unwrap().is_none());
    }

    #[test]
    fn a_frame_id_is_printable_and_short_whatever_the_name() {
        let id = frame_id("scan 0001\u{7}é.png", 1_764_150_000_123);
        assert_eq!(id, "scan_0001__.png@1764150000123");
        let long = frame_id(&"x".repeat(500), 1);
        assert!(long.len() <= 128, "{}", long.len());
    }

    #[test]
    fn a_source_is_told_by_its_form() {
        let parse = |s: &str| Source::parse(Path::new(s));
        assert_eq!(parse("-"), Source::Stdin);
        assert_eq!(parse("0"), Source::Camera(0));
        assert_eq!(parse("12"), Source::Camera(12));
        assert_eq!(parse("./0"), Source::Images("./0".into()));
        assert_eq!(
            parse("rtsp://10.0.0.5/line1"),
            Source::Stream("rtsp://10.0.0.5/line1".into())
        );
        assert_eq!(parse("clip.AVI"), Source::Video("clip.AVI".into()));
        assert_eq!(parse("scans"), Source::Images("scans".into()));
        assert_eq!(parse("pack.png"), Source::Images("pack.png".into()));
        assert_eq!(parse("99999999999"), Source::Images("99999999999".into()));
    }

    #[test]
    fn a_stream_is_named_without_its_password() {
        let named = Source::Stream("rtsp://admin:secret@cam.local:554/h264".into()).describe();
        assert_eq!(named, "rtsp://***@cam.local:554/h264");
        let plain = Source::Stream("http://cam.local/mjpg?user=a@b".into()).describe();
        assert_eq!(plain, "http://cam.local/mjpg?user=a@b");
    }
}
