//! Aggregation's rules: which symbols of a frame are the parent's label and which its
//! children, and whether the parent may take them. Plain functions over what the frame shows
//! and what the store knows; the store only fetches those facts and records the outcome.

use crate::gs1::{self, Gs1Data};
use crate::reader::ReadOptions;
use crate::verdict::SymbolRecord;
use std::collections::HashSet;
use std::fmt;

/// A Serial Shipping Container Code: 18 digits, the last a GS1 check digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sscc(String);

impl Sscc {
    /// An SSCC as an operator types it: 18 digits, or `(00)` and 18 digits.
    pub fn parse(text: &str) -> Result<Sscc, Reason> {
        let digits = text.trim();
        let digits = digits.strip_prefix("(00)").unwrap_or(digits);
        if let Some(problem) = gs1::check_ai_value("00", digits).first() {
            return Err(Reason::BadSscc {
                text: text.to_string(),
                problem: problem.to_string(),
            });
        }
        Ok(Sscc(digits.to_string()))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `(00)` and the digits.
    pub fn hri(&self) -> String {
        format!("(00){}", self.0)
    }
}

impl fmt::Display for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "(00){}", self.0)
    }
}

/// What a parent holds: a pack (GTIN and serial) or a case (its SSCC), on a pallet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Child {
    Pack { gtin: String, serial: String },
    Case(Sscc),
}

impl Child {
    /// A child as HRI names it: `(01)…(21)…` or `(00)…`.
    pub fn parse(hri: &str) -> Result<Child, String> {
        let data = gs1::parse_hri(hri.trim());
        if let Some(problem) = data.problems.first() {
            return Err(format!("{hri} is not valid GS1 data: {problem}"));
        }
        Child::of(&data)
            .ok_or_else(|| format!("{hri} names neither a pack ((01) and (21)) nor a case ((00))"))
    }

    /// The child that GS1 data identifies: an SSCC, else a GTIN with its serial.
    fn of(data: &Gs1Data) -> Option<Child> {
        if let Some(sscc) = data.get("00") {
            return Some(Child::Case(Sscc(sscc.to_string())));
        }
        Some(Child::Pack {
            gtin: data.get("01")?.to_string(),
            serial: data.get("21")?.to_string(),
        })
    }

    /// The child's name in the store and in answers: its HRI (a `(` in a serial escaped).
    pub fn hri(&self) -> String {
        match self {
            Child::Pack { gtin, serial } => {
                format!("(01){gtin}(21){}", serial.replace('(', "\\("))
            }
            Child::Case(sscc) => sscc.hri(),
        }
    }

    /// The child as reasons name it: `pack (01)…(21)…`, `case (00)…`.
    pub fn named(&self) -> String {
        let kind = match self {
            Child::Pack { .. } => "pack",
            Child::Case(_) => "case",
        };
        format!("{kind} {}", self.hri())
    }

    pub fn kind(&self) -> Kind {
        match self {
            Child::Pack { .. } => Kind::Pack,
            Child::Case(_) => Kind::Case,
        }
    }
}

/// The kind of child a parent holds, named as an operator counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Pack,
    Case,
}

impl Kind {
    /// What holds children of this kind.
    fn parent(self) -> &'static str {
        match self {
            Kind::Pack => "case",
            Kind::Case => "pallet",
        }
    }

    fn name(self, count: usize) -> &'static str {
        match (self, count) {
            (Kind::Pack, 1) => "pack",
            (Kind::Pack, _) => "packs",
            (Kind::Case, 1) => "case",
            (Kind::Case, _) => "cases",
        }
    }
}

/// Why an aggregation is refused, in an operator's words.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// The parent holds more or fewer children than its pattern (children named with their
    /// kind below: `pack (01)…(21)…`).
    Count {
        held: usize,
        expected: usize,
        kind: Kind,
    },
    NoChildren,
    /// A symbol that is not GS1 data, or names neither a pack nor a case.
    Unidentified {
        text: String,
    },
    /// A child's symbol fails its grade or its data, with the symbol's own reasons.
    ChildFails {
        child: String,
        reasons: String,
    },
    /// The same child (one serial) seen twice in the frame.
    Repeated {
        child: String,
    },
    NotCommissioned {
        child: String,
    },
    OtherBatch {
        child: String,
        batch: String,
        expected: String,
    },
    InOtherParent {
        child: String,
        parent: String,
    },
    /// A case put on a pallet without any packs aggregated into it.
    EmptyCase {
        child: String,
    },
    /// A case that would end up inside itself.
    Cycle {
        child: String,
        parent: String,
    },
    MixedKinds,
    BadSscc {
        text: String,
        problem: String,
    },
    NoParent,
    /// More than one label the parent could be.
    TwoLabels {
        first: String,
        second: String,
    },
    /// The label in the frame is not the SSCC the request names.
    LabelDiffers {
        label: String,
        requested: String,
    },
    /// The SSCC holds children already.
    InUse {
        parent: String,
        held: usize,
        kind: Kind,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Reason::Count {
                held,
                expected,
                kind,
            } => write!(
                f,
                "{} holds {held} of {expected} {}",
                kind.parent(),
                kind.name(*expected)
            ),
            Reason::NoChildren => write!(f, "no pack or case code was read in the frame"),
            Reason::Unidentified { text } => write!(
                f,
                "a symbol reads {text:?}: not a pack ((01) and (21)) or case ((00)) code"
            ),
            Reason::ChildFails { child, reasons } => write!(f, "{child} fails: {reasons}"),
            Reason::Repeated { child } => {
                write!(f, "{child} appears twice: two packs carry one serial")
            }
            Reason::NotCommissioned { child } => write!(f, "{child} was never commissioned"),
            Reason::OtherBatch {
                child,
                batch,
                expected,
            } => write!(f, "{child} belongs to batch {batch}, not {expected}"),
            Reason::InOtherParent { child, parent } => {
                write!(f, "{child} is already in {parent}")
            }
            Reason::EmptyCase { child } => write!(
                f,
                "{child} holds nothing: aggregate its packs before the case"
            ),
            Reason::Cycle { child, parent } => {
                write!(f, "{child} holds {parent}: it cannot also go into it")
            }
            Reason::MixedKinds => write!(f, "a parent holds packs or cases, not both"),
            Reason::BadSscc { text, problem } => write!(f, "SSCC {text} is not valid: {problem}"),
            Reason::NoParent => write!(
                f,
                "no SSCC: the frame shows no case label (00) and the request names none"
            ),
            Reason::TwoLabels { first, second } => write!(
                f,
                "the frame shows two labels, {first} and {second}: name the parent's SSCC"
            ),
            Reason::LabelDiffers { label, requested } => write!(
                f,
                "the label in the frame reads {label}, the request names {requested}"
            ),
            Reason::InUse { parent, held, kind } => write!(
                f,
                "SSCC {parent} is already used: it holds {held} {}; disaggregate it first",
                kind.name(*held)
            ),
        }
    }
}

/// How the aggregation station reads a frame: every symbol in it, and once the `expected`
/// children and the parent's label are read, no dearer search of what is left (the packs'
/// print). A frame without the label (the parent named in the request) is searched to the
/// end.
pub fn read_options(expected: Option<usize>) -> ReadOptions {
    ReadOptions {
        expected: expected.map(|children| children + 1),
        ..ReadOptions::default()
    }
}

/// What one frame at the aggregation station shows.
#[derive(Debug, Default)]
pub struct Reading {
    /// The parent: the requested SSCC, else the label read.
    pub parent: Option<Sscc>,
    /// The children, in the order read, each once.
    pub children: Vec<Child>,
    /// The batch the children must belong to: the requested one, else the packs' own.
    pub batch: String,
    pub reasons: Vec<Reason>,
}

/// Sorts a frame's symbols into the parent's label and its children and checks what needs no
/// store: the count, each child's grade and data, repeats, one batch, one kind, one label.
/// `requested`: the parent the request names. A frame with packs is a case: its one label
/// (00) is the parent, and must be the requested one. A frame of labels alone is a pallet:
/// every label but the requested parent's is a case on it.
pub fn read_frame(
    symbols: &[SymbolRecord],
    requested: Option<Sscc>,
    expected_count: Option<usize>,
    batch: Option<&str>,
) -> Reading {
    let mut reading = Reading::default();
    let identified: Vec<(&SymbolRecord, Child)> = symbols
        .iter()
        .filter_map(|symbol| match symbol.gs1.as_ref().and_then(Child::of) {
            Some(child) => Some((symbol, child)),
            None => {
                reading.reasons.push(Reason::Unidentified {
                    text: symbol.text.chars().take(48).collect(),
                });
                None
            }
        })
        .collect();
    let mut labels: Vec<Sscc> = Vec::new();
    for (_, child) in &identified {
        if let Child::Case(sscc) = child
            && !labels.contains(sscc)
        {
            labels.push(sscc.clone());
        }
    }
    let is_case_frame = identified
        .iter()
        .any(|(_, c)| matches!(c, Child::Pack { .. }));
    // The labels that are the parent's (not children).
    let parent_labels: Vec<Sscc> = match (&requested, is_case_frame) {
        (Some(parent), false) => labels.iter().filter(|l| *l == parent).cloned().collect(),
        (None, false) if labels.len() > 1 => Vec::new(),
        _ => labels.clone(),
    };
    reading.parent = match (requested, parent_labels.as_slice()) {
        (Some(parent), labels) => {
            if let Some(other) = labels.iter().find(|l| **l != parent) {
                reading.reasons.push(Reason::LabelDiffers {
                    label: other.to_string(),
                    requested: parent.to_string(),
                });
            }
            Some(parent)
        }
        // A label read is the parent only when its data is a valid SSCC.
        (None, [label]) => match Sscc::parse(label.digits()) {
            Ok(parent) => Some(parent),
            Err(reason) => {
                reading.reasons.push(reason);
                None
            }
        },
        (None, []) => {
            reading.reasons.push(Reason::NoParent);
            None
        }
        (None, [first, second, ..]) => {
            reading.reasons.push(Reason::TwoLabels {
                first: first.to_string(),
                second: second.to_string(),
            });
            None
        }
    };
    let mut seen = HashSet::new();
    // Each pack with the batch its (10) carries.
    let mut pack_batches: Vec<(String, String)> = Vec::new();
    for (symbol, child) in identified {
        if matches!(&child, Child::Case(sscc) if parent_labels.contains(sscc)) {
            continue;
        }
        let name = child.named();
        if !seen.insert(child.clone()) {
            reading.reasons.push(Reason::Repeated { child: name });
            continue;
        }
        if !symbol.pass() {
            let reasons: Vec<String> = symbol.reasons.iter().map(ToString::to_string).collect();
            reading.reasons.push(Reason::ChildFails {
                child: name.clone(),
                reasons: reasons.join("; "),
            });
        }
        if let (Child::Pack { .. }, Some(lot)) = (&child, symbol.element("10")) {
            pack_batches.push((name, lot.to_string()));
        }
        reading.children.push(child);
    }
    reading.batch = match batch {
        Some(batch) if !batch.is_empty() => batch.to_string(),
        _ => most_common(pack_batches.iter().map(|(_, lot)| lot.as_str())),
    };
    for (child, lot) in pack_batches {
        if lot != reading.batch {
            reading.reasons.push(Reason::OtherBatch {
                child,
                batch: lot,
                expected: reading.batch.clone(),
            });
        }
    }
    let kinds: HashSet<Kind> = reading.children.iter().map(Child::kind).collect();
    if kinds.len() > 1 {
        reading.reasons.push(Reason::MixedKinds);
    }
    let kind = reading.children.first().map_or(Kind::Pack, Child::kind);
    match expected_count {
        Some(expected) if expected != reading.children.len() => {
            reading.reasons.push(Reason::Count {
                held: reading.children.len(),
                expected,
                kind,
            })
        }
        None if reading.children.is_empty() => reading.reasons.push(Reason::NoChildren),
        _ => {}
    }
    reading
}

/// The value most of `values` have (the first of equals); empty when there is none.
fn most_common<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for value in values {
        match counts.iter_mut().find(|(v, _)| *v == value) {
            Some((_, n)) => *n += 1,
            None => counts.push((value, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    counts
        .into_iter()
        .find(|(_, n)| *n == best)
        .map(|(v, _)| v.to_string())
        .unwrap_or_default()
}

/// Where a pack's serial is commissioned, as the store finds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Commissioning {
    /// The line commissions no serials: any serial may be packed.
    NotUsed,
    Missing,
    For {
        line: String,
        batch: String,
    },
}

/// What the store knows of one child.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildFacts {
    /// The parent it is in now.
    pub parent: Option<String>,
    /// For a pack: its commissioning.
    pub commissioning: Commissioning,
    /// For a case: how many children it holds.
    pub holds: usize,
}

/// Why the store's facts refuse `child` for a parent packed on `line_id` for `batch`, whose
/// ancestors are `ancestors` (its own HRI, then the parents above it); `None` when it may go in.
pub fn child_refusal(
    child: &Child,
    line_id: &str,
    batch: &str,
    ancestors: &[String],
    facts: &ChildFacts,
) -> Option<Reason> {
    let name = child.named();
    if let Some(parent) = &facts.parent {
        return Some(Reason::InOtherParent {
            child: name,
            parent: format!("{} {parent}", child.kind().parent()),
        });
    }
    match child {
        Child::Pack { .. } => match &facts.commissioning {
            Commissioning::NotUsed => None,
            Commissioning::Missing => Some(Reason::NotCommissioned { child: name }),
            Commissioning::For { line, batch: owner } if line != line_id || owner != batch => {
                Some(Reason::OtherBatch {
                    child: name,
                    batch: if line == line_id {
                        owner.clone()
                    } else {
                        format!("{owner} of line {line}")
                    },
                    expected: batch.to_string(),
                })
            }
            Commissioning::For { .. } => None,
        },
        Child::Case(_) if ancestors.contains(&child.hri()) => Some(Reason::Cycle {
            child: name,
            parent: ancestors[0].clone(),
        }),
        Child::Case(_) if facts.holds == 0 => Some(Reason::EmptyCase { child: name }),
        Child::Case(_) => None,
    }
}

/// Why `parent` may not take children: it holds `held` of `kind` already.
pub fn parent_refusal(parent: &Sscc, held: usize, kind: Kind) -> Option<Reason> {
    (held > 0).then(|| Reason::InUse {
        parent: parent.to_string(),
        held,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sscc_needs_18_digits_and_its_check_digit() {
        assert_eq!(
            Sscc::parse("(00)095060000000000015").unwrap().digits(),
            "095060000000000015"
        );
        let wrong = Sscc::parse("095060000000000018").unwrap_err().to_string();
        assert!(wrong.contains("check digit"), "{wrong}");
        assert!(Sscc::parse("09506000000000001").is_err(), "17 digits");
    }

    #[test]
    fn children_are_named_by_their_hri() {
        let pack = Child::parse("(01)09506000134352(21)S\\(1").unwrap();
        assert_eq!(
            pack,
            Child::Pack {
                gtin: "09506000134352".into(),
                serial: "S(1".into()
            }
        );
        assert_eq!(pack.hri(), "(01)09506000134352(21)S\\(1");
        assert_eq!(pack.named(), "pack (01)09506000134352(21)S\\(1");
        let case = Child::parse("(00)095060000000000015").unwrap();
        assert_eq!(case.kind(), Kind::Case);
        assert!(Child::parse("(01)09506000134352").is_err(), "no serial");
    }

    fn facts(parent: Option<&str>, commissioning: Commissioning, holds: usize) -> ChildFacts {
        ChildFacts {
            parent: parent.map(str::to_string),
            commissioning,
            holds,
        }
    }

    #[test]
    fn a_child_goes_in_only_once_commissioned_for_the_batch() {
        let pack = Child::parse("(01)09506000134352(21)S1").unwrap();
        let ancestors = ["(00)095060000000000015".to_string()];
        let refusal = |facts: &ChildFacts| {
            child_refusal(&pack, "L1", "B1", &ancestors, facts).map(|r| r.to_string())
        };
        assert_eq!(refusal(&facts(None, Commissioning::NotUsed, 0)), None);
        let ours = Commissioning::For {
            line: "L1".into(),
            batch: "B1".into(),
        };
        assert_eq!(refusal(&facts(None, ours.clone(), 0)), None);
        assert_eq!(
            refusal(&facts(Some("(00)095060000000000022"), ours, 0)).unwrap(),
            "pack (01)09506000134352(21)S1 is already in case (00)095060000000000022"
        );
        assert_eq!(
            refusal(&facts(None, Commissioning::Missing, 0)).unwrap(),
            "pack (01)09506000134352(21)S1 was never commissioned"
        );
        let elsewhere = Commissioning::For {
            line: "L2".into(),
            batch: "B1".into(),
        };
        assert_eq!(
            refusal(&facts(None, elsewhere, 0)).unwrap(),
            "pack (01)09506000134352(21)S1 belongs to batch B1 of line L2, not B1"
        );
    }

    #[test]
    fn a_case_on_a_pallet_holds_packs_and_not_the_pallet() {
        let case = Child::parse("(00)095060000000000015").unwrap();
        let pallet = ["(00)095060000000000046".to_string()];
        let empty = child_refusal(
            &case,
            "L1",
            "",
            &pallet,
            &facts(None, Commissioning::NotUsed, 0),
        );
        assert!(matches!(empty, Some(Reason::EmptyCase { .. })), "{empty:?}");
        let full = child_refusal(
            &case,
            "L1",
            "",
            &pallet,
            &facts(None, Commissioning::NotUsed, 12),
        );
        assert_eq!(full, None);
        // The pallet is on the case already: the case cannot go onto it.
        let ancestors = [pallet[0].clone(), case.hri()];
        let cycle = child_refusal(
            &case,
            "L1",
            "",
            &ancestors,
            &facts(None, Commissioning::NotUsed, 12),
        );
        assert!(matches!(cycle, Some(Reason::Cycle { .. })), "{cycle:?}");
    }

    #[test]
    fn a_parent_in_use_names_what_it_holds() {
        let parent = Sscc::parse("095060000000000015").unwrap();
        assert_eq!(parent_refusal(&parent, 0, Kind::Pack), None);
        assert_eq!(
            parent_refusal(&parent, 12, Kind::Pack).unwrap().to_string(),
            "SSCC (00)095060000000000015 is already used: it holds 12 packs; disaggregate it first"
        );
    }
}
