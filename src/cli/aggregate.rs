//! Aggregation from the command line: `aggregate` sends a station's frame (the packs in an
//! open case, with or without its label), `aggregation` prints what a parent holds, down to
//! every pack, `disaggregate` takes children out with a reason.

use super::client::OutputFormat;
use super::connection::Connection;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::proto::aggregation_client::AggregationClient;
use verigrade::proto::{
    AggregateRequest, AggregationResult, DisaggregateRequest, GetAggregationRequest,
    aggregate_request,
};

#[derive(Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    connection: Connection,
    /// The aggregation station's line.
    #[arg(long)]
    line: String,
    #[arg(long, default_value = "")]
    camera: String,
    /// Children the parent must hold (a case's pattern); 0: any number.
    #[arg(long, default_value_t = 0, value_name = "N")]
    expect: u32,
    /// The parent's SSCC (18 digits); without it, read from the label in the frame.
    #[arg(long, value_name = "SSCC", default_value = "")]
    parent: String,
    /// The batch every pack must belong to; without it, the batch the packs carry.
    #[arg(long, default_value = "")]
    batch: String,
    /// Frame id (default: the file name).
    #[arg(long, default_value = "")]
    frame_id: String,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// The station's frame.
    image: PathBuf,
}

#[derive(Args)]
pub struct AggregationArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// The parent's SSCC (18 digits).
    sscc: String,
}

#[derive(Args)]
pub struct DisaggregateArgs {
    #[command(flatten)]
    connection: Connection,
    /// A child to take out, as HRI (`(01)…(21)…` or `(00)…`); repeat for more. Without any,
    /// every child.
    #[arg(long = "child", value_name = "HRI")]
    children: Vec<String>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// The parent's SSCC (18 digits).
    sscc: String,
}

/// Sends the frame; exit 0 when it aggregated, 1 when refused.
pub fn aggregate(args: &AggregateArgs) -> Result<ExitCode> {
    let image = std::fs::read(&args.image)
        .with_context(|| format!("cannot read {}", args.image.display()))?;
    let frame_id = match args.frame_id.as_str() {
        "" => args
            .image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        id => id.to_string(),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = AggregationClient::new(args.connection.connect().await?)
            .max_encoding_message_size(usize::MAX);
        let result = client
            .aggregate(AggregateRequest {
                line_id: args.line.clone(),
                camera_id: args.camera.clone(),
                frame_id,
                frame: Some(aggregate_request::Frame::Image(image.into())),
                parent: args.parent.clone(),
                expected_count: args.expect,
                batch: args.batch.clone(),
                profile: String::new(),
            })
            .await?
            .into_inner();
        print(&result, args.format, true);
        Ok(if result.pass {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// Prints a parent and everything under it.
pub fn aggregation(args: &AggregationArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = AggregationClient::new(args.connection.connect().await?);
        let result = client
            .get_aggregation(GetAggregationRequest {
                parent: args.sscc.clone(),
            })
            .await?
            .into_inner();
        print(&result, args.format, false);
        Ok(ExitCode::SUCCESS)
    })
}

/// Takes children out; prints what the parent holds after.
pub fn disaggregate(args: &DisaggregateArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = AggregationClient::new(args.connection.connect().await?);
        let result = client
            .disaggregate(DisaggregateRequest {
                parent: args.sscc.clone(),
                children: args.children.clone(),
                reason: args.reason.clone(),
            })
            .await?
            .into_inner();
        print(&result, args.format, false);
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints a result; `verdict`: an aggregation's, headed PASS or FAIL.
fn print(result: &AggregationResult, format: OutputFormat, verdict: bool) {
    match format {
        OutputFormat::Json => println!("{}", to_json(result)),
        OutputFormat::Text => print_text(result, 0, verdict),
    }
}

/// A result as JSON, its tree nested.
fn to_json(r: &AggregationResult) -> Value {
    let mut value = json!({
        "pass": r.pass,
        "parent": r.parent,
        "count": r.count,
        "children": r.children,
        "reasons": r.reasons,
        "line_id": r.line_id,
        "batch": r.batch,
        "frame_id": r.frame_id,
        "aggregated_ms": r.aggregated_unix_ms,
    });
    if !r.tree.is_empty() {
        value["tree"] = r.tree.iter().map(to_json).collect();
    }
    value
}

fn print_text(r: &AggregationResult, depth: usize, verdict: bool) {
    let indent = "  ".repeat(depth);
    let verdict = match (verdict, r.pass) {
        (false, _) => "",
        (true, true) => "PASS ",
        (true, false) => "FAIL ",
    };
    println!(
        "{indent}{verdict}(00){}: {} children (line {}, batch {})",
        r.parent, r.count, r.line_id, r.batch
    );
    for reason in &r.reasons {
        println!("{indent}  - {reason}");
    }
    for child in &r.children {
        match r
            .tree
            .iter()
            .find(|t| format!("(00){}", t.parent) == *child)
        {
            Some(below) => print_text(below, depth + 1, false),
            None => println!("{indent}  {child}"),
        }
    }
}
