//! Invisible Unicode is stripped from everything sent: zero-width characters, bidirectional
//! controls and tag characters can hide instructions from a human reviewer of a prompt (the
//! "ASCII smuggling" and "Trojan Source" tricks) while a model still reads them.

use std::borrow::Cow;

/// Characters that render as nothing (or reorder text) but that a model reads.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{FEFF}'              // zero-width no-break space / BOM
        | '\u{00AD}'              // soft hyphen
        | '\u{180E}'              // Mongolian vowel separator
        | '\u{E0000}'..='\u{E007F}' // tag characters
        | '\u{FE00}'..='\u{FE0F}'   // variation selectors (they can carry hidden bytes)
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

/// `text` without invisible characters; borrowed when there were none.
pub fn strip_invisible(text: &str) -> Cow<'_, str> {
    if text.chars().any(invisible) {
        Cow::Owned(text.chars().filter(|&c| !invisible(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hidden_characters_and_keeps_the_rest() {
        let hidden = "use\u{200B} Tel\u{202E}cba\u{E0041}\u{E0042} now é 日本";
        assert_eq!(strip_invisible(hidden), "use Telcba now é 日本");
        assert!(matches!(strip_invisible("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn strips_variation_selectors_that_smuggle_bytes() {
        // One visible character followed by selectors encoding hidden bytes ("emoji smuggling").
        let smuggled = "ok\u{FE00}\u{FE0F}\u{E0100}\u{E01EF} done";
        assert_eq!(strip_invisible(smuggled), "ok done");
    }
}
