//! Gatehouse's store: one SQL implementation of [`gatehouse_core::store::Store`] that runs on embedded
//! SQLite (WAL, the zero-setup default) and on PostgreSQL (several nodes sharing one database).
//!
//! Every query is written once, with `$n` placeholders and portable SQL; the only engine-specific parts
//! are connection setup (SQLite pragmas), the migration lock (a PostgreSQL advisory lock) and a
//! process-wide write lock on SQLite, which has a single writer anyway and otherwise makes writers spin
//! in its busy handler.
//!
//! Times are stored as microseconds since the Unix epoch; ids as lower-case hyphenated GUID text.

mod migrations;
mod sql;

pub use sql::{redact, Engine, SqlStore};
