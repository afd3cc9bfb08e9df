//! `Alarms`: what line controllers ask of line control — alarms live and listed, their
//! acknowledgement, whether a line runs, and the control charts behind SPC alarms.

use super::access;
use super::config::Config;
use super::verdicts::{page, read};
use super::{Shared, status};
use crate::access::Actor;
use crate::control::ChartView;
use crate::control::chart::Direction;
use crate::control::metric::Metric;
use crate::error::Error;
use crate::proto::alarms_server::Alarms;
use crate::proto::{
    AcknowledgeAlarmRequest, Alarm, ChartPoint, ChartViolation, ControlChart, FreezeLimitsRequest,
    FreezeLimitsResponse, FrozenLimit, GetControlChartRequest, GetLineStateRequest, LineState,
    ListAlarmsRequest, ListAlarmsResponse, WatchAlarmsRequest,
};
use crate::store::{Acknowledgement, AlarmQuery, Freeze};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub struct AlarmsService(pub(super) Arc<Shared>);

const DEFAULT_POINTS: usize = 100;

#[tonic::async_trait]
impl Alarms for AlarmsService {
    type WatchAlarmsStream = Pin<Box<dyn Stream<Item = Result<Alarm, Status>> + Send>>;

    async fn watch_alarms(
        &self,
        request: Request<WatchAlarmsRequest>,
    ) -> Result<Response<Self::WatchAlarmsStream>, Status> {
        let WatchAlarmsRequest {
            line_id,
            after_sequence,
        } = request.into_inner();
        let shared = self.0.clone();
        // Subscribe before reading the newest sequence, so nothing falls between the two.
        let mut live = shared.store.subscribe_alarms();
        let newest = read(&shared.store, |s| s.last_alarm_sequence()).await?;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut last = if after_sequence > 0 {
                after_sequence.min(newest)
            } else {
                newest
            };
            let replay = after_sequence > 0;
            let catch_up = |last: u64| {
                let line = line_id.clone();
                let store = shared.store.clone();
                async move { read(&store, move |s| s.alarms_after(&line, last, 500)).await }
            };
            let mut pending_catch_up = replay;
            loop {
                if pending_catch_up {
                    pending_catch_up = false;
                    loop {
                        let page = match catch_up(last).await {
                            Ok(page) => page,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        if page.is_empty() {
                            break;
                        }
                        for alarm in page {
                            last = last.max(alarm.sequence);
                            if tx.send(Ok(alarm)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let next = tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    // The subscriber has gone, though no alarm for it came to find out.
                    _ = tx.closed() => return,
                    next = live.recv() => next,
                };
                match next {
                    Ok(alarm) => {
                        if alarm.sequence <= last {
                            continue;
                        }
                        last = alarm.sequence;
                        if (line_id.is_empty() || alarm.line_id == line_id)
                            && tx.send(Ok(Alarm::clone(&alarm))).await.is_err()
                        {
                            return;
                        }
                    }
                    // Fell behind the live feed: read what was missed from the store.
                    Err(broadcast::error::RecvError::Lagged(_)) => pending_catch_up = true,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_alarms(
        &self,
        request: Request<ListAlarmsRequest>,
    ) -> Result<Response<ListAlarmsResponse>, Status> {
        let request = request.into_inner();
        let (limit, before_id) = page(request.page_size, &request.page_token)?;
        let query = AlarmQuery {
            line_id: request.line_id,
            only_open: request.only_active,
            before_id,
            limit: limit + 1,
        };
        let mut alarms = read(&self.0.store, move |s| s.alarms(&query)).await?;
        let next_page_token = if alarms.len() > limit {
            alarms.truncate(limit);
            alarms.last().map_or(String::new(), |a| a.alarm_id.clone())
        } else {
            String::new()
        };
        Ok(Response::new(ListAlarmsResponse {
            alarms,
            next_page_token,
        }))
    }

    async fn acknowledge_alarm(
        &self,
        request: Request<AcknowledgeAlarmRequest>,
    ) -> Result<Response<Alarm>, Status> {
        let actor = match access::named_actor(&request, &request.get_ref().user) {
            Ok(actor) => actor,
            Err(e) => {
                let denied = status(&e);
                access::record_denial(
                    &self.0.store,
                    &request,
                    "/verigrade.v1.Alarms/AcknowledgeAlarm",
                    &denied,
                )
                .await;
                return Err(denied);
            }
        };
        let AcknowledgeAlarmRequest {
            alarm_id, comment, ..
        } = request.into_inner();
        let acknowledgement = acknowledgement(self.0.engine.config(), &alarm_id, actor, comment)
            .map_err(|e| status(&e))?;
        let alarm = self
            .0
            .store
            .acknowledge(acknowledgement)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(Alarm::clone(&alarm)))
    }

    async fn get_line_state(
        &self,
        request: Request<GetLineStateRequest>,
    ) -> Result<Response<LineState>, Status> {
        let line_id = request.into_inner().line_id;
        if line_id.is_empty() {
            return Err(status(&Error::MissingField("line_id")));
        }
        let state = read(&self.0.store, move |s| s.line_state(&line_id)).await?;
        Ok(Response::new(state))
    }

    async fn get_control_chart(
        &self,
        request: Request<GetControlChartRequest>,
    ) -> Result<Response<ControlChart>, Status> {
        let request = request.into_inner();
        if request.line_id.is_empty() || request.parameter.is_empty() {
            return Err(status(&Error::MissingField("line_id and parameter")));
        }
        let metric = metric_named(&request.parameter)?;
        let last = match request.last as usize {
            0 => DEFAULT_POINTS,
            n => n,
        };
        let (line, camera) = (request.line_id.clone(), request.camera_id.clone());
        let view = read(&self.0.store, move |s| {
            s.chart(&line, &camera, metric, last)
        })
        .await?;
        Ok(Response::new(chart_message(request.line_id, view)))
    }

    async fn freeze_limits(
        &self,
        request: Request<FreezeLimitsRequest>,
    ) -> Result<Response<FreezeLimitsResponse>, Status> {
        let actor = access::actor(&request, "");
        let request = request.into_inner();
        if request.line_id.is_empty() {
            return Err(status(&Error::MissingField("line_id")));
        }
        let metric = match request.parameter.as_str() {
            "" => None,
            name => Some(metric_named(name)?),
        };
        let frozen = self
            .0
            .store
            .freeze(Freeze {
                actor,
                line_id: request.line_id.clone(),
                camera_id: request.camera_id,
                metric,
                points: request.points as usize,
            })
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(FreezeLimitsResponse {
            line_id: request.line_id,
            camera_id: frozen
                .first()
                .map_or(String::new(), |f| f.camera_id.clone()),
            limits: frozen
                .iter()
                .map(|f| FrozenLimit {
                    parameter: f.metric.name().into(),
                    centre: f.limits.centre,
                    upper_limit: f.limits.upper(),
                    lower_limit: f.limits.lower(),
                })
                .collect(),
        }))
    }
}

/// The metric of a request's `parameter`, or INVALID_ARGUMENT naming the known ones.
fn metric_named(name: &str) -> Result<Metric, Status> {
    Metric::named(name).map_err(|e| Status::invalid_argument(format!("parameter: {e}")))
}

/// Longest acknowledgement comment accepted: it is stored with the alarm and shown with it.
const MAX_COMMENT_BYTES: usize = 4096;

/// An acknowledgement as a controller asks for it (over gRPC or OPC UA), checked: a user id
/// like any other, a numeric alarm id, a comment of bounded length.
pub(super) fn acknowledgement(
    config: &Config,
    alarm_id: &str,
    actor: Actor,
    comment: String,
) -> Result<Acknowledgement, Error> {
    config.check_id("user", &actor.user)?;
    let alarm_id = alarm_id
        .trim()
        .parse::<u64>()
        .map_err(|_| Error::InvalidId {
            field: "alarm_id",
            reason: format!("{alarm_id:?} is not an alarm id (a number)"),
        })?;
    if comment.len() > MAX_COMMENT_BYTES {
        return Err(Error::InvalidId {
            field: "comment",
            reason: format!(
                "is {} bytes, over the limit of {MAX_COMMENT_BYTES}",
                comment.len()
            ),
        });
    }
    Ok(Acknowledgement {
        alarm_id,
        actor,
        comment,
    })
}

fn chart_message(line_id: String, view: ChartView) -> ControlChart {
    ControlChart {
        line_id,
        camera_id: view.camera_id,
        parameter: view.metric.name().into(),
        batch: view.batch,
        points: view
            .points
            .into_iter()
            .map(|p| ChartPoint {
                value: p.mean,
                range: p.range,
                first_sequence: p.first_sequence,
                last_sequence: p.last_sequence,
                first_frame_id: p.first_frame,
                last_frame_id: p.last_frame,
            })
            .collect(),
        centre: view.limits.map(|l| l.centre),
        upper_limit: view.limits.map(|l| l.upper()),
        lower_limit: view.limits.map(|l| l.lower()),
        violations: view
            .violations
            .into_iter()
            .map(|(v, alarms)| ChartViolation {
                point: v.point as u32,
                rule: v.rule.name().into(),
                direction: match v.direction {
                    Direction::Up => "up",
                    Direction::Down => "down",
                }
                .into(),
                alarms,
            })
            .collect(),
        subgroup_size: view.subgroup_size as u32,
        failing_at: view.failing_at,
    }
}
