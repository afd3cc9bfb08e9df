//! Access control at the door of every service: the call's method says which permission it
//! needs, its `authorization: Bearer TOKEN` which role it has. A call without a valid token
//! is refused with UNAUTHENTICATED, one outside its role with PERMISSION_DENIED, each
//! recorded in the audit trail. Until the first token is created access is open, as before.
//! Handlers take the acting user from the token ([`actor`]), never from a request field.

use crate::access::{Actor, Permission, Role};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::tokens::TokenCheck;
use crate::store::trail::{Action, Entry};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

/// Who a call was authenticated as; in the request's extensions once it is let in.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user: String,
    pub role: Role,
}

/// The permission a method needs; `None` for the health service, which load balancers and
/// orchestrators call without a token.
pub fn permission(path: &str) -> Option<Permission> {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    Some(match service {
        "grpc.health.v1.Health" => return None,
        "verigrade.v1.Verifier" => Permission::SendFrames,
        "verigrade.v1.Verdicts" => Permission::Read,
        "verigrade.v1.Alarms" => match method {
            "AcknowledgeAlarm" | "FreezeLimits" => Permission::Operate,
            _ => Permission::Read,
        },
        "verigrade.v1.Serials" => match method {
            "Commission" => Permission::Commission,
            "CloseBatch" | "ReopenBatch" => Permission::Sign,
            _ => Permission::Read,
        },
        "verigrade.v1.Audit" => Permission::ReadAudit,
        "verigrade.v1.Events" => Permission::Read,
        "verigrade.v1.Aggregation" => match method {
            "Aggregate" => Permission::SendFrames,
            "Disaggregate" => Permission::Disaggregate,
            _ => Permission::Read,
        },
        // Server reflection, and methods no service has (answered UNIMPLEMENTED).
        _ => Permission::Connect,
    })
}

/// A refused call: its status, and what the audit trail records of it.
struct Denial {
    status: Status,
    actor: Actor,
}

/// The token an `authorization` header carries: `Ok(None)` without the header.
fn bearer(headers: &http::HeaderMap) -> std::result::Result<Option<&str>, String> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "the authorization header is not text".to_string())?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err("the authorization header must be `Bearer TOKEN`".into()),
    }
}

/// The name of the cookie the dashboard keeps a signed-in browser's token in.
pub const TOKEN_COOKIE: &str = "verigrade_token";

/// The token of an HTTP request: its `authorization` header, else the dashboard's cookie.
fn bearer_or_cookie(headers: &http::HeaderMap) -> std::result::Result<Option<&str>, String> {
    if let Some(token) = bearer(headers)? {
        return Ok(Some(token));
    }
    Ok(headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == TOKEN_COOKIE && !value.is_empty())
        .map(|(_, value)| value))
}

/// Lets a call that needs `permission` in (with who made it, once tokens exist) or refuses it.
fn admit(
    store: &Store,
    path: &str,
    permission: Option<Permission>,
    token: std::result::Result<Option<&str>, String>,
) -> std::result::Result<Option<Identity>, Denial> {
    let Some(permission) = permission else {
        return Ok(None);
    };
    let unauthenticated = |message: String, user: &str| Denial {
        status: Status::unauthenticated(message),
        actor: Actor::open(user),
    };
    let token = token.map_err(|message| unauthenticated(message, ""))?;
    let check = store.check_token(token.unwrap_or("")).map_err(|e| Denial {
        status: Status::unavailable(format!("cannot check the token: {e}")),
        actor: Actor::open(""),
    })?;
    match (check, token) {
        (TokenCheck::NoneExist, _) => Ok(None),
        (TokenCheck::Valid { user, role }, _) if role.allows(permission) => {
            Ok(Some(Identity { user, role }))
        }
        (TokenCheck::Valid { user, role }, _) => Err(Denial {
            status: Status::permission_denied(format!(
                "{user} ({role}) may not {}: {path} needs the role {}",
                permission.describe(),
                permission.roles()
            )),
            actor: Actor::token(user, role),
        }),
        (TokenCheck::Revoked { id, user }, _) => Err(unauthenticated(
            format!("token {id} of {user} was revoked"),
            &user,
        )),
        (TokenCheck::Unknown, None) => Err(unauthenticated(
            "this server requires a token: send `authorization: Bearer TOKEN` (--token or VERIGRADE_TOKEN)".into(),
            "",
        )),
        (TokenCheck::Unknown, Some(_)) => Err(unauthenticated(
            "the token is not one this server issued".into(),
            "",
        )),
    }
}

/// Why serving on `address` would expose the service to the network unprotected; `None` when
/// it may serve there: on loopback, or with both TLS and tokens.
pub fn exposure(address: std::net::SocketAddr, tls: bool, tokens: bool) -> Option<String> {
    if address.ip().is_loopback() {
        return None;
    }
    let missing = match (tls, tokens) {
        (true, true) => return None,
        (false, false) => {
            "neither TLS (--tls-cert, --tls-key) nor tokens (verigrade token create): anyone who \
             reaches it may send frames, commission serials and read every verdict"
        }
        (false, true) => {
            "no TLS (--tls-cert, --tls-key): tokens and frames would cross the network in clear"
        }
        (true, false) => {
            "no tokens (verigrade token create): anyone who reaches it may send frames, \
             commission serials and read every verdict"
        }
    };
    Some(format!(
        "{address} is reachable from other machines and the service has {missing}; \
         give --insecure to serve so anyway"
    ))
}

/// Who acts in a call: the token's user, or, while access is open, `claimed` (the name a
/// request gave, or the client's address).
pub fn actor<T>(request: &tonic::Request<T>, claimed: &str) -> Actor {
    match request.extensions().get::<Identity>() {
        Some(identity) => Actor::token(&identity.user, identity.role),
        None if !claimed.is_empty() => Actor::open(claimed),
        None => Actor::open(
            request
                .remote_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
        ),
    }
}

/// The acting user of a request that names one (`user` fields): with a token, the name must be
/// the token's own, or empty.
pub fn named_actor<T>(request: &tonic::Request<T>, user: &str) -> Result<Actor> {
    let actor = actor(request, user);
    if !user.is_empty() && actor.user != user {
        return Err(Error::PermissionDenied(format!(
            "the token is {}'s; it cannot act as {user}",
            actor.user
        )));
    }
    Ok(actor)
}

/// Records a call a handler refused for its caller's standing (acting as another user).
pub async fn record_denial<T>(
    store: &Store,
    request: &tonic::Request<T>,
    method: &str,
    status: &Status,
) {
    record_refusal(store, actor(request, ""), method, status).await;
}

/// Appends `access.denied` for a call to `method` refused with `status`: the door's refusals
/// and the handlers' alike.
async fn record_refusal(store: &Store, actor: Actor, method: &str, status: &Status) {
    let entry = Entry::new(actor, Action::AccessDenied, method).reason(format!(
        "{:?}: {}",
        status.code(),
        status.message()
    ));
    if let Err(e) = store.record(entry).await {
        eprintln!("verigrade: a refused call is not in the audit trail: {e}");
    }
}

/// The access check of an HTTP request for `path`, which needs `permission`: who made it (once
/// tokens exist) to answer it, else the HTTP status (401 or 403, 503 when tokens cannot be
/// checked) and why, recorded in the audit trail. The token comes as on the gRPC side, or in
/// the dashboard's cookie.
pub async fn admit_http(
    store: &Arc<Store>,
    path: &str,
    permission: Permission,
    headers: &http::HeaderMap,
) -> std::result::Result<Option<Identity>, (http::StatusCode, String)> {
    // The token is looked up in the store: on a blocking thread, not the runtime's.
    let checked = {
        let (store, path, headers) = (store.clone(), path.to_string(), headers.clone());
        tokio::task::spawn_blocking(move || {
            admit(&store, &path, Some(permission), bearer_or_cookie(&headers))
        })
        .await
        .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    };
    let denial = match checked {
        Ok(identity) => return Ok(identity),
        Err(denial) => denial,
    };
    let Denial { status, actor } = denial;
    record_refusal(store, actor, path, &status).await;
    let code = match status.code() {
        tonic::Code::Unauthenticated => http::StatusCode::UNAUTHORIZED,
        tonic::Code::PermissionDenied => http::StatusCode::FORBIDDEN,
        _ => http::StatusCode::SERVICE_UNAVAILABLE,
    };
    Err((code, status.message().to_string()))
}

/// A service behind the access check.
#[derive(Clone)]
pub struct Guarded<S> {
    pub inner: S,
    pub store: Arc<Store>,
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

type Answer<E> = Pin<Box<dyn Future<Output = std::result::Result<http::Response<Body>, E>> + Send>>;

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Answer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_string();
        let checked = admit(
            &self.store,
            &path,
            permission(&path),
            bearer(request.headers()),
        );
        match checked {
            Ok(identity) => {
                if let Some(identity) = identity {
                    request.extensions_mut().insert(identity);
                }
                Box::pin(self.inner.call(request))
            }
            Err(Denial { status, actor }) => {
                let store = self.store.clone();
                Box::pin(async move {
                    // Recorded before the answer, so a refused caller cannot outrun the trail.
                    record_refusal(&store, actor, &path, &status).await;
                    Ok(status.into_http())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_carries_its_token_in_the_header_or_the_dashboard_cookie() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer_or_cookie(&headers), Ok(None));
        headers.insert(
            http::header::COOKIE,
            "theme=dark; verigrade_token=abc123".parse().unwrap(),
        );
        assert_eq!(bearer_or_cookie(&headers), Ok(Some("abc123")));
        // The header wins over the cookie; a malformed header is refused, not passed over.
        headers.insert(http::header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(bearer_or_cookie(&headers), Ok(Some("xyz")));
        headers.insert(http::header::AUTHORIZATION, "Basic xyz".parse().unwrap());
        assert!(bearer_or_cookie(&headers).is_err());
    }

    #[test]
    fn each_method_needs_the_permission_of_the_roles_table() {
        let cases = [
            ("/grpc.health.v1.Health/Check", None),
            (
                "/verigrade.v1.Verifier/VerifyStream",
                Some(Permission::SendFrames),
            ),
            (
                "/verigrade.v1.Verdicts/ListVerdicts",
                Some(Permission::Read),
            ),
            ("/verigrade.v1.Alarms/ListAlarms", Some(Permission::Read)),
            (
                "/verigrade.v1.Alarms/AcknowledgeAlarm",
                Some(Permission::Operate),
            ),
            (
                "/verigrade.v1.Serials/Commission",
                Some(Permission::Commission),
            ),
            ("/verigrade.v1.Serials/Reconcile", Some(Permission::Read)),
            ("/verigrade.v1.Serials/CloseBatch", Some(Permission::Sign)),
            ("/verigrade.v1.Audit/ListAudit", Some(Permission::ReadAudit)),
            (
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                Some(Permission::Connect),
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(permission(path), expected, "{path}");
        }
    }

    #[test]
    fn only_loopback_or_tls_with_tokens_is_served_without_insecure() {
        let loopback = "127.0.0.1:50051".parse().unwrap();
        let anywhere = "0.0.0.0:50051".parse().unwrap();
        assert_eq!(exposure(loopback, false, false), None);
        assert_eq!(exposure(anywhere, true, true), None);
        let open = exposure(anywhere, false, false).unwrap();
        assert!(
            open.contains("neither TLS") && open.contains("--insecure"),
            "{open}"
        );
        assert!(exposure(anywhere, false, true).unwrap().contains("no TLS"));
        assert!(
            exposure(anywhere, true, false)
                .unwrap()
                .contains("no tokens")
        );
    }

    #[test]
    fn the_authorization_header_must_be_a_bearer_token() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer(&headers), Ok(None));
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer vgt_abc".parse().unwrap(),
        );
        assert_eq!(bearer(&headers), Ok(Some("vgt_abc")));
        headers.insert(
            http::header::AUTHORIZATION,
            "Basic dXNlcg==".parse().unwrap(),
        );
        assert!(bearer(&headers).is_err());
    }
}
