//! The node manager of verigrade's namespace, and the one method it has:
//! `Acknowledge(alarm_id, user, comment)` on a line. Its own node manager (rather than
//! async-opcua's simple one) because a method must know who calls it: the session's user
//! token reaches `call`, and the acting user is taken from it ([`sign_in::caller`]), never
//! from the `user` argument alone.

use super::sign_in;
use crate::access::Permission;
use crate::error::Error;
use crate::serve::alarms::acknowledgement;
use crate::serve::engine::Engine;
use crate::store::Store;
use async_trait::async_trait;
use opcua::server::address_space::AddressSpace;
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{InMemoryNodeManagerBuilder, InMemoryNodeManagerImpl};
use opcua::server::node_manager::{MethodCall, NodeManagerBuilder, RequestContext, ServerContext};
use opcua::sync::RwLock;
use opcua::types::{NodeId, StatusCode, Variant};
use std::collections::HashMap;
use std::sync::Arc;

/// The node manager: the namespace's nodes live in its address space, and it answers calls of
/// the `Acknowledge` methods it was told of.
pub struct LineNodes {
    namespace: NamespaceMetadata,
    store: Arc<Store>,
    engine: Arc<Engine>,
    /// Each line's `Acknowledge` method node → the line.
    methods: RwLock<HashMap<NodeId, String>>,
}

/// The builder the server calls once it knows the namespace's index.
pub fn builder(
    namespace_uri: &str,
    store: Arc<Store>,
    engine: Arc<Engine>,
) -> impl NodeManagerBuilder {
    let namespace_uri = namespace_uri.to_owned();
    InMemoryNodeManagerBuilder::new(move |context: ServerContext, space: &mut AddressSpace| {
        let namespace_index = context
            .type_tree
            .write()
            .namespaces_mut()
            .add_namespace(&namespace_uri);
        space.add_namespace(&namespace_uri, namespace_index);
        LineNodes {
            namespace: NamespaceMetadata {
                namespace_uri,
                namespace_index,
                ..Default::default()
            },
            store,
            engine,
            methods: RwLock::default(),
        }
    })
}

impl LineNodes {
    /// Makes `method` acknowledge alarms of `line_id`.
    pub fn add_acknowledge(&self, method: NodeId, line_id: &str) {
        self.methods.write().insert(method, line_id.to_string());
    }

    /// One call of a line's `Acknowledge`: who may, then the same checks and store write as
    /// gRPC's `AcknowledgeAlarm`, refused for another line's alarm.
    async fn acknowledge(
        &self,
        caller: &opcua::server::authenticator::UserToken,
        line_id: &str,
        arguments: &[Variant],
    ) -> Result<String, StatusCode> {
        let text = |i: usize| match arguments.get(i) {
            Some(Variant::String(s)) => Ok(s.as_ref().to_string()),
            Some(_) => Err(StatusCode::BadTypeMismatch),
            None => Err(StatusCode::BadArgumentsMissing),
        };
        if arguments.len() > 3 {
            return Err(StatusCode::BadTooManyArguments);
        }
        let (alarm_id, claimed, comment) = (text(0)?, text(1)?, text(2)?);
        let what = format!("Lines/{line_id}/Acknowledge");
        let store = &self.store;
        let actor = match sign_in::caller(store, caller, Permission::Operate, &claimed) {
            Ok(actor) => actor,
            Err((actor, refused)) => {
                sign_in::record_refusal(store, actor, &what, &refused).await;
                return Err(refused.status);
            }
        };
        let outcome = async {
            let request = acknowledgement(self.engine.config(), &alarm_id, actor, comment)?;
            let alarm_id = request.alarm_id;
            let owner = blocking(store, move |s| s.alarm(alarm_id)).await?;
            if owner.is_none_or(|alarm| alarm.line_id != line_id) {
                return Err(Error::NotFound(format!(
                    "line {line_id} has no alarm {alarm_id}"
                )));
            }
            let alarm = store.acknowledge(request).await?;
            let line = line_id.to_string();
            let state = blocking(store, move |s| s.line_state(&line)).await?;
            Ok(format!(
                "alarm {} {} by {}; line {line_id} {}",
                alarm.alarm_id,
                alarm.state,
                alarm.acknowledged_by,
                state.state().as_str_name()
            ))
        };
        outcome.await.map_err(|e: Error| {
            let status = match e {
                Error::NotFound(_) => StatusCode::BadNotFound,
                Error::Refused(_) => StatusCode::BadInvalidState,
                Error::InvalidId { .. } => StatusCode::BadInvalidArgument,
                _ => StatusCode::BadInternalError,
            };
            eprintln!("verigrade: OPC UA {what} refused ({status}): {e}");
            status
        })
    }
}

#[async_trait]
impl InMemoryNodeManagerImpl for LineNodes {
    async fn init(&self, _space: &mut AddressSpace, _context: ServerContext) {}

    fn name(&self) -> &str {
        "verigrade"
    }

    fn namespaces(&self) -> Vec<NamespaceMetadata> {
        vec![self.namespace.clone()]
    }

    async fn call(
        &self,
        context: &RequestContext,
        _space: &RwLock<AddressSpace>,
        methods_to_call: &mut [&mut &mut MethodCall],
    ) -> Result<(), StatusCode> {
        for method in methods_to_call {
            let line_id = self.methods.read().get(method.method_id()).cloned();
            let Some(line_id) = line_id else {
                method.set_status(StatusCode::BadMethodInvalid);
                continue;
            };
            match self
                .acknowledge(&context.token, &line_id, method.arguments())
                .await
            {
                Ok(outcome) => {
                    method.set_outputs(vec![Variant::from(outcome)]);
                    method.set_status(StatusCode::Good);
                }
                Err(status) => method.set_status(status),
            }
        }
        Ok(())
    }
}

/// `f` on the store, off the server's async threads (a read waits for SQLite).
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}
