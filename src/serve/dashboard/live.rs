//! The live pages' event streams (server-sent events): each verdict the line stores becomes a
//! row at the top of the line page, and the counts, the state and the open alarms are sent
//! again as they change — at most twice a second, however fast the line runs, so a page costs
//! the store a few reads a second, not one per frame. The streams follow `WatchVerdicts` and
//! `WatchAlarms`, as a controller would.

use super::pages::{self, Viewer};
use super::{Caller, Failure, line_summary, open_alarms};
use crate::access::Permission;
use crate::proto::alarms_server::Alarms;
use crate::proto::verdicts_server::Verdicts;
use crate::proto::{WatchAlarmsRequest, WatchVerdictsRequest};
use crate::serve::Shared;
use crate::serve::alarms::AlarmsService;
use crate::serve::verdicts::VerdictsService;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// How often changed counts and alarms are sent again, at most.
const REFRESH_EVERY: Duration = Duration::from_millis(500);

type Events = Sse<axum::response::sse::KeepAliveStream<ReceiverStream<Result<Event, Infallible>>>>;

/// An element of the page to replace with `html`.
fn replace(id: &str, html: String) -> Event {
    Event::default()
        .event("replace")
        .data(serde_json::json!({ "id": id, "html": html }).to_string())
}

/// A row to add at the top of the table body `id`, which keeps its newest `keep` rows.
fn prepend(id: &str, html: String, keep: usize) -> Event {
    Event::default()
        .event("prepend")
        .data(serde_json::json!({ "id": id, "html": html, "keep": keep }).to_string())
}

/// The feeds a page follows: verdicts and alarms of `line` ("" = every line).
async fn feeds(
    shared: &Arc<Shared>,
    caller: &Caller,
    line: &str,
) -> Result<
    (
        <VerdictsService as Verdicts>::WatchVerdictsStream,
        <AlarmsService as Alarms>::WatchAlarmsStream,
    ),
    Failure,
> {
    let verdicts = VerdictsService(shared.clone())
        .watch_verdicts(caller.request(WatchVerdictsRequest {
            line_id: line.into(),
            ..WatchVerdictsRequest::default()
        }))
        .await?
        .into_inner();
    let alarms = AlarmsService(shared.clone())
        .watch_alarms(caller.request(WatchAlarmsRequest {
            line_id: line.into(),
            after_sequence: 0,
        }))
        .await?
        .into_inner();
    Ok((verdicts, alarms))
}

fn sse(rx: mpsc::Receiver<Result<Event, Infallible>>) -> Events {
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

/// The line page's events: `prepend` of each verdict's row, `replace` of `stats` and `alarms`.
pub async fn line(
    State(shared): State<Arc<Shared>>,
    Path(line): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Events, Failure> {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let (mut verdicts, mut alarms) = feeds(&shared, &caller, &line).await?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let back = pages::line_url(&line);
        let viewer: Viewer = caller.viewer();
        let mut every = tokio::time::interval(REFRESH_EVERY);
        let (mut stats_changed, mut alarms_changed) = (false, false);
        loop {
            let mut events = Vec::new();
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tx.closed() => return,
                verdict = verdicts.next() => match verdict {
                    Some(Ok(v)) => {
                        stats_changed = true;
                        events.push(prepend("verdicts", pages::verdict_row(&v), pages::LATEST));
                    }
                    _ => return,
                },
                alarm = alarms.next() => match alarm {
                    Some(Ok(_)) => (stats_changed, alarms_changed) = (true, true),
                    _ => return,
                },
                _ = every.tick() => {
                    if std::mem::take(&mut stats_changed)
                        && let Ok((stats, state)) = line_summary(&shared, &caller, &line).await
                    {
                        events.push(replace("stats", pages::stats_panel(&stats, &state)));
                    }
                    if std::mem::take(&mut alarms_changed)
                        && let Ok(open) = open_alarms(&shared, &caller, &line).await
                    {
                        events.push(replace(
                            "alarms",
                            pages::alarms_panel(&open, &viewer, &back, false),
                        ));
                    }
                }
            }
            for event in events {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(sse(rx))
}

/// The overview's events: `replace` of each changed line's row and of `alarms`.
pub async fn overview(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Events, Failure> {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let (mut verdicts, mut alarms) = feeds(&shared, &caller, "").await?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let viewer = caller.viewer();
        let mut every = tokio::time::interval(REFRESH_EVERY);
        let mut changed_lines = BTreeSet::new();
        let mut alarms_changed = false;
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tx.closed() => return,
                verdict = verdicts.next() => match verdict {
                    Some(Ok(v)) => { changed_lines.insert(v.line_id); }
                    _ => return,
                },
                alarm = alarms.next() => match alarm {
                    Some(Ok(a)) => {
                        changed_lines.insert(a.line_id);
                        alarms_changed = true;
                    }
                    _ => return,
                },
                _ = every.tick() => {
                    let mut events = Vec::new();
                    for line in std::mem::take(&mut changed_lines) {
                        if let Ok((stats, state)) = line_summary(&shared, &caller, &line).await {
                            events.push(replace(
                                &format!("line-{line}"),
                                pages::line_row(&stats, &state),
                            ));
                        }
                    }
                    if std::mem::take(&mut alarms_changed)
                        && let Ok(open) = open_alarms(&shared, &caller, "").await
                    {
                        events.push(replace("alarms", pages::alarms_panel(&open, &viewer, "/", true)));
                    }
                    for event in events {
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    Ok(sse(rx))
}
