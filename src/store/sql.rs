//! The SQL the store speaks, on either of its databases: SQLite, embedded in one node, or
//! PostgreSQL, shared by many. Statements are written once, in the dialect both accept
//! (`?N` parameters, `INSERT … ON CONFLICT`, `RETURNING`, `CAST(SUM(…) AS BIGINT)`); values
//! travel as SQLite's five storage classes, so a row reads back the same from either database
//! and the audit trail's digests of it agree.

use crate::error::{Error, Result};
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// One stored value: SQLite's storage classes, which every column of the store maps onto
/// (BIGINT, DOUBLE PRECISION, TEXT and BYTEA on PostgreSQL).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The PostgreSQL type a parameter of this value is sent as; `None` for NULL, which
    /// takes its column's.
    fn postgres_type(&self) -> Option<Type> {
        match self {
            Value::Null => None,
            Value::Integer(_) => Some(Type::INT8),
            Value::Real(_) => Some(Type::FLOAT8),
            Value::Text(_) => Some(Type::TEXT),
            Value::Blob(_) => Some(Type::BYTEA),
        }
    }
}

/// A parameter as a [`Value`]; what `params!` takes.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! integer_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Integer(*self as i64)
            }
        }
    )*};
}
integer_values!(i64, i32, u32, u8);

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for usize {
    fn to_value(&self) -> Value {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// A statement's parameters, `?1` first.
macro_rules! params {
    () => { &[] as &[$crate::store::sql::Value] };
    ($($value:expr),+ $(,)?) => {
        &[$($crate::store::sql::ToValue::to_value(&$value)),+] as &[$crate::store::sql::Value]
    };
}
pub(crate) use params;

/// A column's value as a Rust type.
pub trait FromValue: Sized {
    fn from_value(value: Value) -> Result<Self>;
}

fn mismatch(value: &Value, wanted: &str) -> Error {
    Error::Store(format!(
        "a column holds {value:?} where {wanted} was expected"
    ))
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<i64> {
        match value {
            Value::Integer(i) => Ok(i),
            other => Err(mismatch(&other, "an integer")),
        }
    }
}

macro_rules! narrow_integers {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value) -> Result<$t> {
                let wide = i64::from_value(value)?;
                <$t>::try_from(wide).map_err(|_| mismatch(&Value::Integer(wide), stringify!($t)))
            }
        }
    )*};
}
narrow_integers!(i32, u32, u64, usize);

impl FromValue for bool {
    fn from_value(value: Value) -> Result<bool> {
        Ok(i64::from_value(value)? != 0)
    }
}

impl FromValue for f64 {
    fn from_value(value: Value) -> Result<f64> {
        match value {
            Value::Real(r) => Ok(r),
            Value::Integer(i) => Ok(i as f64),
            other => Err(mismatch(&other, "a number")),
        }
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<String> {
        match value {
            Value::Text(text) => Ok(text),
            other => Err(mismatch(&other, "text")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Vec<u8>> {
        match value {
            Value::Blob(bytes) => Ok(bytes),
            other => Err(mismatch(&other, "bytes")),
        }
    }
}

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Value> {
        Ok(value)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Option<T>> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One row of a result, its columns in the statement's order.
#[derive(Debug)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Column `index` (from 0) as `T`.
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        self.values
            .get(index)
            .cloned()
            .ok_or_else(|| Error::Store(format!("a row has no column {index}")))
            .and_then(T::from_value)
    }

    /// Column `index` as stored.
    pub fn value(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// Every column, in order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }
}

/// Which database a store lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The SQLite file in the data directory (the default: embedded, nothing to install).
    Embedded,
    /// A PostgreSQL database that several nodes share, by its connection URL.
    Postgres(String),
}

impl Location {
    /// `--store`'s value: `postgres://…` (or `postgresql://…`), or `sqlite` for the embedded
    /// file in the data directory.
    pub fn parse(text: &str) -> Result<Location> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            text.parse::<postgres::Config>()
                .map_err(|e| Error::InvalidConfig {
                    origin: "store".into(),
                    reason: format!("not a PostgreSQL connection URL: {e}"),
                })?;
            Ok(Location::Postgres(text.to_owned()))
        } else if text.is_empty() || text == "sqlite" {
            Ok(Location::Embedded)
        } else {
            Err(Error::InvalidConfig {
                origin: "store".into(),
                reason: format!(
                    "{text:?} is neither \"sqlite\" (the embedded store in the data directory) nor a postgres:// URL"
                ),
            })
        }
    }

    /// The location with any password left out, for messages and logs.
    pub fn redacted(&self) -> String {
        match self {
            Location::Embedded => "sqlite".into(),
            Location::Postgres(url) => redact(url),
        }
    }
}

/// A connection URL without its password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.into(),
    }
}

/// A PostgreSQL session, with the statements it prepared.
struct Session {
    url: String,
    /// Taken out only as the session is dropped (see its `Drop`).
    client: std::mem::ManuallyDrop<postgres::Client>,
    prepared: HashMap<String, postgres::Statement>,
}

impl Session {
    fn connect(url: &str) -> Result<Session> {
        let client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| {
            Error::Store(format!(
                "cannot reach PostgreSQL at {}: {}",
                redact(url),
                describe(&e)
            ))
        })?;
        Ok(Session {
            url: url.to_owned(),
            client: std::mem::ManuallyDrop::new(client),
            prepared: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str, params: &[Value]) -> Result<postgres::Statement> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        // Typed from the first call's values where they are all given, so that `?2 = 0`
        // compares a BIGINT, not the INTEGER PostgreSQL would infer from the literal; a NULL
        // leaves the types to the statement (its columns).
        let sql_pg = dollar_parameters(sql);
        let types: Option<Vec<Type>> = params.iter().map(Value::postgres_type).collect();
        let statement = match types {
            Some(types) => self.client.prepare_typed(&sql_pg, &types)?,
            None => self.client.prepare(&sql_pg)?,
        };
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl Drop for Session {
    /// Closing a client blocks on its runtime, which cannot start on a thread of the
    /// service's: there it closes on a thread of its own.
    fn drop(&mut self) {
        // SAFETY: the client is taken once, here, and the session is not used after.
        let client = unsafe { std::mem::ManuallyDrop::take(&mut self.client) };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(client));
        } else {
            drop(client);
        }
    }
}

/// An open connection to the store's database.
pub struct Db {
    backend: Backend,
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<Session>>),
}

impl Db {
    pub fn sqlite(conn: rusqlite::Connection) -> Db {
        Db {
            backend: Backend::Sqlite(conn),
        }
    }

    /// Connects to PostgreSQL at `url`.
    pub fn postgres(url: &str) -> Result<Db> {
        let session = off_runtime(|| Session::connect(url))?;
        Ok(Db {
            backend: Backend::Postgres(Box::new(RefCell::new(session))),
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The SQLite connection, for what only SQLite has (pragmas, checkpoints); `None` on
    /// PostgreSQL.
    pub fn sqlite_connection(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(conn) => Some(conn),
            Backend::Postgres(_) => None,
        }
    }

    /// After PostgreSQL went away (a restart, a network fault), a new session; nothing to do
    /// when the session is alive or the store is SQLite.
    pub fn reconnect_if_lost(&self) -> Result<()> {
        if let Backend::Postgres(session) = &self.backend {
            let mut session = session.try_borrow_mut().map_err(|_| nested())?;
            if session.client.is_closed() {
                let url = session.url.clone();
                *session = off_runtime(|| Session::connect(&url))?;
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for a notification on a channel this session listens to
    /// (PostgreSQL), taking every one that came; on SQLite it only waits.
    pub fn wait_for_notification(&self, timeout: std::time::Duration) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator;
        match &self.backend {
            Backend::Sqlite(_) => std::thread::sleep(timeout),
            Backend::Postgres(session) => {
                let mut session = session.try_borrow_mut().map_err(|_| nested())?;
                off_runtime(|| {
                    let mut notifications = session.client.notifications();
                    if notifications.timeout_iter(timeout).next()?.is_some() {
                        // Whatever else came with it: one look reads all it announced.
                        while notifications.iter().next()?.is_some() {}
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    /// Runs statements separated by `;`, without parameters (schema, `BEGIN`, `COMMIT`).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Backend::Postgres(session) => {
                let mut session = session.try_borrow_mut().map_err(|_| nested())?;
                off_runtime(|| Ok(session.client.batch_execute(sql)?))
            }
        }
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        match &self.backend {
            Backend::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                Ok(statement.execute(rusqlite::params_from_iter(params))?)
            }
            Backend::Postgres(session) => {
                let mut session = session.try_borrow_mut().map_err(|_| nested())?;
                off_runtime(|| {
                    let statement = session.statement(sql, params)?;
                    let changed = session.client.execute(&statement, &as_postgres(params))?;
                    Ok(usize::try_from(changed).unwrap_or(usize::MAX))
                })
            }
        }
    }

    /// Hands each row of a query to `each`, in order, until it says to stop. Rows stream: a
    /// query over every verdict does not hold them all at once. `each` must not use this
    /// connection again (PostgreSQL is reading the rows on it).
    pub fn each_row(
        &self,
        sql: &str,
        params: &[Value],
        mut each: impl FnMut(&Row) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let columns = statement.column_count();
                let mut rows = statement.query(rusqlite::params_from_iter(params))?;
                while let Some(row) = rows.next()? {
                    let values = (0..columns)
                        .map(|i| row.get_ref(i).map(from_sqlite))
                        .collect::<rusqlite::Result<Vec<Value>>>()?;
                    if each(&Row { values })?.is_break() {
                        break;
                    }
                }
                Ok(())
            }
            Backend::Postgres(session) => {
                use postgres::fallible_iterator::FallibleIterator;
                let mut session = session.try_borrow_mut().map_err(|_| nested())?;
                off_runtime(|| {
                    let statement = session.statement(sql, params)?;
                    let params = as_postgres(params);
                    let mut rows = session
                        .client
                        .query_raw(&statement, params.iter().copied())?;
                    while let Some(row) = rows.next()? {
                        let values = (0..row.len())
                            .map(|i| row.try_get::<_, Value>(i))
                            .collect::<std::result::Result<Vec<Value>, _>>()?;
                        if each(&Row { values })?.is_break() {
                            break;
                        }
                    }
                    Ok(())
                })
            }
        }
    }

    /// Every row of a query, mapped.
    pub fn rows<T>(
        &self,
        sql: &str,
        params: &[Value],
        mut map: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut taken = Vec::new();
        self.each_row(sql, params, |row| {
            taken.push(map(row)?);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(taken)
    }

    /// Every row of a query, as it came.
    pub fn all_rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.rows(sql, params, |row| {
            Ok(Row {
                values: row.values.clone(),
            })
        })
    }

    /// The first row of a query, mapped, if there is one.
    pub fn optional_row<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut first = None;
        self.each_row(sql, params, |row| {
            first = Some(row.values.clone());
            Ok(ControlFlow::Break(()))
        })?;
        first.map(|values| map(&Row { values })).transpose()
    }

    /// The one row a query returns, mapped.
    pub fn row<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.optional_row(sql, params, map)?
            .ok_or_else(|| Error::Store(format!("a query returned no row: {}", first_line(sql))))
    }

    /// Whether a query returns any row.
    pub fn exists(&self, sql: &str, params: &[Value]) -> Result<bool> {
        Ok(self.optional_row(sql, params, |_| Ok(()))?.is_some())
    }
}

/// Runs `work`, which blocks on PostgreSQL, where blocking is allowed. The client drives its
/// connection with a runtime of its own, which cannot start on a thread of the service's:
/// there the work runs as the runtime's blocking work (`block_in_place`). The store's own
/// threads (writer, listener) block freely.
fn off_runtime<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => work(),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        Ok(_) => Err(Error::Internal(
            "the PostgreSQL store was queried from a single-threaded async runtime".into(),
        )),
    }
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or_default()
}

fn nested() -> Error {
    Error::Internal("a store query was started while another was reading rows".into())
}

fn from_sqlite(value: rusqlite::types::ValueRef) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

fn as_postgres(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    /// Each value converts to the column type PostgreSQL inferred for its parameter.
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                _ => r.to_sql(ty, out),
            },
            Value::Text(text) => text.as_str().to_sql(ty, out),
            Value::Blob(bytes) => bytes.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ if <&str as FromSql>::accepts(ty) => Value::Text(String::from_sql(ty, raw)?),
            _ => return Err(format!("no stored value of PostgreSQL type {ty}").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// SQLite's `?N` parameters as PostgreSQL's `$N`, outside quoted text.
fn dollar_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

/// A PostgreSQL error in words: the server's message where it sent one.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match e.code() {
            Some(code) if *code == SqlState::DISK_FULL => Error::StoreFull(describe(&e)),
            _ => Error::Store(format!("PostgreSQL: {}", describe(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_dollars_outside_quotes() {
        assert_eq!(
            dollar_parameters("SELECT '?' , x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?' , x FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn a_store_location_is_sqlite_or_a_postgres_url() {
        assert_eq!(Location::parse("sqlite").unwrap(), Location::Embedded);
        let url = "postgres://verigrade:secret@db.plant:5432/verigrade";
        assert_eq!(
            Location::parse(url).unwrap(),
            Location::Postgres(url.into())
        );
        assert_eq!(
            Location::parse(url).unwrap().redacted(),
            "postgres://verigrade@db.plant:5432/verigrade"
        );
        let wrong = Location::parse("mysql://x").unwrap_err().to_string();
        assert!(wrong.contains("neither"), "{wrong}");
    }

    #[test]
    fn values_read_back_as_they_went_in_on_sqlite() {
        let db = Db::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.execute_batch("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n INTEGER)")
            .unwrap();
        let blob = vec![0u8, 255];
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            params![7i64, 0.5f64, "a", blob, None::<i64>],
        )
        .unwrap();
        let row = db
            .row("SELECT i, r, s, b, n FROM t", params![], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<f64>(1)?,
                    r.get::<String>(2)?,
                    r.get::<Vec<u8>>(3)?,
                    r.get::<Option<i64>>(4)?,
                ))
            })
            .unwrap();
        assert_eq!(row, (7, 0.5, "a".into(), vec![0, 255], None));
        let none = db.row("SELECT i FROM t WHERE i = 8", params![], |r| {
            r.get::<i64>(0)
        });
        assert!(none.is_err());
    }
}
