//! Gatehouse's store: one SQL implementation of [`gatehouse_core::store::Store`] that runs on embedded
//! SQLite (WAL, the zero-setup default) and on PostgreSQL (several nodes sharing one database).
//!
//! Layout:
//! - [`plan`]: the SQL, written once with `$n` placeholders: each [`Write`](gatehouse_core::store::Write)
//!   becomes statements with their expected effect, and each read is one query. Rows come back as
//!   portable [`plan::Row`]s and are decoded in one place.
//! - [`sqlite`]: runs plans on SQLite through rusqlite. Reads run inline on the calling task from a small
//!   pool of connections (a point read from the page cache takes microseconds; a hop to a worker thread
//!   per query cost more than the query, measured in `docs/benchmarks.md`); write transactions run on
//!   the blocking pool through the single writer connection.
//! - [`postgres`]: runs the same plans on PostgreSQL through sqlx.
//! - [`migrations`]: versioned, forward-only schema, the same on both engines.
//!
//! Times are stored as microseconds since the Unix epoch; ids as lower-case hyphenated GUID text.

mod compile;
mod group;
mod migrations;
mod plan;
mod postgres;
mod sqlite;
mod store;

pub use store::{redact, Engine, SqlStore, StoreOptions};
