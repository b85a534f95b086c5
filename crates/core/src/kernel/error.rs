//! The core's error: a kind that callers act on, and a message safe to show the caller.
//!
//! Internal causes (store failures, crypto failures) are logged where they happen and surface only as
//! [`ErrorKind::Internal`] with a generic message: no SQL text or stack detail ever reaches a client.

use std::fmt;

/// What went wrong, in terms an adapter can map onto its protocol's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object does not exist in the caller's tenant (or the caller may not know it exists).
    NotFound,
    /// The write collides with existing state (a taken unique value, a duplicate reference).
    Conflict,
    /// The request itself is malformed or violates a rule; `target` names the property.
    Invalid,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The caller is known but lacks the permission.
    Forbidden,
    /// The query asks for an operator, property or combination the directory does not query by.
    UnsupportedQuery,
    /// Too many requests, or too many failures, from this caller: try again after `retry_after`.
    Throttled,
    /// The store cannot take the request now (unreachable, or out of space): try again after `retry_after`.
    Unavailable,
    /// Something failed inside Gatehouse; details are in the log, not in the message.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The property or parameter the error is about, when there is one.
    pub target: Option<String>,
    /// The protocol's own error code, where it names the failure more precisely than the kind does.
    pub code: Option<&'static str>,
    /// Seconds after which trying again makes sense (`Retry-After`), for throttled and unavailable requests.
    pub retry_after: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), target: None, code: None, retry_after: None }
    }

    pub fn not_found(id: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn invalid_property(target: &str, message: impl Into<String>) -> Self {
        Self { target: Some(target.to_owned()), ..Self::new(ErrorKind::Invalid, message) }
    }

    pub fn with_code(self, code: &'static str) -> Self {
        Self { code: Some(code), ..self }
    }

    /// A request refused for now, to be tried again after `seconds`.
    pub fn throttled(message: impl Into<String>, seconds: u64) -> Self {
        Self { retry_after: Some(seconds.max(1)), ..Self::new(ErrorKind::Throttled, message) }
    }

    /// The store cannot take the request now.
    pub fn unavailable(message: impl Into<String>, seconds: u64) -> Self {
        Self { retry_after: Some(seconds.max(1)), ..Self::new(ErrorKind::Unavailable, message) }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorKind::Forbidden, "Insufficient privileges to complete the operation.")
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }

    /// An internal failure. The cause is logged here; the caller sees only a generic message.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(ErrorKind::Internal, "An internal error occurred; the request was not applied.")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}
