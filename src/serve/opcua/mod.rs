//! OPC UA for PLCs and SCADA (`serve --opcua-listen ADDR`): every line under
//! Objects/Lines/<line_id> in namespace `urn:verigrade`, with its state, counts, last grade,
//! last verdict and the alarm that stops it (`ActiveAlarm` in words, `ActiveAlarmId` to pass
//! to the method), updated as verdicts are stored, and a method
//! `Acknowledge(alarm_id, user, comment)` that acknowledges an alarm of that line.
//!
//! The values are read back from the store, never counted here: a controller sees exactly
//! what `GetLineStats` and `GetLineState` answer, a little later (at most [`REFRESH_EVERY`]).
//!
//! Security is OPC UA's own: the server has an application instance certificate (created in
//! `<data-dir>/opcua-pki/own/` at first start, replaceable by one from the plant's CA) and
//! offers SignAndEncrypt endpoints (Basic256Sha256, Aes128_Sha256_RsaOaep,
//! Aes256_Sha256_RsaPss); a client's certificate must be in `opcua-pki/trusted/`, and one it
//! does not know lands in `opcua-pki/rejected/` for an administrator to move. The unencrypted
//! endpoint is offered too unless the service has TLS (`--tls-cert`). Who signs in, and
//! with which token, is [`sign_in`]'s concern.

mod acknowledge;
mod sign_in;

use super::engine::Engine;
use super::verdicts::read;
use crate::error::{Error, Result};
use crate::proto::{Alarm, RunState, Severity, Verdict};
use crate::store::{LineCounts, Query, Store};
use opcua::server::address_space::{AccessLevel, MethodBuilder, ObjectBuilder, VariableBuilder};
use opcua::server::node_manager::memory::InMemoryNodeManager;
use opcua::server::{ANONYMOUS_USER_TOKEN_ID, ServerBuilder, ServerEndpoint, SubscriptionCache};
use opcua::types::{
    Argument, DataTypeId, DataValue, NodeId, ObjectId, ObjectTypeId, QualifiedName, VariableTypeId,
    Variant,
};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The namespace every node of verigrade lives in.
pub const NAMESPACE: &str = "urn:verigrade";

/// The server's application URI: its application instance certificate names it.
const APPLICATION_URI: &str = "urn:verigrade:server";

/// Where, under the PKI folder, the server's own certificate and private key are.
const OWN_CERTIFICATE: &str = "own/cert.der";
const OWN_PRIVATE_KEY: &str = "private/private.pem";

/// How often changed lines are read back from the store: OPC UA's fastest usual sampling
/// interval, so a subscriber sees every change a PLC could act on, and the store is asked at
/// most ten times a second per line however fast frames come.
const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// The variables of a line, in the order they are created; their node ids are
/// `Lines/<line_id>/<name>`.
const VARIABLES: [(&str, DataTypeId); 10] = [
    ("State", DataTypeId::String),
    ("Total", DataTypeId::UInt64),
    ("Passed", DataTypeId::UInt64),
    ("Failed", DataTypeId::UInt64),
    ("NoRead", DataTypeId::UInt64),
    ("Duplicates", DataTypeId::UInt64),
    ("LastGrade", DataTypeId::String),
    ("LastVerdict", DataTypeId::String),
    ("ActiveAlarm", DataTypeId::String),
    ("ActiveAlarmId", DataTypeId::String),
];

/// A line's values as the store has them.
struct LineValues {
    state: RunState,
    counts: LineCounts,
    last: Option<Verdict>,
    /// The alarm that stops the line, else the newest one nobody has acknowledged yet: what
    /// asks for an operator (an acknowledged alarm whose condition lasts is known already).
    active: Option<Alarm>,
}

impl LineValues {
    fn read(store: &Store, line_id: &str) -> Result<LineValues> {
        let state = store.line_state(line_id)?;
        let last = store
            .list(&Query {
                line_id: line_id.to_string(),
                limit: 1,
                ..Query::default()
            })?
            .pop();
        let active = state
            .active_alarms
            .iter()
            .find(|a| a.alarm_id == state.stopping_alarm_id)
            .or(state
                .active_alarms
                .iter()
                .find(|a| a.acknowledged_unix_ms == 0))
            .cloned();
        Ok(LineValues {
            state: state.state(),
            counts: store.counts(line_id)?,
            last,
            active,
        })
    }

    /// The values in [`VARIABLES`] order.
    fn variants(&self) -> [Variant; 10] {
        let counts = &self.counts;
        [
            Variant::from(self.state.as_str_name()),
            Variant::from(counts.total),
            Variant::from(counts.passed),
            Variant::from(counts.failed),
            Variant::from(counts.no_read),
            Variant::from(counts.duplicates),
            Variant::from(self.last.as_ref().map_or("", |v| v.grade_letter.as_str())),
            Variant::from(self.last.as_ref().map_or(String::new(), Verdict::to_string)),
            Variant::from(self.active.as_ref().map_or(String::new(), |a| {
                let severity = Severity::try_from(a.severity).unwrap_or(Severity::Warn);
                format!(
                    "{} {} {}: {}",
                    a.alarm_id,
                    severity.as_str_name(),
                    a.rule,
                    a.message
                )
            })),
            Variant::from(self.active.as_ref().map_or("", |a| a.alarm_id.as_str())),
        ]
    }
}

/// The OPC UA server: its address space, and what it needs to fill it.
struct Publisher {
    nodes: Arc<InMemoryNodeManager<acknowledge::LineNodes>>,
    subscriptions: Arc<SubscriptionCache>,
    namespace: u16,
    store: Arc<Store>,
    /// Lines with nodes already.
    lines: HashSet<String>,
}

/// Starts the OPC UA server on `listener`; it stops when `shutdown` is cancelled.
pub async fn start(
    listener: TcpListener,
    store: Arc<Store>,
    engine: Arc<Engine>,
    shutdown: CancellationToken,
) -> Result<()> {
    let address = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("OPC UA listener: {e}")))?;
    let pki = engine.config().data_dir.join("opcua-pki");
    // The endpoints' user token ids only name the anonymous one: which identities an endpoint
    // takes is the authenticator's to say.
    let anonymous = [ANONYMOUS_USER_TOKEN_ID.to_string()];
    let mut builder = ServerBuilder::new()
        .application_name("verigrade")
        .application_uri(APPLICATION_URI)
        .product_uri("urn:verigrade")
        .host(address.ip().to_string())
        .port(address.port())
        .pki_dir(&pki)
        .create_sample_keypair(true)
        .add_endpoint(
            "basic256sha256",
            ServerEndpoint::new_basic256sha256_sign_encrypt("/", &anonymous),
        )
        .add_endpoint(
            "aes128sha256rsaoaep",
            ServerEndpoint::new_aes128_sha256_rsaoaep_sign_encrypt("/", &anonymous),
        )
        .add_endpoint(
            "aes256sha256rsapss",
            ServerEndpoint::new_aes256_sha256_rsapss_sign_encrypt("/", &anonymous),
        )
        .discovery_urls(vec!["/".to_owned()])
        .with_authenticator(Arc::new(sign_in::SignIn {
            store: store.clone(),
        }))
        .with_node_manager(acknowledge::builder(
            NAMESPACE,
            store.clone(),
            engine.clone(),
        ))
        .token(shutdown.child_token());
    if engine.config().tls_cert.is_none() {
        builder = builder.add_endpoint("none", ServerEndpoint::new_none("/", &anonymous));
    }
    let (server, handle) = builder
        .build()
        .map_err(|e| Error::Internal(format!("OPC UA server: {e}")))?;
    // async-opcua only logs a certificate it could not create or read, and would then serve
    // encrypted endpoints that cannot work.
    for part in [OWN_CERTIFICATE, OWN_PRIVATE_KEY] {
        if !pki.join(part).is_file() {
            return Err(Error::InvalidConfig {
                origin: "opcua_listen".into(),
                reason: format!(
                    "OPC UA has no application certificate: {} is missing and could not be \
                     created",
                    pki.join(part).display()
                ),
            });
        }
    }
    let nodes = handle
        .node_managers()
        .get_of_type::<InMemoryNodeManager<acknowledge::LineNodes>>()
        .ok_or_else(|| Error::Internal("OPC UA server has no verigrade node manager".into()))?;
    let namespace = handle
        .get_namespace_index(NAMESPACE)
        .ok_or_else(|| Error::Internal(format!("OPC UA namespace {NAMESPACE} missing")))?;
    {
        let mut space = nodes.address_space().write();
        ObjectBuilder::new(
            &lines_folder(namespace),
            QualifiedName::new(namespace, "Lines"),
            "Lines",
        )
        .is_folder()
        .organized_by(ObjectId::ObjectsFolder)
        .insert(&mut *space);
    }
    let publisher = Publisher {
        nodes,
        subscriptions: handle.subscriptions().clone(),
        namespace,
        store,
        lines: HashSet::new(),
    };
    tokio::spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            eprintln!("verigrade: OPC UA server stopped: {e}");
        }
    });
    tokio::spawn(publisher.run(shutdown));
    Ok(())
}

fn lines_folder(namespace: u16) -> NodeId {
    NodeId::new(namespace, "Lines")
}

fn line_node(namespace: u16, line_id: &str) -> NodeId {
    NodeId::new(namespace, format!("Lines/{line_id}"))
}

fn variable_node(namespace: u16, line_id: &str, name: &str) -> NodeId {
    NodeId::new(namespace, format!("Lines/{line_id}/{name}"))
}

impl Publisher {
    /// Keeps the address space in step with the store: every line at start, then each line
    /// a stored verdict or an alarm change concerns, read back at most every [`REFRESH_EVERY`].
    /// Behind on either feed, it reads every line again (one may be new).
    async fn run(mut self, shutdown: CancellationToken) {
        let mut verdicts = self.store.subscribe();
        let mut alarms = self.store.subscribe_alarms();
        let mut changed = self.stored_lines().await;
        let mut every = tokio::time::interval(REFRESH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let line = tokio::select! {
                _ = shutdown.cancelled() => return,
                verdict = verdicts.recv() => verdict.map(|v| v.line_id.clone()),
                alarm = alarms.recv() => alarm.map(|a| a.line_id.clone()),
                _ = every.tick(), if !changed.is_empty() => {
                    for line_id in std::mem::take(&mut changed) {
                        self.refresh(&line_id).await;
                    }
                    continue;
                }
            };
            match line {
                Ok(line_id) => {
                    changed.insert(line_id);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    changed.extend(self.stored_lines().await);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Every line the store has a frame of; none (and a line in the log) when it cannot say.
    async fn stored_lines(&self) -> BTreeSet<String> {
        match read(&self.store, |s| s.lines()).await {
            Ok(lines) => lines.into_iter().collect(),
            Err(e) => {
                eprintln!("verigrade: OPC UA cannot list the lines: {}", e.message());
                BTreeSet::new()
            }
        }
    }

    /// Reads a line back from the store and sets its variables (creating its nodes the first
    /// time); subscribers are notified of what changed.
    async fn refresh(&mut self, line_id: &str) {
        let line = line_id.to_string();
        let values = match read(&self.store, move |s| LineValues::read(s, &line)).await {
            Ok(values) => values,
            Err(e) => {
                eprintln!(
                    "verigrade: OPC UA cannot read line {line_id}: {}",
                    e.message()
                );
                return;
            }
        };
        if !self.lines.contains(line_id) {
            self.add_line(line_id);
            self.lines.insert(line_id.to_string());
        }
        let ids: Vec<NodeId> = VARIABLES
            .iter()
            .map(|(name, _)| variable_node(self.namespace, line_id, name))
            .collect();
        let updates = ids
            .iter()
            .zip(values.variants())
            .map(|(id, value)| (id, None, DataValue::new_now(value)));
        if let Err(e) = self.nodes.set_values(&self.subscriptions, updates) {
            eprintln!("verigrade: OPC UA cannot update line {line_id}: {e}");
        }
    }

    /// Objects/Lines/<line_id>: its variables (read-only) and its `Acknowledge` method.
    fn add_line(&self, line_id: &str) {
        let ns = self.namespace;
        let line = line_node(ns, line_id);
        let method = variable_node(ns, line_id, "Acknowledge");
        {
            let mut space = self.nodes.address_space().write();
            ObjectBuilder::new(&line, QualifiedName::new(ns, line_id), line_id)
                .organized_by(lines_folder(ns))
                .has_type_definition(ObjectTypeId::BaseObjectType)
                .insert(&mut *space);
            for (name, data_type) in VARIABLES {
                VariableBuilder::new(
                    &variable_node(ns, line_id, name),
                    QualifiedName::new(ns, name),
                    name,
                )
                .data_type(data_type)
                .value(match data_type {
                    DataTypeId::UInt64 => Variant::from(0u64),
                    _ => Variant::from(""),
                })
                .access_level(AccessLevel::CURRENT_READ)
                .user_access_level(AccessLevel::CURRENT_READ)
                .has_type_definition(VariableTypeId::BaseDataVariableType)
                .component_of(line.clone())
                .insert(&mut *space);
            }
            let argument = |name: &str, description: &str| Argument {
                name: name.into(),
                data_type: DataTypeId::String.into(),
                value_rank: -1,
                array_dimensions: None,
                description: description.into(),
            };
            MethodBuilder::new(
                &method,
                QualifiedName::new(ns, "Acknowledge"),
                "Acknowledge",
            )
            .component_of(line.clone())
            .executable(true)
            .user_executable(true)
            .input_args(
                &mut *space,
                &variable_node(ns, line_id, "Acknowledge/InputArguments"),
                &[
                    argument("alarm_id", "The alarm to acknowledge (its id)"),
                    argument("user", "Who acknowledges it"),
                    argument("comment", "What was done about it (required for STOP)"),
                ],
            )
            .output_args(
                &mut *space,
                &variable_node(ns, line_id, "Acknowledge/OutputArguments"),
                &[argument(
                    "outcome",
                    "The alarm acknowledged, and the line's state",
                )],
            )
            .insert(&mut *space);
        }
        self.nodes.inner().add_acknowledge(method, line_id);
    }
}
