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
    let linters: Vec<String> = parts.map(str::to_string).collect();
    // A linter this code does not know (a newer dictionary) must not pass silently.
    if linters
        .iter()
        .any(|l| !CHECKED_LINTERS.contains(&l.as_str()) && !UNCHECKED_LINTERS.contains(&l.as_str()))
    {
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
    // A "(" inside data starts a new element when what follows is a known AI, or when the
    // current element's data cannot hold a bracket (e.g. digits only).
    let mut elements: Vec<(usize, usize, &str)> = Vec::new();
    for s in starts {
        let data_holds_brackets = elements.last().is_some_and(|current| {
            table
                .get(current.2)
                .is_some_and(|spec| spec.components.iter().any(|c| c.charset.accepts('(')))
        });
        if !data_holds_brackets || table.get(s.2).is_some() {
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
        "csumalpha" if !csumalpha_ok(part) => Some(Problem::CheckCharacters { ai: ai.into() }),
        "iso3166" if !is_country(part) => bad("is not an ISO 3166 country code"),
        "iso3166999" if part != "999" && !is_country(part) => {
            bad("is not an ISO 3166 country code (or 999)")
        }
        "iso5218" if !["0", "1", "2", "9"].contains(&part) => {
            bad("must be 0, 1, 2 or 9 (ISO 5218)")
        }
        "winding" if !["0", "1", "9"].contains(&part) => bad("must be 0, 1 or 9"),
        "mediatype" if all_digits && !matches!(digits(part, 0..2), 1..=10 | 80..=99) => {
            bad("is not a media type (01–10, 80–99)")
        }
        "latitude" if all_digits && part.parse::<u64>().map_or(true, |v| v > 1_800_000_000) => {
            bad("latitude is out of range")
        }
        "longitude" if all_digits && part.parse::<u64>().map_or(true, |v| v > 3_600_000_000) => {
            bad("longitude is out of range")
        }
        "importeridx"
            if !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            bad("is not an importer index")
        }
        "pcenc" if !percent_encoding_ok(part) => bad("has a % not followed by two hex digits"),
        "iban" if !iban_ok(part) => bad("is not a valid IBAN"),
        "posinseqslash" if !position_in_sequence_ok(part) => {
            bad("must be POSITION/TOTAL with 0 < POSITION <= TOTAL")
        }
        _ => None,
    }
}

/// Linters this module checks.
const CHECKED_LINTERS: &[&str] = &[
    "csum",
    "csumalpha",
    "yymmd0",
    "yymmdd",
    "yyyymmdd",
    "hhmi",
    "hh",
    "mi",
    "ss",
    "nonzero",
    "zero",
    "yesno",
    "nozeroprefix",
    "hasnondigit",
    "hyphen",
    "pieceoftotal",
    "iso3166",
    "iso3166999",
    "iso5218",
    "winding",
    "mediatype",
    "latitude",
    "longitude",
    "importeridx",
    "pcenc",
    "iban",
    "posinseqslash",
];

/// Linters of the dictionary that need code lists this table does not carry (GS1 company
/// prefix lengths, ISO 3166 alpha-2, ISO 4217, package types, coupons): not checked.
pub const UNCHECKED_LINTERS: &[&str] = &[
    "gcppos1",
    "gcppos2",
    "iso3166alpha2",
    "iso4217",
    "packagetype",
    "couponcode",
    "couponposoffer",
];

/// ISO 3166-1 numeric country codes, from `models/iso3166-numeric.txt`.
fn is_country(code: &str) -> bool {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    let codes = CODES.get_or_init(|| {
        include_str!("../models/iso3166-numeric.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .flat_map(str::split_whitespace)
            .collect()
    });
    codes.contains(&code)
}

/// GS1 alphanumeric check character pair (General Specifications, "check character
/// calculation for alphanumeric keys"): the CSET 82 values of the data, weighted from the
/// right by the primes 2, 3, 5, …, summed mod 1021; the two CSET 32 characters carry the
/// sum's high and low 5 bits.
fn csumalpha_ok(part: &str) -> bool {
    const CSET82: &str =
        "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    const CSET32: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = part.as_bytes();
    if bytes.len() < 2 {
        return false;
    }
    let (data, pair) = bytes.split_at(bytes.len() - 2);
    let primes = (2u32..).filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0));
    let mut sum = 0u32;
    for (&byte, prime) in data.iter().rev().zip(primes) {
        let Some(value) = CSET82.bytes().position(|c| c == byte) else {
            return false;
        };
        sum = (sum + value as u32 * prime) % 1021;
    }
    pair == [CSET32[(sum >> 5) as usize], CSET32[(sum & 31) as usize]]
}

fn percent_encoding_ok(part: &str) -> bool {
    let bytes = part.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// ISO 13616: country code, two check digits, account; moved to the end and read as a
/// number (letters 10–35), it is 1 mod 97.
fn iban_ok(part: &str) -> bool {
    let bytes = part.as_bytes();
    if bytes.len() < 5
        || !bytes[..2].iter().all(u8::is_ascii_uppercase)
        || !bytes[2..4].iter().all(u8::is_ascii_digit)
        || !bytes.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut remainder = 0u32;
    for &b in bytes[4..].iter().chain(&bytes[..4]) {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b.to_ascii_uppercase() - b'A') + 10
        };
        let scale = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * scale + value) % 97;
    }
    remainder == 1
}

fn position_in_sequence_ok(part: &str) -> bool {
    let number = |s: &str| {
        (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    part.split_once('/')
        .and_then(|(pos, total)| Some((number(pos)?, number(total)?)))
        .is_some_and(|(pos, total)| pos <= total)
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
    fn hri_keeps_brackets_inside_data() {
        let data = parse_hri("(01)09506000134352(21)A(B)C");
        assert!(data.is_valid(), "{:?}", data.problems);
        assert_eq!(data.get("21"), Some("A(B)C"));
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
        assert!(parse("(8010)AB#12(8011)1").is_valid());
        assert_one_problem(
            "(8010)ab12(8011)1",
            "(8010) contains 'a', not allowed (GS1 character set 39)",
        );
        // CSET 64 (8030 digital signature).
        assert_one_problem(
            "(00)106141411234567897(8030)abc$",
            "(8030) contains '$', not allowed (GS1 character set 64)",
        );
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

    #[test]
    fn table_rejects_linters_it_cannot_check() {
        assert!(AiTable::parse("01 * N14,csum").is_ok());
        assert!(AiTable::parse("01 * N14,frobnicate").is_err());
    }
}
