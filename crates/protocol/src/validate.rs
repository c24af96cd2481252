//! Checks of user input, shared so that clients can refuse early with the server's own words.
//! Each returns the normalized value or an [`ErrorBody`] with `invalid_payload` or `too_large`.

use unicode_segmentation::UnicodeSegmentation;

use crate::ErrorBody;
use crate::ErrorCode::{InvalidPayload, TooLarge};
use crate::limits::*;

fn invalid(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(InvalidPayload, message)
}

/// Control characters other than tab and newlines are refused everywhere: they break rendering and
/// logs and have no use in chat text.
fn has_forbidden_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
}

/// Message content: trimmed, 1–4000 characters, no control characters but tab and newlines.
pub fn content(raw: &str) -> Result<String, ErrorBody> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid("content is empty"));
    }
    if trimmed.chars().count() > MAX_CONTENT_CHARS {
        return Err(ErrorBody::new(TooLarge, format!("content is longer than {MAX_CONTENT_CHARS} characters")));
    }
    if has_forbidden_control(trimmed) {
        return Err(invalid("content contains control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Username: lower-cased, 3–32 of `[a-z0-9_.-]`.
pub fn username(raw: &str) -> Result<String, ErrorBody> {
    let name = raw.trim().to_lowercase();
    let len = name.chars().count();
    if !(MIN_USERNAME_LEN..=MAX_USERNAME_LEN).contains(&len) {
        return Err(invalid(format!("username must be {MIN_USERNAME_LEN}–{MAX_USERNAME_LEN} characters")));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')) {
        return Err(invalid("username may contain only a-z, 0-9, '_', '.' and '-'"));
    }
    Ok(name)
}

pub fn password(raw: &str) -> Result<(), ErrorBody> {
    let len = raw.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(invalid(format!("password must be at least {MIN_PASSWORD_LEN} characters")));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(ErrorBody::new(TooLarge, format!("password is longer than {MAX_PASSWORD_LEN} characters")));
    }
    Ok(())
}

/// A short single-line text (display name, group title): trimmed, 1–`max` characters.
pub fn label(field: &str, raw: &str, max: usize) -> Result<String, ErrorBody> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    if trimmed.chars().count() > max {
        return Err(ErrorBody::new(TooLarge, format!("{field} is longer than {max} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(format!("{field} contains control characters")));
    }
    Ok(trimmed.to_owned())
}

pub fn display_name(raw: &str) -> Result<String, ErrorBody> {
    label("displayName", raw, MAX_DISPLAY_NAME_CHARS)
}

pub fn title(raw: &str) -> Result<String, ErrorBody> {
    label("title", raw, MAX_TITLE_CHARS)
}

/// `clientMsgId`: 1–64 of `[A-Za-z0-9_-]`.
pub fn client_msg_id(raw: &str) -> Result<(), ErrorBody> {
    if raw.is_empty() || raw.len() > MAX_CLIENT_MSG_ID_LEN {
        return Err(invalid(format!("clientMsgId must be 1–{MAX_CLIENT_MSG_ID_LEN} characters")));
    }
    if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
        return Err(invalid("clientMsgId may contain only A-Z, a-z, 0-9, '-' and '_'"));
    }
    Ok(())
}

/// A reaction: exactly one grapheme cluster (so ZWJ sequences, skin tones and flags count as one),
/// not a letter, digit, space or control character.
pub fn emoji(raw: &str) -> Result<(), ErrorBody> {
    if raw.len() > MAX_EMOJI_BYTES {
        return Err(ErrorBody::new(TooLarge, "emoji is too long"));
    }
    let mut graphemes = raw.graphemes(true);
    let (Some(first), None) = (graphemes.next(), graphemes.next()) else {
        return Err(invalid("emoji must be exactly one character"));
    };
    let plain = first.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_control() || c.is_ascii());
    if plain {
        return Err(invalid("emoji must be an emoji or symbol"));
    }
    Ok(())
}

/// An opaque signaling string (SDP) with a byte limit.
pub fn sdp(raw: &str) -> Result<(), ErrorBody> {
    if raw.len() > MAX_SDP_BYTES {
        return Err(ErrorBody::new(TooLarge, format!("sdp is larger than {MAX_SDP_BYTES} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules() {
        assert_eq!(content("  hi \n").unwrap(), "hi");
        assert_eq!(content("   ").unwrap_err().code, InvalidPayload);
        assert_eq!(content(&"a".repeat(4000)).unwrap().len(), 4000);
        assert_eq!(content(&"é".repeat(4001)).unwrap_err().code, TooLarge);
        assert_eq!(content("a\u{0}b").unwrap_err().code, InvalidPayload);
        assert!(content("line1\nline2\tTab").is_ok());
        assert!(content("'; DROP TABLE messages; --").is_ok());
    }

    #[test]
    fn username_rules() {
        assert_eq!(username("Alice_01").unwrap(), "alice_01");
        assert!(username("ab").is_err());
        assert!(username(&"a".repeat(33)).is_err());
        assert!(username("al ice").is_err());
        assert!(username("álice").is_err());
    }

    #[test]
    fn emoji_rules() {
        for ok in ["👍", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🏳️‍🌈", "★"] {
            assert!(emoji(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "a", "1", " ", "👍👍", "ab", "\u{7}"] {
            assert!(emoji(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn client_msg_id_rules() {
        assert!(client_msg_id("0b6f3c1e-4f0a-4a55-9a7b-3d4c2b1a0f9e").is_ok());
        assert!(client_msg_id("").is_err());
        assert!(client_msg_id("a b").is_err());
        assert!(client_msg_id(&"x".repeat(65)).is_err());
    }
}
