//! Who is calling and what they may do: the caller, permissions and their checks, directory roles.

pub mod authorization;
pub mod caller;
pub mod guest_policy;
pub mod roles;
pub mod scopes;
