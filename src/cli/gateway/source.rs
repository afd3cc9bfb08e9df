//! Where a gateway's frames come from without a camera: image files named on the command line
//! (folders walked), one image on standard input, or a hot folder a scanner or a lab drops
//! files into. Each frame carries an id that stays the same when it is sent again, so the
//! server answers a resent frame from its store instead of counting it twice.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One captured frame: its id and its bytes as the source gave them (an encoded image).
pub struct Captured {
    pub frame_id: String,
    pub image: Vec<u8>,
    /// The hot-folder file it came from, moved to `done/` or `failed/` once answered.
    pub file: Option<PathBuf>,
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

/// The id of a frame read from standard input: when it was read.
pub fn stdin_frame() -> Result<Captured> {
    let mut image = Vec::new();
    std::io::stdin()
        .read_to_end(&mut image)
        .context("cannot read standard input")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Ok(Captured {
        frame_id: frame_id("stdin", now),
        image,
        file: None,
    })
}

/// Reads a named file as a frame.
pub fn file_frame(path: &Path, from_hot_folder: bool) -> Result<Captured> {
    let frame_id = file_frame_id(path)?;
    let image = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Captured {
        frame_id,
        image,
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

    #[test]
    fn a_frame_id_is_printable_and_short_whatever_the_name() {
        let id = frame_id("scan 0001\u{7}é.png", 1_764_150_000_123);
        assert_eq!(id, "scan_0001__.png@1764150000123");
        let long = frame_id(&"x".repeat(500), 1);
        assert!(long.len() <= 128, "{}", long.len());
    }
}
