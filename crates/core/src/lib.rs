//! Gatehouse's directory core, in layers: each top-level module imports only the ones listed before it
//! (`tests/layout.rs` holds the order, `docs/design/0009-layout.md` the reasons).
//!
//! - [`kernel`]: the error type, injected time and randomness, the DNS port, text folding.
//! - [`filter`]: the one query language `$filter`, `$search` and membership rules compile to.
//! - [`store`]: the storage port; every use case hands it one batch that commits atomically with its
//!   change-log records.
//! - [`schema`]: the property tables of directory object kinds (types, limits, writability).
//! - [`rules`]: the dynamic-membership rule language. [`query`]: what each collection may be filtered and
//!   ordered by, the values the store indexes, evaluation in memory.
//! - [`auth`]: who is calling and what they may do; every use case authorizes before it reads or writes.
//! - [`credentials`]: password hashes, client secrets and the master key, token-signing keys.
//! - [`directory`]: the context every use case runs in ([`Directory`]): the store, the clock, randomness,
//!   keys, the object cache, per-object write turns, the commit, and each feature's in-memory state.
//! - [`changelog`]: followers of the per-tenant change log, with leases and cursors.
//! - [`outbox`]: email queued with the changes that cause it, delivered after they commit.
//! - The features: [`users`], [`contacts`], [`groups`], [`applications`] (and the token endpoint),
//!   [`tenants`] (organization, domains), [`deleted`], [`membership`] (dynamic groups), [`licensing`]. Each
//!   is a service on the context (`directory.users().create(…)`): its use cases are the service's methods.
//! - [`sign_in`]: people signing in to apps, one pipeline behind every front door, and consent.
//! - [`invitations`]: B2B guests invited from outside (redeemed at the sign-in pages).
//! - [`directory_audits`]: the directory audit log, read from the change log.
//! - [`processors`]: the change-log processors a node runs.
//!
//! The core names no protocol: no HTTP, no SQL, no Graph JSON envelopes. It does speak in Graph's property
//! names, because those are the directory's attribute names in every protocol Gatehouse serves.

pub mod applications;
pub mod auth;
pub mod authentication_methods;
pub mod changelog;
pub mod conditional_access;
pub mod contacts;
pub mod credentials;
pub mod deleted;
pub mod directory;
pub mod directory_audits;
pub mod filter;
pub mod groups;
pub mod invitations;
pub mod kernel;
pub mod licensing;
pub mod membership;
pub mod outbox;
pub mod processors;
pub mod provisioning;
pub mod query;
pub mod role_management;
pub mod rules;
pub mod schema;
pub mod scim;
pub mod sharing;
pub mod sign_in;
pub mod store;
pub mod tenants;
pub mod users;

pub use auth::caller::Caller;
pub use directory::{Directory, DirectoryConfig};
pub use kernel::clock::{Clock, SystemClock};
pub use kernel::error::{Error, ErrorKind, Result};
