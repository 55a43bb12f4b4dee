//! Rows as both backends' reads return them, decoded by sqlx's `FromRow` derive from a
//! `SqliteRow` or a `PgRow` alike, and turned into the store's values. The two backends
//! store a time and a JSON value differently (SQLite: INTEGER microseconds and TEXT;
//! PostgreSQL: `timestamptz` and `jsonb`); `Stamp`, `State` and sqlx's `Json` decode either.
//! A value that does not decode is a column decode error, which the store reports as
//! `StoreError::Corrupt`. A leaf: it uses neither backend.

mod account;
mod columns;
mod conversations;
mod records;

pub(crate) use account::*;
pub(crate) use columns::Stamp;
pub(crate) use conversations::*;
pub(crate) use records::*;
