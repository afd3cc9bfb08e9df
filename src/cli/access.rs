//! Access and audit at the command line. `token …` and `audit verify` run on the data
//! directory itself, by whoever holds it (recorded as a local user), while the service runs or
//! not; `audit list` and `batch close|reopen` ask a running service, with a token.

use super::client::OutputFormat;
use super::client::list_paged;
use super::connection::Connection;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::access::{Actor, Role};
use verigrade::proto::audit_client::AuditClient;
use verigrade::proto::serials_client::SerialsClient;
use verigrade::proto::{AuditEntry, CloseBatchRequest, ListAuditRequest, ReopenBatchRequest};
use verigrade::store::{self, Location, rfc3339, tokens, trail};

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Creates a token and prints it, once: only its SHA-256 is stored.
    Create {
        #[command(flatten)]
        at: StoreArgs,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Who the token is for: the name the audit trail records for its calls.
        #[arg(long)]
        user: String,
    },
    /// Lists every token (never the tokens themselves).
    List {
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Revokes a token: from now on every call with it is refused.
    Revoke {
        #[command(flatten)]
        at: StoreArgs,
        /// The token's id, as `token list` shows it.
        id: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// Where the store is: the data folder, and the shared PostgreSQL database when the service
/// uses one.
#[derive(Args)]
pub struct StoreArgs {
    /// The store's folder.
    #[arg(long, default_value = "verigrade-data")]
    data_dir: PathBuf,
    /// The service's store when it is not the folder's: a postgres:// URL [default: sqlite].
    #[arg(long, env = "VERIGRADE_STORE", value_name = "sqlite|postgres://…")]
    store: Option<String>,
}

impl StoreArgs {
    fn location(&self) -> Result<Location> {
        Ok(Location::parse(self.store.as_deref().unwrap_or("sqlite"))?)
    }

    /// Opens the store to change it, creating an embedded one when needed.
    fn open(&self) -> Result<store::Db> {
        let opened = match self.location()? {
            Location::Embedded => store::open_local(&self.data_dir),
            Location::Postgres(url) => store::open_postgres(&url),
        };
        opened.with_context(|| format!("cannot open the store {}", self.describe()))
    }

    /// Opens a store that must exist already, to read it.
    fn open_existing(&self) -> Result<store::Db> {
        let opened = match self.location()? {
            Location::Embedded => store::open_read_only(&self.data_dir),
            Location::Postgres(url) => store::Db::postgres(&url),
        };
        opened.with_context(|| format!("cannot open the store {}", self.describe()))
    }

    /// Records the audit trail's head beside an embedded store (a shared one's nodes each
    /// record it beside themselves).
    fn save_head(&self, conn: &store::Db) -> Result<()> {
        if !conn.is_postgres() {
            trail::save_head(conn, &self.data_dir)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self.location() {
            Ok(Location::Postgres(url)) => Location::Postgres(url).redacted(),
            _ => format!("in {}", self.data_dir.display()),
        }
    }
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
        TokenCommand::Create { at, role, user } => {
            let conn = at.open()?;
            let (id, token) = tokens::create(&conn, user, Role::from(*role), &actor)?;
            at.save_head(&conn)?;
            eprintln!(
                "verigrade: token {id} for {user} ({}); it is shown only now:",
                Role::from(*role)
            );
            println!("{token}");
        }
        TokenCommand::List { at } => {
            let conn = at.open_existing()?;
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
        TokenCommand::Revoke { at, id, reason } => {
            // A token is revoked in an existing store only: a mistyped folder is an error, not
            // a new empty store.
            at.open_existing()?;
            let conn = at.open()?;
            let revoked = tokens::revoke(&conn, *id, &actor, reason)?;
            at.save_head(&conn)?;
            println!(
                "token {} of {} ({}) revoked",
                revoked.id, revoked.user, revoked.role
            );
        }
    }
    Ok(ExitCode::SUCCESS)
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
    /// Lists the audit trail from a running service, oldest entry first (qa, admin).
    List(ListArgs),
}

pub fn audit(args: &AuditArgs) -> Result<ExitCode> {
    match &args.command {
        AuditCommand::Verify(verify_args) => verify(verify_args),
        AuditCommand::List(list_args) => list(list_args),
    }
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    connection: Connection,
    /// Entries at or after this time (RFC 3339, e.g. 2026-11-26T08:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Only this user's entries.
    #[arg(long, default_value = "")]
    user: String,
    /// Only entries of this action (e.g. verdict.stored, alarm.acknowledged, batch.closed).
    #[arg(long, default_value = "")]
    action: String,
    /// At most this many entries.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

/// A `--since` time (RFC 3339) as milliseconds since 1970; 0 without one.
pub fn since_ms(since: Option<&str>) -> Result<i64> {
    let Some(text) = since else { return Ok(0) };
    let at = humantime::parse_rfc3339_weak(text)
        .with_context(|| format!("--since {text:?} is not an RFC 3339 time"))?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64))
}

fn list(args: &ListArgs) -> Result<ExitCode> {
    let since_unix_ms = since_ms(args.since.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = AuditClient::new(args.connection.connect().await?);
        list_paged(
            args.limit,
            |page_size, page_token| {
                let request = ListAuditRequest {
                    since_unix_ms,
                    user: args.user.clone(),
                    action: args.action.clone(),
                    page_size,
                    page_token,
                };
                let mut client = client.clone();
                async move {
                    let page = client.list_audit(request).await?.into_inner();
                    Ok((page.entries, page.next_page_token))
                }
            },
            |entry: &AuditEntry| match args.format {
                OutputFormat::Json => println!("{}", entry_json(entry)),
                OutputFormat::Text => println!("{}", entry_text(entry)),
            },
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn entry_text(e: &AuditEntry) -> String {
    let mut text = format!(
        "{:>6}  {}  {} ({})  {}",
        e.sequence,
        rfc3339(e.unix_ms),
        e.user,
        e.role,
        e.action
    );
    for (label, value) in [
        ("", &e.record),
        ("before ", &e.before),
        ("after ", &e.after),
        ("reason ", &e.reason),
    ] {
        if !value.is_empty() {
            text.push_str(&format!("  {label}{value}"));
        }
    }
    text
}

fn entry_json(e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "sequence": e.sequence,
        "time": rfc3339(e.unix_ms),
        "unix_ms": e.unix_ms,
        "user": e.user,
        "role": e.role,
        "action": e.action,
        "record": e.record,
        "before": e.before,
        "after": e.after,
        "reason": e.reason,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    })
}

#[derive(Args)]
pub struct BatchArgs {
    #[command(subcommand)]
    command: BatchCommand,
}

#[derive(Subcommand)]
enum BatchCommand {
    /// Closes a batch with your electronic signature (qa): its reconciliation is frozen and
    /// later packs of it fail.
    Close {
        #[command(flatten)]
        which: WhichBatch,
        /// What the signature means.
        #[arg(long, value_enum)]
        meaning: MeaningArg,
    },
    /// Reopens a closed batch (qa); the reason is recorded.
    Reopen {
        #[command(flatten)]
        which: WhichBatch,
        #[arg(long)]
        reason: String,
    },
    /// Writes the batch report as one printable HTML document: reconciliation, grade
    /// distribution, control charts, alarms with who acknowledged them, deviations, the
    /// failed packs with their frames, and the signature once closed.
    Report {
        #[command(flatten)]
        which: WhichBatch,
        /// The HTML file to write (default: standard output).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
}

/// The service and the batch a `batch` command acts on.
#[derive(Args)]
struct WhichBatch {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    line: String,
    #[arg(long)]
    batch: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum MeaningArg {
    Approved,
    Reviewed,
}

pub fn batch(args: &BatchArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let closure = match &args.command {
            BatchCommand::Close { which, meaning } => {
                let meaning = match meaning {
                    MeaningArg::Approved => "approved",
                    MeaningArg::Reviewed => "reviewed",
                };
                SerialsClient::new(which.connection.connect().await?)
                    .close_batch(CloseBatchRequest {
                        line_id: which.line.clone(),
                        batch: which.batch.clone(),
                        meaning: meaning.into(),
                    })
                    .await?
                    .into_inner()
            }
            BatchCommand::Reopen { which, reason } => {
                SerialsClient::new(which.connection.connect().await?)
                    .reopen_batch(ReopenBatchRequest {
                        line_id: which.line.clone(),
                        batch: which.batch.clone(),
                        reason: reason.clone(),
                    })
                    .await?
                    .into_inner()
            }
            BatchCommand::Report { which, out } => {
                let (line, batch) = (&which.line, &which.batch);
                return super::batch_report::run(&which.connection, line, batch, out.as_deref())
                    .await;
            }
        };
        if closure.closed {
            let counts = closure.reconciliation.unwrap_or_default();
            println!(
                "batch {} on line {} closed: signed {} by {} at {} (audit entry {})",
                closure.batch,
                closure.line_id,
                closure.meaning,
                closure.user,
                rfc3339(closure.unix_ms),
                closure.audit_sequence
            );
            println!(
                "frozen: {} frames, {} passed, {} commissioned, {} verified; records SHA-256 {}",
                counts.frames,
                counts.passed,
                counts.commissioned,
                counts.verified,
                closure.records_sha256
            );
        } else {
            println!(
                "batch {} on line {} reopened: {} (audit entry {})",
                closure.batch, closure.line_id, closure.reason, closure.audit_sequence
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    at: StoreArgs,
}

/// Walks the chain and the records it covers: exit 0 when intact, 1 when anything was
/// changed, removed or inserted (the first break named first).
fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let found = store::verify_trail_at(&args.at.location()?, &args.at.data_dir)
        .with_context(|| format!("cannot verify the store {}", args.at.describe()))?;
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
