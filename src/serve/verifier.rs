//! `Verifier`: frames in, verdicts out. A stream answers in frame order through three bounded
//! stages — read and submit for grading, submit to the store in order, await the commit — so
//! at most `stream_window` frames of a stream are held at each stage.

use super::{Shared, status};
use crate::error::{Error, Result};
use crate::proto::verifier_server::Verifier;
use crate::proto::{FrameError, Verdict, VerifyRequest};
use crate::store::Pending;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

pub struct VerifierService(pub(super) Arc<Shared>);

/// The ids a frame's answer carries even when the frame could not be graded.
#[derive(Clone)]
struct FrameIds {
    line_id: String,
    camera_id: String,
    frame_id: String,
}

impl FrameIds {
    fn of(request: &VerifyRequest) -> FrameIds {
        FrameIds {
            line_id: request.line_id.clone(),
            camera_id: request.camera_id.clone(),
            frame_id: request.frame_id.clone(),
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

type Graded = (FrameIds, oneshot::Receiver<Result<Pending>>);
type Committing = (FrameIds, oneshot::Receiver<Result<Arc<Verdict>>>);

#[tonic::async_trait]
impl Verifier for VerifierService {
    async fn verify(&self, request: Request<VerifyRequest>) -> Result<Response<Verdict>, Status> {
        let shared = &self.0;
        let pending = shared
            .grade(request.into_inner())
            .await
            .map_err(|_| Status::unavailable("the server is shutting down"))?
            .map_err(|e| status(&e))?;
        let stored = shared.store.commit(pending).await.map_err(|e| status(&e))?;
        Ok(Response::new(Verdict::clone(&stored)))
    }

    type VerifyStreamStream = Pin<Box<dyn Stream<Item = Result<Verdict, Status>> + Send>>;

    async fn verify_stream(
        &self,
        request: Request<Streaming<VerifyRequest>>,
    ) -> Result<Response<Self::VerifyStreamStream>, Status> {
        let shared = self.0.clone();
        let permit = shared.streams.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "too many open streams (limit {})",
                shared.engine.limits().max_concurrent_streams
            ))
        })?;
        let window = shared.engine.limits().stream_window.max(1);
        let mut inbound = request.into_inner();
        let (graded_tx, mut graded_rx) = mpsc::channel::<Graded>(window);
        let (committing_tx, mut committing_rx) = mpsc::channel::<Committing>(window);
        let (answers_tx, answers_rx) = mpsc::channel::<Result<Verdict, Status>>(window);

        // Stage 1: read frames and hand them to the grading pool, until the client is done or
        // the server shuts down.
        let reader = shared.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    _ = reader.shutdown.cancelled() => break,
                    next = inbound.message() => next,
                };
                let (ids, graded) = match next {
                    Ok(Some(request)) => (FrameIds::of(&request), reader.grade(request)),
                    Ok(None) => break,
                    // The transport refused a message (too large, malformed): say so, then end.
                    Err(refused) => {
                        let (tx, rx) = oneshot::channel();
                        let _ = tx.send(Err(Error::Refused(refused.message().to_string())));
                        let ids = FrameIds {
                            line_id: String::new(),
                            camera_id: String::new(),
                            frame_id: String::new(),
                        };
                        let _ = graded_tx.send((ids, rx)).await;
                        break;
                    }
                };
                if graded_tx.send((ids, graded)).await.is_err() {
                    break;
                }
            }
        });

        // Stage 2: in frame order, pass each graded frame to the store (which keeps that order).
        let committer = shared.clone();
        tokio::spawn(async move {
            while let Some((ids, graded)) = graded_rx.recv().await {
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
                if committing_tx.send((ids, committing)).await.is_err() {
                    break;
                }
            }
        });

        // Stage 3: answer each frame once its verdict is committed.
        tokio::spawn(async move {
            let _permit = permit;
            while let Some((ids, committing)) = committing_rx.recv().await {
                let verdict = match committing.await {
                    Ok(Ok(stored)) => Verdict::clone(&stored),
                    Ok(Err(e)) => ids.error_verdict(&e),
                    Err(_) => ids.error_verdict(&Error::Store("the store is closed".into())),
                };
                if answers_tx.send(Ok(verdict)).await.is_err() {
                    break;
                }
            }
        });

        Ok(Response::new(Box::pin(ReceiverStream::new(answers_rx))))
    }
}
