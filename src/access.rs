//! Who may do what: the roles a token carries, what each role allows, and who an action is
//! recorded against. The service checks the role of every call ([`crate::serve`]); the store
//! records the actor of every change in its audit trail ([`crate::store`]).

use std::fmt;

/// The role a token is created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A camera gateway: sends frames.
    Gateway,
    /// A line controller: reads verdicts, stats and alarms, acknowledges alarms.
    Controller,
    /// Quality assurance: a controller's rights, plus commissioning, batch signatures and
    /// the audit trail.
    Qa,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Gateway, Role::Controller, Role::Qa, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Controller => "controller",
            Role::Qa => "qa",
            Role::Admin => "admin",
        }
    }

    pub fn named(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    /// Whether the role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Gateway => matches!(permission, Connect | SendFrames),
            Role::Controller => matches!(permission, Connect | Read | Operate),
            Role::Qa => matches!(
                permission,
                Connect | Read | Operate | Commission | Sign | ReadAudit | Disaggregate
            ),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a call needs its token's role to grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Any valid token (server reflection).
    Connect,
    /// Send frames for verification.
    SendFrames,
    /// Read verdicts, statistics, alarms, charts and reconciliation.
    Read,
    /// Act on the line: acknowledge alarms, freeze chart limits.
    Operate,
    /// Commission serials.
    Commission,
    /// Close (sign) and reopen batches.
    Sign,
    /// Read the audit trail.
    ReadAudit,
    /// Take packs out of cases (or cases off pallets): rework that changes what was shipped.
    Disaggregate,
}

impl Permission {
    /// In words, for a refusal: "… may not {}".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Connect => "use this service",
            Permission::SendFrames => "send frames",
            Permission::Read => "read verdicts, alarms or counts",
            Permission::Operate => "acknowledge alarms or freeze limits",
            Permission::Commission => "commission serials",
            Permission::Sign => "close or reopen batches",
            Permission::ReadAudit => "read the audit trail",
            Permission::Disaggregate => "disaggregate cases or pallets",
        }
    }

    /// The roles that grant it, in words.
    pub fn roles(self) -> String {
        Role::ALL
            .into_iter()
            .filter(|role| role.allows(self))
            .map(Role::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Who an action is recorded against in the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub role: ActorRole,
}

/// The standing an actor acted with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorRole {
    /// Authenticated by a token of this role.
    Token(Role),
    /// verigrade itself: alarms the line monitor raises, evidence the budget deletes.
    System,
    /// No token exists yet, so access is not controlled: the user is as the request named it.
    Open,
    /// Someone with the data directory in hand, through the command line (`token create`).
    Local,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            user: "verigrade".into(),
            role: ActorRole::System,
        }
    }

    /// An unauthenticated caller, under the name the request gave (may be empty).
    pub fn open(user: impl Into<String>) -> Actor {
        Actor {
            user: user.into(),
            role: ActorRole::Open,
        }
    }

    /// The operating-system user running a local command on the data directory.
    pub fn local() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|name| !name.is_empty())
            .or_else(account_name)
            .unwrap_or_else(|| "unknown".into());
        Actor {
            user,
            role: ActorRole::Local,
        }
    }

    pub fn token(user: impl Into<String>, role: Role) -> Actor {
        Actor {
            user: user.into(),
            role: ActorRole::Token(role),
        }
    }
}

/// The process's account name from its user id (Linux: `/proc/self/status`, `/etc/passwd`),
/// or `uid N` when the id has no name; `None` elsewhere.
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let named = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    });
    Some(named.unwrap_or_else(|| format!("uid {uid}")))
}

impl ActorRole {
    pub fn name(&self) -> &'static str {
        match self {
            ActorRole::Token(role) => role.name(),
            ActorRole::System => "system",
            ActorRole::Open => "open",
            ActorRole::Local => "local",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_grants_what_the_roles_table_says() {
        use Permission::*;
        let granted = |role: Role| {
            [
                Connect, SendFrames, Read, Operate, Commission, Sign, ReadAudit,
            ]
            .into_iter()
            .filter(|p| role.allows(*p))
            .collect::<Vec<_>>()
        };
        assert_eq!(granted(Role::Gateway), [Connect, SendFrames]);
        assert_eq!(granted(Role::Controller), [Connect, Read, Operate]);
        assert_eq!(
            granted(Role::Qa),
            [Connect, Read, Operate, Commission, Sign, ReadAudit]
        );
        assert_eq!(granted(Role::Admin).len(), 7);
        assert_eq!(Permission::Commission.roles(), "qa, admin");
        assert_eq!(Role::named("qa"), Some(Role::Qa));
        assert_eq!(Role::named("root"), None);
    }
}
