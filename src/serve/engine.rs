//! From one `VerifyRequest` to a verdict ready for the store: checks the frame against the
//! limits, reads and grades it with the line's profile, and keeps a failed frame as evidence.
//! Runs on the grading pool, never on the async runtime.

use super::config::{Config, Limits};
use crate::aggregation;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::Rect;
use crate::profile::Profile;
use crate::proto::{self, Parameter, Verdict, aggregate_request, verify_request};
use crate::reader::{Located, ReadOptions};
use crate::store::Evidence;
use crate::verdict::{self, Expected, SymbolRecord, inspect};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A graded frame: its verdict, and the evidence file kept when it failed.
#[derive(Debug)]
pub struct Graded {
    pub verdict: Verdict,
    pub evidence: Option<Evidence>,
}

/// Cameras whose last symbol position is remembered; past this the memory starts afresh
/// (camera ids come from clients).
const MAX_CAMERAS: usize = 4096;

pub struct Engine {
    config: Config,
    /// Per (line, camera): where its last symbol was, searched first in its next frame.
    last_seen: Mutex<HashMap<(String, String), Rect>>,
    profiles: HashMap<String, Arc<Profile>>,
    evidence_dir: PathBuf,
    evidence_count: AtomicU64,
}

impl Engine {
    /// Loads the built-in profiles and those named in the configuration, and checks that every
    /// line's profile exists.
    pub fn new(config: Config, evidence_dir: PathBuf) -> Result<Engine> {
        let mut profiles = HashMap::new();
        for name in Profile::built_in_names() {
            profiles.insert(name.to_string(), Arc::new(Profile::load(name)?));
        }
        for (name, path) in &config.profiles {
            let profile = Profile::load(&path.display().to_string())?;
            profiles.insert(name.clone(), Arc::new(profile));
        }
        let engine = Engine {
            config,
            last_seen: Mutex::new(HashMap::new()),
            profiles,
            evidence_dir,
            evidence_count: AtomicU64::new(0),
        };
        engine.profile(&engine.config.default_profile)?;
        for line in engine.config.lines.keys() {
            engine.profile(engine.config.line_profile(line))?;
        }
        Ok(engine)
    }

    /// The position memory; a panic elsewhere while it was held leaves nothing half-written
    /// in it, so a poisoned lock is taken as it is.
    fn last_seen(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Rect>> {
        self.last_seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each profile's minimum overall grade, by the name requests use.
    pub fn min_grades(&self) -> HashMap<String, f64> {
        self.profiles
            .iter()
            .map(|(name, profile)| (name.clone(), profile.min_grade))
            .collect()
    }

    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// The configuration and every profile in force, in words, as the audit trail records
    /// them at each start.
    pub fn in_force(&self) -> String {
        let mut profiles: Vec<_> = self.profiles.iter().collect();
        profiles.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = format!("{:?}", self.config);
        for (name, profile) in profiles {
            text.push_str(&format!("\nprofile {name}: {profile:?}"));
        }
        text
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn profile(&self, name: &str) -> Result<&Arc<Profile>> {
        self.profiles.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::UnknownProfile {
                name: name.into(),
                known: known.join(", "),
            }
        })
    }

    /// Checks a request's ids (the first is its line, which is required) and finds its
    /// profile: the one it names, else its line's. The profile's name and the profile.
    fn checked<'a>(
        &'a self,
        ids: &[(&'static str, &'a str)],
        requested_profile: &'a str,
    ) -> Result<(&'a str, &'a Arc<Profile>)> {
        let line_id = ids.first().map_or("", |(_, id)| *id);
        if line_id.is_empty() {
            return Err(Error::MissingField("line_id"));
        }
        for (field, id) in ids {
            self.config.check_id(field, id)?;
        }
        let name = match requested_profile {
            "" => self.config.line_profile(line_id),
            name => name,
        };
        Ok((name, self.profile(name)?))
    }

    /// Grades the frame of `request`; `received` is when the request arrived.
    pub fn verify(&self, request: &proto::VerifyRequest, received: Instant) -> Result<Graded> {
        let ids = [
            ("line_id", request.line_id.as_str()),
            ("camera_id", &request.camera_id),
            ("frame_id", &request.frame_id),
            ("profile", &request.profile),
        ];
        let (profile_name, profile) = self.checked(&ids, &request.profile)?;
        let data = FrameData::of_verify(request)?;
        let frame = self.frame(data)?;
        let expected = match &request.expected {
            Some(e) => Expected {
                count: (e.count > 0).then_some(e.count as usize),
                ..Expected::new(&e.gtin, &e.batch, &e.expiry)?
            },
            None => Expected::default(),
        };
        let px_per_mm = (request.dpi > 0.0).then(|| request.dpi / 25.4);
        let camera = (request.line_id.clone(), request.camera_id.clone());
        // A count asks for every symbol of the frame; otherwise the line's one pack is read
        // and the search stops there.
        let options = ReadOptions {
            region: self.config.roi(&request.line_id, &request.camera_id),
            search_first: self.last_seen().get(&camera).copied(),
            all_symbols: expected.count.is_some(),
            expected: expected.count,
        };
        let inspection = inspect(&frame, profile, px_per_mm, &options);
        if let Some(window) = inspection
            .first()
            .and_then(|s| s.symbol.search_window(frame.width(), frame.height()))
        {
            let mut last_seen = self.last_seen();
            if last_seen.len() >= MAX_CAMERAS && !last_seen.contains_key(&camera) {
                last_seen.clear();
            }
            last_seen.insert(camera, window);
        }
        let overall = f64::from(inspection.scan_grade());
        let record = verdict::judge_frame(inspection, overall, profile, px_per_mm, &expected);
        let first = record.first().map(proto_symbol).unwrap_or_default();
        let verdict = Verdict {
            line_id: request.line_id.clone(),
            frame_id: request.frame_id.clone(),
            camera_id: request.camera_id.clone(),
            frames_dropped_before: request.frames_dropped,
            profile: profile_name.to_string(),
            pass: record.pass(),
            reasons: words(&record.reasons),
            decoded: first.decoded,
            symbology_identifier: first.symbology_identifier,
            gs1: first.gs1,
            size: first.size,
            overall_grade: record.overall,
            grade_letter: record.letter().into(),
            notation: record.notation.clone(),
            parameters: first.parameters,
            batch: expected.batch.clone().unwrap_or_else(|| {
                record
                    .first()
                    .and_then(|s| s.element("10"))
                    .unwrap_or_default()
                    .to_string()
            }),
            text: first.text,
            hri: first.hri,
            gtin: first.gtin,
            serial: first.serial,
            processing_ms: received.elapsed().as_secs_f64() * 1000.0,
            symbols: record.symbols.iter().map(proto_symbol).collect(),
            ..Verdict::default()
        };
        let evidence = if verdict.pass {
            None
        } else {
            self.keep_evidence(&request.line_id, &request.frame_id, data)
        };
        Ok(Graded { verdict, evidence })
    }

    /// Reads and grades a kept evidence frame again as `verdict` was graded (its profile, its
    /// line's region, as many symbols as it held), for the module map a verdict does not
    /// store: the picture around its symbols and their records.
    pub fn remeasure(
        &self,
        verdict: &Verdict,
        image: &[u8],
    ) -> Result<(crate::report::Picture, Vec<SymbolRecord>)> {
        let profile = match verdict.profile.as_str() {
            "" => self.profile(self.config.line_profile(&verdict.line_id))?,
            name => self.profile(name)?,
        };
        let frame = Frame::decode_limited(image, self.config.limits.max_pixels)?;
        let many = verdict.symbols.len() > 1;
        let options = ReadOptions {
            region: self.config.roi(&verdict.line_id, &verdict.camera_id),
            all_symbols: many,
            expected: many.then_some(verdict.symbols.len()),
            ..ReadOptions::default()
        };
        let inspection = inspect(&frame, profile, None, &options);
        let picture = crate::report::Picture::of(&frame, &inspection)
            .ok_or_else(|| Error::Internal("the frame is too small to show".into()))?;
        let overall = f64::from(inspection.scan_grade());
        let record = verdict::judge_frame(inspection, overall, profile, None, &Expected::default());
        Ok((picture, record.symbols))
    }

    /// A request's frame, checked against the limits: an encoded image decoded, a raw buffer
    /// borrowed.
    fn frame<'a>(&self, data: FrameData<'a>) -> Result<Frame<'a>> {
        let limits = &self.config.limits;
        match data {
            FrameData::Image(bytes) => {
                check_bytes(bytes.len(), limits)?;
                Frame::decode_limited(bytes, limits.max_pixels)
            }
            FrameData::Raw(raw) => {
                check_bytes(raw.data.len(), limits)?;
                let (width, height) = (raw.width as usize, raw.height as usize);
                if width.saturating_mul(height) > limits.max_pixels {
                    return Err(Error::FrameTooLarge {
                        pixels: width.saturating_mul(height),
                        limit: limits.max_pixels,
                    });
                }
                Frame::from_raw(width, height, raw.stride as usize, &raw.data)
            }
        }
    }

    /// Every symbol of an aggregation station's frame, read and graded with the line's (or the
    /// request's) profile: the records the aggregation rules sort, and the symbols as the
    /// answer carries them.
    pub fn read_aggregation(
        &self,
        request: &proto::AggregateRequest,
    ) -> Result<(Vec<SymbolRecord>, Vec<proto::Symbol>)> {
        let ids = [
            ("line_id", request.line_id.as_str()),
            ("camera_id", &request.camera_id),
            ("frame_id", &request.frame_id),
            ("profile", &request.profile),
            ("batch", &request.batch),
        ];
        let (_, profile) = self.checked(&ids, &request.profile)?;
        let frame = self.frame(FrameData::of_aggregate(request)?)?;
        let expected = (request.expected_count > 0).then_some(request.expected_count as usize);
        let options = ReadOptions {
            region: self.config.roi(&request.line_id, &request.camera_id),
            ..aggregation::read_options(expected)
        };
        let inspection = inspect(&frame, profile, None, &options);
        let overall = f64::from(inspection.scan_grade());
        let record = verdict::judge_frame(inspection, overall, profile, None, &Expected::default());
        let symbols = record.symbols.iter().map(proto_symbol).collect();
        Ok((record.symbols, symbols))
    }

    /// Keeps a refused aggregation frame as evidence.
    pub fn keep_aggregation_evidence(&self, request: &proto::AggregateRequest) -> Option<Evidence> {
        let data = FrameData::of_aggregate(request).ok()?;
        self.keep_evidence(&request.line_id, &request.frame_id, data)
    }

    /// Writes a failed frame under the evidence folder: an encoded image as it came, a raw
    /// buffer as PNG, streamed to the file (the frame is in the in-flight budget, its PNG
    /// would not be). Evidence is best effort: a full disk must not stop the verdict.
    fn keep_evidence(&self, line_id: &str, frame_id: &str, data: FrameData) -> Option<Evidence> {
        let extension = match data {
            FrameData::Image(bytes) => image::guess_format(bytes)
                .ok()
                .and_then(|f| f.extensions_str().first().copied())
                .unwrap_or("img"),
            FrameData::Raw(_) => "png",
        };
        let file_name = format!(
            "{}-{}-{}-{}.{extension}",
            crate::store::now_ms(),
            self.evidence_count.fetch_add(1, Ordering::Relaxed),
            file_safe(line_id),
            file_safe(frame_id),
        );
        let path = self.evidence_dir.join(&file_name);
        let written = match data {
            FrameData::Image(bytes) => std::fs::write(&path, bytes).map(|()| bytes.len() as u64),
            FrameData::Raw(_) => match self.frame(data) {
                Ok(frame) => write_png_file(&path, &frame),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
        };
        match written {
            Ok(bytes) => Some(Evidence { file_name, bytes }),
            Err(_) => {
                // A full disk leaves a short or empty file: no verdict will name it.
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }
}

/// A request's frame as it came.
#[derive(Clone, Copy)]
enum FrameData<'a> {
    Image(&'a [u8]),
    Raw(&'a proto::RawImage),
}

impl<'a> FrameData<'a> {
    fn of_verify(request: &'a proto::VerifyRequest) -> Result<FrameData<'a>> {
        match &request.frame {
            Some(verify_request::Frame::Image(bytes)) => Ok(FrameData::Image(bytes)),
            Some(verify_request::Frame::Raw(raw)) => Ok(FrameData::Raw(raw)),
            None => Err(Error::MissingField("image or raw")),
        }
    }

    fn of_aggregate(request: &'a proto::AggregateRequest) -> Result<FrameData<'a>> {
        match &request.frame {
            Some(aggregate_request::Frame::Image(bytes)) => Ok(FrameData::Image(bytes)),
            Some(aggregate_request::Frame::Raw(raw)) => Ok(FrameData::Raw(raw)),
            None => Err(Error::MissingField("image or raw")),
        }
    }
}

/// `frame` as a PNG file at `path`; the file's size.
fn write_png_file(path: &Path, frame: &Frame) -> std::io::Result<u64> {
    let mut file = BufWriter::new(File::create(path)?);
    frame.write_png(&mut file).map_err(std::io::Error::other)?;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    Ok(file.metadata()?.len())
}

/// Reasons as the proto carries them: in their words.
fn words(reasons: &[verdict::Reason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}

/// One symbol of a frame as the proto carries it.
fn proto_symbol(symbol: &SymbolRecord) -> proto::Symbol {
    let element = |ai: &str| symbol.element(ai).unwrap_or_default().to_string();
    proto::Symbol {
        text: symbol.text.clone(),
        hri: symbol.hri().unwrap_or_default(),
        size: symbol.size.name(),
        decoded: true,
        overall_grade: symbol.overall,
        grade_letter: symbol.letter().into(),
        notation: symbol.notation.clone(),
        parameters: verdict::Parameter::ALL
            .into_iter()
            .map(|p| {
                let measured = symbol.parameter(p);
                Parameter {
                    name: p.name().into(),
                    value: measured.value,
                    grade: measured.grade.into(),
                }
            })
            .collect(),
        pass: symbol.pass(),
        reasons: words(&symbol.reasons),
        gtin: element("01"),
        serial: element("21"),
        corners: symbol
            .corners
            .iter()
            .map(|p| proto::Point { x: p.x, y: p.y })
            .collect(),
        symbology_identifier: symbol.symbology_identifier.clone(),
        gs1: symbol.gs1.is_some(),
    }
}

fn check_bytes(bytes: usize, limits: &Limits) -> Result<()> {
    if bytes > limits.max_frame_bytes {
        return Err(Error::FrameBytes {
            bytes,
            limit: limits.max_frame_bytes,
        });
    }
    Ok(())
}

/// Up to 40 characters of `text` that are safe in a file name on any system.
fn file_safe(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
