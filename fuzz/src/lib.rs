//! What the fuzz targets share: a frame graded the way `verigrade grade` grades an image.

use std::sync::OnceLock;
use verigrade::profile::Profile;
use verigrade::verdict::{Expected, inspect, judge_frame};
use verigrade::{Frame, ReadOptions};

/// Pixels a fuzzed frame may have: as many as a real line camera's would make each run slow
/// without reaching code a small frame does not.
pub const MAX_PIXELS: usize = 1 << 20;

/// Reads every symbol of `frame`, grades and judges each and writes the JSON record, as
/// `grade` does.
pub fn grade(frame: &Frame) {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    let profile = PROFILE.get_or_init(Profile::default_profile);
    let inspection = inspect(frame, profile, None, &ReadOptions::default());
    let overall = f64::from(inspection.scan_grade());
    let record = judge_frame(inspection, overall, profile, None, &Expected::default());
    std::hint::black_box(serde_json::to_string(&record).expect("a record serialises"));
}
