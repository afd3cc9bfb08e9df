//! `Audit`: the audit trail for qa and admin, oldest entry first.

use super::Shared;
use super::verdicts::{page, read};
use crate::proto::audit_server::Audit;
use crate::proto::{ListAuditRequest, ListAuditResponse};
use crate::store::trail::{Action, AuditQuery};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AuditService(pub(super) Arc<Shared>);

#[tonic::async_trait]
impl Audit for AuditService {
    async fn list_audit(
        &self,
        request: Request<ListAuditRequest>,
    ) -> Result<Response<ListAuditResponse>, Status> {
        let request = request.into_inner();
        if !request.action.is_empty() && Action::named(&request.action).is_none() {
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
            return Err(Status::invalid_argument(format!(
                "action {:?} is not one the trail records ({})",
                request.action,
                known.join(", ")
            )));
        }
        // The token is the last entry's sequence: the next page continues after it.
        let (limit, after) = page(request.page_size, &request.page_token)?;
        let query = AuditQuery {
            since_ms: request.since_unix_ms,
            user: request.user,
            action: request.action,
            after_seq: i64::try_from(after).unwrap_or(i64::MAX),
            limit,
        };
        let entries = read(&self.0.store, move |s| s.audit_entries(&query)).await?;
        let next_page_token = if entries.len() == limit {
            entries
                .last()
                .map_or(String::new(), |e| e.sequence.to_string())
        } else {
            String::new()
        };
        Ok(Response::new(ListAuditResponse {
            entries,
            next_page_token,
        }))
    }
}
