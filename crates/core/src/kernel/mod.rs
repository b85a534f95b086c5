//! What every layer uses: the error type, injected time, the DNS, mail and SCIM client ports, and the request's context.

pub mod clock;
pub mod dns;
pub mod error;
pub mod mail;
pub mod random;
pub mod request;
pub mod scim_client;
pub mod text;
