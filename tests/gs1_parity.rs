//! GS1 parity: verigrade's GS1 verdict (valid or not) against GS1's own Barcode Syntax Engine
//! on many thousands of generated strings, in HRI and in element-string form: messages built
//! from the GS1 Barcode Syntax Dictionary (../shared/spec) with values most of which pass
//! their AI's checks, and mutations of them (a character changed, dropped or added, a bracket
//! in the data, escaped or not, a separator missing, an element repeated or dropped, an AI
//! that does not exist). The engine (../shared/tools/gs1-syntax-engine) is a measuring tool,
//! built here with the system's C compiler; without it the test says SKIPPED.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use verigrade::gs1::{AiSpec, AiTable, Charset, GS};

/// Messages generated; each is checked in both forms, as built and mutated.
const MESSAGES: usize = 6000;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Builds the engine's driver (`gs1ref.c`, one datum per line in, `VALID` or
/// `INVALID<TAB>why` out) into the test's temporary folder; Err says why it cannot.
fn build_engine() -> Result<PathBuf, String> {
    let engine = shared().join("tools/gs1-syntax-engine");
    let lib = engine.join("c-lib");
    if !lib.is_dir() {
        return Err(format!("{} is not there", lib.display()));
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gs1ref");
    let mut sources: Vec<PathBuf> = ["ai.c", "dl.c", "gs1encoders.c", "scandata.c", "syn.c"]
        .iter()
        .map(|f| lib.join(f))
        .collect();
    for entry in std::fs::read_dir(lib.join("syntax")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".c") && !name.contains("test") {
            sources.push(path);
        }
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&compiler)
        .args(["-O1", "-w", "-DGS1_LINTER_ERR_STR_EN", "-I"])
        .arg(&lib)
        .arg("-I")
        .arg(lib.join("syntax"))
        .arg("-o")
        .arg(&out)
        .arg(engine.join("gs1ref.c"))
        .args(&sources)
        .output()
        .map_err(|e| format!("cannot run the C compiler `{compiler}`: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "the engine did not build: {}",
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    Ok(out)
}

/// The engine's verdict on each line: None for valid, Some(its message) for invalid.
fn engine_verdicts(engine: &Path, inputs: &[String]) -> Vec<Option<String>> {
    let mut child = Command::new(engine)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = inputs.to_vec();
    let writer = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    });
    let verdicts: Vec<Option<String>> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| {
            let line = line.unwrap();
            match line.strip_prefix("INVALID\t") {
                Some(why) => Some(why.to_string()),
                None => {
                    assert_eq!(line, "VALID");
                    None
                }
            }
        })
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        verdicts.len(),
        inputs.len(),
        "the engine answered every line"
    );
    verdicts
}

const CSET82: &[u8] =
    b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
const CSET39: &[u8] = b"#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CSET64: &[u8] = b"-0123456789=ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

fn random_chars(rng: &mut StdRng, set: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| *set.choose(rng).unwrap() as char)
        .collect()
}

fn random_digits(rng: &mut StdRng, len: usize) -> String {
    random_chars(rng, b"0123456789", len)
}

/// The GS1 mod-10 check digit, computed here from its definition.
fn mod10(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// A value for one component that most often passes its linters: dates that exist, check
/// digits that add up, codes from their lists (examples from the standards).
fn component_value(
    rng: &mut StdRng,
    charset: Charset,
    min: usize,
    max: usize,
    linters: &[String],
) -> String {
    let len = if min == max {
        min
    } else {
        rng.random_range(min..=max.min(min + 12))
    };
    let pick = |rng: &mut StdRng, list: &[&str]| list.choose(rng).unwrap().to_string();
    let day = |rng: &mut StdRng| {
        format!(
            "{:02}{:02}",
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        )
    };
    let first = linters.first().map(String::as_str).unwrap_or("");
    let mut value = match first {
        "csum" => {
            let body = random_digits(rng, len.saturating_sub(1));
            let check = mod10(&body);
            format!("{body}{check}")
        }
        "yymmd0" | "yymmdd" => format!("{:02}{}", rng.random_range(0..100), day(rng)),
        "yyyymmdd" => format!("{}{}", rng.random_range(1950..2100), day(rng)),
        "hhmi" => format!(
            "{:02}{:02}",
            rng.random_range(0..24),
            rng.random_range(0..60)
        ),
        "hh" => format!("{:02}", rng.random_range(0..24)),
        "mi" | "ss" => format!("{:02}", rng.random_range(0..60)),
        "iso3166" => pick(rng, &["276", "840", "250", "826", "380", "756"]),
        "iso3166999" => pick(rng, &["276", "840", "999"]),
        "iso3166alpha2" => pick(rng, &["DE", "US", "FR", "GB", "JP", "CH"]),
        "iso4217" => pick(rng, &["978", "840", "826", "392", "756"]),
        "iso5218" => pick(rng, &["0", "1", "2", "9"]),
        "packagetype" => pick(rng, &["BX", "CT", "PX", "1A", "AE", "BG"]),
        "yesno" => pick(rng, &["0", "1"]),
        "zero" => "0".repeat(len),
        "winding" => pick(rng, &["0", "1", "9"]),
        "mediatype" => format!("{:02}", rng.random_range(1..=10)),
        "pieceoftotal" => {
            let half = len / 2;
            let total: u64 = rng.random_range(1..10u64.pow(half.min(9) as u32));
            let piece = rng.random_range(1..=total);
            format!("{piece:0half$}{total:0half$}")
        }
        "posinseqslash" => pick(rng, &["1/1", "3/7", "12/40"]),
        "iban" => pick(rng, &["GB82WEST12345698765432", "DE89370400440532013000"]),
        "hyphen" => "-".into(),
        "couponcode" => pick(rng, &["012345612345611110123", "0123456123456111101231234"]),
        "couponposoffer" => pick(rng, &["001234561234560123456", "1212345671234561234567"]),
        _ => match charset {
            Charset::Numeric => random_digits(rng, len),
            Charset::Cset82 => random_chars(rng, CSET82, len),
            Charset::Cset39 => random_chars(rng, CSET39, len),
            Charset::Cset64 => random_chars(rng, CSET64, len),
        },
    };
    // A company prefix starts with digits (numeric data has them already, and its check digit).
    let offset = if linters.iter().any(|l| l == "gcppos2") {
        1
    } else {
        0
    };
    if charset != Charset::Numeric
        && linters.iter().any(|l| l.starts_with("gcppos"))
        && value.len() >= offset + 4
    {
        let digits = random_digits(rng, 4);
        value.replace_range(offset..offset + 4, &digits);
    }
    if linters.iter().any(|l| l == "nonzero")
        && value.bytes().all(|b| b == b'0')
        && !value.is_empty()
    {
        value.replace_range(0..1, "1");
    }
    value
}

fn ai_value(rng: &mut StdRng, spec: &AiSpec) -> String {
    let mut value = String::new();
    for component in &spec.components {
        if component.optional && rng.random_bool(0.4) {
            break;
        }
        value += &component_value(
            rng,
            component.charset,
            component.min,
            component.max,
            &component.linters,
        );
    }
    value
}

/// A message: AI and value pairs.
type Message = Vec<(String, String)>;

/// Whether `ai` matches a dictionary pattern such as `31nn` (`n`: any digit).
fn matches(pattern: &str, ai: &str) -> bool {
    pattern.len() == ai.len()
        && pattern
            .bytes()
            .zip(ai.bytes())
            .all(|(p, a)| p == a || (p == b'n' && a.is_ascii_digit()))
}

/// Adds `ai` unless it is there or a pair the dictionary forbids, then what it requires: most
/// generated messages are to be valid, so that both verdicts are well represented.
fn add(
    rng: &mut StdRng,
    table: &AiTable,
    ais: &[String],
    chosen: &mut Vec<String>,
    ai: &str,
    depth: usize,
) {
    let spec = table.get(ai).unwrap();
    let excluded = chosen.iter().any(|other| {
        other == ai
            || spec.excludes.iter().any(|p| matches(p, other))
            || table
                .get(other)
                .unwrap()
                .excludes
                .iter()
                .any(|p| matches(p, ai))
    });
    if excluded || depth > 3 {
        return;
    }
    chosen.push(ai.to_string());
    for alternatives in &spec.requires {
        let satisfied = alternatives
            .iter()
            .any(|all| all.iter().all(|p| chosen.iter().any(|c| matches(p, c))));
        if satisfied {
            continue;
        }
        for pattern in alternatives.choose(rng).unwrap() {
            let candidates: Vec<&String> = ais.iter().filter(|a| matches(pattern, a)).collect();
            if let Some(required) = candidates.choose(rng) {
                add(rng, table, ais, chosen, required, depth + 1);
            }
        }
    }
}

fn message(rng: &mut StdRng, table: &AiTable, ais: &[String]) -> Message {
    let mut chosen = Vec::new();
    // Most AIs go with a GTIN or an SSCC.
    match rng.random_range(0..10) {
        0..6 => add(rng, table, ais, &mut chosen, "01", 0),
        6..8 => add(rng, table, ais, &mut chosen, "00", 0),
        _ => {}
    }
    for _ in 0..rng.random_range(1..=3) {
        let ai = ais.choose(rng).unwrap().clone();
        add(rng, table, ais, &mut chosen, &ai, 0);
    }
    chosen
        .into_iter()
        .map(|ai| {
            let value = ai_value(rng, table.get(&ai).unwrap());
            (ai, value)
        })
        .collect()
}

fn hri(message: &Message) -> String {
    message
        .iter()
        .map(|(ai, value)| format!("({ai}){}", value.replace('(', "\\(")))
        .collect()
}

/// The element string: a GS after each element whose AI the standard does not give a
/// predefined length (its first two digits, GS1 General Specifications figure 7.8.5-2).
fn element_string(message: &Message) -> String {
    const PREDEFINED: &[&str] = &[
        "00", "01", "02", "03", "04", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20",
        "31", "32", "33", "34", "35", "36", "41",
    ];
    let mut out = String::new();
    for (i, (ai, value)) in message.iter().enumerate() {
        out += ai;
        out += value;
        if i + 1 < message.len() && !PREDEFINED.contains(&&ai[..2]) {
            out.push(GS);
        }
    }
    out
}

/// One mutation of a message, in HRI (`as_hri`) or element-string form.
fn mutated(
    rng: &mut StdRng,
    table: &AiTable,
    ais: &[String],
    message: &Message,
    as_hri: bool,
) -> String {
    let mut message = message.clone();
    let at = rng.random_range(0..message.len());
    let position = |rng: &mut StdRng, value: &str| rng.random_range(0..=value.len());
    match rng.random_range(0..9) {
        0 if !message[at].1.is_empty() => {
            let value = &mut message[at].1;
            let i = rng.random_range(0..value.len());
            let c = *CSET82.choose(rng).unwrap() as char;
            value.replace_range(i..i + 1, &c.to_string());
        }
        1 if !message[at].1.is_empty() => {
            let value = &mut message[at].1;
            let i = rng.random_range(0..value.len());
            value.remove(i);
        }
        2 => {
            let value = &mut message[at].1;
            let i = position(rng, value);
            let c = *b"0123456789A(~ ".choose(rng).unwrap() as char;
            value.insert(i, c);
        }
        3 => {
            let again = ai_value(rng, table.get(&message[at].0).unwrap());
            message.push((message[at].0.clone(), again));
        }
        4 if message.len() > 1 => {
            message.remove(at);
        }
        5 => {
            let ai = ais.choose(rng).unwrap().clone();
            let value = ai_value(rng, table.get(&ai).unwrap());
            message.insert(rng.random_range(0..=message.len()), (ai, value));
        }
        6 => message.push(("23".into(), "123".into())),
        7 if as_hri => {
            // A bracket in the data, not escaped: where the engine reads the next AI.
            let i = position(rng, &message[at].1);
            let mut text = hri(&message);
            let start = hri(&message[..at].to_vec()).len() + message[at].0.len() + 2;
            text.insert(start + i.min(text.len() - start), '(');
            return text;
        }
        8 if !as_hri => {
            // A separator dropped or doubled.
            let text = element_string(&message);
            return match text.find(GS) {
                Some(i) if rng.random_bool(0.5) => format!("{}{}", &text[..i], &text[i + 1..]),
                _ => format!("{text}{GS}"),
            };
        }
        _ => {}
    }
    if as_hri {
        hri(&message)
    } else {
        element_string(&message)
    }
}

#[test]
fn gs1_verdicts_agree_with_gs1s_barcode_syntax_engine() {
    let engine = match build_engine() {
        Ok(engine) => engine,
        Err(why) => {
            println!("SKIPPED: GS1 parity against GS1's Barcode Syntax Engine: {why}");
            return;
        }
    };
    // The engine carries its own release of GS1's Barcode Syntax Dictionary, which may differ
    // from verigrade's (models/gs1-ai.txt) in which AIs require which: both sides read the
    // engine's, so that what is compared is how the data is checked. verigrade's own table must
    // still know every AI of it.
    let dictionary = std::fs::read_to_string(
        shared().join("tools/gs1-syntax-engine/c-lib/gs1-syntax-dictionary.txt"),
    )
    .expect("the engine's GS1 Barcode Syntax Dictionary");
    let table = AiTable::parse(&dictionary).expect("verigrade reads GS1's dictionary");
    let ais = table.ais();
    assert!(ais.len() > 500, "{} AIs", ais.len());
    for ai in &ais {
        assert!(
            AiTable::builtin().get(ai).is_some(),
            "({ai}) is missing from models/gs1-ai.txt"
        );
    }

    let mut rng = StdRng::seed_from_u64(0x6511);
    let mut inputs = Vec::new();
    for _ in 0..MESSAGES {
        let message = message(&mut rng, &table, &ais);
        inputs.push(hri(&message));
        inputs.push(element_string(&message));
        inputs.push(mutated(&mut rng, &table, &ais, &message, true));
        inputs.push(mutated(&mut rng, &table, &ais, &message, false));
    }
    let engine = engine_verdicts(&engine, &inputs);
    let mut disagreements = Vec::new();
    let mut valid = 0;
    for (input, engine) in inputs.iter().zip(&engine) {
        let ours = verigrade::gs1::parse_with(&table, input);
        valid += usize::from(engine.is_none());
        if ours.is_valid() != engine.is_none() {
            let ours: Vec<String> = ours.problems.iter().map(|p| p.to_string()).collect();
            disagreements.push(format!(
                "{:?}\n    engine: {}\n    verigrade: {}",
                input,
                engine.as_deref().unwrap_or("VALID"),
                if ours.is_empty() {
                    "VALID".into()
                } else {
                    ours.join("; ")
                }
            ));
        }
    }
    println!(
        "gs1 parity: {} strings ({valid} valid by GS1's engine), {} disagreements",
        inputs.len(),
        disagreements.len()
    );
    assert!(
        valid > inputs.len() / 5 && valid < inputs.len() * 4 / 5,
        "{valid} valid: the mix proves little"
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} verdicts differ from GS1's engine; the first:\n{}",
        disagreements.len(),
        inputs.len(),
        disagreements
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
