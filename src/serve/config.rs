//! Service configuration: built-in defaults, then a TOML file, then `VERIGRADE_*` environment
//! variables, then command-line flags — each overriding the one before.

use crate::control::rules::AlarmRules;
use crate::error::{Error, Result};
use crate::geometry::Rect;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Store and evidence folder.
    pub data_dir: PathBuf,
    /// Where verdicts, serials and the audit trail are kept: "sqlite" (the embedded store in
    /// `data_dir`) or a `postgres://` URL that several nodes share.
    pub store: String,
    /// Address of the OPC UA server for PLCs and SCADA; empty or "off": none.
    pub opcua_listen: String,
    /// Address of the HTTP server (Prometheus metrics at /metrics); empty or "off": none.
    pub http_listen: String,
    /// The service's TLS certificate (PEM, intermediates after it); none: plain HTTP/2.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: a CA certificate (PEM); only clients with a certificate it signed are
    /// served, others are refused at the handshake.
    pub tls_client_ca: Option<PathBuf>,
    /// Serve gRPC, OPC UA or HTTP on an address other machines reach without TLS and tokens
    /// (HTTP: without TLS, which it does not have yet): refused unless this is set.
    pub insecure: bool,
    /// Profile for lines without their own.
    pub default_profile: String,
    /// Grading threads; 0 = one per core.
    pub workers: usize,
    pub limits: Limits,
    /// Extra profiles a request may name: name → path of a profile .toml.
    pub profiles: BTreeMap<String, PathBuf>,
    /// Per-line settings.
    pub lines: BTreeMap<String, LineConfig>,
    /// Alarm rules (see `control::rules`); every rule has a default.
    pub alarms: AlarmRules,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest encoded image or raw buffer accepted.
    pub max_frame_bytes: usize,
    /// Largest frame accepted, in pixels.
    pub max_pixels: usize,
    /// Verifier calls open at once, `VerifyStream` and `Verify` alike: each may hold an HTTP/2
    /// window outside `max_inflight_bytes`.
    pub max_concurrent_streams: usize,
    /// Verifier calls open at once from one client (peer address), so one client cannot take
    /// every call.
    pub max_streams_per_client: usize,
    /// Seconds without a frame after which a stream is closed (UNAVAILABLE); 0 = never.
    pub stream_idle_timeout: u64,
    /// Bytes of frames received and not yet answered, all calls together; past it the server
    /// stops reading (HTTP/2 flow control holds the clients back). A frame larger than all of
    /// it is refused.
    pub max_inflight_bytes: u64,
    /// Frames of one stream in flight (read, grading or waiting to be answered) at once.
    pub stream_window: usize,
    /// Bytes of failed frames kept as evidence; the oldest go first.
    pub evidence_budget_bytes: u64,
    /// The store's page cache: the serial index's inner pages at ten million serials fit in
    /// the default; a gateway short of memory trades duplicate-check speed for it.
    pub store_cache_bytes: u64,
    /// Longest `line_id`, `camera_id`, `frame_id` or profile name accepted, in bytes: ids are
    /// stored with every verdict and echoed in every answer.
    pub max_id_bytes: usize,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LineConfig {
    /// This line's default profile.
    pub profile: Option<String>,
    /// Where this line's cameras see the pack, `[x, y, width, height]` in pixels: only this
    /// part of a frame is searched (a fixed line need not search the conveyor's edges).
    pub roi: Option<[usize; 4]>,
    /// Per camera (by `camera_id`): its own region of interest, over the line's.
    pub cameras: BTreeMap<String, CameraConfig>,
    /// Where the line's events happen, as EPCIS names it: a GLN URI, e.g.
    /// `https://id.gs1.org/414/9506000000013/254/L1` (the GLN with the line as extension).
    pub read_point: Option<String>,
    /// The site: `https://id.gs1.org/414/{GLN}`.
    pub business_location: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub roi: Option<[usize; 4]>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:50051".into(),
            data_dir: PathBuf::from("verigrade-data"),
            store: "sqlite".into(),
            opcua_listen: String::new(),
            http_listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            insecure: false,
            default_profile: "iso15415".into(),
            workers: 0,
            limits: Limits::default(),
            profiles: BTreeMap::new(),
            lines: BTreeMap::new(),
            alarms: AlarmRules::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 32 << 20,
            max_pixels: 25_000_000,
            max_concurrent_streams: 64,
            max_streams_per_client: 32,
            stream_idle_timeout: 60,
            max_inflight_bytes: 512 << 20,
            stream_window: 8,
            evidence_budget_bytes: 1 << 30,
            store_cache_bytes: 64 << 20,
            max_id_bytes: 128,
        }
    }
}

impl Config {
    /// Defaults, overridden by `file` (when given) and then by the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                Config::parse(&text, &path.display().to_string())?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        let origin = file.map_or("environment".into(), |path| path.display().to_string());
        config.check_named_ids(&origin)?;
        Ok(config)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let invalid = |reason: String| Error::InvalidConfig {
            origin: origin.into(),
            reason,
        };
        let config: Config = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.alarms.check().map_err(invalid)?;
        for (line, settings) in &config.lines {
            let cameras = settings
                .cameras
                .iter()
                .map(|(camera, c)| (Some(camera), c.roi));
            for (camera, roi) in std::iter::once((None, settings.roi)).chain(cameras) {
                if let Some([_, _, 0, _] | [_, _, _, 0]) = roi {
                    let whose = camera.map_or(String::new(), |c| format!(" camera {c}"));
                    return Err(invalid(format!(
                        "line {line}{whose}: roi [x, y, width, height] needs a width and height"
                    )));
                }
            }
            let locations = [
                ("read_point", &settings.read_point),
                ("business_location", &settings.business_location),
            ];
            for (name, uri) in locations {
                if let Some(uri) = uri
                    && !is_uri(uri)
                {
                    return Err(invalid(format!(
                        "line {line}: {name} {uri:?} is not a URI (e.g. https://id.gs1.org/414/GLN)"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// Applies `VERIGRADE_LISTEN`, `VERIGRADE_OPCUA_LISTEN`, `VERIGRADE_HTTP_LISTEN`,
    /// `VERIGRADE_TLS_CERT`,
    /// `VERIGRADE_TLS_KEY`, `VERIGRADE_TLS_CLIENT_CA` (empty: none), `VERIGRADE_INSECURE`,
    /// `VERIGRADE_DATA_DIR`, `VERIGRADE_STORE`,
    /// `VERIGRADE_DEFAULT_PROFILE`, `VERIGRADE_WORKERS`, `VERIGRADE_MAX_FRAME_BYTES`, `VERIGRADE_MAX_PIXELS`,
    /// `VERIGRADE_MAX_CONCURRENT_STREAMS`, `VERIGRADE_STREAM_WINDOW`,
    /// `VERIGRADE_EVIDENCE_BUDGET_BYTES`, `VERIGRADE_STORE_CACHE_BYTES`,
    /// `VERIGRADE_MAX_ID_BYTES`, `VERIGRADE_MAX_STREAMS_PER_CLIENT`,
    /// `VERIGRADE_STREAM_IDLE_TIMEOUT` and `VERIGRADE_MAX_INFLIGHT_BYTES`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn number<T: std::str::FromStr>(name: &str, value: String) -> Result<T> {
            value.trim().parse().map_err(|_| Error::InvalidConfig {
                origin: format!("environment {name}"),
                reason: format!("{value:?} is not a number"),
            })
        }
        if let Some(v) = var("VERIGRADE_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = var("VERIGRADE_OPCUA_LISTEN") {
            self.opcua_listen = v;
        }
        if let Some(v) = var("VERIGRADE_HTTP_LISTEN") {
            self.http_listen = v;
        }
        for (name, slot) in [
            ("VERIGRADE_TLS_CERT", &mut self.tls_cert),
            ("VERIGRADE_TLS_KEY", &mut self.tls_key),
            ("VERIGRADE_TLS_CLIENT_CA", &mut self.tls_client_ca),
        ] {
            if let Some(v) = var(name) {
                *slot = (!v.is_empty()).then(|| v.into());
            }
        }
        if let Some(v) = var("VERIGRADE_INSECURE") {
            self.insecure = match v.trim() {
                "1" | "true" => true,
                "" | "0" | "false" => false,
                other => {
                    return Err(Error::InvalidConfig {
                        origin: "environment VERIGRADE_INSECURE".into(),
                        reason: format!("{other:?} is not true or false"),
                    });
                }
            };
        }
        if let Some(v) = var("VERIGRADE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("VERIGRADE_STORE") {
            self.store = v;
        }
        if let Some(v) = var("VERIGRADE_DEFAULT_PROFILE") {
            self.default_profile = v;
        }
        let limits = &mut self.limits;
        for (name, slot) in [
            ("VERIGRADE_WORKERS", &mut self.workers),
            ("VERIGRADE_MAX_FRAME_BYTES", &mut limits.max_frame_bytes),
            ("VERIGRADE_MAX_PIXELS", &mut limits.max_pixels),
            (
                "VERIGRADE_MAX_CONCURRENT_STREAMS",
                &mut limits.max_concurrent_streams,
            ),
            ("VERIGRADE_STREAM_WINDOW", &mut limits.stream_window),
            ("VERIGRADE_MAX_ID_BYTES", &mut limits.max_id_bytes),
            (
                "VERIGRADE_MAX_STREAMS_PER_CLIENT",
                &mut limits.max_streams_per_client,
            ),
        ] {
            if let Some(v) = var(name) {
                *slot = number(name, v)?;
            }
        }
        for (name, slot) in [
            (
                "VERIGRADE_EVIDENCE_BUDGET_BYTES",
                &mut limits.evidence_budget_bytes,
            ),
            ("VERIGRADE_STORE_CACHE_BYTES", &mut limits.store_cache_bytes),
            (
                "VERIGRADE_STREAM_IDLE_TIMEOUT",
                &mut limits.stream_idle_timeout,
            ),
            (
                "VERIGRADE_MAX_INFLIGHT_BYTES",
                &mut limits.max_inflight_bytes,
            ),
        ] {
            if let Some(v) = var(name) {
                *slot = number(name, v)?;
            }
        }
        Ok(())
    }

    /// Checks an identifier a client sent: at most `max_id_bytes` bytes, no control character
    /// (NUL, line breaks, escapes). Ids are only ever text: stored, compared and echoed, never
    /// used as a path (an evidence file name keeps only letters, digits, '-' and '_' of them).
    pub fn check_id(&self, field: &'static str, value: &str) -> Result<()> {
        let limit = self.limits.max_id_bytes;
        if value.len() > limit {
            return Err(Error::InvalidId {
                field,
                reason: format!("is {} bytes, over the limit of {limit}", value.len()),
            });
        }
        if let Some((at, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
            return Err(Error::InvalidId {
                field,
                reason: format!(
                    "holds control character U+{:04X} at byte {at}; ids are printable text",
                    c as u32
                ),
            });
        }
        Ok(())
    }

    /// Checks the ids the configuration names — lines, their cameras, profiles — by the rules
    /// of [`Config::check_id`]: a line no request may name would never be used, and a control
    /// character would reach every answer and log line that echoes it. Run once `max_id_bytes`
    /// has its final value.
    pub fn check_named_ids(&self, origin: &str) -> Result<()> {
        let lines = self.lines.iter().flat_map(|(line, settings)| {
            let cameras = settings
                .cameras
                .keys()
                .map(move |camera| (format!("[lines.{line:?}.cameras] id"), camera));
            let profile = settings
                .profile
                .iter()
                .map(move |profile| (format!("lines.{line:?}.profile"), profile));
            std::iter::once(("[lines] id".to_string(), line))
                .chain(cameras)
                .chain(profile)
        });
        let profiles = self
            .profiles
            .keys()
            .map(|name| ("[profiles] name".to_string(), name));
        let named = std::iter::once(("default_profile".to_string(), &self.default_profile))
            .chain(profiles)
            .chain(lines);
        for (what, id) in named {
            if let Err(Error::InvalidId { reason, .. }) = self.check_id("id", id) {
                return Err(Error::InvalidConfig {
                    origin: origin.into(),
                    reason: format!("{what} {} {reason} (max_id_bytes)", shown(id)),
                });
            }
        }
        Ok(())
    }

    /// The region of interest of a camera on a line: its own, else the line's, else none.
    pub fn roi(&self, line_id: &str, camera_id: &str) -> Option<Rect> {
        let line = self.lines.get(line_id)?;
        let [x, y, width, height] = line
            .cameras
            .get(camera_id)
            .and_then(|c| c.roi)
            .or(line.roi)?;
        Some(Rect::new(x, y, width, height))
    }

    /// The profile name a frame of `line_id` is graded with when the request names none.
    /// The line's EPCIS read point and business location, as configured.
    pub fn line_locations(&self, line_id: &str) -> (Option<String>, Option<String>) {
        self.lines.get(line_id).map_or((None, None), |l| {
            (l.read_point.clone(), l.business_location.clone())
        })
    }

    pub fn line_profile(&self, line_id: &str) -> &str {
        self.lines
            .get(line_id)
            .and_then(|l| l.profile.as_deref())
            .unwrap_or(&self.default_profile)
    }
}

/// Whether `text` is an absolute URI as EPCIS takes one: a scheme, a colon, and no spaces.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !text.chars().any(char::is_whitespace)
}

/// An id as an error message shows it: quoted with its control characters escaped, and cut
/// short, so that the message stays one readable line.
fn shown(id: &str) -> String {
    const SHOWN_CHARS: usize = 32;
    let head: String = id.chars().take(SHOWN_CHARS).collect();
    if head.len() < id.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        let mut config = Config::parse(
            "listen = \"0.0.0.0:6000\"\n[limits]\nmax_pixels = 1000\n[lines.L2]\nprofile = \"gs1-healthcare\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:6000");
        assert_eq!(config.limits.max_pixels, 1000);
        assert_eq!(config.limits.stream_window, 8);
        config
            .apply_env(|name| (name == "VERIGRADE_MAX_PIXELS").then(|| "2000".to_string()))
            .unwrap();
        assert_eq!(config.limits.max_pixels, 2000);
        assert_eq!(config.limits.store_cache_bytes, 64 << 20);
        config
            .apply_env(|name| (name == "VERIGRADE_STORE_CACHE_BYTES").then(|| "8388608".into()))
            .unwrap();
        assert_eq!(config.limits.store_cache_bytes, 8 << 20);
        assert_eq!(config.line_profile("L2"), "gs1-healthcare");
        assert_eq!(config.line_profile("L1"), "iso15415");
    }

    #[test]
    fn tls_files_come_from_the_file_then_the_environment() {
        let mut config = Config::parse(
            "tls_cert = \"server.pem\"\ntls_key = \"server.key\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.tls_cert, Some(PathBuf::from("server.pem")));
        assert_eq!(config.tls_client_ca, None);
        config
            .apply_env(|name| match name {
                "VERIGRADE_TLS_KEY" => Some("renewed.key".into()),
                "VERIGRADE_TLS_CLIENT_CA" => Some("plant-ca.pem".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.tls_key, Some(PathBuf::from("renewed.key")));
        assert_eq!(config.tls_client_ca, Some(PathBuf::from("plant-ca.pem")));
        // An empty variable takes a file's setting away.
        config
            .apply_env(|name| (name == "VERIGRADE_TLS_CLIENT_CA").then(String::new))
            .unwrap();
        assert_eq!(config.tls_client_ca, None);
    }

    #[test]
    fn a_camera_region_overrides_its_line() {
        let config = Config::parse(
            "[lines.L1]\nroi = [100, 50, 800, 600]\n[lines.L1.cameras.top]\nroi = [0, 0, 640, 480]\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.roi("L1", "side"), Some(Rect::new(100, 50, 800, 600)));
        assert_eq!(config.roi("L1", "top"), Some(Rect::new(0, 0, 640, 480)));
        assert_eq!(config.roi("L2", "top"), None);
        let err = Config::parse("[lines.L1]\nroi = [0, 0, 0, 10]\n", "test").unwrap_err();
        assert!(err.to_string().contains("line L1: roi"), "{err}");
    }

    #[test]
    fn ids_are_printable_and_bounded() {
        let mut config = Config::default();
        config.limits.max_id_bytes = 8;
        for good in ["L1", "L-2 é", "../../x", "12345678"] {
            assert!(config.check_id("line_id", good).is_ok(), "{good:?}");
        }
        for (bad, reason) in [
            ("123456789", "line_id is 9 bytes, over the limit of 8"),
            ("ééééé", "line_id is 10 bytes"),
            (
                "L\u{0}1",
                "line_id holds control character U+0000 at byte 1",
            ),
            ("L\n", "U+000A"),
            ("\u{1b}[2J", "U+001B"),
            ("\u{85}", "U+0085"),
        ] {
            let err = config.check_id("line_id", bad).unwrap_err().to_string();
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }

    #[test]
    fn ids_the_configuration_names_follow_the_rules_of_requests() {
        let text = "default_profile = \"iso15415\"\n[profiles]\nhouse = \"h.toml\"\n\
                    [lines.L1]\nprofile = \"house\"\n[lines.L1.cameras.top]\n";
        let config = Config::parse(text, "test").unwrap();
        assert!(config.check_named_ids("test").is_ok());
        for (bad, says) in [
            (
                "[lines.\"L\\u0000\"]\n",
                r#"[lines] id "L\0" holds control character U+0000 at byte 1"#,
            ),
            (
                "[lines.L1.cameras.\"top\\n\"]\n",
                r#"[lines."L1".cameras] id "top\n" holds control character U+000A"#,
            ),
            (
                "[lines.L1]\nprofile = \"house\\u001b\"\n",
                r#"lines."L1".profile "house\u{1b}" holds"#,
            ),
            (
                "[profiles]\n\"\\u0085\" = \"x.toml\"\n",
                r#"[profiles] name "\u{85}" holds"#,
            ),
            (
                "default_profile = \"p\\t\"\n",
                r#"default_profile "p\t" holds"#,
            ),
        ] {
            let config = Config::parse(bad, "test").unwrap();
            let err = config.check_named_ids("c.toml").unwrap_err().to_string();
            assert!(err.starts_with("invalid configuration c.toml: "), "{err}");
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let long = format!("[lines.{}]\n", "L".repeat(200));
        let err = Config::parse(&long, "test")
            .unwrap()
            .check_named_ids("c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "\"{}\"… is 200 bytes, over the limit of 128",
                "L".repeat(32)
            )),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_numbers_are_refused() {
        assert!(Config::parse("listn = \"x\"", "test").is_err());
        let mut config = Config::default();
        let err = config
            .apply_env(|name| (name == "VERIGRADE_WORKERS").then(|| "many".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("VERIGRADE_WORKERS"));
    }
}
