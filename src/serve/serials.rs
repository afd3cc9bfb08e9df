//! `Serials`: commissioning (the serials a line may print, per batch) and reconciliation
//! (counts per line and batch that must add up).

use super::access;
use super::config::Config;
use super::verdicts::read;
use super::{Shared, status};
use crate::access::Actor;
use crate::error::{Error, Result};
use crate::gs1;
use crate::proto::serials_server::Serials;
use crate::proto::{
    BatchClosure, BatchReconciliation, CloseBatchRequest, CommissionRequest, CommissionResponse,
    ReconcileRequest, ReconcileResponse, ReopenBatchRequest,
};
use crate::store::{BatchChange, BatchSignature, Commission, Meaning, Reconciliation};
use crate::verdict::Expected;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

pub struct SerialsService(pub(super) Arc<Shared>);

/// Checks one chunk: every field present, the line a valid id, the GTIN and each serial valid
/// GS1 data.
fn commission_of(request: CommissionRequest, config: &Config, actor: &Actor) -> Result<Commission> {
    for (name, value) in [
        ("line_id", &request.line_id),
        ("batch", &request.batch),
        ("gtin", &request.gtin),
    ] {
        if value.is_empty() {
            return Err(Error::MissingField(name));
        }
    }
    config.check_id("line_id", &request.line_id)?;
    let expected = Expected::new(&request.gtin, &request.batch, "")?;
    for serial in &request.serials {
        if let Some(problem) = gs1::check_ai_value("21", serial).first() {
            return Err(Error::InvalidExpected {
                field: "serial",
                reason: format!("{serial:?}: {problem}"),
            });
        }
    }
    Ok(Commission {
        actor: actor.clone(),
        line_id: request.line_id,
        batch: request.batch,
        gtin: expected.gtin.unwrap_or_default(),
        serials: request.serials,
    })
}

#[tonic::async_trait]
impl Serials for SerialsService {
    async fn commission(
        &self,
        request: Request<Streaming<CommissionRequest>>,
    ) -> Result<Response<CommissionResponse>, Status> {
        let actor = access::actor(&request, "");
        let mut chunks = request.into_inner();
        let mut total = CommissionResponse::default();
        while let Some(chunk) = chunks.message().await? {
            let commission =
                commission_of(chunk, self.0.engine.config(), &actor).map_err(|e| status(&e))?;
            let outcome = self
                .0
                .store
                .commission(commission)
                .await
                .map_err(|e| status(&e))?;
            total.added += outcome.added;
            total.already += outcome.already;
            total.conflicts += outcome.conflicts;
            let room = 10usize.saturating_sub(total.conflict_examples.len());
            total
                .conflict_examples
                .extend(outcome.conflict_examples.into_iter().take(room));
        }
        Ok(Response::new(total))
    }

    async fn reconcile(
        &self,
        request: Request<ReconcileRequest>,
    ) -> Result<Response<ReconcileResponse>, Status> {
        let ReconcileRequest { line_id, batch } = request.into_inner();
        let rows = read(&self.0.store, move |s| s.reconcile(&line_id, &batch)).await?;
        let batches = rows.into_iter().map(reconciliation_message).collect();
        Ok(Response::new(ReconcileResponse { batches }))
    }

    async fn close_batch(
        &self,
        request: Request<CloseBatchRequest>,
    ) -> Result<Response<BatchClosure>, Status> {
        let actor = access::actor(&request, "");
        let CloseBatchRequest {
            line_id,
            batch,
            meaning,
        } = request.into_inner();
        let meaning = Meaning::named(&meaning).ok_or_else(|| {
            Status::invalid_argument(format!(
                "meaning {meaning:?}: a signature means \"approved\" or \"reviewed\""
            ))
        })?;
        self.sign(actor, line_id, batch, BatchChange::Close(meaning))
            .await
    }

    async fn reopen_batch(
        &self,
        request: Request<ReopenBatchRequest>,
    ) -> Result<Response<BatchClosure>, Status> {
        let actor = access::actor(&request, "");
        let ReopenBatchRequest {
            line_id,
            batch,
            reason,
        } = request.into_inner();
        self.sign(actor, line_id, batch, BatchChange::Reopen(reason))
            .await
    }
}

impl SerialsService {
    /// Closes or reopens a batch: a known line id and a batch are required.
    async fn sign(
        &self,
        actor: Actor,
        line_id: String,
        batch: String,
        change: BatchChange,
    ) -> Result<Response<BatchClosure>, Status> {
        for (name, value) in [("line_id", &line_id), ("batch", &batch)] {
            if value.is_empty() {
                return Err(status(&Error::MissingField(name)));
            }
        }
        self.0
            .engine
            .config()
            .check_id("line_id", &line_id)
            .map_err(|e| status(&e))?;
        let closure = self
            .0
            .store
            .sign_batch(BatchSignature {
                actor,
                line_id,
                batch,
                change,
            })
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(BatchClosure {
            line_id: closure.line_id,
            batch: closure.batch,
            closed: closure.closed,
            meaning: closure.meaning,
            user: closure.user,
            unix_ms: closure.at_ms,
            records_sha256: closure.records_sha256,
            reconciliation: Some(reconciliation_message(closure.frozen)),
            audit_sequence: closure.audit_seq as u64,
            reason: closure.reason,
        }))
    }
}

/// A line's batch as `Reconcile` answers it.
fn reconciliation_message(r: Reconciliation) -> BatchReconciliation {
    let closure = r.closure.clone().unwrap_or_default();
    BatchReconciliation {
        outstanding: r.outstanding(),
        failed: r.failed(),
        rejected: r.rejected(),
        closed: r.closure.is_some(),
        closed_by: closure.user,
        closed_unix_ms: closure.at_ms,
        meaning: closure.meaning,
        after_close: closure.after_close,
        line_id: r.line_id,
        batch: r.batch,
        commissioned: r.commissioned,
        verified: r.verified,
        frames: r.frames,
        passed: r.passed,
        no_read: r.no_read,
        duplicate: r.duplicate,
        not_commissioned: r.not_commissioned,
        aggregated: r.aggregated,
        cases: r.cases,
        verified_not_aggregated: r.verified_not_aggregated,
    }
}
