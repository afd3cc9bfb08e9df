//! Line-control commands: `alarms` lists (or watches) alarms and a line's state, `ack`
//! acknowledges one, `chart` draws a control chart in the terminal or as SVG, `baseline`
//! freezes the charts' limits from the process as it runs now.

use super::client::{OutputFormat, list_paged};
use super::connection::Connection;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::{
    AcknowledgeAlarmRequest, Alarm, ControlChart, FreezeLimitsRequest, GetControlChartRequest,
    GetLineStateRequest, ListAlarmsRequest, RunState, WatchAlarmsRequest,
};
use verigrade::report::chart::{self, span};

#[derive(Args)]
pub struct AlarmsArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line (empty: every line). With a line, its state comes first.
    #[arg(long, default_value = "")]
    line: String,
    /// Only alarms not yet cleared.
    #[arg(long)]
    active: bool,
    /// Instead of listing, print alarms as they are raised, acknowledged or cleared.
    #[arg(long)]
    watch: bool,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Args)]
pub struct AckArgs {
    #[command(flatten)]
    connection: Connection,
    /// The alarm, as `alarms` lists it.
    alarm_id: String,
    /// Who acknowledges.
    #[arg(long)]
    user: String,
    /// What was done (required for a STOP alarm).
    #[arg(long, default_value = "")]
    comment: String,
}

#[derive(Args)]
pub struct ChartArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    line: String,
    /// A parameter name (symbol_contrast, modulation, …), overall_grade, decode_time_ms or
    /// no_read_rate.
    #[arg(long)]
    parameter: String,
    /// Camera (empty: the line's only camera).
    #[arg(long, default_value = "")]
    camera: String,
    /// The newest points to draw.
    #[arg(long, default_value_t = 60)]
    last: u32,
    /// Write the chart as an SVG picture instead of drawing it in the terminal.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    line: String,
    /// Camera (empty: the line's only camera).
    #[arg(long, default_value = "")]
    camera: String,
    /// One chart's metric (empty: every chart of the camera).
    #[arg(long, default_value = "")]
    parameter: String,
    /// The latest points to take the limits from (0: the configured baseline length).
    #[arg(long, default_value_t = 0)]
    points: u32,
}

/// An alarm under its contract names.
fn alarm_json(a: &Alarm) -> serde_json::Value {
    json!({
        "alarm_id": a.alarm_id, "sequence": a.sequence, "line_id": a.line_id,
        "camera_id": a.camera_id, "severity": a.severity().as_str_name(), "rule": a.rule,
        "parameter": a.parameter, "message": a.message, "frame_ids": a.frame_ids,
        "raised_unix_ms": a.raised_unix_ms, "state": a.state,
        "acknowledged_by": a.acknowledged_by, "comment": a.comment,
        "acknowledged_unix_ms": a.acknowledged_unix_ms, "returned_unix_ms": a.returned_unix_ms,
    })
}

fn alarm_text(a: &Alarm) -> String {
    let mut line = format!(
        "#{} {} {} [{}] {}",
        a.alarm_id,
        a.severity().as_str_name(),
        a.state,
        a.rule,
        a.message
    );
    if !a.acknowledged_by.is_empty() {
        let _ = write!(line, " — acknowledged by {}", a.acknowledged_by);
        if !a.comment.is_empty() {
            let _ = write!(line, ": {}", a.comment);
        }
    }
    line
}

fn print(alarm: &Alarm, format: OutputFormat) {
    match format {
        OutputFormat::Json => println!("{}", alarm_json(alarm)),
        OutputFormat::Text => println!("{}", alarm_text(alarm)),
    }
}

pub fn alarms(args: &AlarmsArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = AlarmsClient::new(args.connection.connect().await?);
        if args.watch {
            let mut feed = client
                .watch_alarms(WatchAlarmsRequest {
                    line_id: args.line.clone(),
                    after_sequence: 0,
                })
                .await?
                .into_inner();
            while let Some(alarm) = feed.message().await? {
                print(&alarm, args.format);
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !args.line.is_empty() {
            let state = client
                .get_line_state(GetLineStateRequest {
                    line_id: args.line.clone(),
                })
                .await?
                .into_inner();
            let run = state.state().as_str_name();
            match args.format {
                OutputFormat::Json => println!(
                    "{}",
                    json!({"line_id": state.line_id, "state": run,
                           "stopping_alarm_id": state.stopping_alarm_id})
                ),
                OutputFormat::Text if state.state() == RunState::Stopped => println!(
                    "line {} {run} by alarm #{}",
                    state.line_id, state.stopping_alarm_id
                ),
                OutputFormat::Text => println!("line {} {run}", state.line_id),
            }
        }
        list_paged(
            args.limit,
            |page_size, page_token| {
                let mut client = client.clone();
                let request = ListAlarmsRequest {
                    line_id: args.line.clone(),
                    only_active: args.active,
                    page_size,
                    page_token,
                };
                async move {
                    let page = client.list_alarms(request).await?.into_inner();
                    Ok((page.alarms, page.next_page_token))
                }
            },
            |alarm| print(alarm, args.format),
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Exit 0 when acknowledged; 1 with the server's reason when it refuses (unknown alarm,
/// acknowledged before, a STOP without a comment).
pub fn ack(args: &AckArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = AlarmsClient::new(args.connection.connect().await?);
        let answer = client
            .acknowledge_alarm(AcknowledgeAlarmRequest {
                alarm_id: args.alarm_id.clone(),
                user: args.user.clone(),
                comment: args.comment.clone(),
            })
            .await;
        match answer {
            Ok(alarm) => {
                println!("{}", alarm_text(&alarm.into_inner()));
                Ok(ExitCode::SUCCESS)
            }
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::NotFound | tonic::Code::FailedPrecondition
                ) =>
            {
                eprintln!("verigrade: {}", status.message());
                Ok(ExitCode::from(1))
            }
            Err(status) => Err(anyhow::anyhow!("{}", status.message())),
        }
    })
}

pub fn chart(args: &ChartArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let chart = runtime.block_on(async {
        let mut client = AlarmsClient::new(args.connection.connect().await?);
        let chart = client
            .get_control_chart(GetControlChartRequest {
                line_id: args.line.clone(),
                parameter: args.parameter.clone(),
                last: args.last,
                camera_id: args.camera.clone(),
            })
            .await
            .map_err(|status| anyhow::anyhow!("{}", status.message()))?;
        Ok::<_, anyhow::Error>(chart.into_inner())
    })?;
    match &args.svg {
        Some(path) => {
            std::fs::write(path, chart::svg(&chart, Some(&title(&chart)), 800.0, 320.0))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => print!("{}", terminal(&chart)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Freezes the charts' limits from their latest points and prints them.
pub fn baseline(args: &BaselineArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = AlarmsClient::new(args.connection.connect().await?);
        let frozen = client
            .freeze_limits(FreezeLimitsRequest {
                line_id: args.line.clone(),
                camera_id: args.camera.clone(),
                parameter: args.parameter.clone(),
                points: args.points,
            })
            .await
            .map_err(|status| anyhow::anyhow!("{}", status.message()))?
            .into_inner();
        for limit in &frozen.limits {
            println!(
                "line {} camera {:?} {}: {:.4} · {:.4} · {:.4}",
                frozen.line_id,
                frozen.camera_id,
                limit.parameter,
                limit.lower_limit,
                limit.centre,
                limit.upper_limit
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn title(chart: &ControlChart) -> String {
    let camera = if chart.camera_id.is_empty() {
        String::new()
    } else {
        format!(" camera {}", chart.camera_id)
    };
    format!(
        "{} — line {}{camera}, batch {:?}, subgroups of {}",
        chart.parameter, chart.line_id, chart.batch, chart.subgroup_size
    )
}

/// Rows of the terminal plot.
const ROWS: usize = 16;

/// A plot in text: one column per point (`o`, `X` where a rule that alarms is broken, `x`
/// where another is), the limits as `-` and the centre as `·`, the failing boundary as `!`.
fn terminal(chart: &ControlChart) -> String {
    let (lo, hi) = span(chart);
    let row_of = |v: f64| (((hi - v) / (hi - lo)) * (ROWS - 1) as f64).round() as usize;
    let width = chart.points.len();
    let mut grid = vec![vec![' '; width]; ROWS];
    for (marker, value) in [
        ('!', chart.failing_at),
        ('-', chart.upper_limit),
        ('-', chart.lower_limit),
        ('·', chart.centre),
    ] {
        if let Some(v) = value {
            grid[row_of(v).min(ROWS - 1)].fill(marker);
        }
    }
    for (i, point) in chart.points.iter().enumerate() {
        let broken = chart::broken_at(chart, i);
        let marker = if broken.iter().any(|v| v.alarms) {
            'X'
        } else if broken.is_empty() {
            'o'
        } else {
            'x'
        };
        grid[row_of(point.value).min(ROWS - 1)][i] = marker;
    }
    let mut out = format!("{}\n", title(chart));
    for (r, row) in grid.iter().enumerate() {
        let value = hi - (hi - lo) * r as f64 / (ROWS - 1) as f64;
        let _ = writeln!(out, "{value:>9.3} |{}", row.iter().collect::<String>());
    }
    let limits = match (chart.lower_limit, chart.centre, chart.upper_limit) {
        (Some(l), Some(c), Some(u)) => format!("limits {l:.3} · {c:.3} · {u:.3}"),
        _ => "limits: the baseline is not complete yet".into(),
    };
    let _ = writeln!(
        out,
        "{limits}{}; {} points, {} broken rules (X raises an alarm)",
        chart
            .failing_at
            .map_or(String::new(), |f| format!("; fails at {f:.3} (!)")),
        chart.points.len(),
        chart.violations.len()
    );
    for v in chart.violations.iter().filter(|v| v.alarms) {
        if let Some(p) = chart.points.get(v.point as usize) {
            let _ = writeln!(
                out,
                "  {} {} at frames {}–{}",
                v.rule, v.direction, p.first_frame_id, p.last_frame_id
            );
        }
    }
    out
}
