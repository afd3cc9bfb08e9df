//! The write transaction every store change goes through. Each statement passes one gate, so
//! a test can make the n-th statement of a batch fail and check that nothing of it remains.

use crate::error::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Params, Row, Transaction, TransactionBehavior};
use std::cell::Cell;

/// One write transaction (one verdict batch).
pub struct WriteTx<'c> {
    tx: Transaction<'c>,
    /// Statements run so far, `BEGIN` included.
    statements: Cell<u64>,
    /// Test hook: the statement number that fails instead of running; `None` in service.
    fail_at: Option<u64>,
}

impl<'c> WriteTx<'c> {
    /// Begins a transaction on `conn`.
    pub fn begin(conn: &'c Connection) -> Result<WriteTx<'c>> {
        Self::begin_failing_at(conn, None)
    }

    /// Begins a transaction whose statement number `fail_at` (0 = the `BEGIN`) returns an
    /// injected "disk full" error instead of running.
    pub(super) fn begin_failing_at(
        conn: &'c Connection,
        fail_at: Option<u64>,
    ) -> Result<WriteTx<'c>> {
        WriteTx::gate(fail_at, 0)?;
        Ok(WriteTx {
            // IMMEDIATE: the write lock is taken at once, so a local command writing the
            // same store (`token create`) waits its turn instead of failing the batch.
            tx: Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?,
            statements: Cell::new(1),
            fail_at,
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
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.next_statement()?;
        Ok(self.tx.prepare_cached(sql)?.execute(params)?)
    }

    /// The one row a query returns.
    pub fn row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.next_statement()?;
        Ok(self.tx.prepare_cached(sql)?.query_row(params, map)?)
    }

    /// The row a query returns, if any.
    pub fn optional_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        self.next_statement()?;
        Ok(self
            .tx
            .prepare_cached(sql)?
            .query_row(params, map)
            .optional()?)
    }

    /// Whether a query returns any row.
    pub fn exists(&self, sql: &str, params: impl Params) -> Result<bool> {
        self.next_statement()?;
        Ok(self.tx.prepare_cached(sql)?.exists(params)?)
    }

    /// Rows of a query, in its order, up to the first one `enough` says completes them.
    pub fn rows_until<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl Fn(&Row) -> rusqlite::Result<T>,
        mut enough: impl FnMut(&T) -> bool,
    ) -> Result<Vec<T>> {
        self.next_statement()?;
        let mut statement = self.tx.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        let mut taken = Vec::new();
        while let Some(row) = rows.next()? {
            let item = map(row)?;
            let done = enough(&item);
            taken.push(item);
            if done {
                break;
            }
        }
        Ok(taken)
    }

    /// The connection, for reads that need no failure injection.
    pub fn connection(&self) -> &Connection {
        &self.tx
    }

    /// Commits; dropping a `WriteTx` without this rolls it back.
    pub fn commit(self) -> Result<()> {
        self.next_statement()?;
        Ok(self.tx.commit()?)
    }
}
