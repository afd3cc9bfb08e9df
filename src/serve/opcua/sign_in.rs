//! Who an OPC UA client is. While no token exists, anyone (anonymous), as on the gRPC side.
//! From the first token on, a user name with a verigrade token as its password, taken only on
//! an encrypted endpoint (the password never crosses the network in clear), and only from a
//! role that may read the line. The session is known by the token's hash, so every method
//! call checks the token again ([`caller`]): a token revoked mid-session stops acting at once.
//! Refusals are recorded in the audit trail as gRPC's are; OPC UA answers them with a status
//! code alone, so the reason is also logged.

use crate::access::{Actor, Permission};
use crate::store::Store;
use crate::store::tokens::{self, TokenCheck};
use crate::store::trail::{Action, Entry};
use async_trait::async_trait;
use opcua::crypto::SecurityPolicy;
use opcua::server::ServerEndpoint;
use opcua::server::authenticator::{
    AuthManager, Password, UserToken, user_pass_security_policy_id,
};
use opcua::types::{StatusCode, UAString, UserTokenPolicy, UserTokenType};
use std::sync::Arc;

/// The policy id anonymous identity tokens carry (OPC UA's usual one).
const ANONYMOUS_POLICY: &str = "anonymous";

/// The OPC UA server's [`AuthManager`]: verigrade's tokens.
pub struct SignIn {
    pub store: Arc<Store>,
}

/// A refusal: its status for the client, its reason for the log and the audit trail.
pub struct Refused {
    pub status: StatusCode,
    pub reason: String,
}

impl Refused {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refused {
        Refused {
            status,
            reason: reason.into(),
        }
    }

    fn store(e: crate::error::Error) -> Refused {
        Refused::new(
            StatusCode::BadResourceUnavailable,
            format!("cannot check the token: {e}"),
        )
    }
}

/// Appends `access.denied` for what `actor` was refused (`what`: the sign-in or the method),
/// and logs it.
pub async fn record_refusal(store: &Store, actor: Actor, what: &str, refused: &Refused) {
    eprintln!(
        "verigrade: OPC UA {what} refused ({}): {}",
        refused.status, refused.reason
    );
    let entry = Entry::new(actor, Action::AccessDenied, format!("opc.tcp {what}"))
        .reason(format!("{}: {}", refused.status, refused.reason));
    if let Err(e) = store.record(entry).await {
        eprintln!("verigrade: a refused OPC UA client is not in the audit trail: {e}");
    }
}

impl SignIn {
    async fn refuse(&self, actor: Actor, refused: Refused) -> opcua::types::Error {
        record_refusal(&self.store, actor, "sign-in", &refused).await;
        opcua::types::Error::new(refused.status, refused.reason)
    }

    /// The session's user token for a user name and a token, or why not.
    fn admit(&self, user_name: &str, token: &str) -> Result<UserToken, (Actor, Refused)> {
        let token_hash = tokens::hash(token);
        let check = self
            .store
            .check_token_hash(&token_hash)
            .map_err(|e| (Actor::open(user_name), Refused::store(e)))?;
        let rejected = |reason: String| {
            (
                Actor::open(user_name),
                Refused::new(StatusCode::BadIdentityTokenRejected, reason),
            )
        };
        match check {
            TokenCheck::Valid { user, role } if user != user_name => Err((
                Actor::token(&user, role),
                Refused::new(
                    StatusCode::BadUserAccessDenied,
                    format!("the token is {user}'s; it cannot sign in as {user_name}"),
                ),
            )),
            TokenCheck::Valid { user, role } if !role.allows(Permission::Read) => Err((
                Actor::token(&user, role),
                Refused::new(
                    StatusCode::BadUserAccessDenied,
                    format!(
                        "{user} ({role}) may not {}: OPC UA needs the role {}",
                        Permission::Read.describe(),
                        Permission::Read.roles()
                    ),
                ),
            )),
            TokenCheck::Valid { .. } => Ok(UserToken(token_hash)),
            TokenCheck::Revoked { id, user } => {
                Err(rejected(format!("token {id} of {user} was revoked")))
            }
            TokenCheck::Unknown => Err(rejected("the token is not one this server issued".into())),
            TokenCheck::NoneExist => Err(rejected(
                "this server has no tokens yet: sign in anonymously".into(),
            )),
        }
    }
}

#[async_trait]
impl AuthManager for SignIn {
    async fn authenticate_anonymous_token(
        &self,
        _endpoint: &ServerEndpoint,
    ) -> Result<(), opcua::types::Error> {
        match self.store.tokens_exist() {
            Ok(false) => Ok(()),
            Ok(true) => Err(self
                .refuse(
                    Actor::open(""),
                    Refused::new(
                        StatusCode::BadIdentityTokenRejected,
                        "this server requires a token: sign in on an encrypted endpoint with \
                         your user name and your verigrade token as the password",
                    ),
                )
                .await),
            Err(e) => Err(self.refuse(Actor::open(""), Refused::store(e)).await),
        }
    }

    async fn authenticate_username_identity_token(
        &self,
        endpoint: &ServerEndpoint,
        username: &str,
        password: &Password,
    ) -> Result<UserToken, opcua::types::Error> {
        if endpoint.security_policy() == SecurityPolicy::None {
            // Not offered there (see user_token_policies); a client that sends one anyway has
            // already sent its token in clear.
            let refused = Refused::new(
                StatusCode::BadSecurityPolicyRejected,
                "a token is taken only on an encrypted endpoint; this one is not, so revoke \
                 the token that was sent",
            );
            return Err(self.refuse(Actor::open(username), refused).await);
        }
        match self.admit(username, password.get()) {
            Ok(token) => Ok(token),
            Err((actor, refused)) => Err(self.refuse(actor, refused).await),
        }
    }

    /// Anonymous everywhere (refused once tokens exist, with a reason); a user name and token
    /// only where the channel is encrypted.
    fn user_token_policies(&self, endpoint: &ServerEndpoint) -> Vec<UserTokenPolicy> {
        let mut policies = vec![UserTokenPolicy {
            policy_id: UAString::from(ANONYMOUS_POLICY),
            token_type: UserTokenType::Anonymous,
            issued_token_type: UAString::null(),
            issuer_endpoint_url: UAString::null(),
            security_policy_uri: UAString::null(),
        }];
        if endpoint.security_policy() != SecurityPolicy::None {
            policies.push(UserTokenPolicy {
                policy_id: user_pass_security_policy_id(endpoint),
                token_type: UserTokenType::UserName,
                issued_token_type: UAString::null(),
                issuer_endpoint_url: UAString::null(),
                security_policy_uri: UAString::from(endpoint.security_policy().to_uri()),
            });
        }
        policies
    }
}

/// Who calls a method in a session signed in as `token`, if that token (still) allows
/// `permission`. `claimed` is the user a method's argument names: while access is open it is
/// the actor; with a token it must be the token's own user, or empty.
pub fn caller(
    store: &Store,
    token: &UserToken,
    permission: Permission,
    claimed: &str,
) -> Result<Actor, (Actor, Refused)> {
    let denied = |actor: Actor, reason: String| {
        Err((actor, Refused::new(StatusCode::BadUserAccessDenied, reason)))
    };
    if token.is_anonymous() {
        return match store.tokens_exist() {
            Ok(false) => Ok(Actor::open(claimed)),
            Ok(true) => denied(
                Actor::open(claimed),
                "access is controlled by tokens now: sign in again with a user name and token"
                    .into(),
            ),
            Err(e) => Err((Actor::open(claimed), Refused::store(e))),
        };
    }
    let check = store
        .check_token_hash(&token.0)
        .map_err(|e| (Actor::open(claimed), Refused::store(e)))?;
    match check {
        TokenCheck::Valid { user, role } if !role.allows(permission) => denied(
            Actor::token(&user, role),
            format!(
                "{user} ({role}) may not {}: it needs the role {}",
                permission.describe(),
                permission.roles()
            ),
        ),
        TokenCheck::Valid { user, role } if !claimed.is_empty() && claimed != user => denied(
            Actor::token(&user, role),
            format!("the token is {user}'s; it cannot act as {claimed}"),
        ),
        TokenCheck::Valid { user, role } => Ok(Actor::token(user, role)),
        TokenCheck::Revoked { id, user } => denied(
            Actor::open(&user),
            format!("token {id} of {user} was revoked"),
        ),
        TokenCheck::Unknown | TokenCheck::NoneExist => denied(
            Actor::open(claimed),
            "the session's token is no longer known".into(),
        ),
    }
}
