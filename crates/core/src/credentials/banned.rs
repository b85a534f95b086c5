//! Banned passwords, checked as Entra's Password Protection checks them:
//!
//! 1. The password is normalised: lower case, then `0→o 1→l $→s @→a`.
//! 2. Banned terms are found in it: those of the global list and the tenant's custom list at an edit distance
//!    of at most one (a character more, fewer or different; from five characters on, exactly below), and the
//!    user's first and last names and the tenant's name as they are (four characters or more).
//! 3. It scores one point per banned term found and one per other character; it needs [`MIN_SCORE`].
//!
//! The global list is [`GLOBAL_LIST`]: the most common passwords of a public list, normalised.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The score a password needs.
pub const MIN_SCORE: usize = 5;
/// The shortest and longest banned term.
pub const TERM_LENGTHS: std::ops::RangeInclusive<usize> = 4..=16;
/// The shortest text matched at edit distance one: a four-character text is one change away from too many
/// common passwords to mean anything.
const FUZZY_FROM: usize = 5;
/// The global list, a term a line (lines starting with `#` are its provenance).
pub const GLOBAL_LIST: &str = include_str!("../../data/banned-passwords.txt");

/// Entra's normalisation: lower case, and the four common substitutions undone.
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => 'l',
            '$' => 's',
            '@' => 'a',
            other => other,
        })
        .collect()
}

/// Terms with their one-deletion variants, for matches at edit distance one (the symmetric-deletion method:
/// two strings are that close when one is the other, or one less a character is the other, or both less a
/// character are the same).
#[derive(Default)]
pub struct Terms {
    exact: HashSet<String>,
    deleted: HashSet<String>,
}

fn deletions(term: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = term.chars().collect();
    (0..chars.len()).map(move |skip| chars.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, c)| *c).collect())
}

impl Terms {
    /// The terms of a list (normalised here), those of banned-term length.
    pub fn of<'a>(terms: impl IntoIterator<Item = &'a str>) -> Terms {
        let mut out = Terms::default();
        for term in terms.into_iter().map(normalise) {
            if TERM_LENGTHS.contains(&term.chars().count()) {
                out.deleted.extend(deletions(&term));
                out.exact.insert(term);
            }
        }
        out
    }

    /// The global list, read once.
    pub fn global() -> &'static Terms {
        static GLOBAL: OnceLock<Terms> = OnceLock::new();
        GLOBAL.get_or_init(|| Terms::of(GLOBAL_LIST.lines().filter(|l| !l.starts_with('#') && !l.is_empty())))
    }

    /// Whether `candidate` is a term, or (for candidates of [`FUZZY_FROM`] characters or more) at edit
    /// distance one from one.
    fn near(&self, candidate: &str) -> bool {
        self.exact.contains(candidate)
            || (candidate.chars().count() >= FUZZY_FROM
                && (self.deleted.contains(candidate)
                    || deletions(candidate).any(|d| self.exact.contains(&d) || self.deleted.contains(&d))))
    }
}

/// What a password is checked against besides the global list.
#[derive(Default)]
pub struct Context<'a> {
    /// The tenant's custom banned terms.
    pub custom: Option<&'a Terms>,
    /// The user's first and last names and the tenant's name, matched as they are.
    pub names: Vec<String>,
}

/// The pieces a password scores by, normalised: each banned term found, left to right — at each place the
/// longest name or term found as it is, else the longest near a term — and each other character.
pub fn pieces(password: &str, context: &Context<'_>) -> Vec<String> {
    let text: Vec<char> = normalise(password).chars().collect();
    let names: Vec<Vec<char>> = context
        .names
        .iter()
        .map(|n| normalise(n).chars().collect::<Vec<char>>())
        .filter(|n| n.len() >= *TERM_LENGTHS.start())
        .collect();
    let lists: Vec<&Terms> = std::iter::once(Terms::global()).chain(context.custom).collect();
    let (mut at, mut out) = (0, Vec::new());
    while at < text.len() {
        let name = names.iter().filter(|n| text[at..].starts_with(n)).map(Vec::len).max();
        let longest = (TERM_LENGTHS.end() + 1).min(text.len() - at);
        let candidates =
            || (*TERM_LENGTHS.start()..=longest).rev().map(|len| (len, text[at..at + len].iter().collect::<String>()));
        let exact = candidates().find(|(_, c)| lists.iter().any(|list| list.exact.contains(c))).map(|(len, _)| len);
        let length = match name.max(exact) {
            Some(length) => length,
            None => candidates().find(|(_, c)| lists.iter().any(|list| list.near(c))).map_or(1, |(len, _)| len),
        };
        out.push(text[at..at + length].iter().collect());
        at += length;
    }
    out
}

/// The password's score: one point per piece ([`pieces`]).
pub fn score(password: &str, context: &Context<'_>) -> usize {
    pieces(password, context).len()
}

/// Whether the password is allowed: it scores at least [`MIN_SCORE`].
pub fn allowed(password: &str, context: &Context<'_>) -> bool {
    score(password, context) >= MIN_SCORE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsofts_examples_score_as_entra_says() {
        let custom = Terms::of(["blank"]);
        let context = Context { custom: Some(&custom), names: vec!["Contoso".into()] };
        assert_eq!(pieces("C0ntos0Blank12", &context), ["contoso", "blank", "l", "2"]);
        assert!(!allowed("C0ntos0Blank12", &context));
        assert_eq!(score("ContoS0Bl@nkf9!", &context), 5);
        assert!(allowed("ContoS0Bl@nkf9!", &context));
    }

    #[test]
    fn common_passwords_and_their_l33t_and_near_spellings_are_banned() {
        let none = Context::default();
        for banned in ["Password1!", "P@ssw0rd!", "Pa$$word12", "Passwordd", "Qwerty123!", "Iloveyou!1"] {
            assert!(!allowed(banned, &none), "{banned}: {:?}", pieces(banned, &none));
        }
        for fine in ["Tr4vel-Kite-Moss", "Gr33n!Harbour#7", "xK9$mQ2!vL"] {
            assert!(allowed(fine, &none), "{fine}: {:?}", pieces(fine, &none));
        }
        let names = Context { custom: None, names: vec!["Adele".into(), "Vance".into()] };
        assert!(allowed("AdeleV@nce1!", &none), "{:?}", pieces("AdeleV@nce1!", &none));
        assert!(!allowed("AdeleV@nce1!", &names), "the user's own names");
        assert_eq!(normalise("P@$$W0RD1"), "passwordl");
    }
}
