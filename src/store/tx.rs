//! The write transaction every store change goes through. Each statement passes one gate, so
//! a test can make the n-th statement of a batch fail and check that nothing of it remains.

use super::sql::{Db, Row, Value};
use crate::error::{Error, Result};
use std::cell::Cell;
use std::ops::ControlFlow;

/// The advisory lock every PostgreSQL write transaction takes first: the nodes sharing a
/// database write one at a time, so sequence numbers, the serial registry and the audit
/// trail's chain stay one order whichever node writes. ("vg" in ASCII.)
const WRITE_LOCK: i64 = 0x7667;

/// One write transaction (one verdict batch).
pub struct WriteTx<'c> {
    db: &'c Db,
    /// Statements run so far, `BEGIN` included.
    statements: Cell<u64>,
    /// Test hook: the statement number that fails instead of running; `None` in service.
    fail_at: Option<u64>,
    committed: Cell<bool>,
}

impl<'c> WriteTx<'c> {
    /// Begins a transaction on `db`.
    pub fn begin(db: &'c Db) -> Result<WriteTx<'c>> {
        Self::begin_failing_at(db, None)
    }

    /// Begins a transaction whose statement number `fail_at` (0 = the `BEGIN`) returns an
    /// injected "disk full" error instead of running.
    pub(super) fn begin_failing_at(db: &'c Db, fail_at: Option<u64>) -> Result<WriteTx<'c>> {
        WriteTx::gate(fail_at, 0)?;
        db.reconnect_if_lost()?;
        if db.is_postgres() {
            db.execute_batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            ))?;
        } else {
            // IMMEDIATE: the write lock is taken at once, so a local command writing the
            // same store (`token create`) waits its turn instead of failing the batch.
            db.execute_batch("BEGIN IMMEDIATE")?;
        }
        Ok(WriteTx {
            db,
            statements: Cell::new(1),
            fail_at,
            committed: Cell::new(false),
        })
    }

    fn gate(fail_at: Option<u64>, statement: u64) -> Result<()> {
        if fail_at == Some(statement) {
            return Err(Error::StoreFull(format!(
                "database or disk is full (injected at statement {statement})"
            )));
        }
        Ok(())
    }

    /// Counts one statement; fails it when it is the one a test chose.
    fn next_statement(&self) -> Result<()> {
        let n = self.statements.get();
        self.statements.set(n + 1);
        WriteTx::gate(self.fail_at, n)
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        self.next_statement()?;
        self.db.execute(sql, params)
    }

    /// The one row a query returns.
    pub fn row<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.next_statement()?;
        self.db.row(sql, params, map)
    }

    /// The row a query returns, if any.
    pub fn optional_row<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.next_statement()?;
        self.db.optional_row(sql, params, map)
    }

    /// Whether a query returns any row.
    pub fn exists(&self, sql: &str, params: &[Value]) -> Result<bool> {
        self.next_statement()?;
        self.db.exists(sql, params)
    }

    /// Rows of a query, in its order, up to the first one `enough` says completes them.
    pub fn rows_until<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl Fn(&Row) -> Result<T>,
        mut enough: impl FnMut(&T) -> bool,
    ) -> Result<Vec<T>> {
        self.next_statement()?;
        let mut taken = Vec::new();
        self.db.each_row(sql, params, |row| {
            let item = map(row)?;
            let done = enough(&item);
            taken.push(item);
            Ok(if done {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        Ok(taken)
    }

    /// The connection, for reads that need no failure injection.
    pub fn connection(&self) -> &Db {
        self.db
    }

    /// Commits; dropping a `WriteTx` without this rolls it back. On PostgreSQL every node's
    /// listener is told, as the commit lands, that there may be something new to announce.
    pub fn commit(self) -> Result<()> {
        self.next_statement()?;
        if self.db.is_postgres() {
            self.db
                .execute_batch(&format!("NOTIFY {}; COMMIT", super::listen::CHANNEL))?;
        } else {
            self.db.execute_batch("COMMIT")?;
        }
        self.committed.set(true);
        Ok(())
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if !self.committed.get() {
            // SQLite may have rolled back already (a full disk), and a lost PostgreSQL
            // session has nothing to roll back: either way nothing of it stays.
            let _ = self.db.execute_batch("ROLLBACK");
        }
    }
}
