//! `Verifier`: frames in, verdicts out. A stream answers in frame order through three bounded
//! stages — read and submit for grading, submit to the store in order, await the commit — so
//! at most `stream_window` frames of a stream are held at each stage. A unary `Verify` is read
//! the same way, within the in-flight budget, and counts as an open call like a stream.
//!
//! A stream ends OK only when the client ended it and every frame it sent was answered. A
//! refused message ends it with that message's code, after the frames before it are answered;
//! a shutdown stops reading, answers what was read (for up to `SHUTDOWN_DRAIN`) and ends it
//! UNAVAILABLE, since the client may have sent frames that were never read.

use super::access;
use super::inflight::{InboundSlot, Next, Share as Inflight};
use super::metrics;
use super::{Shared, status};
use crate::error::{Error, Result};
use crate::proto::verifier_server::Verifier;
use crate::proto::{FrameError, Verdict, VerifyRequest};
use crate::store::Pending;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};

/// How long after a shutdown signal a stream's frames already read get to be answered (within
/// the server's own grace period).
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// How a stream ends when the server stops reading it.
fn shutting_down() -> Status {
    Status::unavailable(
        "the server is shutting down: frames sent after the last answer were not read; \
         send them again (a frame id sent again returns its stored verdict)",
    )
}

/// How a call that sent no frame for `stream_idle_timeout` ends.
fn idle_too_long(idle: Duration) -> Status {
    Status::unavailable(format!(
        "no frame for {} s: the call is closed (stream_idle_timeout); open a new one",
        idle.as_secs()
    ))
}

/// The status a call ends with when one of its messages was refused: too large for the
/// transport or for the whole in-flight budget is RESOURCE_EXHAUSTED, one that does not decode
/// (a string that is not UTF-8) INVALID_ARGUMENT.
fn refused(status: &Status) -> Status {
    let message = format!("message refused: {}", status.message());
    match status.code() {
        Code::OutOfRange => Status::resource_exhausted(message),
        Code::Internal => Status::invalid_argument(message),
        code => Status::new(code, message),
    }
}

pub struct VerifierService(pub(super) Arc<Shared>);

/// The ids a frame's answer carries even when the frame could not be graded.
#[derive(Clone)]
struct FrameIds {
    line_id: String,
    camera_id: String,
    frame_id: String,
    /// When the frame was received: its answer's latency is counted from here.
    received: Instant,
}

impl FrameIds {
    /// The request's ids, each cut to `max_bytes`: an answer does not echo an id refused for
    /// its length in full.
    fn of(request: &VerifyRequest, max_bytes: usize) -> FrameIds {
        let clipped = |id: &str| {
            let mut end = id.len().min(max_bytes);
            while !id.is_char_boundary(end) {
                end -= 1;
            }
            id[..end].to_string()
        };
        FrameIds {
            line_id: clipped(&request.line_id),
            camera_id: clipped(&request.camera_id),
            frame_id: clipped(&request.frame_id),
            received: Instant::now(),
        }
    }

    /// An in-band answer for a frame that was not graded or not stored.
    fn error_verdict(self, error: &Error) -> Verdict {
        let status = status(error);
        Verdict {
            line_id: self.line_id,
            camera_id: self.camera_id,
            frame_id: self.frame_id,
            pass: false,
            reasons: vec![status.message().to_string()],
            grade_letter: "F".into(),
            error: Some(FrameError {
                code: status.code() as i32,
                message: status.message().to_string(),
            }),
            ..Verdict::default()
        }
    }
}

type Graded = (FrameIds, oneshot::Receiver<Result<Pending>>, Inflight);
type Committing = (FrameIds, oneshot::Receiver<Result<Arc<Verdict>>>, Inflight);

/// One open call of a client, counted in `Shared::clients` until dropped.
struct ClientCall {
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl ClientCall {
    /// Counts a call for `address`, unless it already has `limit` open.
    fn open(
        clients: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        address: IpAddr,
        limit: usize,
    ) -> Result<ClientCall, Status> {
        let mut open = clients.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_default();
        if *count >= limit {
            return Err(Status::resource_exhausted(format!(
                "{address} has {count} calls open, the limit per client (max_streams_per_client {limit})"
            )));
        }
        *count += 1;
        Ok(ClientCall {
            clients: clients.clone(),
            address,
        })
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        let mut open = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// An open call, a `VerifyStream` or a `Verify`: counted against `max_concurrent_streams` and,
/// per client, `max_streams_per_client` until dropped. Each may hold an HTTP/2 receive window
/// outside the in-flight budget, so their number bounds what the budget does not count.
struct OpenCall {
    _slot: OwnedSemaphorePermit,
    _client: Option<ClientCall>,
}

impl OpenCall {
    /// Counts `request`'s call, or RESOURCE_EXHAUSTED when its client or the server has as
    /// many open as allowed.
    fn open<T>(shared: &Shared, request: &Request<T>) -> Result<OpenCall, Status> {
        let limits = shared.engine.limits();
        let client = request
            .remote_addr()
            .map(|peer| {
                ClientCall::open(
                    &shared.clients,
                    peer.ip(),
                    limits.max_streams_per_client.max(1),
                )
            })
            .transpose()?;
        let slot = shared.streams.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "too many open calls, streams and unary calls together (max_concurrent_streams {})",
                limits.max_concurrent_streams
            ))
        })?;
        Ok(OpenCall {
            _slot: slot,
            _client: client,
        })
    }
}

#[tonic::async_trait]
impl Verifier for VerifierService {
    async fn verify(&self, request: Request<VerifyRequest>) -> Result<Response<Verdict>, Status> {
        let shared = &self.0;
        let _call = OpenCall::open(shared, &request)?;
        let actor = access::actor(&request, "");
        let idle = Duration::from_secs(shared.engine.limits().stream_idle_timeout);
        // One message: read within the budget, its share held until it is answered.
        let (request, _inflight) = match InboundSlot::take(&request)?.next(idle).await {
            Next::Message(request, share) => (request, share),
            Next::End => return Err(Status::invalid_argument("the call carries no message")),
            Next::Refused(status) => return Err(refused(&status)),
            Next::Idle => return Err(idle_too_long(idle)),
        };
        let (line_id, received) = (request.line_id.clone(), Instant::now());
        let answered = async {
            let pending = shared
                .grade(request, actor)
                .await
                .map_err(|_| Status::unavailable("the server is shutting down"))?
                .map_err(|e| status(&e))?;
            shared.store.commit(pending).await.map_err(|e| status(&e))
        };
        match answered.await {
            Ok(stored) => {
                let result = metrics::result(&stored);
                shared.metrics.answered(&line_id, result, received);
                Ok(Response::new(Verdict::clone(&stored)))
            }
            Err(status) => {
                shared.metrics.answered(&line_id, "refused", received);
                Err(status)
            }
        }
    }

    type VerifyStreamStream = Pin<Box<dyn Stream<Item = Result<Verdict, Status>> + Send>>;

    async fn verify_stream(
        &self,
        request: Request<Streaming<VerifyRequest>>,
    ) -> Result<Response<Self::VerifyStreamStream>, Status> {
        let shared = self.0.clone();
        let limits = shared.engine.limits();
        let call = OpenCall::open(&shared, &request)?;
        let actor = access::actor(&request, "");
        let window = limits.stream_window.max(1);
        let idle = Duration::from_secs(limits.stream_idle_timeout);
        let mut inbound = InboundSlot::take(&request)?;
        let (graded_tx, mut graded_rx) = mpsc::channel::<Graded>(window);
        let (committing_tx, mut committing_rx) = mpsc::channel::<Committing>(window);
        let (answers_tx, answers_rx) = mpsc::channel::<Result<Verdict, Status>>(window);

        // Stage 1: read frames and hand them to the grading pool, until the client is done,
        // a message is refused or the server shuts down; then say which.
        let reader = shared.clone();
        let (ended_tx, ended) = oneshot::channel::<Option<Status>>();
        tokio::spawn(async move {
            let ending = loop {
                let next = tokio::select! {
                    biased;
                    _ = reader.shutdown.cancelled() => break Some(shutting_down()),
                    next = inbound.next(idle) => next,
                };
                let (request, inflight) = match next {
                    Next::Message(request, share) => (request, share),
                    Next::End => break None,
                    Next::Refused(status) => break Some(refused(&status)),
                    Next::Idle => break Some(idle_too_long(idle)),
                };
                let ids = FrameIds::of(&request, reader.engine.limits().max_id_bytes);
                if graded_tx
                    .send((ids, reader.grade(request, actor.clone()), inflight))
                    .await
                    .is_err()
                {
                    break None;
                }
            };
            let _ = ended_tx.send(ending);
        });

        // Stage 2: in frame order, pass each graded frame to the store (which keeps that order).
        let committer = shared.clone();
        tokio::spawn(async move {
            while let Some((ids, graded, inflight)) = graded_rx.recv().await {
                let submitted = match graded.await {
                    Ok(Ok(pending)) => committer.store.submit(pending).await,
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(Error::Internal("grading was abandoned".into())),
                };
                let committing = match submitted {
                    Ok(receiver) => receiver,
                    Err(e) => {
                        let (tx, rx) = oneshot::channel();
                        let _ = tx.send(Err(e));
                        rx
                    }
                };
                if committing_tx
                    .send((ids, committing, inflight))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });

        // Stage 3: answer each frame once its verdict is committed, then end the stream as
        // stage 1 says, or UNAVAILABLE when a shutdown's deadline came first.
        let shutdown = shared.shutdown.clone();
        let meter = shared.metrics.clone();
        tokio::spawn(async move {
            let _call = call;
            let deadline = async {
                shutdown.cancelled().await;
                tokio::time::sleep(SHUTDOWN_DRAIN).await;
            };
            tokio::pin!(deadline);
            let answered_all = loop {
                let next = tokio::select! {
                    next = committing_rx.recv() => next,
                    _ = &mut deadline => break false,
                };
                let Some((ids, committing, inflight)) = next else {
                    break true;
                };
                let committed = tokio::select! {
                    committed = committing => committed,
                    _ = &mut deadline => break false,
                };
                let (line_id, received) = (ids.line_id.clone(), ids.received);
                let verdict = match committed {
                    Ok(Ok(stored)) => Verdict::clone(&stored),
                    Ok(Err(e)) => ids.error_verdict(&e),
                    Err(_) => ids.error_verdict(&Error::Store("the store is closed".into())),
                };
                drop(inflight);
                meter.answered(&line_id, metrics::result(&verdict), received);
                if answers_tx.send(Ok(verdict)).await.is_err() {
                    return;
                }
            };
            let ending = if answered_all {
                ended.await.ok().flatten()
            } else {
                Some(shutting_down())
            };
            if let Some(status) = ending {
                let _ = answers_tx.send(Err(status)).await;
            }
        });

        Ok(Response::new(Box::pin(ReceiverStream::new(answers_rx))))
    }
}
