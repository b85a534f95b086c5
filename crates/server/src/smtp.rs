//! The mail port over SMTP, to the relay of `--smtp-url`: `smtp://host[:port]` (plain, for a relay on the
//! same host), `smtp://host:587?tls=required` (STARTTLS), `smtps://host[:465]` (TLS from the first byte),
//! with `user:password@` for authentication. Each message goes as plain text with its HTML alternative,
//! under the same `Message-ID` on every attempt.

use async_trait::async_trait;
use gatehouse_core::kernel::mail::{Mailer, Message};
use lettre::message::{header, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// The relay of `url`, sending as `from` (`Name <address>` or an address), each exchange with it given up
    /// after `timeout`.
    pub fn new(url: &str, from: &str, timeout: std::time::Duration) -> anyhow::Result<SmtpMailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("--smtp-url is not an SMTP URL: {e}"))?
            .timeout(Some(timeout))
            .build();
        let from = from.parse().map_err(|e| anyhow::anyhow!("--mail-from is not an address: {e}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), String> {
        let to: Mailbox = message.to.parse().map_err(|e| format!("the address {} is not valid: {e}", message.to))?;
        let domain = self.from.email.domain().to_owned();
        let plain = SinglePart::builder().header(header::ContentType::TEXT_PLAIN).body(message.text.clone());
        let builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", message.id.simple())));
        let email = match &message.html {
            Some(html) => {
                let html = SinglePart::builder().header(header::ContentType::TEXT_HTML).body(html.clone());
                builder.multipart(MultiPart::alternative().singlepart(plain).singlepart(html))
            }
            None => builder.singlepart(plain),
        };
        let email = email.map_err(|e| e.to_string())?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
