//! Identifiers: case conversion with heck, Rust keyword escaping, and the identifier check.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Words that cannot be raw identifiers (`r#self` is not allowed); they get a trailing `_`.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// A spec name in PascalCase, for types, traits and enum variants.
pub fn pascal(name: &str) -> String {
    escape(name.to_upper_camel_case())
}

/// A spec name in snake_case, for fields, functions and files.
pub fn snake(name: &str) -> String {
    escape(name.to_snake_case())
}

/// The snake_case form without keyword escaping, for file names and `SCREAMING` consts.
pub fn snake_plain(name: &str) -> String {
    name.to_snake_case()
}

fn escape(ident: String) -> String {
    if NOT_RAW.contains(&ident.as_str()) {
        format!("{ident}_")
    } else if KEYWORDS.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else {
        ident
    }
}

/// Whether a converted name is a usable Rust identifier: ASCII letters, digits and `_`, not
/// starting with a digit, and not empty.
pub fn is_identifier(ident: &str) -> bool {
    let bare = ident.strip_prefix("r#").unwrap_or(ident);
    let mut chars = bare.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_convert_and_keywords_escape() {
        assert_eq!(pascal("chat_request"), "ChatRequest");
        assert_eq!(pascal("room-full"), "RoomFull");
        assert_eq!(snake("ChatRequest"), "chat_request");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(pascal("self"), "Self_");
        assert!(is_identifier("r#type"));
        assert!(!is_identifier("9lives"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("café"));
    }
}
