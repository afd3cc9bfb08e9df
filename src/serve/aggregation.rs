//! `Aggregation`: the packs a case holds (or the cases on a pallet), read from one frame at the
//! aggregation station, checked, and recorded under the case's SSCC.

use super::access;
use super::{Shared, status};
use crate::aggregation::{Sscc, read_frame};
use crate::error::{Error, Result};
use crate::proto::aggregation_server::Aggregation;
use crate::proto::{
    AggregateRequest, AggregationResult, DisaggregateRequest, GetAggregationRequest,
};
use crate::store::{Packing, Unpacking, parse_children};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AggregationService(pub(super) Arc<Shared>);

/// An SSCC a request names, or INVALID_ARGUMENT saying what is wrong with it.
fn sscc(field: &'static str, text: &str) -> Result<Sscc> {
    if text.is_empty() {
        return Err(Error::MissingField(field));
    }
    Sscc::parse(text).map_err(|reason| Error::InvalidId {
        field,
        reason: reason.to_string(),
    })
}

#[tonic::async_trait]
impl Aggregation for AggregationService {
    async fn aggregate(
        &self,
        request: Request<AggregateRequest>,
    ) -> Result<Response<AggregationResult>, Status> {
        let actor = access::actor(&request, "");
        let request = Arc::new(request.into_inner());
        let requested = match request.parent.as_str() {
            "" => None,
            text => Some(sscc("parent", text).map_err(|e| status(&e))?),
        };
        // Reading a case of packs is the grading pool's work, not the runtime's.
        let (answer, receiver) = tokio::sync::oneshot::channel();
        let engine = self.0.engine.clone();
        let reading = request.clone();
        self.0.pool.spawn(move || {
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.read_aggregation(&reading)
            }))
            .unwrap_or_else(|_| Err(Error::Internal("reading failed unexpectedly".into())));
            let _ = answer.send(read);
        });
        let read = receiver
            .await
            .map_err(|_| Status::unavailable("the server is shutting down"))?;
        let (records, symbols) = read.map_err(|e| status(&e))?;
        let expected = (request.expected_count > 0).then_some(request.expected_count as usize);
        let reading = read_frame(&records, requested, expected, Some(&request.batch));
        let packing = Packing {
            actor,
            line_id: request.line_id.clone(),
            frame_id: request.frame_id.clone(),
            reading,
            symbols,
        };
        let packed = self
            .0
            .store
            .aggregate(packing)
            .await
            .map_err(|e| status(&e))?;
        if !packed.result.pass {
            // The refused frame is kept once the refusal is stored; a failure to keep it
            // leaves the refusal as it is.
            let engine = self.0.engine.clone();
            let kept =
                tokio::task::spawn_blocking(move || engine.keep_aggregation_evidence(&request))
                    .await
                    .ok()
                    .flatten();
            if let Some(evidence) = kept {
                let file = evidence.file_name.clone();
                if let Err(e) = self
                    .0
                    .store
                    .attach_aggregation_evidence(packed.event, evidence)
                    .await
                {
                    eprintln!(
                        "verigrade: evidence {file} of aggregation event {} is not kept: {e}",
                        packed.event
                    );
                }
            }
        }
        Ok(Response::new(packed.result))
    }

    async fn get_aggregation(
        &self,
        request: Request<GetAggregationRequest>,
    ) -> Result<Response<AggregationResult>, Status> {
        let parent = sscc("parent", &request.get_ref().parent).map_err(|e| status(&e))?;
        let store = self.0.store.clone();
        let lookup = parent.clone();
        let found = tokio::task::spawn_blocking(move || store.aggregation(&lookup))
            .await
            .map_err(|_| Status::internal("the lookup failed unexpectedly"))?
            .map_err(|e| status(&e))?;
        found
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("SSCC {parent} was never aggregated")))
    }

    async fn disaggregate(
        &self,
        request: Request<DisaggregateRequest>,
    ) -> Result<Response<AggregationResult>, Status> {
        let actor = access::actor(&request, "");
        let request = request.into_inner();
        let unpacking = (|| {
            let parent = sscc("parent", &request.parent)?;
            if request.reason.trim().is_empty() {
                return Err(Error::MissingField("reason"));
            }
            Ok(Unpacking {
                actor,
                parent,
                children: parse_children(&request.children)?,
                reason: request.reason.clone(),
            })
        })()
        .map_err(|e| status(&e))?;
        let left = self
            .0
            .store
            .disaggregate(unpacking)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(left))
    }
}
