//! The HTTP side of `serve` (`--http-listen`, default 127.0.0.1:8080): the dashboard at `/`
//! ([`super::dashboard`]) and Prometheus metrics at `/metrics`. Held to the gRPC side's rules:
//! HTTPS with its certificate (and its client CA) when it has one; once tokens exist a scrape
//! needs `authorization: Bearer TOKEN` of a role that may read (Prometheus' `authorization`
//! setting), and refusals are in the audit trail.

use super::metrics::Metrics;
use super::tls::HANDSHAKE_TIMEOUT;
use super::{Shared, access, dashboard};
use crate::access::Permission;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// The content type of Prometheus' text format as prometheus-client writes it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves on `listener` until `shutdown` is cancelled; over TLS with `tls`.
pub(super) fn start(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let metrics = Router::new()
        .route("/metrics", get(scrape))
        .with_state(shared.metrics.clone());
    // On loopback only pages asked for by a loopback name are answered: a page elsewhere whose
    // name was pointed at 127.0.0.1 (DNS rebinding) reads and acknowledges nothing.
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let app = dashboard::routes(shared)
        .merge(metrics)
        .layer(axum::middleware::from_fn_with_state(
            loopback,
            loopback_host,
        ));
    tokio::spawn(async move {
        let served = match tls {
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
            Some(tls) => {
                let listener = TlsListener::start(listener, tls, shutdown.clone());
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
        };
        if let Err(e) = served {
            eprintln!("verigrade: HTTP server stopped: {e}");
        }
    });
}

/// Connections that have completed their TLS handshake. Each handshake runs in a task of its
/// own, within [`HANDSHAKE_TIMEOUT`], so a client that connects and says nothing holds up no
/// one else; a failed handshake is the client's problem and is dropped.
struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn start(
        tcp: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) -> TlsListener {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, handshaken) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(tls);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    accepted = tcp.accept() => accepted,
                };
                let Ok((stream, peer)) = accepted else {
                    // Out of file descriptors, most likely: wait for some to be closed.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        let _ = tx.send((stream, peer)).await;
                    }
                });
            }
        });
        TlsListener { handshaken, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The acceptor stopped: shutting down, nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Refuses a request to a loopback listener that names another host.
async fn loopback_host(
    State(loopback): State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match host {
        Some(host) if loopback && !names_loopback(host) => (
            StatusCode::MISDIRECTED_REQUEST,
            format!("this server answers on loopback names only, not {host:?}"),
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Whether a `Host` header names this machine: `localhost` or a loopback address, any port.
fn names_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::names_loopback;

    #[test]
    fn only_loopback_names_are_this_machine() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
        ] {
            assert!(names_loopback(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]",
            "",
        ] {
            assert!(!names_loopback(host), "{host}");
        }
    }
}
