//! The records of the store's logs and queues that are not directory objects: the sign-in log's attempts
//! and the outbox's messages.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One sign-in attempt as the sign-in log keeps it: the columns it is found by, and Graph's `signIn`
/// document.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub user: Option<Uuid>,
    /// Folded to lower case.
    pub user_principal_name: String,
    pub app: Option<Uuid>,
    /// Entra's error code; 0 for a success.
    pub error_code: i64,
    pub doc: Map<String, Value>,
}

/// Where a message of the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// Waiting for its (next) delivery attempt.
    Pending,
    Sent,
    /// Given up on after its last attempt failed; kept for administrators to see.
    Dead,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Pending => "pending",
            MailState::Sent => "sent",
            MailState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<MailState> {
        [MailState::Pending, MailState::Sent, MailState::Dead].into_iter().find(|m| m.as_str() == s)
    }
}

/// A message of the tenant's outbox: queued in the transaction of the change that causes it, delivered
/// after that commits.
#[derive(Debug, Clone, PartialEq)]
pub struct MailRecord {
    pub id: Uuid,
    /// What the message is (`passwordResetCode`, `signInCode`, `invitation`, …).
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub state: MailState,
    /// Delivery attempts begun.
    pub attempts: i64,
    /// When the next attempt is due (pending messages).
    pub next_attempt_at: DateTime<Utc>,
    /// A node is delivering the message until then; none while nobody is.
    pub claimed_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What a read of the sign-in log selects, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignInQuery {
    /// The record of that id only.
    pub id: Option<Uuid>,
    /// Made at or after.
    pub from: Option<DateTime<Utc>>,
    /// Made at or before.
    pub until: Option<DateTime<Utc>>,
    pub user: Option<Uuid>,
    /// Folded to lower case.
    pub user_principal_name: Option<String>,
    pub app: Option<Uuid>,
    pub error_code: Option<i64>,
    /// Continue after this record (its time and id), newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}
