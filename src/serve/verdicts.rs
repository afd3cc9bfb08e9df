//! `Verdicts`: what line controllers ask of the store — one verdict, pages of them, a live
//! feed, and counts. Store reads run on blocking threads, never on the runtime's.

use super::{Shared, status};
use crate::error::{Error, Result};
use crate::proto::verdicts_server::Verdicts;
use crate::proto::{
    EvidenceFrame, GetLineStatsRequest, GetVerdictRequest, GradeCount, LineStats,
    ListVerdictsRequest, ListVerdictsResponse, Verdict, WatchVerdictsRequest,
};
use crate::store::{Query, Store};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub struct VerdictsService(pub(super) Arc<Shared>);

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// A page request: how many items (100 when 0, at most 1000) and the item its token says to
/// continue before (0: from the newest). The token is the last item's sequence or id.
pub(super) fn page(page_size: u32, page_token: &str) -> Result<(usize, u64), Status> {
    let limit = match page_size as usize {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let before = match page_token {
        "" => 0,
        token => token
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "page_token {token:?} is not one this server gave"
                ))
            })?,
    };
    Ok((limit, before))
}

/// Runs a store read on a blocking thread.
pub(super) async fn read<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T, Status> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| status(&e))
}

#[tonic::async_trait]
impl Verdicts for VerdictsService {
    async fn get_verdict(
        &self,
        request: Request<GetVerdictRequest>,
    ) -> Result<Response<Verdict>, Status> {
        let GetVerdictRequest { line_id, frame_id } = request.into_inner();
        if line_id.is_empty() || frame_id.is_empty() {
            return Err(status(&Error::MissingField("line_id and frame_id")));
        }
        let (line, frame) = (line_id.clone(), frame_id.clone());
        read(&self.0.store, move |s| s.get(&line, &frame))
            .await?
            .map(Response::new)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no verdict for line {line_id:?} frame {frame_id:?}"
                ))
            })
    }

    async fn list_verdicts(
        &self,
        request: Request<ListVerdictsRequest>,
    ) -> Result<Response<ListVerdictsResponse>, Status> {
        let request = request.into_inner();
        let (limit, before_sequence) = page(request.page_size, &request.page_token)?;
        let query = Query {
            line_id: request.line_id,
            only_failed: request.only_failed,
            before_sequence,
            after_sequence: 0,
            limit: limit + 1,
        };
        let mut verdicts = read(&self.0.store, move |s| s.list(&query)).await?;
        let next_page_token = if verdicts.len() > limit {
            verdicts.truncate(limit);
            verdicts
                .last()
                .map_or(String::new(), |v| v.sequence.to_string())
        } else {
            String::new()
        };
        Ok(Response::new(ListVerdictsResponse {
            verdicts,
            next_page_token,
        }))
    }

    type WatchVerdictsStream = Pin<Box<dyn Stream<Item = Result<Verdict, Status>> + Send>>;

    async fn watch_verdicts(
        &self,
        request: Request<WatchVerdictsRequest>,
    ) -> Result<Response<Self::WatchVerdictsStream>, Status> {
        let request = request.into_inner();
        let shared = self.0.clone();
        // Subscribe before reading the newest sequence, so nothing falls between the two.
        let mut live = shared.store.subscribe();
        let newest = read(&shared.store, |s| s.counts("").map(|c| c.last_sequence)).await?;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut watch = Watch {
                store: shared.store.clone(),
                line_id: request.line_id,
                only_failed: request.only_failed,
                last: if request.after_sequence > 0 {
                    request.after_sequence.min(newest)
                } else {
                    newest
                },
                tx,
            };
            if request.after_sequence > 0 && watch.catch_up().await.is_err() {
                return;
            }
            loop {
                let next = tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    // The subscriber has gone, though no verdict for it came to find out.
                    _ = watch.tx.closed() => break,
                    next = live.recv() => next,
                };
                let delivered = match next {
                    Ok(verdict) => watch.deliver(&verdict).await,
                    // Fell behind the live feed: read what was missed from the store.
                    Err(broadcast::error::RecvError::Lagged(_)) => watch.catch_up().await,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if delivered.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_line_stats(
        &self,
        request: Request<GetLineStatsRequest>,
    ) -> Result<Response<LineStats>, Status> {
        let line_id = request.into_inner().line_id;
        let line = line_id.clone();
        let counts = read(&self.0.store, move |s| s.counts(&line)).await?;
        Ok(Response::new(LineStats {
            line_id,
            total: counts.total,
            passed: counts.passed,
            failed: counts.failed,
            no_read: counts.no_read,
            duplicates: counts.duplicates,
            grade_distribution: ["A", "B", "C", "D", "F"]
                .iter()
                .zip(counts.grades)
                .map(|(letter, count)| GradeCount {
                    letter: letter.to_string(),
                    count,
                })
                .collect(),
            mean_grade: counts.mean_grade,
            last_sequence: counts.last_sequence,
            dropped_at_gateway: counts.dropped_at_gateway,
        }))
    }

    async fn get_evidence(
        &self,
        request: Request<GetVerdictRequest>,
    ) -> Result<Response<EvidenceFrame>, Status> {
        let GetVerdictRequest { line_id, frame_id } = request.into_inner();
        if line_id.is_empty() || frame_id.is_empty() {
            return Err(status(&Error::MissingField("line_id and frame_id")));
        }
        let (line, frame) = (line_id.clone(), frame_id.clone());
        let Some((file_name, image)) =
            read(&self.0.store, move |s| s.evidence(&line, &frame)).await?
        else {
            return Err(Status::not_found(format!(
                "no evidence frame for line {line_id:?} frame {frame_id:?}: the verdict kept \
                 none (it passed, or was not stored), or the evidence budget released it"
            )));
        };
        let media_type = image::guess_format(&image)
            .map_or("application/octet-stream", |f| f.to_mime_type())
            .to_string();
        Ok(Response::new(EvidenceFrame {
            line_id,
            frame_id,
            file_name,
            image: image.into(),
            media_type,
        }))
    }
}

/// One subscriber's place in the feed.
struct Watch {
    store: Arc<Store>,
    line_id: String,
    only_failed: bool,
    /// Newest sequence seen (delivered or filtered out).
    last: u64,
    tx: mpsc::Sender<Result<Verdict, Status>>,
}

/// The subscriber has gone.
struct Gone;

impl Watch {
    fn wants(&self, verdict: &Verdict) -> bool {
        (self.line_id.is_empty() || verdict.line_id == self.line_id)
            && (!self.only_failed || !verdict.pass)
    }

    async fn deliver(&mut self, verdict: &Verdict) -> Result<(), Gone> {
        if verdict.sequence <= self.last {
            return Ok(());
        }
        self.last = verdict.sequence;
        if self.wants(verdict) {
            self.tx.send(Ok(verdict.clone())).await.map_err(|_| Gone)?;
        }
        Ok(())
    }

    /// Sends every stored verdict after `last`, in order, from the store.
    async fn catch_up(&mut self) -> Result<(), Gone> {
        loop {
            let query = Query {
                line_id: self.line_id.clone(),
                only_failed: self.only_failed,
                before_sequence: 0,
                after_sequence: self.last,
                limit: 500,
            };
            let page = match read(&self.store, move |s| s.list(&query)).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = self.tx.send(Err(e)).await;
                    return Err(Gone);
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            for verdict in &page {
                self.deliver(verdict).await?;
            }
        }
    }
}
