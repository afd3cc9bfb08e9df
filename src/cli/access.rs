//! `verigrade token …` and `verigrade audit verify`: commands run on the data directory itself,
//! by whoever holds it (recorded as a local user), while the service runs or not.

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::access::{Actor, Role};
use verigrade::store::{self, rfc3339, tokens, trail};

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Creates a token and prints it, once: only its SHA-256 is stored.
    Create {
        /// The store's folder.
        #[arg(long, default_value = "verigrade-data")]
        data_dir: PathBuf,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Who the token is for: the name the audit trail records for its calls.
        #[arg(long)]
        user: String,
    },
    /// Lists every token (never the tokens themselves).
    List {
        #[arg(long, default_value = "verigrade-data")]
        data_dir: PathBuf,
    },
    /// Revokes a token: from now on every call with it is refused.
    Revoke {
        #[arg(long, default_value = "verigrade-data")]
        data_dir: PathBuf,
        /// The token's id, as `token list` shows it.
        id: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Gateway,
    Controller,
    Qa,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Gateway => Role::Gateway,
            RoleArg::Controller => Role::Controller,
            RoleArg::Qa => Role::Qa,
            RoleArg::Admin => Role::Admin,
        }
    }
}

pub fn token(args: &TokenArgs) -> Result<ExitCode> {
    let actor = Actor::local();
    match &args.command {
        TokenCommand::Create {
            data_dir,
            role,
            user,
        } => {
            let conn = open(data_dir)?;
            let (id, token) = tokens::create(&conn, user, Role::from(*role), &actor)?;
            trail::save_head(&conn, data_dir)?;
            eprintln!(
                "verigrade: token {id} for {user} ({}); it is shown only now:",
                Role::from(*role)
            );
            println!("{token}");
        }
        TokenCommand::List { data_dir } => {
            let conn = open(data_dir)?;
            println!(
                "{:>4}  {:<24} {:<11} {:<25} state",
                "id", "user", "role", "created"
            );
            for t in tokens::list(&conn)? {
                let state = match t.revoked_ms {
                    Some(at) => format!("revoked {} by {}", rfc3339(at), t.revoked_by),
                    None => "active".into(),
                };
                println!(
                    "{:>4}  {:<24} {:<11} {:<25} {state}",
                    t.id,
                    t.user,
                    t.role,
                    rfc3339(t.created_ms)
                );
            }
        }
        TokenCommand::Revoke {
            data_dir,
            id,
            reason,
        } => {
            let conn = open(data_dir)?;
            let revoked = tokens::revoke(&conn, *id, &actor, reason)?;
            trail::save_head(&conn, data_dir)?;
            println!(
                "token {} of {} ({}) revoked",
                revoked.id, revoked.user, revoked.role
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(data_dir: &std::path::Path) -> Result<rusqlite::Connection> {
    store::open_local(data_dir)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))
}

/// Problems `audit verify` lists; a store rewritten wholesale would list thousands.
const SHOWN_PROBLEMS: usize = 50;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verifies the audit trail and every record it covers: exit 0 intact, 1 broken.
    Verify(VerifyArgs),
}

pub fn audit(args: &AuditArgs) -> Result<ExitCode> {
    match &args.command {
        AuditCommand::Verify(verify_args) => verify(verify_args),
    }
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The store's folder.
    #[arg(long, default_value = "verigrade-data")]
    data_dir: PathBuf,
}

/// Walks the chain and the records it covers: exit 0 when intact, 1 when anything was
/// changed, removed or inserted (the first break named first).
fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let found = store::verify_trail(&args.data_dir)
        .with_context(|| format!("cannot verify the store in {}", args.data_dir.display()))?;
    let head = found
        .head
        .as_ref()
        .map_or("none".to_string(), |(seq, hash)| {
            format!("entry {seq}, {hash}")
        });
    println!("audit trail: {} entries; head {head}", found.entries);
    if found.problems.is_empty() {
        println!(
            "intact: every entry follows the one before it, and every verdict, commissioned \
             serial, alarm, token and batch signature is as its entries recorded"
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("BROKEN: {}", found.problems[0]);
    if found.problems.len() > 1 {
        println!("{} problems in all:", found.problems.len());
        for problem in found.problems.iter().take(SHOWN_PROBLEMS) {
            println!("  {problem}");
        }
        if found.problems.len() > SHOWN_PROBLEMS {
            println!("  … and {} more", found.problems.len() - SHOWN_PROBLEMS);
        }
    }
    Ok(ExitCode::from(1))
}
