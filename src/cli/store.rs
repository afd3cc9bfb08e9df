//! `verigrade store`: the store itself, outside the service.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::store::{Location, migrate};

#[derive(Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Moves an embedded store (its folder) into an empty PostgreSQL database, evidence frames
    /// included, then verifies the audit trail there: exit 0 when intact. Stop the service
    /// first; then serve with --store and the same URL.
    Migrate {
        /// The embedded store's folder.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The PostgreSQL database, empty: postgres://USER@HOST/DATABASE.
        #[arg(long, value_name = "postgres://…")]
        to: String,
    },
}

pub fn run(args: &StoreArgs) -> Result<ExitCode> {
    match &args.command {
        StoreCommand::Migrate { from, to } => {
            let Location::Postgres(url) = Location::parse(to)? else {
                anyhow::bail!("--to must be a postgres:// URL, not {to:?}");
            };
            let target = Location::Postgres(url.clone()).redacted();
            let migrated = migrate::sqlite_to_postgres(from, &url).with_context(|| {
                format!("cannot migrate the store in {} to {target}", from.display())
            })?;
            for (table, rows) in &migrated.rows {
                println!("{table:<20} {rows:>10} rows");
            }
            println!("{:<20} {:>10} frames", "evidence", migrated.evidence_frames);
            for name in &migrated.evidence_missing {
                println!("evidence {name} is named by a record but was not in the folder");
            }
            let found = &migrated.verification;
            println!(
                "audit trail in {target}: {} entries, {}",
                found.entries,
                if found.problems.is_empty() {
                    "intact".to_string()
                } else {
                    format!("BROKEN: {}", found.problems[0])
                }
            );
            Ok(if found.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
