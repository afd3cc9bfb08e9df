//! The dashboard's pages, rendered on the server from the messages the gRPC services answer
//! (`LineStats`, `LineState`, `Verdict`, `Alarm`, `ControlChart`, `BatchReconciliation`):
//! what a page shows is what a controller asking the same questions gets. Every page works
//! without JavaScript; a live page adds a few lines that apply the fragments its event stream
//! sends (the same functions render them).

use crate::proto::{
    Alarm, BatchReconciliation, ControlChart, LineState, LineStats, RunState, Severity, Verdict,
};
use crate::report::svg::{self, escape, path_segment as segment};
use crate::report::{GRADE_COLOURS, chart, utc as time};
use crate::verdict::Parameter;

/// How the page's forms name the acting user: the token's user once tokens exist (the field is
/// then fixed), else whatever the operator types.
#[derive(Clone, Debug, Default)]
pub struct Viewer {
    pub user: Option<String>,
}

pub fn line_url(line: &str) -> String {
    format!("/lines/{}", segment(line))
}

pub fn verdict_url(line: &str, frame: &str) -> String {
    format!("/lines/{}/frames/{}", segment(line), segment(frame))
}

pub fn batch_url(line: &str, batch: &str) -> String {
    format!("/lines/{}/batches/{}", segment(line), segment(batch))
}

/// The script of a live page: it applies the fragments of `events` — `replace` swaps the
/// element of that id, `prepend` adds a row at the top of a table body and keeps its newest
/// rows. Without JavaScript the page is the state it was loaded with.
const LIVE: &str = r#"<script>
(() => {
  const feed = new EventSource(document.body.dataset.events);
  feed.addEventListener("replace", (e) => {
    const d = JSON.parse(e.data);
    const old = document.getElementById(d.id);
    if (old) { old.outerHTML = d.html; }
  });
  feed.addEventListener("prepend", (e) => {
    const d = JSON.parse(e.data);
    const body = document.getElementById(d.id);
    if (!body) { return; }
    body.insertAdjacentHTML("afterbegin", d.html);
    while (body.rows.length > d.keep) { body.deleteRow(-1); }
  });
  feed.onopen = () => document.body.classList.add("live");
  feed.onerror = () => document.body.classList.remove("live");
})();
</script>"#;

const STYLE: &str = "
body { font-family: sans-serif; margin: 0; color: #222; }
header { background: #263238; color: #fff; padding: 0.5em 1.5em; display: flex; gap: 1.5em; align-items: baseline; }
header a { color: #fff; } header .where { font-weight: bold; }
header .live-mark { margin-left: auto; font-size: 0.85em; opacity: 0.6; }
body.live header .live-mark::after { content: ' ● live'; color: #8f8; }
main { padding: 1em 1.5em; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { background: #d8f5d8; } .fail { background: #f8d0d0; }
.state { padding: 0.1em 0.5em; border-radius: 0.3em; font-weight: bold; }
.RUNNING { background: #1a9641; color: #fff; } .STOPPED { background: #d7191c; color: #fff; }
.IDLE { background: #999; color: #fff; }
.STOP { color: #d7191c; font-weight: bold; } .WARN { color: #b76b00; font-weight: bold; }
.quiet { color: #777; } .bad { color: #d7191c; }
.panels { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
.kpis { display: flex; gap: 0.5em; flex-wrap: wrap; }
.kpi { border: 1px solid #ccc; border-radius: 0.3em; padding: 0.3em 0.8em; min-width: 5.5em; font-size: 0.85em; color: #555; }
.kpi b { display: block; font-size: 1.6em; color: #222; font-variant-numeric: tabular-nums; }
tr.verdict td:nth-child(-n+2) { white-space: nowrap; }
.charts { display: flex; gap: 1em; flex-wrap: wrap; }
figure.chart { margin: 0; border: 1px solid #ddd; padding: 0.3em; }
figure.chart figcaption { font-size: 0.85em; }
.evidence { display: flex; gap: 0.8em; flex-wrap: wrap; }
.evidence figure { margin: 0; font-size: 0.8em; }
.evidence img { width: 160px; height: 120px; object-fit: contain; background: #eee; border: 1px solid #ccc; }
form.ack { display: flex; gap: 0.3em; }
form.ack input[name=comment] { width: 14em; }
.error { background: #f8d0d0; padding: 0.5em 1em; }
";

/// A whole page; `events` makes it live.
pub fn layout(title: &str, trail: &[(String, String)], body: &str, events: Option<&str>) -> String {
    let mut crumbs = String::from("<a href=\"/\">verigrade</a>");
    for (label, href) in trail {
        crumbs += &format!(" › <a href=\"{}\">{}</a>", escape(href), escape(label));
    }
    let (data, script) = match events {
        Some(url) => (format!(" data-events=\"{}\"", escape(url)), LIVE),
        None => (String::new(), ""),
    };
    format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>{title} · verigrade</title>\
         <style>{STYLE}{svg_style}</style></head><body{data}><header><span class=where>{crumbs}\
         </span><span class=live-mark></span></header><main>{body}</main>{script}</body></html>\n",
        title = escape(title),
        svg_style = svg::STYLE,
    )
}

/// An error page: what went wrong, in the service's own words.
pub fn failure(status: u16, message: &str) -> String {
    layout(
        "error",
        &[],
        &format!(
            "<h1>{status}</h1><p class=error>{}</p>{}",
            escape(message),
            if status == 401 {
                "<p><a href=\"/login\">Sign in with a token</a></p>"
            } else {
                ""
            }
        ),
        None,
    )
}

fn run_state(state: &LineState) -> &'static str {
    match RunState::try_from(state.state) {
        Ok(RunState::Running) => "RUNNING",
        Ok(RunState::Stopped) => "STOPPED",
        _ => "IDLE",
    }
}

fn severity(alarm: &Alarm) -> &'static str {
    match Severity::try_from(alarm.severity) {
        Ok(Severity::Stop) => "STOP",
        _ => "WARN",
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * part as f64 / whole as f64)
    }
}

/// The grade distribution as one bar, A to F from the left, each band as wide as its share.
fn distribution(stats: &LineStats) -> String {
    const WIDTH: f64 = 200.0;
    let total: u64 = stats.grade_distribution.iter().map(|g| g.count).sum();
    if total == 0 {
        return "<span class=quiet>no verdict yet</span>".into();
    }
    let mut x = 0.0;
    let mut bands = String::new();
    for (i, grade) in stats.grade_distribution.iter().enumerate() {
        let w = WIDTH * grade.count as f64 / total as f64;
        bands += &format!(
            "<rect x=\"{x:.1}\" width=\"{w:.1}\" height=\"12\" fill=\"{}\"><title>{}: {}</title></rect>",
            GRADE_COLOURS[4 - i.min(4)],
            escape(&grade.letter),
            grade.count
        );
        x += w;
    }
    let counts: Vec<String> = stats
        .grade_distribution
        .iter()
        .map(|g| format!("{} {}", escape(&g.letter), g.count))
        .collect();
    format!(
        "<svg class=distribution viewBox=\"0 0 {WIDTH} 12\" width=\"{WIDTH}\" height=\"12\" \
         role=img aria-label=\"grade distribution\">{bands}</svg> <span class=quiet>{}</span>",
        counts.join(" · ")
    )
}

/// One line's row of the overview (element id `line-…`, replaced live).
pub fn line_row(stats: &LineStats, state: &LineState) -> String {
    let state_word = run_state(state);
    format!(
        "<tr id=\"line-{id}\"><td><a href=\"{href}\">{id}</a></td><td><span class=\"state \
         {state_word}\">{state_word}</span></td><td class=num>{total}</td><td class=num>{passed}\
         </td><td class=num>{failed}</td><td class=num>{no_read}</td><td class=num>{duplicates}\
         </td><td class=num>{rate}</td><td>{distribution}</td><td class=num>{alarms}</td></tr>",
        id = escape(&stats.line_id),
        href = line_url(&stats.line_id),
        total = stats.total,
        passed = stats.passed,
        failed = stats.failed,
        no_read = stats.no_read,
        duplicates = stats.duplicates,
        rate = percent(stats.passed, stats.total),
        distribution = distribution(stats),
        alarms = state.active_alarms.len(),
    )
}

pub fn overview(lines: &[(LineStats, LineState)], alarms: &[Alarm], viewer: &Viewer) -> String {
    let rows: String = lines.iter().map(|(s, st)| line_row(s, st)).collect();
    let body = format!(
        "<h1>Lines</h1>{table}{alarms}",
        table = if lines.is_empty() {
            "<p class=quiet>No line has sent a frame yet.</p>".to_string()
        } else {
            format!(
                "<table id=lines><thead><tr><th>line</th><th>state</th><th>frames</th>\
                 <th>passed</th><th>failed</th><th>no-read</th><th>duplicates</th>\
                 <th>pass rate</th><th>grades</th><th>open alarms</th></tr></thead><tbody>{rows}\
                 </tbody></table>"
            )
        },
        alarms = alarms_panel(alarms, viewer, "/", true),
    );
    layout("Lines", &[], &body, Some("/events"))
}

/// The line's counts and state (element id `stats`, replaced live).
pub fn stats_panel(stats: &LineStats, state: &LineState) -> String {
    let state_word = run_state(state);
    let tiles: String = [
        ("frames", stats.total.to_string()),
        ("passed", stats.passed.to_string()),
        ("failed", stats.failed.to_string()),
        ("no-read", stats.no_read.to_string()),
        ("duplicates", stats.duplicates.to_string()),
        ("pass rate", percent(stats.passed, stats.total)),
        ("mean grade", format!("{:.2}", stats.mean_grade)),
        (
            "dropped at the gateway",
            stats.dropped_at_gateway.to_string(),
        ),
    ]
    .iter()
    .map(|(name, value)| format!("<div class=kpi><b>{value}</b>{name}</div>"))
    .collect();
    format!(
        "<section id=stats><p><span class=\"state {state_word}\">{state_word}</span> \
         {stopping}</p><div class=kpis>{tiles}</div><p>{distribution}</p></section>",
        stopping = if state.stopping_alarm_id.is_empty() {
            String::new()
        } else {
            format!(
                "stopped by alarm <b>{}</b>: acknowledge it to run again",
                escape(&state.stopping_alarm_id)
            )
        },
        distribution = distribution(stats),
    )
}

/// Alarms not yet cleared, each with its acknowledge form while active (element id `alarms`,
/// replaced live). `back` is where the form returns to.
pub fn alarms_panel(alarms: &[Alarm], viewer: &Viewer, back: &str, with_line: bool) -> String {
    if alarms.is_empty() {
        return "<section id=alarms><h2>Alarms</h2><p class=quiet>No open alarm.</p></section>"
            .into();
    }
    let user = match &viewer.user {
        Some(user) => format!(
            "<input name=user value=\"{}\" readonly title=\"the token's user\">",
            escape(user)
        ),
        None => "<input name=user placeholder=\"your name\" required>".into(),
    };
    let rows: String = alarms
        .iter()
        .map(|a| {
            let action = if a.state == "active" {
                format!(
                    "<form class=ack method=post action=\"/alarms/{id}/acknowledge\">{user}\
                     <input name=comment placeholder=\"what was done\"{required}>\
                     <input type=hidden name=back value=\"{back}\"><button>Acknowledge</button>\
                     </form>",
                    id = segment(&a.alarm_id),
                    required = if severity(a) == "STOP" {
                        " required"
                    } else {
                        ""
                    },
                    back = escape(back),
                )
            } else {
                format!(
                    "acknowledged by <b>{}</b> at {}: {}",
                    escape(&a.acknowledged_by),
                    time(a.acknowledged_unix_ms),
                    escape(&a.comment)
                )
            };
            format!(
                "<tr class=alarm data-alarm=\"{id}\"><td>{raised}</td>{line}<td class={sev}>{sev}\
                 </td><td>{rule}</td><td>{message}</td><td>{state}</td><td>{action}</td></tr>",
                id = escape(&a.alarm_id),
                raised = time(a.raised_unix_ms),
                line = if with_line {
                    format!(
                        "<td><a href=\"{}\">{}</a></td>",
                        line_url(&a.line_id),
                        escape(&a.line_id)
                    )
                } else {
                    String::new()
                },
                sev = severity(a),
                rule = escape(&a.rule),
                message = escape(&a.message),
                state = escape(&a.state),
            )
        })
        .collect();
    format!(
        "<section id=alarms><h2>Alarms</h2><table><thead><tr><th>raised</th>{line}<th>severity\
         </th><th>rule</th><th>message</th><th>state</th><th></th></tr></thead><tbody>{rows}\
         </tbody></table></section>",
        line = if with_line { "<th>line</th>" } else { "" },
    )
}

/// One row of the latest verdicts (prepended live).
pub fn verdict_row(v: &Verdict) -> String {
    let word = if v.pass { "pass" } else { "fail" };
    format!(
        "<tr class=verdict data-sequence=\"{seq}\"><td>{time}</td><td><a href=\"{href}\">{frame}\
         </a></td><td class={word}>{WORD}</td><td class=num>{grade:.1} ({letter})</td>\
         <td><code>{data}</code></td><td>{reasons}</td></tr>",
        seq = v.sequence,
        time = time(v.stored_unix_ms),
        href = verdict_url(&v.line_id, &v.frame_id),
        frame = escape(&v.frame_id),
        WORD = word.to_uppercase(),
        grade = v.overall_grade,
        letter = escape(&v.grade_letter),
        data = escape(v.data()),
        reasons = escape(&v.reasons.join("; ")),
    )
}

/// What the line page shows, each part from its own service call.
pub struct LinePage<'a> {
    pub stats: &'a LineStats,
    pub state: &'a LineState,
    pub latest: &'a [Verdict],
    pub failures: &'a [Verdict],
    pub charts: &'a [Result<ControlChart, String>],
    pub batches: &'a [BatchReconciliation],
    pub alarms: &'a [Alarm],
    pub viewer: &'a Viewer,
}

/// Rows of the latest verdicts the line page keeps.
pub const LATEST: usize = 15;

pub fn line(page: &LinePage) -> String {
    let line = &page.stats.line_id;
    let url = line_url(line);
    let rows: String = page.latest.iter().map(verdict_row).collect();
    let evidence: String = page
        .failures
        .iter()
        .map(|v| {
            let href = verdict_url(&v.line_id, &v.frame_id);
            let image = if v.evidence.is_empty() {
                "<span class=quiet>(frame released)</span>".to_string()
            } else {
                format!(
                    "<img src=\"{href}/evidence\" alt=\"frame {}\" loading=lazy>",
                    escape(&v.frame_id)
                )
            };
            format!(
                "<figure><a href=\"{href}\">{image}</a><figcaption>{frame} · {time}<br>{reason}\
                 </figcaption></figure>",
                frame = escape(&v.frame_id),
                time = time(v.stored_unix_ms),
                reason = escape(v.reasons.first().map_or("", String::as_str)),
            )
        })
        .collect();
    let charts: String = page
        .charts
        .iter()
        .map(|c| match c {
            Ok(c) => chart_figure(c),
            Err(e) => format!("<p class=quiet>{}</p>", escape(e)),
        })
        .collect();
    let batches: String = page
        .batches
        .iter()
        .map(|b| {
            format!(
                "<tr><td><a href=\"{href}\">{batch}</a></td><td class=num>{commissioned}</td>\
                 <td class=num>{verified}</td><td class=num>{outstanding}</td><td class=num>\
                 {frames}</td><td class=num>{failed}</td><td>{closed}</td></tr>",
                href = batch_url(&b.line_id, &b.batch),
                batch = escape(&b.batch),
                commissioned = b.commissioned,
                verified = b.verified,
                outstanding = b.outstanding,
                frames = b.frames,
                failed = b.failed,
                closed = closure(b),
            )
        })
        .collect();
    let body = format!(
        "<h1>Line {name}</h1>{stats}{alarms}\
         <h2>Control charts</h2><div class=charts>{charts}</div>\
         <h2>Latest verdicts</h2><table id=verdicts-table><thead><tr><th>stored (UTC)</th>\
         <th>frame</th><th>verdict</th><th>grade</th><th>data</th><th>reasons</th></tr></thead>\
         <tbody id=verdicts>{rows}</tbody></table>\
         <h2>Failed frames</h2><div class=evidence>{evidence}</div>\
         <h2>Batches</h2>{batches}",
        name = escape(line),
        stats = stats_panel(page.stats, page.state),
        alarms = alarms_panel(page.alarms, page.viewer, &url, false),
        evidence = if evidence.is_empty() {
            "<p class=quiet>No failed frame kept.</p>".to_string()
        } else {
            evidence
        },
        batches = if batches.is_empty() {
            "<p class=quiet>No batch yet.</p>".to_string()
        } else {
            format!(
                "<table><tr><th>batch</th><th>commissioned</th><th>verified</th>\
                 <th>outstanding</th><th>frames</th><th>failed</th><th>signature</th></tr>\
                 {batches}</table>"
            )
        },
    );
    layout(
        &format!("Line {line}"),
        &[(format!("line {line}"), url.clone())],
        &body,
        Some(&format!("{url}/events")),
    )
}

/// A control chart with its caption: what it plots, its subgroups, its broken rules.
fn chart_figure(c: &ControlChart) -> String {
    let title = escape(&c.parameter.replace('_', " "));
    if c.points.is_empty() {
        return format!(
            "<figure class=chart><figcaption>{title}</figcaption><p class=quiet>no subgroup yet \
             ({} frames each)</p></figure>",
            c.subgroup_size
        );
    }
    format!(
        "<figure class=chart data-parameter=\"{name}\"><figcaption>{title} <span class=quiet>· \
         {n} subgroups of {size}{limits}</span>{broken}</figcaption>{svg}</figure>",
        name = escape(&c.parameter),
        n = c.points.len(),
        size = c.subgroup_size,
        limits = if c.centre.is_none() {
            " · limits once the baseline is complete"
        } else {
            ""
        },
        broken = match c.violations.len() {
            0 => String::new(),
            1 => " · <b class=bad>1 rule broken</b>".into(),
            n => format!(" · <b class=bad>{n} rules broken</b>"),
        },
        svg = chart::svg(c, None, 420.0, 150.0),
    )
}

fn closure(b: &BatchReconciliation) -> String {
    if b.closed {
        format!(
            "{} by <b>{}</b> at {}",
            escape(&b.meaning),
            escape(&b.closed_by),
            time(b.closed_unix_ms)
        )
    } else {
        "open".into()
    }
}

/// A parameter's name, value, grade and bar, from the verdict's own record.
fn parameters(list: &[crate::proto::Parameter]) -> String {
    let rows: String = list
        .iter()
        .map(|p| {
            let known = Parameter::ALL.into_iter().find(|k| k.name() == p.name);
            let name = known.map_or(p.name.as_str(), |k| k.iso_name());
            svg::parameter_row(name, known, p.value, p.grade.min(4) as u8)
        })
        .collect();
    format!("<table class=parameters>{rows}</table>")
}

/// The verdict page: the stored verdict and, when its frame was kept, the picture with the
/// outline, grid and modules measured on that frame.
pub fn verdict(v: &Verdict, picture: Result<String, String>) -> String {
    let word = if v.pass { "pass" } else { "fail" };
    let symbols: String = v
        .symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let reasons: String = s
                .reasons
                .iter()
                .map(|r| format!("<li>{}</li>", escape(r)))
                .collect();
            format!(
                "<div class=symbol><h2>Symbol {n}: <span class={w}>{W}</span> {notation} ({letter}) · \
                 {size}</h2><p><code>{data}</code></p>{table}<ul>{reasons}</ul></div>",
                n = i + 1,
                w = if s.pass { "pass" } else { "fail" },
                W = if s.pass { "PASS" } else { "FAIL" },
                notation = escape(&s.notation),
                letter = escape(&s.grade_letter),
                size = escape(&s.size),
                data = escape(s.data()),
                table = parameters(&s.parameters),
            )
        })
        .collect();
    let reasons: String = v
        .reasons
        .iter()
        .map(|r| format!("<li>{}</li>", escape(r)))
        .collect();
    let picture = match picture {
        Ok(svg) => format!(
            "<figure id=overlay>{svg}<figcaption>Modules coloured by reflectance margin grade: \
             {legend}; <span class=ring></span> a module of a codeword read in error. Measured \
             again on the kept frame with profile {profile}.</figcaption></figure>",
            legend = svg::legend(),
            profile = escape(&v.profile),
        ),
        Err(why) => format!("<p class=quiet>{}</p>", escape(&why)),
    };
    let body = format!(
        "<h1>Frame {frame} <span class={word}>{WORD}</span></h1>\
         <p>Line <a href=\"{line_href}\">{line}</a>, camera {camera}, stored {time} (UTC) as \
         number {seq}; profile {profile}; {ms:.1} ms. Batch {batch}.</p>\
         <ul class=reasons>{reasons}</ul><div class=panels>{picture}<div>{symbols}</div></div>",
        frame = escape(&v.frame_id),
        WORD = word.to_uppercase(),
        line_href = line_url(&v.line_id),
        line = escape(&v.line_id),
        camera = escape(if v.camera_id.is_empty() {
            "–"
        } else {
            &v.camera_id
        }),
        time = time(v.stored_unix_ms),
        seq = v.sequence,
        profile = escape(&v.profile),
        ms = v.processing_ms,
        batch = escape(if v.batch.is_empty() { "–" } else { &v.batch }),
    );
    layout(
        &format!("Frame {}", v.frame_id),
        &[
            (format!("line {}", v.line_id), line_url(&v.line_id)),
            (
                format!("frame {}", v.frame_id),
                verdict_url(&v.line_id, &v.frame_id),
            ),
        ],
        &body,
        None,
    )
}

/// The sign-in form: a token, kept in a cookie for the pages that follow.
pub fn login(message: &str) -> String {
    layout(
        "Sign in",
        &[],
        &format!(
            "<h1>Sign in</h1>{}<form method=post action=/login><p><label>Token <input \
             name=token type=password size=50 required></label> <button>Sign in</button></p>\
             </form><p class=quiet>A token from <code>verigrade token create</code>; its role \
             decides what you may do here, as on the gRPC side.</p>",
            if message.is_empty() {
                String::new()
            } else {
                format!("<p class=error>{}</p>", escape(message))
            }
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::GradeCount;

    #[test]
    fn ids_are_encoded_into_one_path_segment() {
        assert_eq!(segment("L1"), "L1");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(verdict_url("L 1", "f/2"), "/lines/L%201/frames/f%2F2");
    }

    #[test]
    fn a_verdict_row_escapes_what_the_frame_carried() {
        let v = Verdict {
            line_id: "L1".into(),
            frame_id: "<script>".into(),
            text: "a&b".into(),
            pass: false,
            grade_letter: "F".into(),
            reasons: vec!["no Data Matrix decoded".into()],
            ..Verdict::default()
        };
        let row = verdict_row(&v);
        assert!(!row.contains("<script>"), "{row}");
        assert!(
            row.contains("&lt;script&gt;") && row.contains("a&amp;b"),
            "{row}"
        );
        assert!(row.contains("/lines/L1/frames/%3Cscript%3E"), "{row}");
        assert!(row.contains("class=fail>FAIL"), "{row}");
        assert!(!row.contains('\n'), "one line, as an event's data: {row}");
    }

    #[test]
    fn the_distribution_bar_gives_each_grade_its_share() {
        let stats = LineStats {
            grade_distribution: [("A", 3), ("B", 0), ("C", 0), ("D", 0), ("F", 1)]
                .map(|(letter, count)| GradeCount {
                    letter: letter.into(),
                    count,
                })
                .to_vec(),
            ..LineStats::default()
        };
        let bar = distribution(&stats);
        assert!(
            bar.contains("width=\"150.0\" height=\"12\" fill=\"#1a9641\""),
            "{bar}"
        );
        assert!(
            bar.contains("width=\"50.0\" height=\"12\" fill=\"#d7191c\""),
            "{bar}"
        );
    }

    #[test]
    fn an_active_stop_alarm_needs_a_comment_and_a_fixed_user_with_a_token() {
        let alarm = Alarm {
            alarm_id: "A-1".into(),
            line_id: "L1".into(),
            severity: Severity::Stop as i32,
            state: "active".into(),
            ..Alarm::default()
        };
        let viewer = Viewer {
            user: Some("olga".into()),
        };
        let panel = alarms_panel(std::slice::from_ref(&alarm), &viewer, "/lines/L1", false);
        assert!(
            panel.contains("action=\"/alarms/A-1/acknowledge\""),
            "{panel}"
        );
        assert!(panel.contains("value=\"olga\" readonly"), "{panel}");
        assert!(
            panel.contains("placeholder=\"what was done\" required"),
            "{panel}"
        );
    }
}
