//! Credentials: password hashes, client secrets and certificates, one-time passwords, the master key, token-signing keys, and the throttling
//! of failed client authentications.

pub mod banned;
pub mod certificates;
pub mod keys;
pub mod method_policy;
pub mod password_rules;
pub mod passwords;
pub mod secrets;
pub mod throttle;
pub mod totp;
