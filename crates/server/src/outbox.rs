//! The mail port as a folder: each message is written as an RFC 5322 `.eml` file (mode 0600, since a message
//! may carry a one-time code) that an operator's mail transfer agent, or a person, picks up. Written to a
//! temporary name and renamed, so a reader never sees half a message.

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

fn render(message: &Message) -> String {
    let body = message.text.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "From: {FROM}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@gatehouse.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        header(&message.to),
        header(&message.subject),
        Utc::now().to_rfc2822(),
        uuid::Uuid::new_v4().simple(),
    )
}

#[async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, message: &Message) -> Result<(), String> {
        let folder = self.folder.clone();
        let text = render(message);
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::OpenOptionsExt;
            crate::config::create_data_dir(&folder).map_err(|e| e.to_string())?;
            let name = format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.6f"), uuid::Uuid::new_v4().simple());
            let partial = folder.join(format!(".{name}.tmp"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
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
        let message =
            Message { to: "a@example.com\r\nBcc: b@example.com".into(), subject: "Hi".into(), text: "x\ny".into() };
        let text = render(&message);
        assert!(text.contains("To: a@example.com  Bcc: b@example.com\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nx\r\ny"), "{text}");
    }
}
