//! `Serials`: commissioning (the serials a line may print, per batch) and reconciliation
//! (counts per line and batch that must add up).

use super::config::Config;
use super::verdicts::read;
use super::{Shared, status};
use crate::error::{Error, Result};
use crate::gs1;
use crate::proto::serials_server::Serials;
use crate::proto::{
    BatchReconciliation, CommissionRequest, CommissionResponse, ReconcileRequest, ReconcileResponse,
};
use crate::store::Commission;
use crate::verdict::Expected;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

pub struct SerialsService(pub(super) Arc<Shared>);

/// Checks one chunk: every field present, the line a valid id, the GTIN and each serial valid
/// GS1 data.
fn commission_of(request: CommissionRequest, config: &Config) -> Result<Commission> {
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
        let mut chunks = request.into_inner();
        let mut total = CommissionResponse::default();
        while let Some(chunk) = chunks.message().await? {
            let commission =
                commission_of(chunk, self.0.engine.config()).map_err(|e| status(&e))?;
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
        let batches = rows
            .into_iter()
            .map(|r| BatchReconciliation {
                outstanding: r.outstanding(),
                failed: r.failed(),
                rejected: r.rejected(),
                line_id: r.line_id,
                batch: r.batch,
                commissioned: r.commissioned,
                verified: r.verified,
                frames: r.frames,
                passed: r.passed,
                no_read: r.no_read,
                duplicate: r.duplicate,
                not_commissioned: r.not_commissioned,
            })
            .collect();
        Ok(Response::new(ReconcileResponse { batches }))
    }
}
