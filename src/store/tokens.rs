//! Access tokens: created and revoked on the data directory by a local command, checked by the
//! service on every call. Only a token's SHA-256 is stored; the token itself is shown once.

use super::digest::{self, Digest};
use super::now_ms;
use super::sql::{Db, Row, params};
use super::trail::{self, Action, Entry, record};
use super::tx::WriteTx;
use crate::access::{Actor, Role};
use crate::error::{Error, Result};
use rand::Rng;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    \"user\" TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER,
    revoked_by TEXT NOT NULL DEFAULT ''
);
";

/// What the store knows of a token (never the token itself).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub role: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub revoked_by: String,
}

/// What a presented token is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenCheck {
    /// No token was ever created: access is not controlled yet.
    NoneExist,
    Valid {
        user: String,
        role: Role,
    },
    Revoked {
        id: i64,
        user: String,
    },
    Unknown,
}

/// Prefix of every token: recognisable in a configuration file or a leaked log.
const PREFIX: &str = "vgt_";

/// What the store keeps of a token: its SHA-256, in hex. A signed-in OPC UA session is known
/// by it too, so each of its calls checks the token again without keeping the token.
pub fn hash(token: &str) -> String {
    Digest::new().text(token).hex()
}

fn row_token(row: &Row) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.get(0)?,
        user: row.get(1)?,
        role: row.get(2)?,
        created_ms: row.get(3)?,
        revoked_ms: row.get(4)?,
        revoked_by: row.get(5)?,
    })
}

const COLUMNS: &str = "id, \"user\", role, created_ms, revoked_ms, revoked_by";

/// The digest of a token's row, as its audit entries record it.
fn row_digest(tx: &WriteTx, id: i64) -> Result<String> {
    tx.row(
        "SELECT * FROM tokens WHERE id = ?1",
        params![id],
        digest::of_row,
    )
}

/// Creates a token for `user` with `role`; returns its id and the token, which is not stored.
pub fn create(conn: &Db, user: &str, role: Role, actor: &Actor) -> Result<(i64, String)> {
    if user.trim().is_empty() || user.chars().any(char::is_control) {
        return Err(Error::InvalidId {
            field: "user",
            reason: "must be a name without control characters".into(),
        });
    }
    let mut secret = [0u8; 32];
    rand::rng().fill(&mut secret);
    let token = format!("{PREFIX}{}", digest::hex(&secret));
    let tx = WriteTx::begin(conn)?;
    tx.execute(
        "INSERT INTO tokens (id, hash, \"user\", role, created_ms)
         VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM tokens), ?1, ?2, ?3, ?4)",
        params![hash(&token), user, role.name(), now_ms()],
    )?;
    let id: i64 = tx.row(
        "SELECT id FROM tokens WHERE hash = ?1",
        params![hash(&token)],
        |r| r.get(0),
    )?;
    let entry = Entry::new(actor.clone(), Action::TokenCreated, record::token(id))
        .after(row_digest(&tx, id)?)
        .reason(format!("{} token for {user}", role.name()));
    trail::append(&tx, &entry)?;
    tx.commit()?;
    Ok((id, token))
}

/// Every token, oldest first.
pub fn list(conn: &Db) -> Result<Vec<TokenInfo>> {
    conn.rows(
        &format!("SELECT {COLUMNS} FROM tokens ORDER BY id"),
        params![],
        row_token,
    )
}

/// Revokes token `id`: from now on it is refused.
pub fn revoke(conn: &Db, id: i64, actor: &Actor, reason: &str) -> Result<TokenInfo> {
    let tx = WriteTx::begin(conn)?;
    let found = tx.optional_row(
        &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"),
        params![id],
        row_token,
    )?;
    let token = found.ok_or_else(|| Error::NotFound(format!("no token {id}")))?;
    if let Some(at) = token.revoked_ms {
        return Err(Error::Refused(format!(
            "token {id} was revoked already, at {}",
            crate::store::rfc3339(at)
        )));
    }
    let before = row_digest(&tx, id)?;
    tx.execute(
        "UPDATE tokens SET revoked_ms = ?2, revoked_by = ?3 WHERE id = ?1",
        params![id, now_ms(), actor.user],
    )?;
    let entry = Entry::new(actor.clone(), Action::TokenRevoked, record::token(id))
        .before(before)
        .after(row_digest(&tx, id)?)
        .reason(reason);
    trail::append(&tx, &entry)?;
    let revoked = tx.row(
        &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"),
        params![id],
        row_token,
    )?;
    tx.commit()?;
    Ok(revoked)
}

/// What `token` is. Any token ever created, revoked ones too, puts access under control:
/// revoking the last token does not open the service.
pub fn check(conn: &Db, token: &str) -> Result<TokenCheck> {
    check_hash(conn, &hash(token))
}

/// What the token with this [`hash`] is.
pub fn check_hash(conn: &Db, token_hash: &str) -> Result<TokenCheck> {
    let found = conn.optional_row(
        &format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1"),
        params![token_hash],
        row_token,
    )?;
    Ok(match found {
        Some(info) if info.revoked_ms.is_some() => TokenCheck::Revoked {
            id: info.id,
            user: info.user,
        },
        Some(info) => match Role::named(&info.role) {
            Some(role) => TokenCheck::Valid {
                user: info.user,
                role,
            },
            None => TokenCheck::Unknown,
        },
        None if any_exist(conn)? => TokenCheck::Unknown,
        None => TokenCheck::NoneExist,
    })
}

/// Whether any token was ever created.
pub fn any_exist(conn: &Db) -> Result<bool> {
    conn.exists("SELECT 1 FROM tokens LIMIT 1", params![])
}
