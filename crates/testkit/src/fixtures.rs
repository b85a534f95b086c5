//! Request bodies and inputs the tests share.

use serde_json::{json, Value};

/// A Graph `POST /users` body for a member of the test tenant (`contoso.gatehouse.test`) with a strong
/// password to change at first sign-in.
pub fn new_user(alias: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": format!("User {alias}"),
        "mailNickname": alias,
        "userPrincipalName": format!("{alias}@contoso.gatehouse.test"),
        "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "Str0ng!Kestr3l"},
    })
}

/// `count` repeatable pseudo-random strings of fewer than `max_length` characters from `alphabet` (a
/// xorshift generator started at `seed`), for tests that parsers never panic.
pub fn arbitrary_inputs(alphabet: &str, seed: u64, count: usize, max_length: u64) -> impl Iterator<Item = String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut state = seed;
    (0..count).map(move |_| {
        let length = state % max_length;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect()
    })
}
