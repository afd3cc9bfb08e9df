//! The gRPC service: `Verifier` for camera gateways, `Verdicts` and `Alarms` for line
//! controllers, `Serials` for commissioning and reconciliation, plus `grpc.health.v1` and
//! server reflection.
//!
//! A frame travels: async handler → grading pool (rayon, [`engine`]) → store writer thread
//! ([`crate::store`]) → answer. The async runtime only moves messages; every stage between
//! them is a bounded channel, so a client that stops reading its answers stops its own stream,
//! not the server.

pub mod access;
mod aggregation;
mod alarms;
mod audit;
pub mod config;
mod dashboard;
pub mod engine;
mod events;
mod http;
mod inflight;
mod metrics;
pub mod opcua;
mod serials;
pub mod tls;
mod verdicts;
mod verifier;

use crate::access::Actor;
use crate::control::Monitor;
use crate::error::{Error, Result};
use crate::proto::aggregation_server::AggregationServer;
use crate::proto::alarms_server::AlarmsServer;
use crate::proto::audit_server::AuditServer;
use crate::proto::events_server::EventsServer;
use crate::proto::serials_server::SerialsServer;
use crate::proto::verdicts_server::VerdictsServer;
use crate::proto::verifier_server::VerifierServer;
use crate::store::trail::{Action, Entry};
use crate::store::{Health, Pending, Store};
use access::Guarded;
use config::Config;
use engine::Engine;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// How long in-flight streams get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often a store that cannot write is tried again while no frame comes.
const STORE_PROBE_EVERY: Duration = Duration::from_secs(1);

/// What a run of the service stored, and what it answered without storing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stopped {
    /// Verdicts stored.
    pub stored: u64,
    /// Frames answered with a store error: not stored, their gateway told so.
    pub refused: u64,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} verdicts stored", self.stored)?;
        if self.refused > 0 {
            write!(
                f,
                "; {} frames were answered with a store error and not stored",
                self.refused
            )?;
        } else {
            write!(f, "; every verdict answered is stored")?;
        }
        Ok(())
    }
}

/// HTTP/2 receive window per stream, what an open call may hold outside the in-flight budget:
/// HTTP/2's default 64 KiB would take twenty round trips to receive one 1.3 MB frame; 1 MiB
/// carries 5-megapixel frames at 50 a second over a 1 ms round trip, as 4 MiB did.
const STREAM_WINDOW_BYTES: u32 = 1 << 20;

/// What every handler shares.
struct Shared {
    engine: Arc<Engine>,
    store: Arc<Store>,
    pool: rayon::ThreadPool,
    /// Open Verifier calls, streams and unary (see `max_concurrent_streams`).
    streams: Arc<Semaphore>,
    /// Open Verifier calls per client address.
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
    metrics: Arc<metrics::Metrics>,
    shutdown: CancellationToken,
}

impl Shared {
    /// Grades a request on the pool; the answer arrives on the returned receiver.
    /// `actor` sent it, for the audit trail.
    fn grade(
        &self,
        request: crate::proto::VerifyRequest,
        actor: Actor,
    ) -> oneshot::Receiver<Result<Pending>> {
        let received = Instant::now();
        let (answer, receiver) = oneshot::channel();
        let engine = self.engine.clone();
        self.pool.spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.verify(&request, received).map(|graded| Pending {
                    actor,
                    verdict: graded.verdict,
                    evidence: graded.evidence,
                })
            }))
            .unwrap_or_else(|_| Err(Error::Internal("grading failed unexpectedly".into())));
            let _ = answer.send(outcome);
        });
        receiver
    }
}

/// The gRPC status for a library error: bad input is INVALID_ARGUMENT; a store that cannot
/// write is UNAVAILABLE (RESOURCE_EXHAUSTED when its disk is full): try again later, nothing
/// was stored; the rest INTERNAL.
fn status(error: &Error) -> Status {
    match error {
        Error::StoreFull(_) => Status::resource_exhausted(error.to_string()),
        Error::Store(_) => Status::unavailable(error.to_string()),
        Error::Io { .. } | Error::Internal(_) => Status::internal(error.to_string()),
        Error::NotFound(_) => Status::not_found(error.to_string()),
        Error::Refused(_) => Status::failed_precondition(error.to_string()),
        Error::PermissionDenied(_) => Status::permission_denied(error.to_string()),
        _ => Status::invalid_argument(error.to_string()),
    }
}

/// Serves on `listener` until `shutdown` completes; then stops accepting, lets open streams
/// finish their in-flight frames, commits every queued verdict and closes the store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Stopped> {
    let server = tls::server_builder(&config)?;
    let http_tls = tls::http_config(&config)?;
    let data_dir = config.data_dir.clone();
    let (budget, cache) = (
        config.limits.evidence_budget_bytes,
        config.limits.store_cache_bytes,
    );
    let engine = Arc::new(Engine::new(config.clone(), data_dir.join("evidence"))?);
    let opcua_listener = bind_optional(&config.opcua_listen, "opcua_listen").await?;
    let http_listener = bind_optional(&config.http_listen, "http_listen").await?;
    let warnings = refuse_exposure(
        &config,
        &listener,
        opcua_listener.as_ref(),
        http_listener.as_ref(),
    )?;
    let monitor = Monitor::new(config.alarms.clone(), engine.min_grades()).map_err(|reason| {
        Error::InvalidConfig {
            origin: "[alarms]".into(),
            reason,
        }
    })?;
    let location = crate::store::Location::parse(&config.store)?;
    let store_location = location.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open_monitored(&store_location, &data_dir, budget, cache, monitor)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let store = Arc::new(store);
    store
        .record(
            Entry::new(Actor::system(), Action::ServerStarted, "")
                .after(engine.in_force())
                .reason(format!("verigrade {}", env!("CARGO_PKG_VERSION"))),
        )
        .await?;
    // Said only now that the store is open and the start is in the audit trail: whoever waits
    // for this line (an operator, a supervisor, a test) finds the server ready to answer.
    eprintln!(
        "verigrade: serving on {} (store {}, default profile {}); {}",
        address(&listener)?,
        match &location {
            crate::store::Location::Embedded => config.data_dir.display().to_string(),
            postgres => postgres.redacted(),
        },
        config.default_profile,
        tls::describe(&config)
    );
    if let Some(opcua) = &opcua_listener {
        eprintln!(
            "verigrade: OPC UA on opc.tcp://{}/ (namespace {})",
            address(opcua)?,
            opcua::NAMESPACE
        );
    }
    if let Some(http) = &http_listener {
        eprintln!(
            "verigrade: HTTP on {}://{}/ (the dashboard; Prometheus metrics at /metrics)",
            if http_tls.is_some() { "https" } else { "http" },
            address(http)?
        );
    }
    for warning in warnings {
        eprintln!("verigrade: warning: {warning} (--insecure is given)");
    }
    let workers = match config.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("verigrade-grade-{i}"))
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let max_message = config.limits.max_frame_bytes.saturating_mul(2) + (1 << 20);
    let streams = Arc::new(Semaphore::new(config.limits.max_concurrent_streams.max(1)));
    let inflight_budget = usize::try_from(config.limits.max_inflight_bytes)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    // Bytes of frames received and not yet answered may take: each message takes its share
    // as it arrives ([`inflight`]).
    let budget = inflight::Budget {
        semaphore: Arc::new(Semaphore::new(inflight_budget)),
        whole: u32::try_from(inflight_budget).unwrap_or(u32::MAX),
        max_message,
    };
    let cancel = CancellationToken::new();
    let metrics = Arc::new(metrics::Metrics::new(
        store.clone(),
        (budget.semaphore.clone(), inflight_budget),
        (streams.clone(), config.limits.max_concurrent_streams.max(1)),
    ));
    let shared = Arc::new(Shared {
        engine,
        store: store.clone(),
        pool,
        streams,
        clients: Arc::default(),
        metrics: metrics.clone(),
        shutdown: cancel.clone(),
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<VerifierServer<verifier::VerifierService>>()
        .await;
    health
        .set_serving::<VerdictsServer<verdicts::VerdictsService>>()
        .await;
    health
        .set_serving::<SerialsServer<serials::SerialsService>>()
        .await;
    health
        .set_serving::<AlarmsServer<alarms::AlarmsService>>()
        .await;
    if let Some(listener) = opcua_listener {
        opcua::start(
            listener,
            store.clone(),
            shared.engine.clone(),
            cancel.clone(),
        )
        .await?;
    }
    if let Some(listener) = http_listener {
        http::start(listener, http_tls, shared.clone(), cancel.clone());
    }
    tokio::spawn(watch_store(store.clone(), health.clone(), cancel.clone()));
    tokio::spawn(tick(store.clone(), cancel.clone()));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Internal(e.to_string()))?;

    let signal = {
        let cancel = cancel.clone();
        let health = health.clone();
        async move {
            shutdown.await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            cancel.cancel();
        }
    };
    let server = server
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(4 * STREAM_WINDOW_BYTES)
        .add_service(health_service)
        .add_service(Guarded {
            inner: reflection,
            store: store.clone(),
        })
        .add_service(Guarded {
            inner: inflight::Budgeted {
                inner: VerifierServer::new(verifier::VerifierService(shared.clone())),
                budget,
            },
            store: store.clone(),
        })
        .add_service(Guarded {
            inner: VerdictsServer::new(verdicts::VerdictsService(shared.clone())),
            store: store.clone(),
        })
        .add_service(Guarded {
            inner: SerialsServer::new(serials::SerialsService(shared.clone())),
            store: store.clone(),
        })
        .add_service(Guarded {
            inner: AlarmsServer::new(alarms::AlarmsService(shared.clone())),
            store: store.clone(),
        })
        .add_service(Guarded {
            inner: AuditServer::new(audit::AuditService(shared.clone())),
            store: store.clone(),
        })
        .add_service(Guarded {
            // A station's frame is one message, as large as a frame (with its fields) may be.
            inner: AggregationServer::new(aggregation::AggregationService(shared.clone()))
                .max_decoding_message_size(max_message),
            store: store.clone(),
        })
        .add_service(Guarded {
            inner: EventsServer::new(events::EventsService(shared.clone())),
            store: store.clone(),
        })
        .serve_with_incoming_shutdown(
            // Verdicts are small writes: without TCP_NODELAY, Nagle's algorithm holds each one
            // back until the client's delayed ACK, tens of milliseconds on a line.
            tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |accepted| accepted.and_then(|stream| stream.set_nodelay(true).map(|()| stream)),
            ),
            signal,
        );
    let served = tokio::select! {
        served = server => served.map_err(|e| Error::Internal(e.to_string())),
        _ = async { cancel.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => Ok(()),
    };
    drop(shared);
    let stopped = Entry::new(Actor::system(), Action::ServerStopped, "");
    if let Err(e) = store.record(stopped).await {
        eprintln!("verigrade: the stop is not in the audit trail: {e}");
    }
    let tally = tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    served.map(|()| Stopped {
        stored: tally.stored,
        refused: tally.refused,
    })
}

/// A listener on `address` (the setting `origin`), or none for an empty address or `off`.
async fn bind_optional(address: &str, origin: &str) -> Result<Option<TcpListener>> {
    match address.trim() {
        "" | "off" => Ok(None),
        address => TcpListener::bind(address)
            .await
            .map(Some)
            .map_err(|e| Error::InvalidConfig {
                origin: origin.into(),
                reason: format!("cannot listen on {address}: {e}"),
            }),
    }
}

/// The address a listener is bound to.
fn address(listener: &TcpListener) -> Result<std::net::SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Refuses to serve where other machines reach the service unprotected (see
/// [`access::exposure`]) unless the configuration says `insecure`; then what to warn of.
fn refuse_exposure(
    config: &Config,
    listener: &TcpListener,
    opcua: Option<&TcpListener>,
    http: Option<&TcpListener>,
) -> Result<Vec<String>> {
    let (tls, tokens) = (
        config.tls_cert.is_some(),
        crate::store::tokens_exist_at(
            &crate::store::Location::parse(&config.store)?,
            &config.data_dir,
        )?,
    );
    let mut exposed = Vec::new();
    if let Some(why) = access::exposure(address(listener)?, tls, tokens) {
        exposed.push(("listen", why));
    }
    // OPC UA follows the same rule: with TLS it offers encrypted endpoints only.
    if let Some(opcua) = opcua
        && let Some(why) = access::exposure(address(opcua)?, tls, tokens)
    {
        exposed.push(("opcua_listen", format!("OPC UA: {why}")));
    }
    // HTTP too: with TLS it is HTTPS, with the same certificate.
    if let Some(http) = http
        && let Some(why) = access::exposure(address(http)?, tls, tokens)
    {
        exposed.push(("http_listen", format!("HTTP: {why}")));
    }
    if let Some((origin, why)) = exposed.first()
        && !config.insecure
    {
        return Err(Error::InvalidConfig {
            origin: (*origin).into(),
            reason: why.clone(),
        });
    }
    Ok(exposed.into_iter().map(|(_, why)| why).collect())
}

/// How often the line monitor is told the time, for cameras that fall silent.
const TICK_EVERY: Duration = Duration::from_secs(1);

async fn tick(store: Arc<Store>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(TICK_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => store.tick(),
        }
    }
}

/// Keeps the Verifier's health in step with the store: NOT_SERVING while it cannot write
/// (logged once, with the cause), SERVING again once it can (logged too). While it cannot,
/// a probe tries it every second, so it recovers without waiting for a frame.
async fn watch_store(
    store: Arc<Store>,
    health: tonic_health::server::HealthReporter,
    shutdown: CancellationToken,
) {
    let mut state = store.health();
    let mut failing = false;
    loop {
        let cause = match &*state.borrow_and_update() {
            Health::Writing => None,
            Health::Failing(cause) => Some(cause.clone()),
        };
        match (&cause, failing) {
            (Some(cause), false) => {
                eprintln!(
                    "verigrade: the store cannot write ({cause}); Verifier is NOT_SERVING until it can"
                );
                health
                    .set_not_serving::<VerifierServer<verifier::VerifierService>>()
                    .await;
            }
            (None, true) => {
                eprintln!("verigrade: the store writes again; Verifier is SERVING");
                health
                    .set_serving::<VerifierServer<verifier::VerifierService>>()
                    .await;
            }
            _ => {}
        }
        failing = cause.is_some();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = state.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(STORE_PROBE_EVERY), if failing => {
                let _ = store.probe().await;
            }
        }
    }
}
