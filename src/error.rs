//! Library errors: one enum, each variant says what was wrong with the input.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("frame has zero size ({width}x{height})")]
    EmptyFrame { width: usize, height: usize },
    #[error("stride {stride} is smaller than the width {width}")]
    StrideTooSmall { stride: usize, width: usize },
    #[error(
        "raw frame is truncated: {width}x{height} with stride {stride} needs {needed} bytes, got {got}"
    )]
    TruncatedFrame {
        width: usize,
        height: usize,
        stride: usize,
        needed: usize,
        got: usize,
    },
    #[error("frame of {pixels} pixels exceeds the limit of {limit}")]
    FrameTooLarge { pixels: usize, limit: usize },
    #[error("not a readable image: {0}")]
    Image(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {0}")]
    Encode(String),
    #[error("no Data Matrix size {rows}x{cols}")]
    UnknownSize { rows: usize, cols: usize },
    #[error("invalid generator option: {0}")]
    InvalidSpec(String),
    #[error("unknown profile {name:?} (built in: {known}; or give a path to a .toml file)")]
    UnknownProfile { name: String, known: String },
    #[error("invalid profile {origin}: {reason}")]
    InvalidProfile { origin: String, reason: String },
    #[error("frame of {bytes} bytes exceeds the limit of {limit}")]
    FrameBytes { bytes: usize, limit: usize },
    #[error("{0} is required")]
    MissingField(&'static str),
    #[error("{field} {reason}")]
    InvalidId { field: &'static str, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("store: {0}")]
    Store(String),
    /// The store's disk is full: nothing more can be stored until space is freed.
    #[error("store is full: {0}")]
    StoreFull(String),
    #[error("expected {field}: {reason}")]
    InvalidExpected { field: &'static str, reason: String },
    #[error("invalid configuration {origin}: {reason}")]
    InvalidConfig { origin: String, reason: String },
    /// What was asked for does not exist (an alarm id, a line's chart).
    #[error("{0}")]
    NotFound(String),
    /// A request the current state does not allow (an alarm acknowledged twice).
    #[error("{0}")]
    Refused(String),
    /// The caller's role does not allow it.
    #[error("{0}")]
    PermissionDenied(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            Error::StoreFull(e.to_string())
        } else {
            Error::Store(e.to_string())
        }
    }
}

impl Error {
    /// The same failure, for another waiter: a store batch fails for every frame in it.
    pub fn cloned(&self) -> Error {
        match self {
            Error::StoreFull(message) => Error::StoreFull(message.clone()),
            Error::Store(message) => Error::Store(message.clone()),
            Error::NotFound(message) => Error::NotFound(message.clone()),
            Error::Refused(message) => Error::Refused(message.clone()),
            Error::PermissionDenied(message) => Error::PermissionDenied(message.clone()),
            other => Error::Store(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
