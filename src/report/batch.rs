//! The batch report an inspector asks for: the reconciliation, the grade distribution, the
//! control charts, the alarms and who acknowledged them, the deviations, every failed pack with
//! its kept frame, and the signature once the batch is closed — one self-contained, printable
//! HTML document. `verigrade batch report` writes it from a running service; the dashboard's
//! batch page is the same document. Both gather it with [`gather`] from the services a
//! controller calls ([`Services`]), so the report says what the service says.

use super::svg::escape;
use super::{GRADE_COLOURS, chart, utc as time};
use crate::control::metric::Metric;
use crate::proto::{
    Alarm, BatchReconciliation, ControlChart, EvidenceFrame, GetControlChartRequest,
    GetVerdictRequest, ListAlarmsRequest, ListVerdictsRequest, ReconcileRequest, Severity, Verdict,
};
use base64::Engine as _;
use tonic::Status;

/// The calls a batch report makes, as a gRPC client or the service itself answers them.
#[tonic::async_trait]
pub trait Services: Send {
    async fn reconcile(
        &mut self,
        request: ReconcileRequest,
    ) -> Result<Vec<BatchReconciliation>, Status>;
    /// A page of verdicts and the next page's token.
    async fn list_verdicts(
        &mut self,
        request: ListVerdictsRequest,
    ) -> Result<(Vec<Verdict>, String), Status>;
    /// A page of alarms and the next page's token.
    async fn list_alarms(
        &mut self,
        request: ListAlarmsRequest,
    ) -> Result<(Vec<Alarm>, String), Status>;
    async fn control_chart(
        &mut self,
        request: GetControlChartRequest,
    ) -> Result<ControlChart, Status>;
    async fn evidence(&mut self, request: GetVerdictRequest) -> Result<EvidenceFrame, Status>;
}

/// Failed packs whose frames the report shows; the rest are listed without.
const FRAMES_SHOWN: usize = 48;

/// Longest side of a frame's thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;

/// What a batch report shows.
#[derive(Clone, Debug, Default)]
pub struct BatchRecord {
    pub reconciliation: BatchReconciliation,
    /// Overall grade letters of the batch's verdicts, A to F.
    pub grades: [u64; 5],
    /// The batch's first and last verdict, milliseconds since 1970.
    pub span_ms: Option<(i64, i64)>,
    /// The line's charts while this batch runs (the service keeps the current batch's).
    pub charts: Vec<ControlChart>,
    /// Alarms raised on the line while the batch ran.
    pub alarms: Vec<Alarm>,
    /// Failed verdicts of the batch, newest first, the first ones with their kept frame.
    pub failures: Vec<(Verdict, Option<EvidenceFrame>)>,
    /// Whose charts these are when the line has moved on to another batch.
    pub charts_of_batch: String,
}

/// Gathers the report of `batch` on `line`. The batch's verdicts are read newest first until
/// all of them are found (their number is in the reconciliation).
pub async fn gather(
    services: &mut impl Services,
    line: &str,
    batch: &str,
) -> Result<BatchRecord, Status> {
    if line.is_empty() {
        return Err(Status::invalid_argument("a batch report needs a line"));
    }
    // The newest verdict before the counts are read: verdicts stored after it are left out
    // of the listing, so the count of the batch's verdicts is never reached early by newer
    // ones (at worst the listing reads on to the line's first verdict).
    let newest = services
        .list_verdicts(ListVerdictsRequest {
            line_id: line.into(),
            only_failed: false,
            page_size: 1,
            page_token: String::new(),
        })
        .await?
        .0
        .first()
        .map_or(0, |v| v.sequence);
    let reconciliation = services
        .reconcile(ReconcileRequest {
            line_id: line.into(),
            batch: batch.into(),
        })
        .await?
        .into_iter()
        .find(|b| b.line_id == line && b.batch == batch)
        .ok_or_else(|| Status::not_found(format!("line {line:?} has no batch {batch:?}")))?;
    let mut record = BatchRecord {
        reconciliation,
        ..BatchRecord::default()
    };
    let wanted = record.reconciliation.frames + record.reconciliation.after_close;
    let (mut found, mut page_token) = (0, (newest + 1).to_string());
    let mut failed = Vec::new();
    while found < wanted && newest > 0 {
        let (verdicts, next) = services
            .list_verdicts(ListVerdictsRequest {
                line_id: line.into(),
                only_failed: false,
                page_size: 1000,
                page_token,
            })
            .await?;
        for v in verdicts.into_iter().filter(|v| v.batch == batch) {
            found += 1;
            let grade = ["A", "B", "C", "D"]
                .iter()
                .position(|l| *l == v.grade_letter)
                .unwrap_or(4);
            record.grades[grade] += 1;
            record.span_ms = Some(match record.span_ms {
                None => (v.stored_unix_ms, v.stored_unix_ms),
                Some((first, last)) => (first.min(v.stored_unix_ms), last.max(v.stored_unix_ms)),
            });
            if !v.pass {
                failed.push(v);
            }
        }
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    for (i, v) in failed.into_iter().enumerate() {
        let frame = if i < FRAMES_SHOWN && !v.evidence.is_empty() {
            match services
                .evidence(GetVerdictRequest {
                    line_id: v.line_id.clone(),
                    frame_id: v.frame_id.clone(),
                })
                .await
            {
                Ok(frame) => Some(frame),
                // Released by the evidence budget since: the verdict is still listed.
                Err(status) if status.code() == tonic::Code::NotFound => None,
                Err(status) => return Err(status),
            }
        } else {
            None
        };
        record.failures.push((v, frame));
    }
    // Alarms raised between the batch's first and last verdict: the line's later batches
    // have their own.
    if let Some((first, end)) = record.span_ms {
        let mut page_token = String::new();
        loop {
            let (alarms, next) = services
                .list_alarms(ListAlarmsRequest {
                    line_id: line.into(),
                    only_active: false,
                    page_size: 1000,
                    page_token,
                })
                .await?;
            record.alarms.extend(
                alarms
                    .into_iter()
                    .filter(|a| (first..=end).contains(&a.raised_unix_ms)),
            );
            if next.is_empty() {
                break;
            }
            page_token = next;
        }
    }
    for metric in Metric::ALL {
        let chart = services
            .control_chart(GetControlChartRequest {
                line_id: line.into(),
                parameter: metric.name().into(),
                last: 100,
                camera_id: String::new(),
            })
            .await;
        match chart {
            Ok(chart) if chart.batch == batch => record.charts.push(chart),
            Ok(chart) => record.charts_of_batch = chart.batch,
            // A line with several cameras has a chart per camera: none for the line as such.
            Err(status) if status.code() == tonic::Code::InvalidArgument => {}
            Err(status) => return Err(status),
        }
    }
    Ok(record)
}

/// What an inspector must see explained: serials not reconciled, packs that failed for their
/// data, packs after the signature, stopping alarms.
pub fn deviations(record: &BatchRecord) -> Vec<String> {
    let r = &record.reconciliation;
    let mut found = Vec::new();
    let mut say = |n: u64, one: &str, many: &str| match n {
        0 => {}
        1 => found.push(format!("1 {one}")),
        n => found.push(format!("{n} {many}")),
    };
    say(
        r.outstanding,
        "commissioned serial was not verified on a passing pack",
        "commissioned serials were not verified on a passing pack",
    );
    say(
        r.duplicate,
        "pack carried a serial already seen (duplicate)",
        "packs carried a serial already seen (duplicates)",
    );
    say(
        r.not_commissioned,
        "pack carried a serial not commissioned for this batch",
        "packs carried serials not commissioned for this batch",
    );
    say(
        r.no_read,
        "frame held no readable symbol (no-read)",
        "frames held no readable symbol (no-reads)",
    );
    say(
        r.rejected,
        "pack was rejected for print quality or data",
        "packs were rejected for print quality or data",
    );
    say(
        r.after_close,
        "pack of the batch came after it was signed",
        "packs of the batch came after it was signed",
    );
    if r.cases > 0 {
        say(
            r.verified_not_aggregated,
            "verified pack is in no case",
            "verified packs are in no case",
        );
    }
    let stops = record
        .alarms
        .iter()
        .filter(|a| a.severity == Severity::Stop as i32)
        .count() as u64;
    say(
        stops,
        "STOP alarm stopped the line",
        "STOP alarms stopped the line",
    );
    found
}

/// A kept frame shrunk to a thumbnail, as a data URI; `None` for bytes that are no image.
fn thumbnail(frame: &EvidenceFrame) -> Option<String> {
    let image = image::load_from_memory(&frame.image).ok()?;
    let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).into_luma8();
    let mut png = Vec::new();
    small
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// The report as one HTML document; `links` makes frame ids link to the dashboard's pages.
pub fn html(record: &BatchRecord, links: bool) -> String {
    let r = &record.reconciliation;
    let counts = [
        ("commissioned", r.commissioned),
        ("verified on a passing pack", r.verified),
        ("outstanding", r.outstanding),
        ("frames", r.frames),
        ("passed", r.passed),
        ("failed", r.failed),
        ("no-read", r.no_read),
        ("duplicate", r.duplicate),
        ("not commissioned", r.not_commissioned),
        ("rejected for quality or data", r.rejected),
        ("stored after signing", r.after_close),
        ("aggregated into cases", r.aggregated),
        ("cases", r.cases),
        ("verified and in no case", r.verified_not_aggregated),
    ];
    let counts: String = counts
        .iter()
        .map(|(name, n)| format!("<tr><th>{name}</th><td class=num>{n}</td></tr>"))
        .collect();
    let total: u64 = record.grades.iter().sum();
    let grades: String = ["A", "B", "C", "D", "F"]
        .iter()
        .zip(record.grades)
        .enumerate()
        .map(|(i, (letter, n))| {
            let share = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            format!(
                "<tr><th>{letter}</th><td class=num>{n}</td><td><svg width=\"200\" height=\"10\">\
                 <rect width=\"{:.1}\" height=\"10\" fill=\"{}\"/></svg> {:.1} %</td></tr>",
                200.0 * share,
                GRADE_COLOURS[4 - i],
                100.0 * share
            )
        })
        .collect();
    let deviations: String = deviations(record)
        .iter()
        .map(|d| format!("<li>{}</li>", escape(d)))
        .collect();
    let charts: String = record
        .charts
        .iter()
        .map(|c| chart::svg(c, Some(&c.parameter.replace('_', " ")), 380.0, 160.0))
        .collect();
    let alarms: String = record
        .alarms
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{raised}</td><td>{severity}</td><td>{rule}</td><td>{message}</td>\
                 <td>{state}</td><td>{by}</td><td>{at}</td><td>{comment}</td></tr>",
                raised = time(a.raised_unix_ms),
                severity = if a.severity == Severity::Stop as i32 {
                    "STOP"
                } else {
                    "WARN"
                },
                rule = escape(&a.rule),
                message = escape(&a.message),
                state = escape(&a.state),
                by = escape(&a.acknowledged_by),
                at = if a.acknowledged_unix_ms > 0 {
                    time(a.acknowledged_unix_ms)
                } else {
                    String::new()
                },
                comment = escape(&a.comment),
            )
        })
        .collect();
    let frame_link = |v: &Verdict| {
        if links {
            format!(
                "<a href=\"/lines/{}/frames/{}\">{}</a>",
                crate::report::svg::path_segment(&v.line_id),
                crate::report::svg::path_segment(&v.frame_id),
                escape(&v.frame_id)
            )
        } else {
            escape(&v.frame_id)
        }
    };
    let failures: String = record
        .failures
        .iter()
        .map(|(v, _)| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td><code>{}</code></td><td>{}</td></tr>",
                time(v.stored_unix_ms),
                frame_link(v),
                v.overall_grade,
                escape(&v.grade_letter),
                escape(v.data()),
                escape(&v.reasons.join("; ")),
            )
        })
        .collect();
    let frames: String = record
        .failures
        .iter()
        .filter_map(|(v, frame)| {
            let uri = thumbnail(frame.as_ref()?)?;
            Some(format!(
                "<figure><img src=\"{uri}\" alt=\"frame {id}\"><figcaption>{link}<br>{reason}\
                 </figcaption></figure>",
                id = escape(&v.frame_id),
                link = frame_link(v),
                reason = escape(v.reasons.first().map_or("", String::as_str)),
            ))
        })
        .collect();
    let signature = if r.closed {
        format!(
            "<p class=signed>Signed <b>{meaning}</b> by <b>{by}</b> on {at} (UTC). The counts \
             below are those the signature froze.</p>",
            meaning = escape(&r.meaning),
            by = escape(&r.closed_by),
            at = time(r.closed_unix_ms),
        )
    } else {
        "<p class=open>Not signed: the batch is open and its counts may still change.</p>".into()
    };
    let span = record
        .span_ms
        .map_or("no verdict yet".to_string(), |(a, b)| {
            format!("{} to {} (UTC)", time(a), time(b))
        });
    let section = |title: &str, body: String, empty: &str| {
        format!(
            "<section><h2>{title}</h2>{}</section>",
            if body.is_empty() {
                format!("<p class=quiet>{empty}</p>")
            } else {
                body
            }
        )
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Batch {batch} on line {line} · verigrade</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.quiet {{ color: #777; }} .signed {{ background: #d8f5d8; padding: 0.5em; }}
.open {{ background: #fff3c4; padding: 0.5em; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 0.5em; }}
.frames {{ display: flex; flex-wrap: wrap; gap: 0.8em; }}
.frames figure {{ margin: 0; font-size: 0.8em; max-width: 320px; }}
.frames img {{ max-width: 320px; border: 1px solid #bbb; }}
@media print {{ body {{ margin: 0; font-size: 10pt; }} section {{ break-inside: avoid; }} }}
</style></head><body>
<h1>Batch {batch} on line {line}</h1>
{signature}
<p>Verdicts from {span}. Report made by verigrade {version} on {now} (UTC) from the service's
own records.</p>
<section><h2>Reconciliation</h2><table id=reconciliation>{counts}</table></section>
<section><h2>Grade distribution</h2><table id=grades>{grades}</table></section>
{deviations}
{charts}
{alarms}
{failures}
{frames}
</body></html>
"#,
        batch = escape(&r.batch),
        line = escape(&r.line_id),
        version = env!("CARGO_PKG_VERSION"),
        now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        deviations = section(
            "Deviations",
            if deviations.is_empty() {
                String::new()
            } else {
                format!("<ul id=deviations>{deviations}</ul>")
            },
            "None: every commissioned serial verified, no pack failed for its data."
        ),
        charts = section(
            "Control charts",
            if charts.is_empty() {
                String::new()
            } else {
                format!("<div class=charts>{charts}</div>")
            },
            &if record.charts_of_batch.is_empty() {
                "No chart for this batch.".to_string()
            } else {
                format!(
                    "The service keeps the charts of the line's current batch ({}).",
                    escape(&record.charts_of_batch)
                )
            }
        ),
        alarms = section(
            "Alarms",
            if alarms.is_empty() {
                String::new()
            } else {
                format!(
                    "<table id=alarms><tr><th>raised (UTC)</th><th>severity</th><th>rule</th>\
                     <th>message</th><th>state</th><th>acknowledged by</th><th>at</th>\
                     <th>comment</th></tr>{alarms}</table>"
                )
            },
            "No alarm while the batch ran."
        ),
        failures = section(
            "Failed packs",
            if failures.is_empty() {
                String::new()
            } else {
                format!(
                    "<table id=failures><tr><th>stored (UTC)</th><th>frame</th><th>grade</th>\
                     <th>data</th><th>reasons</th></tr>{failures}</table>"
                )
            },
            "None."
        ),
        frames = section(
            "Frames of failed packs",
            if frames.is_empty() {
                String::new()
            } else {
                format!("<div class=frames>{frames}</div>")
            },
            "No frame kept."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviations_name_what_does_not_reconcile_and_nothing_else() {
        let mut record = BatchRecord::default();
        assert!(deviations(&record).is_empty());
        record.reconciliation = BatchReconciliation {
            outstanding: 2,
            duplicate: 1,
            after_close: 3,
            verified_not_aggregated: 5,
            ..BatchReconciliation::default()
        };
        record.alarms.push(Alarm {
            severity: Severity::Stop as i32,
            ..Alarm::default()
        });
        record.alarms.push(Alarm {
            severity: Severity::Warn as i32,
            ..Alarm::default()
        });
        assert_eq!(
            deviations(&record),
            [
                "2 commissioned serials were not verified on a passing pack",
                "1 pack carried a serial already seen (duplicate)",
                "3 packs of the batch came after it was signed",
                "1 STOP alarm stopped the line",
            ]
        );
    }
}
