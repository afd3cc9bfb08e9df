//! Application profiles: what a symbol must reach to pass, and how to measure it (aperture,
//! calibration, wavelength, fixed-pattern damage cut-offs). Profiles are TOML files in
//! `models/`; the ones shipped there are built in, and any other file can be named by path.

use crate::error::{Error, Result};
use crate::gs1::{AiTable, Gs1Data};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The profiles in `models/`, built into the binary so it grades anywhere.
const BUILT_IN: &[(&str, &str)] = &[
    ("iso15415", include_str!("../models/iso15415.toml")),
    (
        "gs1-healthcare",
        include_str!("../models/gs1-healthcare.toml"),
    ),
    ("eu-fmd", include_str!("../models/eu-fmd.toml")),
    ("dscsa", include_str!("../models/dscsa.toml")),
];

/// The default profile's name.
pub const DEFAULT_PROFILE: &str = "iso15415";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Lowest overall grade (0.0–4.0) that passes.
    pub min_grade: f64,
    /// Illumination wavelength for the grade notation (660 = red).
    pub wavelength_nm: u32,
    pub aperture: Aperture,
    pub calibration: Calibration,
    pub fixed_pattern_damage: FixedPatternDamage,
    /// The data must be GS1 (FNC1 first).
    #[serde(default)]
    pub require_gs1: bool,
    /// Allowed X dimension in millimetres, checked when the image resolution is known.
    #[serde(default)]
    pub x_dimension_mm: Option<[f64; 2]>,
    /// Light margin required around the symbol, in modules.
    #[serde(default = "one_module")]
    pub quiet_zone_modules: f64,
    /// What the GS1 data of a pack must carry in this profile's market.
    #[serde(default)]
    pub data: DataRules,
}

/// A market's rules for the data on a pack, on top of the GS1 rules every symbol meets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRules {
    /// AIs every pack must carry, e.g. `["01", "21", "10", "17"]`.
    #[serde(default)]
    pub required_ais: Vec<String>,
    /// AIs a pack may carry besides the required ones.
    #[serde(default)]
    pub optional_ais: Vec<String>,
    /// Fail any AI that is neither required nor optional.
    #[serde(default)]
    pub reject_other_ais: bool,
    /// Tighter maximum lengths than the GS1 table's, e.g. `{ "21" = 20 }`.
    #[serde(default)]
    pub max_length: BTreeMap<String, usize>,
    /// The GTIN in (01) must continue with one of these after its indicator digit
    /// (`"03"`: a US NDC inside the GTIN).
    #[serde(default)]
    pub gtin_prefixes: Vec<String>,
    /// What such a GTIN is called in a reason, with its article, e.g. "an NDC-based".
    #[serde(default)]
    pub gtin_kind: String,
}

/// How GS1 data falls short of a profile's own rules (on top of the GS1 General
/// Specifications); `profile` names the profile in the words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataProblem {
    Missing {
        ai: String,
        profile: String,
    },
    NotAllowed {
        ai: String,
        profile: String,
    },
    TooLong {
        ai: String,
        length: usize,
        max: usize,
        profile: String,
    },
    GtinKind {
        gtin: String,
        kind: String,
        prefixes: Vec<String>,
    },
}

impl std::fmt::Display for DataProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataProblem::Missing { ai, profile } => {
                write!(f, "({ai}) is missing ({profile} requires it)")
            }
            DataProblem::NotAllowed { ai, profile } => {
                write!(f, "({ai}) is not allowed by {profile}")
            }
            DataProblem::TooLong {
                ai,
                length,
                max,
                profile,
            } => write!(
                f,
                "({ai}) has {length} characters, {profile} allows at most {max}"
            ),
            DataProblem::GtinKind {
                gtin,
                kind,
                prefixes,
            } => write!(
                f,
                "(01) {gtin} is not {kind} GTIN (after the indicator digit it must start with {})",
                prefixes.join(" or ")
            ),
        }
    }
}

impl DataRules {
    /// Every way `data` falls short of these rules; `market` names the profile.
    pub fn check(&self, data: &Gs1Data, market: &str) -> Vec<DataProblem> {
        let mut problems = Vec::new();
        for ai in &self.required_ais {
            if data.get(ai).is_none() {
                problems.push(DataProblem::Missing {
                    ai: ai.clone(),
                    profile: market.into(),
                });
            }
        }
        if self.reject_other_ais {
            for element in &data.elements {
                let ai = element.ai.as_str();
                let listed = self.required_ais.iter().chain(&self.optional_ais);
                if !listed.into_iter().any(|a| a == ai) {
                    problems.push(DataProblem::NotAllowed {
                        ai: ai.into(),
                        profile: market.into(),
                    });
                }
            }
        }
        for (ai, &max) in &self.max_length {
            if let Some(value) = data.get(ai)
                && value.chars().count() > max
            {
                problems.push(DataProblem::TooLong {
                    ai: ai.clone(),
                    length: value.chars().count(),
                    max,
                    profile: market.into(),
                });
            }
        }
        if let Some(gtin) = data.get("01")
            && !self.gtin_prefixes.is_empty()
            && !self.gtin_prefixes.iter().any(|p| {
                gtin.get(1..)
                    .is_some_and(|rest| rest.starts_with(p.as_str()))
            })
        {
            problems.push(DataProblem::GtinKind {
                gtin: gtin.into(),
                kind: self.gtin_kind.clone(),
                prefixes: self.gtin_prefixes.clone(),
            });
        }
        problems
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let table = AiTable::builtin();
        let named = self
            .required_ais
            .iter()
            .chain(&self.optional_ais)
            .chain(self.max_length.keys());
        for ai in named {
            if table.get(ai).is_none() {
                return Err(format!("data: ({ai}) is not a GS1 AI"));
            }
        }
        if self
            .gtin_prefixes
            .iter()
            .any(|p| p.is_empty() || p.len() > 12 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("data.gtin_prefixes must be 1–12 digits each".into());
        }
        Ok(())
    }
}

fn one_module() -> f64 {
    1.0
}

/// The synthetic aperture: `mils` (thousandths of an inch) when the image resolution is
/// known, otherwise `x_fraction` of the measured X dimension.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aperture {
    #[serde(default)]
    pub mils: Option<u32>,
    pub x_fraction: f64,
}

/// Linear grey-level → reflectance map through two reference points.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub grey: [f64; 2],
    pub reflectance: [f64; 2],
}

impl Calibration {
    pub fn reflectance(&self, grey: f64) -> f64 {
        let [g0, g1] = self.grey;
        let [r0, r1] = self.reflectance;
        r0 + (grey - g0) * (r1 - r0) / (g1 - g0)
    }
}

/// Cut-offs for grades A, B, C, D of the fixed-pattern segments (beyond D is F).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedPatternDamage {
    /// Damaged modules in each of L1, L2, QZL1, QZL2.
    pub segment_damaged_modules: [u32; 4],
    /// Share of damaged modules in the clock tracks and alignment patterns (OCTASA).
    pub octasa_damaged_fraction: [f64; 4],
}

impl Profile {
    /// A built-in profile by name, or a profile file by path.
    pub fn load(name_or_path: &str) -> Result<Profile> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Profile::parse(text, name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            return Profile::parse(&text, name_or_path);
        }
        Err(Error::UnknownProfile {
            name: name_or_path.to_string(),
            known: Profile::built_in_names().join(", "),
        })
    }

    pub fn default_profile() -> Profile {
        Profile::load(DEFAULT_PROFILE).expect("the default profile is built in and valid")
    }

    pub fn built_in_names() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(name, _)| *name).collect()
    }

    fn parse(text: &str, origin: &str) -> Result<Profile> {
        let profile: Profile = toml::from_str(text).map_err(|e| Error::InvalidProfile {
            origin: origin.to_string(),
            reason: e.message().to_string(),
        })?;
        profile.validate().map_err(|reason| Error::InvalidProfile {
            origin: origin.to_string(),
            reason,
        })?;
        Ok(profile)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..=4.0).contains(&self.min_grade) {
            return Err("min_grade must be within 0.0–4.0".into());
        }
        if !(self.aperture.x_fraction > 0.0 && self.aperture.x_fraction <= 2.0) {
            return Err("aperture.x_fraction must be within 0–2".into());
        }
        if self.calibration.grey[0] == self.calibration.grey[1] {
            return Err("calibration needs two different grey levels".into());
        }
        if !(0.0..=10.0).contains(&self.quiet_zone_modules) {
            return Err("quiet_zone_modules must be within 0–10".into());
        }
        let fractions = &self.fixed_pattern_damage.octasa_damaged_fraction;
        if fractions.windows(2).any(|w| w[0] > w[1]) {
            return Err("octasa_damaged_fraction must not decrease".into());
        }
        if let Some([lo, hi]) = self.x_dimension_mm
            && !(lo > 0.0 && lo <= hi)
        {
            return Err("x_dimension_mm must be [min, max] with 0 < min <= max".into());
        }
        self.data.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_load() {
        for name in Profile::built_in_names() {
            let profile = Profile::load(name).unwrap();
            assert_eq!(profile.name, name);
        }
        let gs1 = Profile::load("gs1-healthcare").unwrap();
        assert!(gs1.require_gs1);
        assert_eq!(gs1.aperture.mils, Some(8));
    }

    #[test]
    fn unknown_profile_names_the_known_ones() {
        let err = Profile::load("no-such-profile").unwrap_err().to_string();
        assert!(
            err.contains("no-such-profile") && err.contains("gs1-healthcare"),
            "{err}"
        );
    }

    fn data_reasons(profile: &str, hri: &str) -> Vec<String> {
        let data = crate::gs1::parse_hri(hri);
        assert!(data.is_valid(), "{:?}", data.problems);
        Profile::load(profile)
            .unwrap()
            .data
            .check(&data, profile)
            .into_iter()
            .map(|p| crate::verdict::Reason::ProfileData(p).to_string())
            .collect()
    }

    #[test]
    fn eu_fmd_requires_the_unique_identifier() {
        let pack = "(01)09506000134352(17)281231(10)AB12(21)SN00001234";
        assert!(data_reasons("eu-fmd", pack).is_empty());
        assert!(data_reasons("eu-fmd", &format!("{pack}(714)PT1234567")).is_empty());
        assert_eq!(
            data_reasons("eu-fmd", "(01)09506000134352(10)AB12(21)SN1"),
            ["GS1: (17) is missing (eu-fmd requires it)"]
        );
        assert_eq!(
            data_reasons("eu-fmd", &format!("{pack}(91)X")),
            ["GS1: (91) is not allowed by eu-fmd"]
        );
    }

    #[test]
    fn dscsa_requires_an_ndc_based_gtin() {
        let rest = "(17)281231(10)AB12(21)SN00001234";
        assert!(data_reasons("dscsa", &format!("(01)00301234567896{rest}")).is_empty());
        assert!(data_reasons("dscsa", &format!("(01)10301234567893{rest}")).is_empty());
        assert_eq!(
            data_reasons("dscsa", &format!("(01)09506000134352{rest}")),
            [
                "GS1: (01) 09506000134352 is not an NDC-based GTIN (after the indicator digit it must start with 03)"
            ]
        );
        // Extra AIs are allowed on a DSCSA pack.
        assert!(data_reasons("dscsa", &format!("(01)00301234567896{rest}(91)X")).is_empty());
    }

    #[test]
    fn profile_data_rules_name_real_ais() {
        let text = include_str!("../models/eu-fmd.toml").replace("\"714\"]", "\"799\"]");
        let err = Profile::parse(&text, "test").unwrap_err().to_string();
        assert!(err.contains("(799) is not a GS1 AI"), "{err}");
    }

    #[test]
    fn calibration_is_linear_through_its_references() {
        let c = Calibration {
            grey: [20.0, 220.0],
            reflectance: [0.05, 0.85],
        };
        assert!((c.reflectance(20.0) - 0.05).abs() < 1e-12);
        assert!((c.reflectance(120.0) - 0.45).abs() < 1e-12);
    }
}
