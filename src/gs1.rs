//! GS1 element strings: split decoded data (or HRI text) into Application Identifiers and
//! check each against the AI table in `models/gs1-ai.txt` (the GS1 Barcode Syntax Dictionary's
//! facts): lengths, character sets, check digits, dates, mandatory associations, invalid pairs.
//!
//! Every problem found is reported, in words a line operator understands, not just the first.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// GS (ASCII 29): how an FNC1 separator is transmitted inside the data.
pub const GS: char = '\u{1d}';

/// The AI table shipped with verigrade.
const AI_TABLE: &str = include_str!("../models/gs1-ai.txt");

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
            Charset::Cset64 => c.is_ascii_alphanumeric() || "-_=".contains(c),
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
    Some(Component {
        charset,
        min,
        max,
        optional,
        linters: parts.map(str::to_string).collect(),
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
    Missing {
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
            Problem::Missing { ai } => write!(f, "({ai}) is missing"),
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

    /// Human-readable interpretation: `(01)09506000134352(17)281231…`.
    pub fn hri(&self) -> String {
        self.elements
            .iter()
            .map(|e| format!("({}){}", e.ai, e.value))
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
    let table = AiTable::builtin();
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

/// Parses HRI text `(01)09506000134352(21)ABC…` and validates it.
pub fn parse_hri(text: &str) -> Gs1Data {
    let table = AiTable::builtin();
    let mut out = Gs1Data::default();
    let starts: Vec<(usize, usize, &str)> = text
        .match_indices('(')
        .filter_map(|(open, _)| {
            let close = open + text[open..].find(')')?;
            let ai = &text[open + 1..close];
            ((2..=4).contains(&ai.len()) && ai.bytes().all(|b| b.is_ascii_digit())).then_some((
                open,
                close + 1,
                ai,
            ))
        })
        .collect();
    if starts.first().is_none_or(|s| s.0 != 0) {
        let at: String = text.chars().take(6).collect();
        out.problems.push(if text.is_empty() {
            Problem::Empty
        } else {
            Problem::NotAnAi { at }
        });
        return out;
    }
    // A "(" inside data only starts a new element when what follows is a known AI.
    let mut elements: Vec<(usize, usize, &str)> = Vec::new();
    for s in starts {
        if elements.is_empty() || table.get(s.2).is_some() {
            elements.push(s);
        }
    }
    for (i, &(_, data_start, ai)) in elements.iter().enumerate() {
        let data_end = elements.get(i + 1).map_or(text.len(), |next| next.0);
        if table.get(ai).is_none() {
            out.problems.push(Problem::UnknownAi { ai: ai.into() });
        }
        out.elements.push(Element {
            ai: ai.into(),
            value: text[data_start..data_end].into(),
        });
    }
    validate(table, &mut out);
    out
}

/// Parses either form: HRI when it starts with `(`, else an element string.
pub fn parse(data: &str) -> Gs1Data {
    if data.starts_with('(') {
        parse_hri(data)
    } else {
        parse_element_string(data)
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
    data.problems.extend(problems);
}

/// Checks one value against its AI's components and their linters.
fn check_value(ai: &str, value: &str, spec: &AiSpec, problems: &mut Vec<Problem>) {
    let chars: Vec<char> = value.chars().collect();
    let mut at = 0;
    let min_total: usize = spec
        .components
        .iter()
        .filter(|c| !c.optional)
        .map(|c| c.min)
        .sum();
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
        let part: String = chars[at..at + take].iter().collect();
        at += take;
        if let Some(&bad) = part
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

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// YY → full year per GS1 General Specifications 7.12: within −49..+50 years of `this_year`.
fn full_year(yy: u32, this_year: u32) -> u32 {
    let century = this_year / 100 * 100;
    let candidate = century + yy;
    if candidate > this_year + 50 {
        candidate - 100
    } else if candidate + 49 < this_year {
        candidate + 100
    } else {
        candidate
    }
}

/// The current UTC year (days since 1970 → civil year, Howard Hinnant's algorithm).
fn current_year() -> u32 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as u32
}

fn valid_date(year: u32, month: u32, day: u32, day_zero_ok: bool) -> bool {
    (1..=12).contains(&month) && (day <= days_in_month(year, month)) && (day >= 1 || day_zero_ok)
}

fn digits(part: &str, range: std::ops::Range<usize>) -> u32 {
    part.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn lint(ai: &str, linter: &str, part: &str) -> Option<Problem> {
    let bad = |rule: &str| {
        Some(Problem::BadValue {
            ai: ai.into(),
            rule: rule.into(),
        })
    };
    let all_digits = part.bytes().all(|b| b.is_ascii_digit());
    match linter {
        "csum" if all_digits && part.len() >= 2 => {
            let (body, check) = part.split_at(part.len() - 1);
            let expected = check_digit(body);
            let found = digits(check, 0..1);
            (expected != found).then(|| Problem::CheckDigit {
                ai: ai.into(),
                expected,
                found,
            })
        }
        "yymmd0" | "yymmdd" if part.len() == 6 && all_digits => {
            let year = full_year(digits(part, 0..2), current_year());
            let ok = valid_date(
                year,
                digits(part, 2..4),
                digits(part, 4..6),
                linter == "yymmd0",
            );
            (!ok).then(|| Problem::BadDate {
                ai: ai.into(),
                value: part.into(),
            })
        }
        "yyyymmdd" if part.len() == 8 && all_digits => {
            let ok = valid_date(
                digits(part, 0..4),
                digits(part, 4..6),
                digits(part, 6..8),
                false,
            );
            (!ok).then(|| Problem::BadDate {
                ai: ai.into(),
                value: part.into(),
            })
        }
        "hhmi" if part.len() == 4 && all_digits => {
            let ok = digits(part, 0..2) < 24 && digits(part, 2..4) < 60;
            (!ok).then(|| Problem::BadTime {
                ai: ai.into(),
                value: part.into(),
            })
        }
        "hh" if all_digits && digits(part, 0..2) >= 24 => bad("hour must be 00–23"),
        "mi" | "ss" if all_digits && digits(part, 0..2) >= 60 => bad("must be 00–59"),
        "nonzero" if all_digits && part.bytes().all(|b| b == b'0') => bad("must not be zero"),
        "zero" if part.bytes().any(|b| b != b'0') => bad("must be zero"),
        "yesno" if part != "0" && part != "1" => bad("must be 0 or 1"),
        "nozeroprefix" if part.len() > 1 && part.starts_with('0') => bad("must not start with 0"),
        "hasnondigit" if all_digits => bad("must contain a non-digit"),
        "hyphen" if part.bytes().any(|b| b != b'-') => bad("must be a hyphen"),
        "pieceoftotal" if part.len().is_multiple_of(2) && all_digits => {
            let half = part.len() / 2;
            let (piece, total) = (digits(part, 0..half), digits(part, half..part.len()));
            (piece == 0 || total == 0 || piece > total).then(|| Problem::BadValue {
                ai: ai.into(),
                rule: format!("piece {piece} of {total} is impossible"),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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
}
