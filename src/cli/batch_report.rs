//! `verigrade batch report`: the batch report ([`verigrade::report::batch`]) from a running
//! service, over the same calls a line controller makes.

use super::connection::{Authorized, Connection};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use tonic::Status;
use verigrade::proto::alarms_client::AlarmsClient;
use verigrade::proto::serials_client::SerialsClient;
use verigrade::proto::verdicts_client::VerdictsClient;
use verigrade::proto::{
    Alarm, BatchReconciliation, ControlChart, EvidenceFrame, GetControlChartRequest,
    GetVerdictRequest, ListAlarmsRequest, ListVerdictsRequest, ReconcileRequest, Verdict,
};
use verigrade::report::batch::{self, Services};

/// The service's clients, as the report gatherer calls them.
struct Clients {
    verdicts: VerdictsClient<Authorized>,
    alarms: AlarmsClient<Authorized>,
    serials: SerialsClient<Authorized>,
}

#[tonic::async_trait]
impl Services for Clients {
    async fn reconcile(
        &mut self,
        request: ReconcileRequest,
    ) -> Result<Vec<BatchReconciliation>, Status> {
        Ok(self.serials.reconcile(request).await?.into_inner().batches)
    }

    async fn list_verdicts(
        &mut self,
        request: ListVerdictsRequest,
    ) -> Result<(Vec<Verdict>, String), Status> {
        let page = self.verdicts.list_verdicts(request).await?.into_inner();
        Ok((page.verdicts, page.next_page_token))
    }

    async fn list_alarms(
        &mut self,
        request: ListAlarmsRequest,
    ) -> Result<(Vec<Alarm>, String), Status> {
        let page = self.alarms.list_alarms(request).await?.into_inner();
        Ok((page.alarms, page.next_page_token))
    }

    async fn control_chart(
        &mut self,
        request: GetControlChartRequest,
    ) -> Result<ControlChart, Status> {
        Ok(self.alarms.get_control_chart(request).await?.into_inner())
    }

    async fn evidence(&mut self, request: GetVerdictRequest) -> Result<EvidenceFrame, Status> {
        Ok(self.verdicts.get_evidence(request).await?.into_inner())
    }
}

/// Writes the report of `batch` on `line` to `out`, or to standard output.
pub async fn run(
    connection: &Connection,
    line: &str,
    batch: &str,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let channel = connection.connect().await?;
    let mut clients = Clients {
        verdicts: VerdictsClient::new(channel.clone()),
        alarms: AlarmsClient::new(channel.clone()),
        serials: SerialsClient::new(channel),
    };
    let record = batch::gather(&mut clients, line, batch).await?;
    // Thumbnails are decoded and shrunk off the runtime's threads.
    let html = tokio::task::spawn_blocking(move || batch::html(&record, false)).await?;
    match out {
        Some(path) => std::fs::write(path, html)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => print!("{html}"),
    }
    Ok(ExitCode::SUCCESS)
}
