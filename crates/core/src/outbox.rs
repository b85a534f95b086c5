//! The outbox: messages are queued in the store ([`Write::QueueMail`]), in the transaction of the change
//! that causes them where there is one, and delivered after that commits through the mail port
//! ([`crate::kernel::mail::Mailer`]) by every node's delivery loop ([`Outbox::deliver_due`]), which asks only
//! the tenants that have due mail.
//!
//! - **Nothing lost, nothing sent twice by Gatehouse.** A node claims a due message by compare-and-set on
//!   its attempt count before handing it on, so two nodes never deliver it at once; a node that dies holding
//!   a claim leaves it to run out (`DirectoryConfig::mail_attempt_timeout`) and the message is tried again. A message the relay accepted
//!   but whose success was not recorded (the node died in between) goes again with the same `Message-ID`.
//! - **Retries with backoff.** A failed attempt is tried again after 1, 2, 4 … minutes, at most an hour
//!   apart; after [`MOST_ATTEMPTS`] the message is dead, kept with its last error for administrators to see
//!   (`gatehouse mail list`).
//! - **Templates.** Each kind of message has its plain text and an HTML rendering of the same words.

use crate::auth::authorization::{require, Action};
use crate::kernel::error::{Error, Result};
use crate::kernel::mail::Message;
use crate::store::{MailRecord, MailState, StoreError, Write};
use crate::{Caller, Directory};
use chrono::Duration;
use uuid::Uuid;

/// Attempts before a message is dead.
pub const MOST_ATTEMPTS: i64 = 8;
/// Messages one round of delivery takes on per tenant.
const ROUND: u32 = 50;

/// The wait before the attempt after `attempts` failed ones: doubling from a minute, at most an hour.
fn backoff(attempts: i64) -> Duration {
    Duration::minutes((1i64 << (attempts - 1).clamp(0, 6)).min(60))
}

/// A message to queue: its kind and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `passwordResetCode`, `signInCode`, `invitation`, …
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    /// Paragraphs separated by blank lines.
    pub text: String,
}

/// The HTML rendering of a message's text: each paragraph escaped, in its own `<p>`.
fn html_of(subject: &str, text: &str) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let paragraphs: String = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>\n", escape(p.trim()).replace('\n', "<br>\n")))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family: sans-serif\">\n{paragraphs}</body></html>\n",
        escape(subject)
    )
}

/// The outbox service.
pub struct Outbox<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The outbox service.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { directory: self }
    }
}

impl Outbox<'_> {
    /// The write that queues `mail`, due at once: a use case commits it with the change that causes it. Its
    /// id is time-ordered, so names made of it sort as the messages were made.
    pub(crate) fn queue(&self, mail: Mail) -> Write {
        let now = self.directory.now();
        Write::QueueMail(MailRecord {
            id: self.directory.new_object_id(),
            kind: mail.kind.to_owned(),
            html: Some(html_of(&mail.subject, &mail.text)),
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
            state: MailState::Pending,
            attempts: 0,
            next_attempt_at: now,
            claimed_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
        })
    }

    /// Whether this node hands messages on at all (it has a mail port).
    pub(crate) fn sends(&self) -> bool {
        self.directory.mailer.is_some()
    }

    /// Hands the tenant's due messages to the mail port, one claim at a time; returns how many were sent.
    pub async fn deliver(&self, tenant: Uuid) -> Result<usize> {
        let Some(mailer) = self.directory.mailer.as_ref() else { return Ok(0) };
        let system = Caller::System { tenant };
        let now = self.directory.now();
        let due = self.directory.store.due_mail(tenant, now, ROUND).await.map_err(Error::from)?;
        let mut sent = 0;
        for mail in due {
            let until = now + self.directory.config.mail_attempt_timeout;
            let claim = Write::ClaimMail { id: mail.id, attempts: mail.attempts, until, now };
            match self.directory.commit(&system, vec![claim]).await {
                Ok(_) => {}
                Err(StoreError::VersionMismatch) => continue,
                Err(error) => return Err(error.into()),
            }
            let message = Message {
                id: mail.id,
                to: mail.to.clone(),
                subject: mail.subject.clone(),
                text: mail.text.clone(),
                html: mail.html.clone(),
            };
            let attempts = mail.attempts + 1;
            // A relay that stops answering ends the attempt, as the claim does, rather than this loop.
            let limit = self.directory.config.mail_attempt_timeout.to_std().unwrap_or(std::time::Duration::MAX);
            let outcome = match tokio::time::timeout(limit, mailer.send(&message)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("the relay did not finish within {} seconds", limit.as_secs())),
            };
            let end = match outcome {
                Ok(()) => {
                    sent += 1;
                    Write::EndMailAttempt { id: mail.id, sent: Some(self.directory.now()), error: None, retry_at: None }
                }
                Err(error) => {
                    let retry_at = (attempts < MOST_ATTEMPTS).then(|| self.directory.now() + backoff(attempts));
                    match retry_at {
                        Some(_) => {
                            tracing::info!(%tenant, mail = %mail.id, attempts, %error, "a message was not delivered; it is tried again")
                        }
                        None => {
                            tracing::warn!(%tenant, mail = %mail.id, attempts, %error, "a message could not be delivered and was given up on")
                        }
                    }
                    Write::EndMailAttempt { id: mail.id, sent: None, error: Some(error), retry_at }
                }
            };
            self.directory.commit(&system, vec![end]).await.map_err(Error::from)?;
        }
        Ok(sent)
    }

    /// Delivers the due messages of every tenant that has any (a tenant whose delivery fails is logged and
    /// left for the next round); returns how many were sent.
    pub async fn deliver_due(&self) -> Result<usize> {
        if self.directory.mailer.is_none() {
            return Ok(0);
        }
        let tenants = self.directory.store.tenants_with_due_mail(self.directory.now()).await.map_err(Error::from)?;
        let mut sent = 0;
        for tenant in tenants {
            match self.deliver(tenant).await {
                Ok(count) => sent += count,
                Err(error) => tracing::warn!(%tenant, %error, "delivering a tenant's outgoing email failed"),
            }
        }
        Ok(sent)
    }

    /// The tenant's outbox, newest first, for administrators: messages in `state` (any when `None`), the
    /// dead ones with their last error.
    pub async fn list(&self, caller: &Caller, state: Option<MailState>, limit: u32) -> Result<Vec<MailRecord>> {
        require(caller, Action::ReadAuditLogs)?;
        self.directory.store.mail(caller.tenant(), state, limit.clamp(1, 1000)).await.map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour_and_html_is_escaped() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff(n).num_minutes()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let html = html_of("Code <1>", "Hello <b>\n\nYour code is: 1234\nBye");
        assert!(html.contains("<title>Code &lt;1&gt;</title>"), "{html}");
        assert!(html.contains("<p>Hello &lt;b&gt;</p>\n<p>Your code is: 1234<br>\nBye</p>"), "{html}");
    }
}
