//! Text from a request shown to a person: in a log line or a listing, a control character could
//! forge a line, shift a column or drive the reader's terminal, so each is written as an escape.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Characters never written as they are: C0 and C1 controls (CR, LF, TAB, BS, VT, ESC, …), DEL,
/// and the Unicode line separators and direction overrides that reorder what a terminal shows.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every unsafe character escaped as Rust writes it (`\r`, `\t`, `\u{1b}`, …).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    // Writing to a String cannot fail.
    let _ = EscapingWriter(&mut escaped).write_str(text);
    Cow::Owned(escaped)
}

/// A `fmt::Write` that escapes unsafe characters on their way to `W`.
pub struct EscapingWriter<W>(pub W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(is_unsafe) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(self.0, "{}", c.escape_default())?;
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_reordering_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape("a\r\nb\tc\u{8}d\u{7f}e\u{b}f\u{1b}]0;x\u{7}g\u{9b}h\u{202e}i"),
            "a\\r\\nb\\tc\\u{8}d\\u{7f}e\\u{b}f\\u{1b}]0;x\\u{7}g\\u{9b}h\\u{202e}i"
        );
        assert!(matches!(
            escape("plain é 日本"),
            Cow::Borrowed("plain é 日本")
        ));
    }
}
