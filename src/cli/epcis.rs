//! `verigrade epcis`: the service's serialization events as an EPCIS 2.0 document on standard
//! output, written as it arrives.

use super::access::since_ms;
use super::connection::Connection;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::process::ExitCode;
use verigrade::proto::ExportEpcisRequest;
use verigrade::proto::events_client::EventsClient;

#[derive(Args)]
pub struct EpcisArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line (empty: every line).
    #[arg(long, default_value = "")]
    line: String,
    /// Batch (empty: every batch).
    #[arg(long, default_value = "")]
    batch: String,
    /// Events at or after this time (RFC 3339, e.g. 2026-11-26T08:00:00Z).
    #[arg(long)]
    since: Option<String>,
}

pub fn epcis(args: &EpcisArgs) -> Result<ExitCode> {
    let since_unix_ms = since_ms(args.since.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = EventsClient::new(args.connection.connect().await?);
        let mut chunks = client
            .export_epcis(ExportEpcisRequest {
                line_id: args.line.clone(),
                batch: args.batch.clone(),
                since_unix_ms,
            })
            .await?
            .into_inner();
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = chunks.message().await? {
            out.write_all(&chunk.data)
                .context("cannot write the document")?;
        }
        out.flush().context("cannot write the document")?;
        Ok(ExitCode::SUCCESS)
    })
}
