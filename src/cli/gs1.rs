//! `verigrade gs1`: parse and validate GS1 data given as HRI or as an element string, the way
//! the verifier does for a decoded symbol. Exit 0 valid, 1 invalid.

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;
use verigrade::gs1::{self, AiTable};
use verigrade::profile::Profile;
use verigrade::verdict::Reason;

#[derive(Clone, Copy, ValueEnum)]
pub enum Gs1Format {
    Json,
    Text,
}

#[derive(Args)]
pub struct Gs1Args {
    #[arg(long, value_enum, default_value = "text")]
    format: Gs1Format,
    /// Also apply a profile's market data rules (e.g. eu-fmd, dscsa).
    #[arg(long)]
    profile: Option<String>,
    /// HRI `(01)…(21)…`, or an element string with `\x1d` (or a GS character) between
    /// variable-length fields.
    data: String,
}

pub fn run(args: &Gs1Args) -> Result<ExitCode> {
    let profile = args.profile.as_deref().map(Profile::load).transpose()?;
    let input = crate::unescape(&args.data);
    let data = gs1::parse(&input);
    // Worded as a grade's reasons are.
    let mut problems: Vec<Reason> = data.problems.iter().cloned().map(Reason::Gs1).collect();
    if let Some(profile) = &profile {
        let market = profile.data.check(&data, &profile.name);
        problems.extend(market.into_iter().map(Reason::ProfileData));
    }
    let table = AiTable::builtin();
    let title = |ai: &str| table.get(ai).map_or("", |spec| spec.title.as_str());
    let mut out = std::io::stdout().lock();
    match args.format {
        Gs1Format::Json => {
            let elements: Vec<_> = data
                .elements
                .iter()
                .map(|e| json!({"ai": e.ai, "title": title(&e.ai), "value": e.value}))
                .collect();
            let record = json!({
                "valid": problems.is_empty(),
                "hri": data.hri(),
                "element_string": data.element_string(table),
                "elements": elements,
                "problems": problems,
            });
            writeln!(out, "{record}")?;
        }
        Gs1Format::Text => {
            for e in &data.elements {
                writeln!(out, "({}) {}  {}", e.ai, e.value, title(&e.ai))?;
            }
            if problems.is_empty() {
                writeln!(out, "valid")?;
            }
            for p in &problems {
                writeln!(out, "invalid: {p}")?;
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
