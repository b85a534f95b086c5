//! Request bodies the tests share.

use serde_json::{json, Value};

/// A Graph `POST /users` body for a member of the test tenant (`contoso.gatehouse.test`) with a strong
/// password to change at first sign-in.
pub fn new_user(alias: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": format!("User {alias}"),
        "mailNickname": alias,
        "userPrincipalName": format!("{alias}@contoso.gatehouse.test"),
        "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "Str0ng!Passw0rd"},
    })
}
