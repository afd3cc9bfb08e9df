//! GS1 element strings: split decoded data (or HRI text) into Application Identifiers and
//! check each against the AI table in `models/gs1-ai.txt` (the GS1 Barcode Syntax Dictionary's
//! facts): lengths, character sets, check digits, dates, mandatory associations, invalid pairs.
//!
//! Every problem found is reported, in words a line operator understands, not just the first.

mod lint;

use lint::{KNOWN_LINTERS, lint};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// GS (ASCII 29): how an FNC1 separator is transmitted inside the data.
pub const GS: char = '\u{1d}';

/// The AI table shipped with verigrade.
const AI_TABLE: &str = include_str!("../../models/gs1-ai.txt");

/// Character set of a data component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Digits only.
    Numeric,
    /// CSET 82: printable ASCII subset of GS1 General Specifications figure 7.11-1.
    Cset82,
    /// CSET 39: `# - / 0-9 A-Z`.
    Cset39,
    /// CSET 64 (base64url).
    Cset64,
}

impl Charset {
    fn accepts(self, c: char) -> bool {
        match self {
            Charset::Numeric => c.is_ascii_digit(),
            Charset::Cset82 => c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c),
            Charset::Cset39 => c.is_ascii_digit() || c.is_ascii_uppercase() || "#-/".contains(c),
            Charset::Cset64 => c.is_ascii_alphanumeric() || "-_".contains(c),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Charset::Numeric => "digits only",
            Charset::Cset82 => "GS1 character set 82",
            Charset::Cset39 => "GS1 character set 39",
            Charset::Cset64 => "GS1 character set 64",
        }
    }
}

/// One component of an AI's data field, e.g. `N14,csum` or `[X..17]`.
#[derive(Clone, Debug)]
pub struct Component {
    pub charset: Charset,
    pub min: usize,
    pub max: usize,
    pub optional: bool,
    pub linters: Vec<String>,
}

/// One AI (or range of AIs) of the table.
#[derive(Clone, Debug)]
pub struct AiSpec {
    /// Predefined length: never needs a GS separator.
    pub fixed_length: bool,
    pub components: Vec<Component>,
    /// Mandatory associations: for each `req=` key, alternatives of AI patterns that must all be present.
    pub requires: Vec<Vec<Vec<String>>>,
    /// Patterns of AIs this one must not appear with.
    pub excludes: Vec<String>,
    pub title: String,
}

impl AiSpec {
    fn max_len(&self) -> usize {
        self.components.iter().map(|c| c.max).sum()
    }

    /// The shortest data: every mandatory component at its shortest.
    fn min_len(&self) -> usize {
        self.components
            .iter()
            .filter(|c| !c.optional)
            .map(|c| c.min)
            .sum()
    }
}

/// The AI table: AI digits → its specification.
#[derive(Debug)]
pub struct AiTable {
    entries: HashMap<String, std::sync::Arc<AiSpec>>,
}

impl AiTable {
    /// The table built into verigrade.
    pub fn builtin() -> &'static AiTable {
        static TABLE: OnceLock<AiTable> = OnceLock::new();
        TABLE.get_or_init(|| AiTable::parse(AI_TABLE).expect("models/gs1-ai.txt is valid"))
    }

    /// Parses a table in the GS1 Barcode Syntax Dictionary's syntax.
    pub fn parse(text: &str) -> Result<AiTable, String> {
        let mut entries = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let (body, title) = line.split_once('#').unwrap_or((line, ""));
            let mut tokens = body.split_whitespace().peekable();
            let Some(ais) = tokens.next() else { continue };
            let bad = |why: &str| format!("line {}: {why}: {line}", number + 1);
            let (first, last) = ais.split_once('-').unwrap_or((ais, ais));
            if first.len() != last.len()
                || !(2..=4).contains(&first.len())
                || !first
                    .bytes()
                    .chain(last.bytes())
                    .all(|b| b.is_ascii_digit())
            {
                return Err(bad("bad AI"));
            }
            let mut fixed_length = false;
            if let Some(flags) = tokens.next_if(|t| !t.starts_with(['N', 'X', 'Y', 'Z', '['])) {
                fixed_length = flags.contains('*');
            }
            let mut spec = AiSpec {
                fixed_length,
                components: Vec::new(),
                requires: Vec::new(),
                excludes: Vec::new(),
                title: title.trim().to_string(),
            };
            for token in tokens {
                if let Some(list) = token.strip_prefix("req=") {
                    spec.requires.push(
                        list.split(',')
                            .map(|alt| alt.split('+').map(str::to_string).collect())
                            .collect(),
                    );
                } else if let Some(list) = token.strip_prefix("ex=") {
                    spec.excludes.extend(list.split(',').map(str::to_string));
                } else if token.starts_with("dlpkey") {
                } else {
                    spec.components
                        .push(parse_component(token).ok_or_else(|| bad("bad component"))?);
                }
            }
            if spec.components.is_empty() {
                return Err(bad("no data components"));
            }
            let spec = std::sync::Arc::new(spec);
            let (lo, hi): (u32, u32) = (first.parse().unwrap_or(0), last.parse().unwrap_or(0));
            for ai in lo..=hi {
                entries.insert(format!("{ai:0width$}", width = first.len()), spec.clone());
            }
        }
        Ok(AiTable { entries })
    }

    /// Every AI of the table, in order.
    pub fn ais(&self) -> Vec<String> {
        let mut ais: Vec<String> = self.entries.keys().cloned().collect();
        ais.sort();
        ais
    }

    /// The specification of an AI given by its digits.
    pub fn get(&self, ai: &str) -> Option<&AiSpec> {
        self.entries.get(ai).map(|s| s.as_ref())
    }

    /// The AI at the start of `data`: the 2-, 3- or 4-digit prefix that is in the table.
    fn ai_prefix<'d>(&self, data: &'d str) -> Option<&'d str> {
        (2..=4)
            .filter_map(|n| data.get(..n))
            .find(|ai| self.entries.contains_key(*ai))
    }
}

fn parse_component(token: &str) -> Option<Component> {
    // Optional components are bracketed: `[X..17]` or, with linters, `[N3],iso3166`.
    let optional = token.starts_with('[');
    let token = token.replacen('[', "", 1).replacen(']', "", 1);
    let mut parts = token.split(',');
    let format = parts.next()?;
    let charset = match format.as_bytes().first()? {
        b'N' => Charset::Numeric,
        b'X' => Charset::Cset82,
        b'Y' => Charset::Cset39,
        b'Z' => Charset::Cset64,
        _ => return None,
    };
    let length = &format[1..];
    let (min, max) = match length.strip_prefix("..") {
        Some(max) => (1, max.parse().ok()?),
        None => {
            let n = length.parse().ok()?;
            (n, n)
        }
    };
    let linters: Vec<String> = parts.map(str::to_string).collect();
    // A linter this code does not know (a newer dictionary) must not pass silently.
    if linters.iter().any(|l| !KNOWN_LINTERS.contains(&l.as_str())) {
        return None;
    }
    Some(Component {
        charset,
        min,
        max,
        optional,
        linters,
    })
}

/// One AI with its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub ai: String,
    pub value: String,
}

/// What is wrong with GS1 data, each in words for a line operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    UnknownAi {
        ai: String,
    },
    NotAnAi {
        at: String,
    },
    Empty,
    TooShort {
        ai: String,
        min: usize,
        got: usize,
    },
    TooLong {
        ai: String,
        max: usize,
        got: usize,
    },
    BadCharacter {
        ai: String,
        character: char,
        charset: &'static str,
    },
    CheckDigit {
        ai: String,
        expected: u32,
        found: u32,
    },
    BadDate {
        ai: String,
        value: String,
    },
    BadTime {
        ai: String,
        value: String,
    },
    BadValue {
        ai: String,
        rule: String,
    },
    Requires {
        ai: String,
        needs: String,
    },
    Excludes {
        ai: String,
        other: String,
    },
    Repeated {
        ai: String,
    },
    MissingSeparator {
        ai: String,
    },
    CheckCharacters {
        ai: String,
    },
    Missing {
        ai: String,
    },
    /// A key a digital signature (8030) signs, without its serial component.
    UnserialisedKey {
        ai: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownAi { ai } => write!(f, "unknown AI ({ai})"),
            Problem::NotAnAi { at } => write!(f, "no AI where one should start: {at:?}"),
            Problem::Empty => write!(f, "no data"),
            Problem::TooShort { ai, min, got } => {
                write!(f, "({ai}) is too short: {got} characters, needs {min}")
            }
            Problem::TooLong { ai, max, got } => {
                write!(f, "({ai}) is too long: {got} characters, at most {max}")
            }
            Problem::BadCharacter {
                ai,
                character,
                charset,
            } => write!(f, "({ai}) contains {character:?}, not allowed ({charset})"),
            Problem::CheckDigit {
                ai,
                expected,
                found,
            } => write!(
                f,
                "check digit of ({ai}) is wrong: {found}, should be {expected}"
            ),
            Problem::BadDate { ai, value } => write!(f, "({ai}) is not a valid date: {value}"),
            Problem::BadTime { ai, value } => write!(f, "({ai}) is not a valid time: {value}"),
            Problem::BadValue { ai, rule } => write!(f, "({ai}) {rule}"),
            Problem::Requires { ai, needs } => write!(f, "({ai}) needs {needs} in the same symbol"),
            Problem::Excludes { ai, other } => write!(f, "({ai}) must not appear with ({other})"),
            Problem::Repeated { ai } => write!(f, "({ai}) appears twice with different data"),
            Problem::MissingSeparator { ai } => write!(
                f,
                "({ai}) runs into the next field: a GS separator is missing"
            ),
            Problem::CheckCharacters { ai } => {
                write!(f, "check character pair of ({ai}) is wrong")
            }
            Problem::Missing { ai } => write!(f, "({ai}) is missing"),
            Problem::UnserialisedKey { ai } => write!(
                f,
                "({ai}) needs its serial component beside a digital signature (8030)"
            ),
        }
    }
}

/// GS1 data split into elements, with every problem found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gs1Data {
    pub elements: Vec<Element>,
    pub problems: Vec<Problem>,
}

impl Gs1Data {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first value of an AI.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| e.value.as_str())
    }

    /// Human-readable interpretation: `(01)09506000134352(17)281231…`, a `(` in data written
    /// `\(` as GS1's bracketed syntax has it, so that [`parse_hri`] reads it back.
    pub fn hri(&self) -> String {
        self.elements
            .iter()
            .map(|e| format!("({}){}", e.ai, e.value.replace('(', "\\(")))
            .collect()
    }

    /// Element string as a symbol carries it: GS after every variable-length element but the last.
    pub fn element_string(&self, table: &AiTable) -> String {
        let mut out = String::new();
        for (i, e) in self.elements.iter().enumerate() {
            out.push_str(&e.ai);
            out.push_str(&e.value);
            let fixed = table.get(&e.ai).is_some_and(|s| s.fixed_length);
            if !fixed && i + 1 < self.elements.len() {
                out.push(GS);
            }
        }
        out
    }
}

/// Parses decoded GS1 data (no leading FNC1; GS between variable-length elements) and validates it.
pub fn parse_element_string(data: &str) -> Gs1Data {
    parse_element_string_in(AiTable::builtin(), data)
}

fn parse_element_string_in(table: &AiTable, data: &str) -> Gs1Data {
    let mut out = Gs1Data::default();
    let mut rest = data.strip_prefix(GS).unwrap_or(data);
    if rest.is_empty() {
        out.problems.push(Problem::Empty);
        return out;
    }
    while !rest.is_empty() {
        let Some(ai) = table.ai_prefix(rest) else {
            let at: String = rest.chars().take(6).collect();
            out.problems
                .push(if at.chars().take(2).all(|c| c.is_ascii_digit()) {
                    Problem::UnknownAi {
                        ai: at.chars().take(4).collect(),
                    }
                } else {
                    Problem::NotAnAi { at }
                });
            break;
        };
        let spec = table.get(ai).expect("prefix is in the table");
        let after = &rest[ai.len()..];
        let end = if spec.fixed_length {
            after
                .char_indices()
                .nth(spec.max_len())
                .map_or(after.len(), |(i, _)| i)
        } else {
            after.find(GS).unwrap_or(after.len())
        };
        let value = &after[..end];
        if !spec.fixed_length && value.chars().count() > spec.max_len() {
            out.problems
                .push(Problem::MissingSeparator { ai: ai.into() });
        }
        out.elements.push(Element {
            ai: ai.into(),
            value: value.into(),
        });
        rest = &after[end..];
        rest = rest.strip_prefix(GS).unwrap_or(rest);
    }
    validate(table, &mut out);
    out
}

/// Parses bracketed HRI text `(01)09506000134352(21)ABC…` and validates it, as GS1's Barcode
/// Syntax Engine reads it: every `(` starts the next AI, and a `(` that is data is written `\(`.
pub fn parse_hri(text: &str) -> Gs1Data {
    parse_hri_in(AiTable::builtin(), text)
}

fn parse_hri_in(table: &AiTable, text: &str) -> Gs1Data {
    let mut out = Gs1Data::default();
    if text.is_empty() {
        out.problems.push(Problem::Empty);
        return out;
    }
    let mut rest = text;
    while !rest.is_empty() {
        let Some((ai, after)) = rest
            .strip_prefix('(')
            .and_then(|open| open.split_once(')'))
            .filter(|(ai, _)| {
                (2..=4).contains(&ai.len()) && ai.bytes().all(|b| b.is_ascii_digit())
            })
        else {
            out.problems.push(Problem::NotAnAi {
                at: rest.chars().take(6).collect(),
            });
            return out;
        };
        let (value, next) = hri_value(after);
        if table.get(ai).is_none() {
            out.problems.push(Problem::UnknownAi { ai: ai.into() });
        }
        out.elements.push(Element {
            ai: ai.into(),
            value,
        });
        rest = next;
    }
    validate(table, &mut out);
    out
}

/// One AI's data in HRI, up to the next `(` that is not escaped; and what follows it.
fn hri_value(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut rest = text;
    loop {
        match rest.find('(') {
            Some(open) if rest[..open].ends_with('\\') => {
                value.push_str(&rest[..open - 1]);
                value.push('(');
                rest = &rest[open + 1..];
            }
            Some(open) => {
                value.push_str(&rest[..open]);
                return (value, &rest[open..]);
            }
            None => {
                value.push_str(rest);
                return (value, "");
            }
        }
    }
}

/// Parses either form: HRI when it starts with `(`, else an element string.
pub fn parse(data: &str) -> Gs1Data {
    parse_with(AiTable::builtin(), data)
}

/// [`parse`] against another table, e.g. another release of GS1's Barcode Syntax Dictionary.
pub fn parse_with(table: &AiTable, data: &str) -> Gs1Data {
    if data.starts_with('(') {
        parse_hri_in(table, data)
    } else {
        parse_element_string_in(table, data)
    }
}

fn validate(table: &AiTable, data: &mut Gs1Data) {
    let mut problems = Vec::new();
    for e in &data.elements {
        if let Some(spec) = table.get(&e.ai) {
            check_value(&e.ai, &e.value, spec, &mut problems);
        }
    }
    let present: Vec<&str> = data.elements.iter().map(|e| e.ai.as_str()).collect();
    let matches = |pattern: &str, ai: &str| {
        pattern.len() == ai.len()
            && pattern
                .bytes()
                .zip(ai.bytes())
                .all(|(p, a)| p == a || (p == b'n' && a.is_ascii_digit()))
    };
    let any_present = |pattern: &str| present.iter().any(|ai| matches(pattern, ai));
    for (i, e) in data.elements.iter().enumerate() {
        if let Some(earlier) = data.elements[..i].iter().find(|d| d.ai == e.ai) {
            if earlier.value != e.value {
                problems.push(Problem::Repeated { ai: e.ai.clone() });
            }
            continue;
        }
        let Some(spec) = table.get(&e.ai) else {
            continue;
        };
        for alternatives in &spec.requires {
            let met = alternatives
                .iter()
                .any(|group| group.iter().all(|p| any_present(p)));
            if !met {
                let needs = alternatives
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(|p| format!("({p})"))
                            .collect::<Vec<_>>()
                            .join(" with ")
                    })
                    .collect::<Vec<_>>()
                    .join(" or ");
                problems.push(Problem::Requires {
                    ai: e.ai.clone(),
                    needs,
                });
            }
        }
        for pattern in &spec.excludes {
            if let Some(other) = present
                .iter()
                .find(|ai| **ai != e.ai && matches(pattern, ai))
            {
                problems.push(Problem::Excludes {
                    ai: e.ai.clone(),
                    other: other.to_string(),
                });
            }
        }
    }
    // A digital signature signs one instance: a GDTI, GCN or GRAI beside it carries its
    // serial component, optional elsewhere.
    if any_present("8030") {
        for e in &data.elements {
            let serial_missing = ["253", "255", "8003"].contains(&e.ai.as_str())
                && table
                    .get(&e.ai)
                    .is_some_and(|spec| e.value.chars().count() == spec.min_len());
            if serial_missing {
                problems.push(Problem::UnserialisedKey { ai: e.ai.clone() });
            }
        }
    }
    data.problems.extend(problems);
}

/// Every problem of `value` as the data of `ai` (length, character set, linters); an AI
/// not in the table is one problem.
pub fn check_ai_value(ai: &str, value: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    match AiTable::builtin().get(ai) {
        Some(spec) => check_value(ai, value, spec, &mut problems),
        None => problems.push(Problem::UnknownAi { ai: ai.into() }),
    }
    problems
}

/// Checks one value against its AI's components and their linters.
fn check_value(ai: &str, value: &str, spec: &AiSpec, problems: &mut Vec<Problem>) {
    let chars: Vec<char> = value.chars().collect();
    let mut at = 0;
    let min_total = spec.min_len();
    if chars.len() < min_total {
        problems.push(Problem::TooShort {
            ai: ai.into(),
            min: min_total,
            got: chars.len(),
        });
        return;
    }
    if chars.len() > spec.max_len() {
        problems.push(Problem::TooLong {
            ai: ai.into(),
            max: spec.max_len(),
            got: chars.len(),
        });
        return;
    }
    for component in &spec.components {
        if at >= chars.len() && component.optional {
            break;
        }
        let take = component.max.min(chars.len() - at);
        // A component that is there is whole: an optional one may be left out, not cut short.
        if take < component.min {
            problems.push(Problem::TooShort {
                ai: ai.into(),
                min: at + component.min,
                got: chars.len(),
            });
            return;
        }
        let part: String = chars[at..at + take].iter().collect();
        at += take;
        // CSET 64 is base64url: up to two '=' may pad it, at its end, to a multiple of three.
        let mut body = part.as_str();
        if component.charset == Charset::Cset64 {
            body = part.trim_end_matches('=');
            let padding = part.len() - body.len();
            if padding > 2 || (padding > 0 && !part.len().is_multiple_of(3)) {
                problems.push(Problem::BadValue {
                    ai: ai.into(),
                    rule: "has '=' padding other than one or two at the end of a multiple of \
                           three characters"
                        .into(),
                });
                continue;
            }
        }
        if let Some(&bad) = body
            .chars()
            .find(|&c| !component.charset.accepts(c))
            .as_ref()
        {
            problems.push(Problem::BadCharacter {
                ai: ai.into(),
                character: bad,
                charset: component.charset.describe(),
            });
            continue;
        }
        for linter in &component.linters {
            if let Some(problem) = lint(ai, linter, &part) {
                problems.push(problem);
            }
        }
    }
}

/// The GS1 mod-10 check digit of `digits` (the digits before the check digit).
pub fn check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| (b - b'0') as u32 * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::lint::{current_year, full_year};
    use super::*;

    #[test]
    fn table_loads_every_entry() {
        let table = AiTable::builtin();
        assert!(table.get("01").unwrap().fixed_length);
        assert!(!table.get("21").unwrap().fixed_length);
        assert_eq!(table.get("21").unwrap().max_len(), 20);
        assert!(table.get("3103").is_some());
        assert!(table.get("95").is_some());
        assert!(table.get("23").is_none());
    }

    #[test]
    fn current_year_is_plausible() {
        assert!((2025..2200).contains(&current_year()));
    }

    #[test]
    fn check_digits_of_known_gtins() {
        assert_eq!(check_digit("0950600013435"), 2);
        assert_eq!(check_digit("400638133393"), 1);
    }

    const VALID: &str = "0109506000134352172812311012AB34\u{1d}21SN00001234";
    const VALID_HRI: &str = "(01)09506000134352(17)281231(10)12AB34(21)SN00001234";

    fn problems(data: &str) -> Vec<String> {
        parse(data).problems.iter().map(|p| p.to_string()).collect()
    }

    fn assert_one_problem(data: &str, expected: &str) {
        let found = problems(data);
        assert_eq!(found, [expected], "{data:?}");
    }

    #[test]
    fn valid_pharma_data_has_no_problems() {
        let data = parse_element_string(VALID);
        assert!(data.is_valid(), "{:?}", data.problems);
        assert_eq!(data.get("01"), Some("09506000134352"));
        assert_eq!(data.get("17"), Some("281231"));
        assert_eq!(data.get("10"), Some("12AB34"));
        assert_eq!(data.get("21"), Some("SN00001234"));
        assert!(parse(VALID_HRI).is_valid());
    }

    #[test]
    fn leading_fnc1_and_trailing_separator_are_tolerated() {
        assert!(parse_element_string(&format!("{GS}{VALID}")).is_valid());
        assert!(parse_element_string("0109506000134352\u{1d}").is_valid());
    }

    #[test]
    fn hri_round_trip() {
        let from_symbol = parse_element_string(VALID);
        assert_eq!(from_symbol.hri(), VALID_HRI);
        let from_hri = parse_hri(VALID_HRI);
        assert_eq!(from_hri.elements, from_symbol.elements);
        assert_eq!(from_hri.element_string(AiTable::builtin()), VALID);
        // A variable-length field last needs no separator; one in the middle does.
        let reordered = parse_hri("(01)09506000134352(21)SN1(10)B2(17)281231");
        assert!(reordered.is_valid());
        assert_eq!(
            reordered.element_string(AiTable::builtin()),
            "0109506000134352".to_string() + "21SN1\u{1d}10B2\u{1d}17281231"
        );
        assert_eq!(
            parse_element_string(&reordered.element_string(AiTable::builtin())).hri(),
            "(01)09506000134352(21)SN1(10)B2(17)281231"
        );
    }

    #[test]
    fn hri_brackets_in_data_are_escaped() {
        let data = parse_hri("(01)09506000134352(21)A\\(B)C");
        assert!(data.is_valid(), "{:?}", data.problems);
        assert_eq!(data.get("21"), Some("A(B)C"));
        assert_eq!(data.hri(), "(01)09506000134352(21)A\\(B)C");
        // Unescaped, `(B)` is where the next AI would start: not an AI.
        assert!(!parse_hri("(01)09506000134352(21)A(B)C").is_valid());
    }

    #[test]
    fn check_digits_of_gtin_sscc_and_gln() {
        assert_one_problem(
            "(01)09506000134353(21)X",
            "check digit of (01) is wrong: 3, should be 2",
        );
        assert!(parse("(00)106141411234567897").is_valid());
        assert_one_problem(
            "(00)106141411234567890",
            "check digit of (00) is wrong: 0, should be 7",
        );
        // GLN: ship to (410), check digit of 950600013435 is 2.
        assert!(parse("(00)106141411234567897(410)9506000134352").is_valid());
        assert_one_problem(
            "(00)106141411234567897(410)9506000134353",
            "check digit of (410) is wrong: 3, should be 2",
        );
    }

    #[test]
    fn alphanumeric_check_character_pair() {
        assert!(parse("(8013)1987654Ad4X4bL5ttr2310c2K").is_valid());
        assert_one_problem(
            "(8013)1987654Ad4X4bL5ttr2310cXK",
            "check character pair of (8013) is wrong",
        );
    }

    #[test]
    fn dates_allow_day_zero_only_where_the_dictionary_does() {
        // (17) expiry: DD = 00 means the end of the month.
        assert!(parse("(01)09506000134352(17)280200").is_valid());
        assert!(
            parse("(01)09506000134352(17)280229").is_valid(),
            "2028 is a leap year"
        );
        assert_one_problem(
            "(01)09506000134352(17)270229",
            "(17) is not a valid date: 270229",
        );
        assert_one_problem(
            "(01)09506000134352(17)281301",
            "(17) is not a valid date: 281301",
        );
        assert_one_problem(
            "(01)09506000134352(17)280431",
            "(17) is not a valid date: 280431",
        );
        // (7003) expiry date and time: a real day and a real time.
        assert!(parse("(01)09506000134352(7003)2812312359").is_valid());
        assert_one_problem(
            "(01)09506000134352(7003)2812002359",
            "(7003) is not a valid date: 281200",
        );
        assert_one_problem(
            "(01)09506000134352(7003)2812312460",
            "(7003) is not a valid time: 2460",
        );
    }

    #[test]
    fn two_digit_years_follow_the_sliding_window() {
        assert_eq!(full_year(28, 2026), 2028);
        assert_eq!(full_year(76, 2026), 2076);
        assert_eq!(full_year(77, 2026), 1977);
        assert_eq!(full_year(0, 2099), 2100);
    }

    #[test]
    fn lengths() {
        assert_one_problem(
            "(01)0950600013435(21)X",
            "(01) is too short: 13 characters, needs 14",
        );
        assert_one_problem(
            "(01)09506000134352(21)ABCDEFGHIJKLMNOPQRSTU",
            "(21) is too long: 21 characters, at most 20",
        );
        assert_one_problem(
            "(01)09506000134352(17)2812",
            "(17) is too short: 4 characters, needs 6",
        );
        assert_one_problem(
            "(01)09506000134352(10)",
            "(10) is too short: 0 characters, needs 1",
        );
    }

    #[test]
    fn character_sets() {
        assert_one_problem(
            "(01)09506000134352(21)SN 1",
            "(21) contains ' ', not allowed (GS1 character set 82)",
        );
        assert_one_problem(
            "(01)09506000134352(21)SN#1",
            "(21) contains '#', not allowed (GS1 character set 82)",
        );
        assert_one_problem(
            "(01)0950600013435A(21)X",
            "(01) contains 'A', not allowed (digits only)",
        );
        // CSET 39 (8010 CPID) has '#' but no lower case.
        assert!(parse("(8010)1234AB#12(8011)1").is_valid());
        assert_one_problem(
            "(8010)1234ab12(8011)1",
            "(8010) contains 'a', not allowed (GS1 character set 39)",
        );
        // CSET 64 (8030 digital signature), '=' only as padding at the end.
        assert_one_problem(
            "(00)106141411234567897(8030)abc$",
            "(8030) contains '$', not allowed (GS1 character set 64)",
        );
        assert!(parse("(00)106141411234567897(8030)abcd==").is_valid());
        assert!(!parse("(00)106141411234567897(8030)ab=cde").is_valid());
        assert!(!parse("(00)106141411234567897(8030)abcd=").is_valid());
    }

    #[test]
    fn mandatory_associations_and_invalid_pairs() {
        assert_one_problem(
            "(21)SN00001234",
            "(21) needs (01) or (03) or (8006) in the same symbol",
        );
        assert_eq!(
            problems("(17)281231(10)AB"),
            [
                "(17) needs (01) or (02) or (03) or (255) or (8006) or (8026) in the same symbol",
                "(10) needs (01) or (02) or (03) or (8006) or (8026) in the same symbol"
            ]
        );
        // (8030) needs (01) together with (21), among others.
        assert!(problems("(01)09506000134352(8030)abc")[0].contains("(01) with (21)"));
        assert!(parse("(01)09506000134352(21)X(8030)abc").is_valid());
        // (02) must not appear with (01); (01) must not appear with (37).
        let found = problems("(01)09506000134352(02)09506000134352(37)1");
        assert!(
            found.contains(&"(02) must not appear with (01)".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"(01) must not appear with (37)".to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_ai_and_not_an_ai() {
        assert_one_problem("0109506000134352231234", "unknown AI (2312)");
        assert_eq!(problems("(01)09506000134352(23)X")[0], "unknown AI (23)");
        assert_one_problem("AB1234", "no AI where one should start: \"AB1234\"");
        assert_one_problem("", "no data");
    }

    #[test]
    fn missing_separator_is_reported() {
        // The batch runs into the serial: 10 + 32 characters is more than (10) may hold.
        let data = "01095060001343521012AB3421SN00001234567890123456";
        assert!(
            problems(data)
                .contains(&"(10) runs into the next field: a GS separator is missing".to_string())
        );
    }

    #[test]
    fn repeated_ai_with_different_data() {
        assert_one_problem(
            "(01)09506000134352(21)A(21)B",
            "(21) appears twice with different data",
        );
        assert!(parse("(01)09506000134352(21)A(21)A").is_valid());
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let found = problems("(01)09506000134353(17)281301(21)SN 1");
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn code_list_and_format_linters() {
        assert!(parse("(01)09506000134352(422)276").is_valid());
        assert_one_problem(
            "(01)09506000134352(422)999",
            "(422) is not an ISO 3166 country code",
        );
        assert!(parse("(415)9506000134352(8020)1(8007)GB82WEST12345698765432").is_valid());
        assert_one_problem(
            "(415)9506000134352(8020)1(8007)GB82WEST12345698765433",
            "(8007) is not a valid IBAN",
        );
        assert_one_problem(
            "(00)106141411234567897(4300)ACME%2",
            "(4300) has a % not followed by two hex digits",
        );
    }

    /// Test vectors of GS1's reference implementation of these linters.
    #[test]
    fn company_prefix_currency_country_package_and_coupon_linters() {
        assert!(parse("(8004)1234AB").is_valid());
        assert_one_problem(
            "(8004)AB12345",
            "(8004) does not start with a GS1 Company Prefix (digits)",
        );
        assert_one_problem(
            "(8004)123",
            "(8004) is too short to hold a GS1 Company Prefix",
        );
        assert!(parse("(415)9506000134352(8020)1(3912)978100").is_valid());
        assert_one_problem(
            "(415)9506000134352(8020)1(3912)000100",
            "(3912) is not an ISO 4217 currency code",
        );
        assert!(parse("(00)106141411234567897(4307)DE").is_valid());
        assert_one_problem(
            "(00)106141411234567897(4307)XX",
            "(4307) is not an ISO 3166 two-letter country code",
        );
        assert!(parse("(00)106141411234567897(7041)BX").is_valid());
        assert_one_problem(
            "(00)106141411234567897(7041)ZZZ",
            "(7041) is not a GS1 package type code",
        );
        assert!(lint::lint("8110", "couponcode", "012345612345611110123").is_none());
        for bad in [
            "",
            "01",
            "0123456",
            "71234567890123",
            "01234561234566123456",
        ] {
            assert!(lint::lint("8110", "couponcode", bad).is_some(), "{bad}");
        }
        assert!(lint::lint("8112", "couponposoffer", "001234561234560123456").is_none());
        for bad in ["2", "07123456", "0012345612345601234567"] {
            assert!(lint::lint("8112", "couponposoffer", bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_digital_signature_needs_serialised_keys() {
        assert!(parse("(01)09506000134352(8030)abcd(253)9506000134352X1").is_valid());
        assert_one_problem(
            "(01)09506000134352(8030)abcd(253)9506000134352",
            "(253) needs its serial component beside a digital signature (8030)",
        );
        assert!(parse("(253)9506000134352").is_valid());
    }

    #[test]
    fn table_rejects_linters_it_cannot_check() {
        assert!(AiTable::parse("01 * N14,csum").is_ok());
        assert!(AiTable::parse("01 * N14,frobnicate").is_err());
    }
}
