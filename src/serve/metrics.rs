//! Prometheus metrics, served at `/metrics` ([`super::http`]) for a plant's monitoring to
//! scrape. Verdicts and their latency are counted where frames are answered; the store's
//! commit times where it commits; what is open right now (alarms, bytes and calls in flight)
//! is read at each scrape, alarms through the same store query `ListAlarms` answers from.

use crate::error::Result;
use crate::proto::{Severity, Verdict};
use crate::store::AlarmQuery;
use crate::store::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Latency buckets, receipt to answer: 1 ms to about 4 s, doubling; a line's budget is tens
/// of milliseconds, so most of the resolution is there.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
];

/// Open alarms at most counted per scrape; more is a line in deep trouble, and the count says
/// so already.
const MAX_OPEN_ALARMS: usize = 10_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    line: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LineLabels {
    line: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlarmLabels {
    line: String,
    severity: String,
    state: String,
}

type LatencyFamily = Family<LineLabels, Histogram, fn() -> Histogram>;

/// The service's metrics and what the scrape-time ones are read from.
pub struct Metrics {
    registry: Registry,
    verdicts: Family<VerdictLabels, Counter>,
    latency: LatencyFamily,
    alarms_open: Family<AlarmLabels, Gauge>,
    inflight_bytes: Gauge,
    open_calls: Gauge,
    store: Arc<Store>,
    /// The in-flight budget, and how many bytes it holds when nothing is in flight.
    inflight: (Arc<Semaphore>, usize),
    /// The open-call slots, and how many there are.
    calls: (Arc<Semaphore>, usize),
}

/// What a verdict counts as in `verigrade_verdicts_total`: one result per verdict, the first
/// that applies, as the line's counts have them.
pub fn result(verdict: &Verdict) -> &'static str {
    if verdict.error.is_some() {
        "refused"
    } else if verdict.pass {
        "pass"
    } else if !verdict.decoded {
        "no_read"
    } else if verdict.duplicate {
        "duplicate"
    } else if verdict.not_commissioned {
        "not_commissioned"
    } else {
        "fail"
    }
}

impl Metrics {
    pub fn new(
        store: Arc<Store>,
        inflight: (Arc<Semaphore>, usize),
        calls: (Arc<Semaphore>, usize),
    ) -> Metrics {
        let mut registry = Registry::default();
        let verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "verigrade_verdicts",
            "Verdicts answered, by line and result (pass, fail, no_read, duplicate, \
             not_commissioned, refused)",
            verdicts.clone(),
        );
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "verigrade_verdict_duration_seconds",
            "Time from a frame's receipt to its answer (graded and stored), by line",
            latency.clone(),
        );
        registry.register(
            "verigrade_store_commit_duration_seconds",
            "Time of each store transaction (a batch of verdicts and changes)",
            store.commit_seconds(),
        );
        let alarms_open = Family::<AlarmLabels, Gauge>::default();
        registry.register(
            "verigrade_alarms_open",
            "Alarms not yet cleared, by line, severity and state (active, acknowledged)",
            alarms_open.clone(),
        );
        let inflight_bytes = Gauge::default();
        registry.register(
            "verigrade_inflight_bytes",
            "Bytes of frames received and not yet answered (the queue, against max_inflight_bytes)",
            inflight_bytes.clone(),
        );
        let open_calls = Gauge::default();
        registry.register(
            "verigrade_open_calls",
            "Verify calls and VerifyStream streams open (against max_concurrent_streams)",
            open_calls.clone(),
        );
        Metrics {
            registry,
            verdicts,
            latency,
            alarms_open,
            inflight_bytes,
            open_calls,
            store,
            inflight,
            calls,
        }
    }

    /// The store the scrape-time metrics are read from (and tokens checked against).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Counts a frame of `line_id` answered as `result` (see [`result`]), received at
    /// `received`.
    pub fn answered(&self, line_id: &str, result: &str, received: Instant) {
        let line = line_id.to_string();
        self.verdicts
            .get_or_create(&VerdictLabels {
                line: line.clone(),
                result: result.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&LineLabels { line })
            .observe(received.elapsed().as_secs_f64());
    }

    /// The metrics in Prometheus' text format (OpenMetrics), the scrape-time ones read now.
    /// Blocks on the store: call it off the async threads.
    pub fn render(&self) -> Result<String> {
        let open = self.store.alarms(&AlarmQuery {
            only_open: true,
            limit: MAX_OPEN_ALARMS,
            ..AlarmQuery::default()
        })?;
        let mut counts: HashMap<AlarmLabels, i64> = HashMap::new();
        for alarm in open {
            let severity = Severity::try_from(alarm.severity).unwrap_or(Severity::Warn);
            *counts
                .entry(AlarmLabels {
                    line: alarm.line_id,
                    severity: severity.as_str_name().to_lowercase(),
                    state: alarm.state,
                })
                .or_default() += 1;
        }
        // Only what is open now: a line whose alarms all cleared has no series left.
        self.alarms_open.clear();
        for (labels, count) in counts {
            self.alarms_open.get_or_create(&labels).set(count);
        }
        let held = |(semaphore, whole): &(Arc<Semaphore>, usize)| {
            i64::try_from(whole.saturating_sub(semaphore.available_permits())).unwrap_or(i64::MAX)
        };
        self.inflight_bytes.set(held(&self.inflight));
        self.open_calls.set(held(&self.calls));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| crate::error::Error::Internal(format!("metrics: {e}")))?;
        Ok(text)
    }
}
