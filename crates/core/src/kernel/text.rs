//! Text as the directory compares it.

/// The folded form every comparison uses.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}
