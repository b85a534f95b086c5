//! The rule language's tokens.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    /// A bare word: a property path, keyword or unquoted literal.
    Word(String),
    /// An operator word that was written with a hyphen (or en dash).
    Dashed(String),
    Text(String),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

pub(super) fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, RuleError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((start, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((start, Token::Close));
                i += 1;
            }
            '[' => {
                out.push((start, Token::OpenList));
                i += 1;
            }
            ']' => {
                out.push((start, Token::CloseList));
                i += 1;
            }
            ',' => {
                out.push((start, Token::Comma));
                i += 1;
            }
            '"' | '\'' | '“' | '”' => {
                let quote = c;
                let closing = |d: char| if quote == '\'' { d == '\'' } else { matches!(d, '"' | '“' | '”') };
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(error(RuleErrorKind::Compilation, start, "the string is not closed"));
                    };
                    if quote != '\'' && d == '`' && chars.get(i + 1).is_some_and(|n| closing(*n)) {
                        value.push('"');
                        i += 2;
                    } else if quote == '\'' && d == '\'' && chars.get(i + 1) == Some(&'\'') {
                        value.push('\'');
                        i += 2;
                    } else if closing(d) {
                        i += 1;
                        break;
                    } else {
                        value.push(d);
                        i += 1;
                    }
                }
                out.push((start, Token::Text(value)));
            }
            '-' | '–' | '—' if chars.get(i + 1).is_some_and(|n| n.is_alphabetic()) => {
                i += 1;
                let word: String = chars[i..].iter().take_while(|c| c.is_alphanumeric()).collect();
                i += word.chars().count();
                out.push((start, Token::Dashed(word)));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || c == ':' || c == '+' => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '+'))
                    .collect();
                i += word.chars().count();
                out.push((start, Token::Word(word)));
            }
            other => {
                return Err(error(RuleErrorKind::Compilation, start, format!("unexpected character '{other}'")));
            }
        }
    }
    Ok(out)
}
