//! The HTTP side of `serve` (`--http-listen`, default 127.0.0.1:8080): the dashboard at `/`
//! ([`super::dashboard`]) and Prometheus metrics at `/metrics`. Held to the gRPC side's access rules: once tokens exist a scrape needs
//! `authorization: Bearer TOKEN` of a role that may read (Prometheus' `authorization`
//! setting), and refusals are in the audit trail.

use super::metrics::Metrics;
use super::{Shared, access, dashboard};
use crate::access::Permission;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of Prometheus' text format as prometheus-client writes it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves on `listener` until `shutdown` is cancelled.
pub(super) fn start(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let metrics = Router::new()
        .route("/metrics", get(scrape))
        .with_state(shared.metrics.clone());
    let app = dashboard::routes(shared).merge(metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            eprintln!("verigrade: HTTP server stopped: {e}");
        }
    });
}

async fn scrape(State(metrics): State<Arc<Metrics>>, headers: HeaderMap) -> Response {
    if let Err((status, message)) =
        access::admit_http(metrics.store(), "/metrics", Permission::Read, &headers).await
    {
        return (status, message).into_response();
    }
    let rendered = tokio::task::spawn_blocking(move || metrics.render()).await;
    match rendered {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
