//! The dashboard `serve` serves over HTTP beside `/metrics`: an overview of the lines, a line
//! page that follows the line live, control charts, alarms to acknowledge, the failed frames
//! kept as evidence, a verdict page with the symbol's grid drawn on its frame, and a batch page
//! with its reconciliation.
//!
//! Every page asks the gRPC services themselves, in process, what a controller would ask:
//! there is no second source of truth, and the access rules are the same — a page needs a
//! token that may read, acknowledging one that may operate, and the acting user is the token's.

mod live;
pub mod pages;

use super::Shared;
use super::access::{self, Identity};
use super::alarms::AlarmsService;
use super::serials::SerialsService;
use super::verdicts::VerdictsService;
use crate::access::Permission;
use crate::control::metric::Metric;
use crate::proto::alarms_server::Alarms;
use crate::proto::serials_server::Serials;
use crate::proto::verdicts_server::Verdicts;
use crate::proto::{
    AcknowledgeAlarmRequest, Alarm, BatchReconciliation, ControlChart, EvidenceFrame,
    GetControlChartRequest, GetLineStateRequest, GetLineStatsRequest, GetVerdictRequest,
    ListAlarmsRequest, ListVerdictsRequest, ReconcileRequest, Verdict,
};
use crate::report::{self, svg};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pages::Viewer;
use std::sync::Arc;
use tonic::Request;

/// The dashboard's routes.
pub(super) fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/events", get(live::overview))
        .route("/lines/{line}", get(line))
        .route("/lines/{line}/events", get(live::line))
        .route("/lines/{line}/frames/{frame}", get(verdict))
        .route("/lines/{line}/frames/{frame}/evidence", get(evidence))
        .route("/lines/{line}/batches/{batch}", get(batch))
        .route("/alarms/{alarm}/acknowledge", post(acknowledge))
        .route("/login", get(login_form).post(login))
        .with_state(shared)
}

/// A page that could not be shown: its HTTP status and why.
pub struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Html(pages::failure(self.0.as_u16(), &self.1))).into_response()
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Failure {
        use tonic::Code;
        let code = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::FailedPrecondition | Code::AlreadyExists => StatusCode::CONFLICT,
            Code::Unavailable | Code::ResourceExhausted => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(code, status.message().to_string())
    }
}

type Page = Result<Html<String>, Failure>;

/// Pages that decode and measure frames (a verdict's picture, a batch's thumbnails) take
/// turns: however many people look, the dashboard takes at most one core from the line.
static PICTURE_WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Runs picture work off the runtime, one at a time.
async fn picture_work<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    let turn = PICTURE_WORK
        .acquire()
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    // The turn goes with the work: a client that leaves does not end work already started.
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    })
    .await
    .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// A form posted from another site's page (its `Origin` is not this server) is refused: a
/// page elsewhere must not acknowledge alarms through a browser that can reach this one.
fn same_origin(headers: &HeaderMap) -> Result<(), Failure> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser's cross-site form: curl, scripts, and older browsers' same-site posts.
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, h)| h);
    match (origin_host, host) {
        (Some(o), Some(h)) if o == h => Ok(()),
        _ => Err(Failure(
            StatusCode::FORBIDDEN,
            "the form was posted from another site's page".into(),
        )),
    }
}

/// Who asks, once let in for `permission`.
#[derive(Clone)]
struct Caller {
    identity: Option<Identity>,
}

impl Caller {
    async fn admit(
        shared: &Shared,
        uri: &Uri,
        permission: Permission,
        headers: &HeaderMap,
    ) -> Result<Caller, Failure> {
        access::admit_http(&shared.store, uri.path(), permission, headers)
            .await
            .map(|identity| Caller { identity })
            .map_err(|(status, message)| Failure(status, message))
    }

    /// A request to a service as this caller makes it: with their identity, as the gRPC
    /// door would have attached it.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(identity) = &self.identity {
            request.extensions_mut().insert(identity.clone());
        }
        request
    }

    fn viewer(&self) -> Viewer {
        Viewer {
            user: self.identity.as_ref().map(|i| i.user.clone()),
        }
    }
}

/// Open alarms, newest first: of one line, or of every line for "".
async fn open_alarms(
    shared: &Arc<Shared>,
    caller: &Caller,
    line: &str,
) -> Result<Vec<Alarm>, Failure> {
    let alarms = AlarmsService(shared.clone())
        .list_alarms(caller.request(ListAlarmsRequest {
            line_id: line.into(),
            only_active: true,
            page_size: 100,
            page_token: String::new(),
        }))
        .await?;
    Ok(alarms.into_inner().alarms)
}

async fn line_summary(
    shared: &Arc<Shared>,
    caller: &Caller,
    line: &str,
) -> Result<(crate::proto::LineStats, crate::proto::LineState), Failure> {
    let stats = VerdictsService(shared.clone())
        .get_line_stats(caller.request(GetLineStatsRequest {
            line_id: line.into(),
        }))
        .await?
        .into_inner();
    let state = AlarmsService(shared.clone())
        .get_line_state(caller.request(GetLineStateRequest {
            line_id: line.into(),
        }))
        .await?
        .into_inner();
    Ok((stats, state))
}

/// The lines the store has verdicts of, and those the configuration names.
async fn known_lines(shared: &Arc<Shared>) -> Result<Vec<String>, Failure> {
    let mut lines = super::verdicts::read(&shared.store, |s| s.lines()).await?;
    lines.extend(shared.engine.config().lines.keys().cloned());
    lines.sort();
    lines.dedup();
    Ok(lines)
}

async fn overview(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Page {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let mut lines = Vec::new();
    for line in known_lines(&shared).await? {
        lines.push(line_summary(&shared, &caller, &line).await?);
    }
    let alarms = open_alarms(&shared, &caller, "").await?;
    Ok(Html(pages::overview(&lines, &alarms, &caller.viewer())))
}

async fn verdicts(
    shared: &Arc<Shared>,
    caller: &Caller,
    line: &str,
    only_failed: bool,
    page_size: usize,
) -> Result<Vec<Verdict>, Failure> {
    let listed = VerdictsService(shared.clone())
        .list_verdicts(caller.request(ListVerdictsRequest {
            line_id: line.into(),
            only_failed,
            page_size: page_size as u32,
            page_token: String::new(),
        }))
        .await?;
    Ok(listed.into_inner().verdicts)
}

/// Failed frames the line page shows.
const FAILURES_SHOWN: usize = 8;

async fn line(
    State(shared): State<Arc<Shared>>,
    Path(line): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Page {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let (stats, state) = line_summary(&shared, &caller, &line).await?;
    let latest = verdicts(&shared, &caller, &line, false, pages::LATEST).await?;
    let failures = verdicts(&shared, &caller, &line, true, FAILURES_SHOWN).await?;
    let alarms = open_alarms(&shared, &caller, &line).await?;
    let mut charts = Vec::new();
    for metric in Metric::ALL {
        let chart = AlarmsService(shared.clone())
            .get_control_chart(caller.request(GetControlChartRequest {
                line_id: line.clone(),
                parameter: metric.name().into(),
                last: 50,
                camera_id: String::new(),
            }))
            .await;
        charts.push(
            chart
                .map(|c| c.into_inner())
                .map_err(|s| format!("{}: {}", metric.words(), s.message())),
        );
    }
    let batches = SerialsService(shared.clone())
        .reconcile(caller.request(ReconcileRequest {
            line_id: line.clone(),
            batch: String::new(),
        }))
        .await?
        .into_inner()
        .batches;
    Ok(Html(pages::line(&pages::LinePage {
        stats: &stats,
        state: &state,
        latest: &latest,
        failures: &failures,
        charts: &charts,
        batches: &batches,
        alarms: &alarms,
        viewer: &caller.viewer(),
    })))
}

async fn verdict(
    State(shared): State<Arc<Shared>>,
    Path((line, frame)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Page {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let verdict = VerdictsService(shared.clone())
        .get_verdict(caller.request(GetVerdictRequest {
            line_id: line.clone(),
            frame_id: frame.clone(),
        }))
        .await?
        .into_inner();
    let picture = if verdict.evidence.is_empty() {
        Err(if verdict.pass {
            "A passing frame is not kept: the verdict above is all there is.".to_string()
        } else {
            "The frame was not kept, or the evidence budget has released it.".to_string()
        })
    } else {
        match VerdictsService(shared.clone())
            .get_evidence(caller.request(GetVerdictRequest {
                line_id: line,
                frame_id: frame,
            }))
            .await
        {
            Ok(evidence) => {
                let engine = shared.engine.clone();
                let stored = verdict.clone();
                let image = evidence.into_inner().image;
                picture_work(move || {
                    engine
                        .remeasure(&stored, &image)
                        .map(|(picture, symbols)| svg::picture(&picture, &symbols))
                        .map_err(|e| format!("The kept frame cannot be shown: {e}"))
                })
                .await?
            }
            Err(status) => Err(status.message().to_string()),
        }
    };
    Ok(Html(pages::verdict(&verdict, picture)))
}

async fn evidence(
    State(shared): State<Arc<Shared>>,
    Path((line, frame)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let evidence = VerdictsService(shared.clone())
        .get_evidence(caller.request(GetVerdictRequest {
            line_id: line,
            frame_id: frame,
        }))
        .await?
        .into_inner();
    Ok((
        [
            (header::CONTENT_TYPE, evidence.media_type),
            (header::CACHE_CONTROL, "private, max-age=3600".into()),
        ],
        evidence.image,
    )
        .into_response())
}

/// The batch page: the batch report, gathered from the services in process.
async fn batch(
    State(shared): State<Arc<Shared>>,
    Path((line, batch)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Page {
    let caller = Caller::admit(&shared, &uri, Permission::Read, &headers).await?;
    let mut services = InProcess { shared, caller };
    let record = report::batch::gather(&mut services, &line, &batch).await?;
    // Thumbnails are decoded and shrunk.
    picture_work(move || Html(report::batch::html(&record, true))).await
}

/// The services as a page's caller calls them, for the report gatherers the CLI shares.
struct InProcess {
    shared: Arc<Shared>,
    caller: Caller,
}

#[tonic::async_trait]
impl report::batch::Services for InProcess {
    async fn reconcile(
        &mut self,
        request: ReconcileRequest,
    ) -> Result<Vec<BatchReconciliation>, tonic::Status> {
        let answer = SerialsService(self.shared.clone())
            .reconcile(self.caller.request(request))
            .await?;
        Ok(answer.into_inner().batches)
    }

    async fn list_verdicts(
        &mut self,
        request: ListVerdictsRequest,
    ) -> Result<(Vec<Verdict>, String), tonic::Status> {
        let page = VerdictsService(self.shared.clone())
            .list_verdicts(self.caller.request(request))
            .await?
            .into_inner();
        Ok((page.verdicts, page.next_page_token))
    }

    async fn list_alarms(
        &mut self,
        request: ListAlarmsRequest,
    ) -> Result<(Vec<Alarm>, String), tonic::Status> {
        let page = AlarmsService(self.shared.clone())
            .list_alarms(self.caller.request(request))
            .await?
            .into_inner();
        Ok((page.alarms, page.next_page_token))
    }

    async fn control_chart(
        &mut self,
        request: GetControlChartRequest,
    ) -> Result<ControlChart, tonic::Status> {
        let chart = AlarmsService(self.shared.clone())
            .get_control_chart(self.caller.request(request))
            .await?;
        Ok(chart.into_inner())
    }

    async fn evidence(
        &mut self,
        request: GetVerdictRequest,
    ) -> Result<EvidenceFrame, tonic::Status> {
        let frame = VerdictsService(self.shared.clone())
            .get_evidence(self.caller.request(request))
            .await?;
        Ok(frame.into_inner())
    }
}

/// The fields of a form body.
fn form(body: &[u8]) -> impl Fn(&str) -> String + '_ {
    move |name| {
        form_urlencoded::parse(body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }
}

/// Acknowledges an alarm from its form, then goes back to the page it was on (a page of this
/// dashboard, never another site).
async fn acknowledge(
    State(shared): State<Arc<Shared>>,
    Path(alarm_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Redirect, Failure> {
    same_origin(&headers)?;
    let caller = Caller::admit(&shared, &uri, Permission::Operate, &headers).await?;
    let field = form(&body);
    AlarmsService(shared.clone())
        .acknowledge_alarm(caller.request(AcknowledgeAlarmRequest {
            alarm_id,
            user: field("user"),
            comment: field("comment"),
        }))
        .await?;
    Ok(Redirect::to(&local_page(field("back"))))
}

/// Where a form returns to: a path on this server, else the overview — never another site
/// (`//host` and `/\host` are other sites to a browser).
fn local_page(back: String) -> String {
    let printable = back.bytes().all(|b| b.is_ascii_graphic());
    if printable && back.starts_with('/') && !back.starts_with("//") && !back.starts_with("/\\") {
        back
    } else {
        "/".into()
    }
}

async fn login_form() -> Html<String> {
    Html(pages::login(""))
}

/// Checks the token as a page would, then keeps it in a cookie the browser sends back to this
/// server only.
async fn login(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    posted: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = same_origin(&posted) {
        return refused.into_response();
    }
    let token = form(&body)("token");
    let mut headers = HeaderMap::new();
    if let Ok(value) = format!("Bearer {}", token.trim()).parse() {
        headers.insert(header::AUTHORIZATION, value);
    }
    match Caller::admit(&shared, &uri, Permission::Read, &headers).await {
        Ok(_) => (
            [(
                header::SET_COOKIE,
                format!(
                    "{}={}; Path=/; HttpOnly; SameSite=Strict{}",
                    access::TOKEN_COOKIE,
                    token.trim(),
                    // Served over HTTPS: never sent over plain HTTP.
                    if shared.engine.config().tls_cert.is_some() {
                        "; Secure"
                    } else {
                        ""
                    }
                ),
            )],
            Redirect::to("/"),
        )
            .into_response(),
        Err(Failure(status, message)) => (status, Html(pages::login(&message))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_returns_only_to_a_page_of_this_server() {
        assert_eq!(local_page("/lines/L1".into()), "/lines/L1");
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example",
            "",
        ] {
            assert_eq!(local_page(elsewhere.into()), "/", "{elsewhere}");
        }
    }

    #[test]
    fn a_form_posted_from_another_sites_page_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(
            same_origin(&headers).is_ok(),
            "no Origin: not a browser's cross-site post"
        );
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(same_origin(&headers).is_err());
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(same_origin(&headers).is_err());
    }
}
