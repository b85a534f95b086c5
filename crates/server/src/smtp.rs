//! The mail port over SMTP, to the relay of `--smtp-url`: `smtp://host[:port]` (plain, for a relay on the
//! same host), `smtp://host:587?tls=required` (STARTTLS), `smtps://host[:465]` (TLS from the first byte),
//! with `user:password@` for authentication. The relay's certificate is checked against the public roots
//! and, with `--smtp-ca-file`, a private certificate authority. Each message goes as plain text with its
//! HTML alternative, under the same `Message-ID` on every attempt.

use async_trait::async_trait;
use gatehouse_core::kernel::mail::{Mailer, Message};
use lettre::message::{header, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// The relay of `url`, sending as `from` (`Name <address>` or an address), each exchange with it given up
    /// after `timeout`; its certificate may be issued by the authority of the PEM file `ca`.
    pub fn new(
        url: &str,
        from: &str,
        timeout: std::time::Duration,
        ca: Option<&std::path::Path>,
    ) -> anyhow::Result<SmtpMailer> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("--smtp-url is not an SMTP URL: {e}"))?
            .timeout(Some(timeout));
        if let Some(ca) = ca {
            builder = builder.tls(private_tls(url, ca)?);
        }
        let transport = builder.build();
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

/// The TLS of the relay of `url`, with the authority of the PEM file `ca` trusted besides the public roots.
fn private_tls(url: &str, ca: &std::path::Path) -> anyhow::Result<Tls> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--smtp-url is not a URL: {e}"))?;
    let host = parsed.host_str().ok_or_else(|| anyhow::anyhow!("--smtp-url names no host"))?.to_owned();
    let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("--smtp-ca-file {}: {e}", ca.display()))?;
    let authority =
        Certificate::from_pem(&pem).map_err(|e| anyhow::anyhow!("--smtp-ca-file is not a PEM certificate: {e}"))?;
    let parameters = TlsParameters::builder(host).add_root_certificate(authority).build_rustls()?;
    let mode = parsed.query_pairs().find(|(name, _)| name == "tls").map(|(_, value)| value.into_owned());
    match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(parameters)),
        ("smtp", Some("required")) => Ok(Tls::Required(parameters)),
        ("smtp", Some("opportunistic")) => Ok(Tls::Opportunistic(parameters)),
        _ => anyhow::bail!("--smtp-ca-file is for a relay over TLS: smtps://… or smtp://…?tls=required"),
    }
}
