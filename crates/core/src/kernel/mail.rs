//! The port through which the directory's outbox hands messages on (password reset and sign-in codes;
//! invitations later). The server provides one: SMTP to a relay when configured, a folder of messages
//! otherwise.

use async_trait::async_trait;

/// A message from the tenant to one address, as plain text and, where its kind has one, HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The outbox's id of the message: the same on every attempt, so a repeated delivery is recognisable
    /// (`Message-ID`).
    pub id: uuid::Uuid,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Sends email.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands the message on for delivery; an error says why it could not be (it is tried again later).
    async fn send(&self, message: &Message) -> std::result::Result<(), String>;
}
