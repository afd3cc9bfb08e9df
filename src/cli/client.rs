//! Client commands for people and scripts: `stream` sends images to a running service and
//! prints the verdicts; `verdicts` lists (or watches) stored verdicts; `stats` prints a line's
//! counts; `commission` loads commissioned serials; `reconcile` prints the counts per line and
//! batch.

use super::connection::{Authorized, Connection};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use verigrade::proto::serials_client::SerialsClient;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::verifier_client::VerifierClient;
use verigrade::proto::{
    CommissionRequest, Expected, GetLineStatsRequest, ListVerdictsRequest, ReconcileRequest,
    Verdict, VerifyRequest, WatchVerdictsRequest, verify_request,
};

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Json,
    Text,
}

#[derive(Args)]
pub struct StreamArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line the frames come from.
    #[arg(long)]
    line: String,
    #[arg(long, default_value = "")]
    camera: String,
    /// Profile (empty: the line's default on the server).
    #[arg(long, default_value = "")]
    profile: String,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Send the images this many times (load testing).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Concurrent streams, each sending every image `repeat` times.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// Frames per second per stream, like a camera (0: as fast as the server answers).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Print only the summary.
    #[arg(long)]
    quiet: bool,
    /// The GTIN the line was told to print.
    #[arg(long, default_value = "", value_name = "GTIN")]
    expect_gtin: String,
    /// The batch the line was told to print; also the batch frames are reconciled under.
    #[arg(long, default_value = "", value_name = "BATCH")]
    expect_batch: String,
    /// The expiry the line was told to print, YYMMDD.
    #[arg(long, default_value = "", value_name = "YYMMDD")]
    expect_expiry: String,
    /// Symbols each frame must hold (a case of packs); the server then reads every symbol.
    #[arg(long, default_value_t = 0, value_name = "N")]
    expect_count: u32,
    /// Image files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
pub struct VerdictsArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line (empty: every line).
    #[arg(long, default_value = "")]
    line: String,
    /// Only failed verdicts.
    #[arg(long)]
    failed: bool,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Instead of listing, print verdicts as they are made until interrupted.
    #[arg(long)]
    watch: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Args)]
pub struct CommissionArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    line: String,
    #[arg(long)]
    batch: String,
    /// GTIN the serials belong to.
    #[arg(long, required_unless_present = "epcis", conflicts_with = "epcis")]
    gtin: Option<String>,
    /// An EPCIS 2.0 document instead, as a site server hands serials to a line: the packs of
    /// its commissioning events (ObjectEvent ADD, bizStep commissioning), each a GS1 Digital
    /// Link URI with its own GTIN (`-`: standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    epcis: Option<PathBuf>,
    /// File of serials, one per line (`-`: standard input).
    #[arg(required_unless_present = "epcis")]
    file: Option<PathBuf>,
}

#[derive(Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line (empty: every line).
    #[arg(long, default_value = "")]
    line: String,
    /// Batch (empty: every batch).
    #[arg(long, default_value = "")]
    batch: String,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    connection: Connection,
    /// Line (empty: every line).
    #[arg(long, default_value = "")]
    line: String,
}

/// A verdict under the contract's JSON names.
pub fn verdict_json(v: &Verdict) -> Value {
    let mut record = json!({
        "line_id": v.line_id, "camera_id": v.camera_id, "frame_id": v.frame_id,
        "sequence": v.sequence, "decoded": v.decoded,
        "symbology_identifier": v.symbology_identifier, "size": v.size, "text": v.text,
        "gs1": v.gs1, "hri": v.hri,
        "grade": {"overall": v.overall_grade, "letter": v.grade_letter, "notation": v.notation},
        "verdict": if v.pass { "pass" } else { "fail" }, "reasons": v.reasons,
        "duplicate": v.duplicate, "not_commissioned": v.not_commissioned,
        "gtin": v.gtin, "serial": v.serial, "batch": v.batch,
        "processing_ms": v.processing_ms, "evidence": v.evidence,
        "line_stopped": v.line_stopped,
    });
    for p in &v.parameters {
        record["grade"][&p.name] = match p.value {
            Some(value) => json!({"value": value, "grade": p.grade}),
            None => json!({"grade": p.grade}),
        };
    }
    if let Some(error) = &v.error {
        record["error"] = json!({"code": error.code, "message": error.message});
    }
    record
}

pub(crate) fn print(v: &Verdict, format: OutputFormat) {
    match format {
        OutputFormat::Json => println!("{}", verdict_json(v)),
        OutputFormat::Text => println!("{v}"),
    }
}

/// What one stream measured.
#[derive(Default)]
struct StreamTally {
    answered: u64,
    failed: u64,
    latencies_ms: Vec<f64>,
}

pub fn stream(args: &StreamArgs) -> Result<ExitCode> {
    let files = crate::collect_images(&args.paths)?;
    if files.is_empty() {
        bail!("no image files found");
    }
    let images: Vec<(PathBuf, bytes::Bytes)> = files
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| (p.clone(), bytes::Bytes::from(b)))
                .with_context(|| format!("cannot read {}", p.display()))
        })
        .collect::<Result<_>>()?;
    let images = Arc::new(images);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let connector = args.connection.connector()?;
        let started = Instant::now();
        let mut streams = Vec::new();
        for client in 0..args.clients {
            let channel = connector.connect().await?;
            let images = images.clone();
            let line = args.line.clone();
            let camera = match (args.camera.as_str(), args.clients) {
                (camera, 1) => camera.to_string(),
                ("", _) => format!("client{client}"),
                (camera, _) => format!("{camera}-{client}"),
            };
            let profile = args.profile.clone();
            let expected = Expected {
                gtin: args.expect_gtin.clone(),
                batch: args.expect_batch.clone(),
                expiry: args.expect_expiry.clone(),
                count: args.expect_count,
            };
            let (repeat, rate, quiet, format) = (args.repeat, args.rate, args.quiet, args.format);
            streams.push(tokio::spawn(async move {
                run_stream(
                    VerifierClient::new(channel)
                        .max_decoding_message_size(64 << 20)
                        .max_encoding_message_size(usize::MAX),
                    images,
                    (line, camera, profile, expected),
                    repeat,
                    rate,
                    (!quiet).then_some(format),
                )
                .await
            }));
        }
        let mut total = StreamTally::default();
        for stream in streams {
            let tally = stream.await??;
            total.answered += tally.answered;
            total.failed += tally.failed;
            total.latencies_ms.extend(tally.latencies_ms);
        }
        let seconds = started.elapsed().as_secs_f64();
        total.latencies_ms.sort_by(f64::total_cmp);
        let percentile = |p: f64| percentile(&total.latencies_ms, p);
        eprintln!(
            "verigrade: {} verdicts ({} failed) from {} stream(s) in {seconds:.2} s: {:.0} frames/s, latency p50 {:.1} ms, p99 {:.1} ms",
            total.answered,
            total.failed,
            args.clients,
            total.answered as f64 / seconds,
            percentile(0.50),
            percentile(0.99),
        );
        Ok(if total.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// The `p` quantile (0–1) of `sorted` values, by the nearest rank; `sorted` is not empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    sorted[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
}

async fn run_stream(
    mut client: VerifierClient<Authorized>,
    images: Arc<Vec<(PathBuf, bytes::Bytes)>>,
    (line_id, camera_id, profile, expected): (String, String, String, Expected),
    repeat: u64,
    rate: f64,
    format: Option<OutputFormat>,
) -> Result<StreamTally> {
    let sent_at = Arc::new(Mutex::new(VecDeque::new()));
    let (tx, rx) = mpsc::channel(8);
    let answers_due = repeat * images.len() as u64;
    let sender = {
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut ticker = (rate > 0.0).then(|| {
                let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            for _ in 0..repeat {
                for (_, bytes) in images.iter() {
                    if let Some(ticker) = ticker.as_mut() {
                        ticker.tick().await;
                    }
                    let request = VerifyRequest {
                        line_id: line_id.clone(),
                        camera_id: camera_id.clone(),
                        profile: profile.clone(),
                        expected: Some(expected.clone()),
                        frame: Some(verify_request::Frame::Image(bytes.clone())),
                        ..VerifyRequest::default()
                    };
                    sent_at.lock().expect("lock").push_back(Instant::now());
                    if tx.send(request).await.is_err() {
                        return;
                    }
                }
            }
        })
    };
    let mut answers = client
        .verify_stream(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut tally = StreamTally::default();
    while let Some(verdict) = answers.message().await? {
        if let Some(sent) = sent_at.lock().expect("lock").pop_front() {
            tally
                .latencies_ms
                .push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        tally.answered += 1;
        tally.failed += u64::from(!verdict.pass);
        if let Some(format) = format {
            print(&verdict, format);
        }
    }
    sender.await?;
    if tally.answered != answers_due {
        bail!(
            "the stream ended after {} of {answers_due} verdicts",
            tally.answered
        );
    }
    Ok(tally)
}

pub fn verdicts(args: &VerdictsArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = VerdictsClient::new(args.connection.connect().await?);
        if args.watch {
            let mut feed = client
                .watch_verdicts(WatchVerdictsRequest {
                    line_id: args.line.clone(),
                    only_failed: args.failed,
                    after_sequence: 0,
                })
                .await?
                .into_inner();
            while let Some(verdict) = feed.message().await? {
                print(&verdict, args.format);
            }
            return Ok(ExitCode::SUCCESS);
        }
        list_paged(
            args.limit,
            |page_size, page_token| {
                let mut client = client.clone();
                let request = ListVerdictsRequest {
                    line_id: args.line.clone(),
                    only_failed: args.failed,
                    page_size,
                    page_token,
                };
                async move {
                    let page = client.list_verdicts(request).await?.into_inner();
                    Ok((page.verdicts, page.next_page_token))
                }
            },
            |verdict| print(verdict, args.format),
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The most items asked for in one page of a listing.
const PAGE_SIZE: usize = 1000;

/// Lists up to `limit` items a page at a time, handing each to `each` as its page comes.
/// `fetch` asks for one page, given its size and the token of where it starts (empty for the
/// first), and returns its items and the next page's token, empty after the last.
pub async fn list_paged<T, Page>(
    limit: usize,
    mut fetch: impl FnMut(u32, String) -> Page,
    mut each: impl FnMut(&T),
) -> Result<()>
where
    Page: Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut page_token = String::new();
    let mut listed = 0;
    while listed < limit {
        let page_size = (limit - listed).min(PAGE_SIZE) as u32;
        let (items, next_page_token) = fetch(page_size, page_token).await?;
        items.iter().for_each(&mut each);
        listed += items.len();
        if next_page_token.is_empty() {
            break;
        }
        page_token = next_page_token;
    }
    Ok(())
}

pub fn stats(args: &StatsArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = VerdictsClient::new(args.connection.connect().await?);
        let stats = client
            .get_line_stats(GetLineStatsRequest {
                line_id: args.line.clone(),
            })
            .await?
            .into_inner();
        let grades: serde_json::Map<String, Value> = stats
            .grade_distribution
            .iter()
            .map(|g| (g.letter.clone(), json!(g.count)))
            .collect();
        println!(
            "{}",
            json!({
                "line_id": stats.line_id, "total": stats.total, "passed": stats.passed,
                "failed": stats.failed, "no_read": stats.no_read, "duplicates": stats.duplicates,
                "grade_distribution": grades, "mean_grade": (stats.mean_grade * 100.0).round() / 100.0,
                "last_sequence": stats.last_sequence, "dropped_at_gateway": stats.dropped_at_gateway,
            })
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Serials sent per message when commissioning.
const COMMISSION_CHUNK: usize = 10_000;

/// A file's text, `-` standard input.
fn read_text(path: &std::path::Path) -> Result<String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// The serials to commission, by GTIN: a file of serials for `--gtin`, or an EPCIS
/// document's commissioning events.
fn serials_by_gtin(args: &CommissionArgs) -> Result<Vec<(String, Vec<String>)>> {
    if let Some(path) = &args.epcis {
        let document: Value = serde_json::from_str(&read_text(path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let packs = verigrade::epcis::commissioned_serials(&document)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (gtin, serial) in packs {
            match groups.iter_mut().find(|(g, _)| *g == gtin) {
                Some((_, serials)) => serials.push(serial),
                None => groups.push((gtin, vec![serial])),
            }
        }
        return Ok(groups);
    }
    let (Some(gtin), Some(file)) = (&args.gtin, &args.file) else {
        bail!("give --gtin and a file of serials, or --epcis");
    };
    Ok(vec![(
        gtin.clone(),
        crate::cli::grade::read_serials(&read_text(file)?),
    )])
}

pub fn commission(args: &CommissionArgs) -> Result<ExitCode> {
    let groups = serials_by_gtin(args)?;
    let serials: usize = groups.iter().map(|(_, s)| s.len()).sum();
    let requests: Vec<CommissionRequest> = groups
        .iter()
        .flat_map(|(gtin, serials)| {
            serials
                .chunks(COMMISSION_CHUNK)
                .map(|chunk| CommissionRequest {
                    line_id: args.line.clone(),
                    batch: args.batch.clone(),
                    gtin: gtin.clone(),
                    serials: chunk.to_vec(),
                })
        })
        .collect();
    let gtins: Vec<&str> = groups.iter().map(|(g, _)| g.as_str()).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = SerialsClient::new(args.connection.connect().await?);
        let outcome = client
            .commission(tokio_stream::iter(requests))
            .await?
            .into_inner();
        println!(
            "{}",
            json!({"line_id": args.line, "batch": args.batch, "gtin": gtins.join(","),
                   "serials": serials, "added": outcome.added, "already": outcome.already,
                   "conflicts": outcome.conflicts, "conflict_examples": outcome.conflict_examples})
        );
        Ok(if outcome.conflicts == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

pub fn reconcile(args: &ReconcileArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = SerialsClient::new(args.connection.connect().await?);
        let answer = client
            .reconcile(ReconcileRequest {
                line_id: args.line.clone(),
                batch: args.batch.clone(),
            })
            .await?
            .into_inner();
        for b in &answer.batches {
            match args.format {
                OutputFormat::Json => println!(
                    "{}",
                    json!({"line_id": b.line_id, "batch": b.batch,
                           "commissioned": b.commissioned, "verified": b.verified,
                           "outstanding": b.outstanding, "frames": b.frames, "passed": b.passed,
                           "failed": b.failed, "no_read": b.no_read, "duplicate": b.duplicate,
                           "not_commissioned": b.not_commissioned, "rejected": b.rejected,
                           "aggregated": b.aggregated, "cases": b.cases,
                           "verified_not_aggregated": b.verified_not_aggregated})
                ),
                OutputFormat::Text => println!(
                    "line {} batch {}: commissioned {} = verified {} + outstanding {}; frames {} = passed {} + failed {} (no-read {}, duplicate {}, not commissioned {}, rejected {}); aggregated {} in {} cases, {} verified not aggregated",
                    b.line_id,
                    b.batch,
                    b.commissioned,
                    b.verified,
                    b.outstanding,
                    b.frames,
                    b.passed,
                    b.failed,
                    b.no_read,
                    b.duplicate,
                    b.not_commissioned,
                    b.rejected,
                    b.aggregated,
                    b.cases,
                    b.verified_not_aggregated
                ),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists `limit` of the items 0..`total` from a source that gives at most `cap` a page,
    /// its token the next item; the items listed and the page sizes asked for.
    async fn listed(total: u32, cap: u32, limit: usize) -> (Vec<u32>, Vec<u32>) {
        let asked = Mutex::new(Vec::new());
        let mut items = Vec::new();
        list_paged(
            limit,
            |page_size, page_token| {
                asked.lock().unwrap().push(page_size);
                let start: u32 = page_token.parse().unwrap_or(0);
                let end = (start + page_size.min(cap)).min(total);
                let next = if end < total {
                    end.to_string()
                } else {
                    String::new()
                };
                async move { Ok(((start..end).collect(), next)) }
            },
            |&item| items.push(item),
        )
        .await
        .unwrap();
        (items, asked.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_listing_follows_the_pages_to_its_limit_or_to_the_last_page() {
        let (items, asked) = listed(25, 10, 23).await;
        assert_eq!(items, (0..23).collect::<Vec<_>>());
        assert_eq!(asked, [23, 13, 3]);
        let (items, asked) = listed(25, 10, 100).await;
        assert_eq!(items, (0..25).collect::<Vec<_>>());
        assert_eq!(asked, [100, 90, 80]);
        let (items, asked) = listed(5000, 5000, 2500).await;
        assert_eq!(items.len(), 2500);
        assert_eq!(asked, [1000, 1000, 500]);
    }
}
