//! The port through which the directory sends email (self-service password reset codes; invitations
//! later). The server provides one: a folder of messages by default, SMTP when configured.

use async_trait::async_trait;

/// A plain-text message from the tenant to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Sends email.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands the message on for delivery; an error says why it could not be.
    async fn send(&self, message: &Message) -> std::result::Result<(), String>;
}
