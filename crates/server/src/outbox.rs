//! The mail port as a folder, where no SMTP relay is configured: each message is written as an RFC 5322
//! `.eml` file (mode 0600, since a message may carry a one-time code) that an operator's mail transfer
//! agent, or a person, picks up. Written to a temporary name and renamed to a name made of the message's id,
//! so a reader never sees half a message and a repeated attempt replaces the same file.

use async_trait::async_trait;
use chrono::Utc;
use gatehouse_core::kernel::mail::{Mailer, Message};
use std::io::Write;
use std::path::PathBuf;

/// The sender every message names.
const FROM: &str = "Gatehouse <no-reply@gatehouse.invalid>";

pub struct FileOutbox {
    folder: PathBuf,
}

impl FileOutbox {
    pub fn new(folder: PathBuf) -> Self {
        Self { folder }
    }
}

/// A header value on one line: no line breaks can smuggle in another header.
fn header(value: &str) -> String {
    value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Text with CRLF line ends.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn render(message: &Message) -> String {
    let head = format!(
        "From: {FROM}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@gatehouse.invalid>\r\nMIME-Version: 1.0\r\n",
        header(&message.to),
        header(&message.subject),
        Utc::now().to_rfc2822(),
        message.id.simple(),
    );
    let plain = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    match &message.html {
        None => format!("{head}{plain}{}", crlf(&message.text)),
        Some(html) => {
            let boundary = format!("=_{}", message.id.simple());
            format!(
                "{head}Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{plain}{}\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n--{boundary}--\r\n",
                crlf(&message.text),
                crlf(html),
            )
        }
    }
}

#[async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, message: &Message) -> Result<(), String> {
        let folder = self.folder.clone();
        let text = render(message);
        let message_name = message.id.simple().to_string();
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::OpenOptionsExt;
            crate::config::create_data_dir(&folder).map_err(|e| e.to_string())?;
            let name = message_name;
            let partial = folder.join(format!(".{name}.tmp"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            file.write_all(text.as_bytes()).and_then(|_| file.sync_all()).map_err(|e| e.to_string())?;
            std::fs::rename(&partial, folder.join(format!("{name}.eml"))).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_cannot_carry_another() {
        let message = Message {
            id: uuid::Uuid::nil(),
            to: "a@example.com\r\nBcc: b@example.com".into(),
            subject: "Hi".into(),
            text: "x\ny".into(),
            html: None,
        };
        let text = render(&message);
        assert!(text.contains("To: a@example.com  Bcc: b@example.com\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nx\r\ny"), "{text}");
        let both = render(&Message { html: Some("<p>x</p>".into()), ..message });
        assert!(both.contains("multipart/alternative") && both.contains("text/html") && both.contains("<p>x</p>"));
    }
}
