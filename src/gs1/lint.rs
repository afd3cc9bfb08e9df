//! The GS1 Barcode Syntax Dictionary's linters: the checks a component's data must pass beyond
//! its length and character set (check digits, dates, code lists, company prefixes, coupon
//! structure). Each follows the dictionary's definition as GS1's reference implementation
//! applies it, so that verigrade and GS1's own engine agree on what is valid.

use super::{Problem, check_digit};
use std::sync::OnceLock;

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
pub(super) fn full_year(yy: u32, this_year: u32) -> u32 {
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
pub(super) fn current_year() -> u32 {
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

pub(super) fn lint(ai: &str, linter: &str, part: &str) -> Option<Problem> {
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
        "nozeroprefix" if part.starts_with('0') => bad("must not start with 0"),
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
        "iso3166" if !COUNTRIES.contains(part) => bad("is not an ISO 3166 country code"),
        "iso3166999" if part != "999" && !COUNTRIES.contains(part) => {
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
        "iso3166alpha2" if !COUNTRIES_ALPHA2.contains(part) => {
            bad("is not an ISO 3166 two-letter country code")
        }
        "iso4217" if !CURRENCIES.contains(part) => bad("is not an ISO 4217 currency code"),
        "packagetype" if !PACKAGE_TYPES.contains(part) => bad("is not a GS1 package type code"),
        "gcppos1" => company_prefix_at(part, 0).err().and_then(bad),
        "gcppos2" => company_prefix_at(part, 1).err().and_then(bad),
        "couponcode" => coupon_code(part).err().and_then(bad),
        "couponposoffer" => coupon_positive_offer(part).err().and_then(bad),
        _ => None,
    }
}

/// Every linter of the GS1 Barcode Syntax Dictionary this module checks: a table naming
/// another is refused when it loads, so that a newer dictionary cannot pass data unchecked.
pub(super) const KNOWN_LINTERS: &[&str] = &[
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
    "iso3166alpha2",
    "iso4217",
    "iso5218",
    "packagetype",
    "winding",
    "mediatype",
    "latitude",
    "longitude",
    "importeridx",
    "pcenc",
    "iban",
    "posinseqslash",
    "gcppos1",
    "gcppos2",
    "couponcode",
    "couponposoffer",
];

/// A whitespace-separated code list from `models/` (lines starting with `#` are comments),
/// split at its first use.
struct CodeList {
    text: &'static str,
    codes: OnceLock<Vec<&'static str>>,
}

impl CodeList {
    const fn new(text: &'static str) -> CodeList {
        CodeList {
            text,
            codes: OnceLock::new(),
        }
    }

    fn contains(&self, code: &str) -> bool {
        self.codes
            .get_or_init(|| {
                self.text
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .flat_map(str::split_whitespace)
                    .collect()
            })
            .contains(&code)
    }
}

/// ISO 3166-1 numeric country codes.
static COUNTRIES: CodeList = CodeList::new(include_str!("../../models/iso3166-numeric.txt"));
/// ISO 3166-1 alpha-2 country codes.
static COUNTRIES_ALPHA2: CodeList = CodeList::new(include_str!("../../models/iso3166-alpha2.txt"));
/// ISO 4217 numeric currency codes.
static CURRENCIES: CodeList = CodeList::new(include_str!("../../models/iso4217-numeric.txt"));
/// GS1 PackageTypeCode values.
static PACKAGE_TYPES: CodeList = CodeList::new(include_str!("../../models/gs1-package-types.txt"));

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

/// The shortest GS1 Company Prefix has four digits.
const GCP_MIN_DIGITS: usize = 4;

/// `gcppos1`/`gcppos2`: a GS1 Company Prefix starts at `offset`. Which prefixes exist needs
/// GS1's register; what needs no register is that its shortest form, four digits, is there.
fn company_prefix_at(part: &str, offset: usize) -> Result<(), &'static str> {
    let prefix = part.as_bytes().get(offset..).unwrap_or_default();
    if prefix.len() < GCP_MIN_DIGITS {
        return Err("is too short to hold a GS1 Company Prefix");
    }
    if !prefix[..GCP_MIN_DIGITS].iter().all(u8::is_ascii_digit) {
        return Err("does not start with a GS1 Company Prefix (digits)");
    }
    Ok(())
}

/// Reads a coupon's fields left to right (GS1 North American coupon data, AIs 8110 and 8112).
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(part: &'a str) -> Result<Self, &'static str> {
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be digits only");
        }
        Ok(Fields {
            rest: part.as_bytes(),
        })
    }

    /// The next digit; `missing` when the data ends.
    fn digit(&mut self, missing: &'static str) -> Result<u8, &'static str> {
        let (&first, rest) = self.rest.split_first().ok_or(missing)?;
        self.rest = rest;
        Ok(first - b'0')
    }

    /// The next `n` digits; `truncated` when fewer are left.
    fn take(&mut self, n: usize, truncated: &'static str) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < n {
            return Err(truncated);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// Whether the next digit is the optional field's `tag`, taken when it is.
    fn tag(&mut self, tag: u8) -> bool {
        let present = self.rest.first() == Some(&(b'0' + tag));
        if present {
            self.rest = &self.rest[1..];
        }
        present
    }

    /// A company prefix of `length` (6 or more) digits: being digits, checked by
    /// [`Fields::new`], is all `gcppos1` asks of it.
    fn company_prefix(
        &mut self,
        length: usize,
        truncated: &'static str,
    ) -> Result<(), &'static str> {
        self.take(length, truncated).map(|_| ())
    }

    /// A second or third purchase's company prefix: a length indicator 0–6, or 9 for none.
    fn optional_company_prefix(&mut self) -> Result<(), &'static str> {
        match self.digit("ends before a purchase's company prefix")? {
            9 => Ok(()),
            length @ 0..=6 => self.company_prefix(
                usize::from(length) + 6,
                "ends inside a purchase's company prefix",
            ),
            _ => Err("has a purchase company prefix length indicator over 6"),
        }
    }

    /// A purchase requirement: its length indicator (1–5), the value, its code (0–4 or 9) and
    /// the three-digit family code.
    fn purchase_requirement(&mut self) -> Result<(), &'static str> {
        let length = self.digit("ends before a purchase requirement")?;
        if !(1..=5).contains(&length) {
            return Err("has a purchase requirement length outside 1–5");
        }
        self.take(length.into(), "ends inside a purchase requirement")?;
        let code = self.digit("ends before a purchase requirement code")?;
        if code > 4 && code != 9 {
            return Err("has an invalid purchase requirement code");
        }
        self.take(3, "ends inside a family code")?;
        Ok(())
    }

    /// A YYMMDD date that must exist (no day 00).
    fn date(
        &mut self,
        truncated: &'static str,
        invalid: &'static str,
    ) -> Result<&'a [u8], &'static str> {
        let date = self.take(6, truncated)?;
        let text = std::str::from_utf8(date).map_err(|_| invalid)?;
        let year = full_year(digits(text, 0..2), current_year());
        if valid_date(year, digits(text, 2..4), digits(text, 4..6), false) {
            Ok(date)
        } else {
            Err(invalid)
        }
    }

    fn end(&self) -> Result<(), &'static str> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err("has data after its last field")
        }
    }
}

/// `couponcode` (AI 8110): company prefix, offer code, save value, first purchase requirement,
/// then the optional fields 1 (second purchase), 2 (third purchase), 3 (expiry), 4 (start),
/// 5 (serial number), 6 (retailer) and 9 (miscellaneous), each at most once and in that order.
fn coupon_code(part: &str) -> Result<(), &'static str> {
    let mut fields = Fields::new(part)?;
    let length = fields.digit("is empty")?;
    if length > 6 {
        return Err("has a company prefix length indicator over 6");
    }
    fields.company_prefix(usize::from(length) + 6, "ends inside its company prefix")?;
    fields.take(6, "ends inside its offer code")?;
    let save = fields.digit("ends before its save value")?;
    if !(1..=5).contains(&save) {
        return Err("has a save value length outside 1–5");
    }
    fields.take(save.into(), "ends inside its save value")?;
    fields.purchase_requirement()?;
    if fields.tag(1) {
        let rules = fields.digit("ends before its additional purchase rules code")?;
        if rules > 3 {
            return Err("has an invalid additional purchase rules code");
        }
        fields.purchase_requirement()?;
        fields.optional_company_prefix()?;
    }
    if fields.tag(2) {
        fields.purchase_requirement()?;
        fields.optional_company_prefix()?;
    }
    let mut expiry = None;
    if fields.tag(3) {
        expiry = Some(fields.date("ends inside its expiry date", "has an invalid expiry date")?);
    }
    if fields.tag(4) {
        let start = fields.date("ends inside its start date", "has an invalid start date")?;
        // As GS1's engine compares them: YYMMDD as written.
        if expiry.is_some_and(|expiry| start > expiry) {
            return Err("expires before it starts");
        }
    }
    if fields.tag(5) {
        let length = fields.digit("ends before its serial number")?;
        fields.take(usize::from(length) + 6, "ends inside its serial number")?;
    }
    if fields.tag(6) {
        let length = fields.digit("ends before its retailer")?;
        if !(1..=7).contains(&length) {
            return Err("has a retailer length indicator outside 1–7");
        }
        fields.company_prefix(usize::from(length) + 6, "ends inside its retailer")?;
    }
    if fields.tag(9) {
        let code = fields.digit("ends before its save value code")?;
        if ![0, 1, 2, 5, 6].contains(&code) {
            return Err("has an invalid save value code");
        }
        if fields.digit("ends before its save value applies-to-item code")? > 2 {
            return Err("has an invalid save value applies-to-item code");
        }
        fields.digit("ends before its store coupon flag")?;
        if fields.digit("ends before its don't-multiply flag")? > 1 {
            return Err("has an invalid don't-multiply flag");
        }
    }
    fields.end()
}

/// `couponposoffer` (AI 8112): format 0 or 1, funder (length indicator 0–6), offer code,
/// serial number (length indicator), and nothing after.
fn coupon_positive_offer(part: &str) -> Result<(), &'static str> {
    let mut fields = Fields::new(part)?;
    if fields.digit("is empty")? > 1 {
        return Err("has a format code other than 0 or 1");
    }
    let funder = fields.digit("ends before its funder")?;
    if funder > 6 {
        return Err("has a funder length indicator over 6");
    }
    fields.take(usize::from(funder) + 6, "ends inside its funder")?;
    fields.take(6, "ends inside its offer code")?;
    let serial = fields.digit("ends before its serial number")?;
    fields.take(usize::from(serial) + 6, "ends inside its serial number")?;
    fields.end()
}
