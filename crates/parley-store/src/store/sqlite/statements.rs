//! The writer's connection with its prepared statements kept by the address of their SQL.
//!
//! rusqlite's own statement cache (`Connection::prepare_cached`) keys its statements by
//! their text: every use trims and hashes the SQL, copies it into a new `Arc<str>` and
//! hashes it again to put the statement back, about 1,800 instructions a statement, 5 % of
//! a message's (BENCHMARKS.md, "Instructions per message"). Every statement of Parley's
//! store is a `&'static str`, whose bytes never move nor change: its address and length
//! name it as well as its text does, for the price of hashing two words.
//!
//! `Conn` is what the writer thread hands its jobs. It derefs to the `Connection`, so a
//! job calls `execute`, `query_row` and the rest as before; its own `prepare_cached`, found
//! before the connection's, takes only `&'static str` (a SQL text built at run time goes
//! to `prepare_cached_text`, rusqlite's cache). The statements live as long as the `Conn`,
//! which the writer's `Inner` drops before its connection (`writer.rs`).

use rusqlite::{Connection, PrepFlags, Statement};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::{Deref, DerefMut};

/// A statement's name: its SQL's address and length.
type Key = (usize, usize);

/// The statements by name, hashed by multiplying (SipHash, the default, was a third of
/// the cache's own instructions; addresses need no protection from chosen collisions).
type Kept<'c> = HashMap<Key, Statement<'c>, BuildHasherDefault<AddressHasher>>;

#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A connection and the statements prepared on it.
pub(crate) struct Conn<'c> {
    conn: &'c Connection,
    statements: RefCell<Kept<'c>>,
}

impl<'c> Conn<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            statements: RefCell::new(Kept::default()),
        }
    }

    /// `sql` prepared once on this connection: taken out while in use (so a statement used
    /// inside another's rows gets a statement of its own) and put back, its parameters
    /// cleared, when dropped.
    pub(crate) fn prepare_cached(&self, sql: &'static str) -> rusqlite::Result<Cached<'_, 'c>> {
        let key = (sql.as_ptr() as usize, sql.len());
        let kept = self.statements.borrow_mut().remove(&key);
        let statement = match kept {
            Some(statement) => statement,
            // As rusqlite's cache prepares: a statement kept for good, whose program SQLite
            // then keeps out of the connection's lookaside memory (left to the runs).
            None => self
                .conn
                .prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?,
        };
        Ok(Cached {
            statement: Some(statement),
            key,
            home: &self.statements,
        })
    }

    /// A SQL text built at run time, through rusqlite's cache (keyed by the text).
    pub(crate) fn prepare_cached_text(
        &self,
        sql: &str,
    ) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
        self.conn.prepare_cached(sql)
    }

    /// How many statements are kept, for the tests.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.statements.borrow().len()
    }
}

impl Deref for Conn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A statement of `Conn::prepare_cached`, in use.
pub(crate) struct Cached<'a, 'c> {
    statement: Option<Statement<'c>>,
    key: Key,
    home: &'a RefCell<Kept<'c>>,
}

impl<'c> Deref for Cached<'_, 'c> {
    type Target = Statement<'c>;

    fn deref(&self) -> &Statement<'c> {
        self.statement.as_ref().expect("a statement until dropped")
    }
}

impl<'c> DerefMut for Cached<'_, 'c> {
    fn deref_mut(&mut self) -> &mut Statement<'c> {
        self.statement.as_mut().expect("a statement until dropped")
    }
}

impl Drop for Cached<'_, '_> {
    fn drop(&mut self) {
        if let Some(mut statement) = self.statement.take() {
            // rusqlite resets a statement after each run and when its rows are dropped;
            // clearing the parameters lets go of the values bound to it.
            statement.clear_bindings();
            self.home.borrow_mut().insert(self.key, statement);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_prepared_once_and_one_in_use_is_not_shared() {
        const INSERT: &str = "insert into t (v) values (?1)";
        const COUNT: &str = "select count(*) from t";
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("create table t (v integer)").unwrap();
        let c = Conn::new(&conn);
        for v in 0..3 {
            c.prepare_cached(INSERT).unwrap().execute([v]).unwrap();
        }
        assert_eq!(c.kept(), 1, "one statement for three uses of one SQL");
        // A statement used inside another's rows is a second statement, and both are kept.
        let mut outer = c.prepare_cached(COUNT).unwrap();
        let n: i64 = outer.query_row([], |r| r.get(0)).unwrap();
        let inner: i64 = c
            .prepare_cached(COUNT)
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap();
        assert_eq!((n, inner), (3, 3));
        drop(outer);
        assert_eq!(c.kept(), 2);
        // A statement put back runs with its new parameters, not its old ones.
        c.prepare_cached(INSERT).unwrap().execute([10]).unwrap();
        let sum: i64 = c
            .query_row("select sum(v) from t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sum, 13);
    }

    #[test]
    fn a_bad_statement_is_an_error_and_nothing_is_kept() {
        let conn = Connection::open_in_memory().unwrap();
        let c = Conn::new(&conn);
        let err = c.prepare_cached("select * from nowhere").err().unwrap();
        assert!(err.to_string().contains("no such table"), "{err}");
        assert_eq!(c.kept(), 0);
    }
}
