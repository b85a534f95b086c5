//! Gatehouse's directory core.
//!
//! Layout:
//! - [`error`]: the one error type every use case returns; adapters map its kinds to their wire shapes.
//! - [`clock`]: injected time, so tests control expiry without sleeping.
//! - [`caller`] and [`authorization`]: who is calling, and what they may do. Every use case takes the caller
//!   first and authorizes before it reads or writes; handlers never check permissions themselves.
//! - [`schema`]: the property tables of directory object kinds (types, limits, writability).
//! - [`users`], [`groups`], [`contacts`], [`applications`], [`deleted_items`], [`tenants`], [`organization`],
//!   [`domains`], [`tokens`]: the use cases, on [`Directory`].
//! - [`store`]: the storage interface; every write use case hands it one batch that commits atomically
//!   together with its per-tenant change-log records.
//! - `contention`: how read-modify-write use cases take turns at an object on a node, and retry across nodes.
//! - [`passwords`], [`secrets`], [`keys`]: credentials: argon2id hashes, client secrets, token-signing keys.
//!
//! The core names no protocol: no HTTP, no SQL, no Graph JSON envelopes. It does speak in Graph's property
//! names, because those are the directory's attribute names in every protocol Gatehouse serves.

pub mod applications;
pub mod authorization;
pub mod cache;
pub mod caller;
pub mod clock;
pub mod contacts;
mod contention;
pub mod deleted_items;
pub mod directory;
pub mod domains;
pub mod dynamic;
pub mod error;
pub mod groups;
pub mod keys;
pub mod licensing;
pub mod organization;
pub mod passwords;
pub mod processing;
pub mod query;
pub mod request;
pub mod roles;
pub mod rules;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod tenants;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use caller::Caller;
pub use clock::{Clock, SystemClock};
pub use directory::{Directory, DirectoryConfig};
pub use error::{Error, ErrorKind, Result};
