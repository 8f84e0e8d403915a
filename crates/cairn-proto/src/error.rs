//! The wire error body: what every HTTP endpoint (pool and peer) answers with on a 4xx or
//! 5xx status, a stable machine-readable code beside a sentence for the user.
//!
//! Codes are part of the protocol: once published, a code keeps its meaning, and clients
//! match on the code, never on the message. Internal error types stay internal; they reach
//! the wire only through [`ErrorCode`] and their `Display` sentence.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest message, in characters, that [`ErrorBody`]'s `Display` shows.
///
/// The body may come from a hostile server, so what a user sees is bounded.
pub const MAX_DISPLAYED_MESSAGE: usize = 500;

/// Longest code, in characters, that [`ErrorBody`]'s `Display` shows.
pub const MAX_DISPLAYED_CODE: usize = 64;

/// An error that has a stable wire code, such as `"order_expired"`.
///
/// Codes are lowercase `snake_case` ASCII and never change meaning once published.
pub trait ErrorCode {
    /// The stable wire code for this error.
    fn code(&self) -> &'static str;
}

/// The JSON body of every error answer: `{"code": "...", "message": "..."}`.
///
/// Unknown fields are ignored when decoding, so a newer server may add fields (for example
/// a retry hint) without breaking older clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `"order_expired"`; clients match on this.
    pub code: String,
    /// One sentence for a person: what went wrong and what to do about it.
    pub message: String,
}

impl ErrorBody {
    /// A body from a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The body for an error: its wire code and its `Display` sentence.
    pub fn from_error<E: ErrorCode + fmt::Display + ?Sized>(error: &E) -> Self {
        Self::new(error.code(), error.to_string())
    }

    /// The JSON text of this body.
    pub fn to_json(&self) -> String {
        // Serializing two strings cannot fail; fall back to a fixed, valid body anyway
        // rather than panicking in an error path.
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from(
                r#"{"code":"internal","message":"the server could not describe the error"}"#,
            )
        })
    }

    /// Parses a JSON body received from a server.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl<E: ErrorCode + fmt::Display> From<&E> for ErrorBody {
    fn from(error: &E) -> Self {
        Self::from_error(error)
    }
}

/// Writes untrusted text for a person: control characters (which could drive a terminal)
/// become U+FFFD and anything past `max` characters is cut off with an ellipsis.
fn write_sanitized(f: &mut fmt::Formatter<'_>, text: &str, max: usize) -> fmt::Result {
    for (i, c) in text.chars().enumerate() {
        if i == max {
            return f.write_str("…");
        }
        if c.is_control() {
            f.write_str("\u{fffd}")?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

/// Shows the message and the code, made safe to print: the body may come from a hostile
/// server, so control characters are replaced and the length is bounded.
impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_sanitized(f, &self.message, MAX_DISPLAYED_MESSAGE)?;
        f.write_str(" (")?;
        write_sanitized(f, &self.code, MAX_DISPLAYED_CODE)?;
        f.write_str(")")
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stand-in for a crate's error type.
    #[derive(Debug, thiserror::Error)]
    #[error("the disk is full; free some space and try again")]
    struct DiskFull;

    impl ErrorCode for DiskFull {
        fn code(&self) -> &'static str {
            "disk_full"
        }
    }

    #[test]
    fn json_shape_is_pinned() {
        let body = ErrorBody::from_error(&DiskFull);
        assert_eq!(
            body.to_json(),
            r#"{"code":"disk_full","message":"the disk is full; free some space and try again"}"#
        );
        assert_eq!(ErrorBody::from(&DiskFull), body);
        assert_eq!(
            ErrorBody::from_json(body.to_json().as_bytes()).unwrap(),
            body
        );
    }

    #[test]
    fn from_dyn_error_code() {
        let error: &dyn ErrorCodeDisplay = &DiskFull;
        let body = ErrorBody::from_error(error);
        assert_eq!(body.code, "disk_full");
    }

    /// Object-safe combination used to check `from_error` accepts unsized errors.
    trait ErrorCodeDisplay: ErrorCode + fmt::Display {}
    impl<T: ErrorCode + fmt::Display> ErrorCodeDisplay for T {}

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_refused() {
        let body = ErrorBody::from_json(
            br#"{"code":"peer_busy","message":"try later","retry_after_secs":5}"#,
        )
        .unwrap();
        assert_eq!(body, ErrorBody::new("peer_busy", "try later"));
        assert!(ErrorBody::from_json(br#"{"code":"peer_busy"}"#).is_err());
        assert!(ErrorBody::from_json(br#"{"code":1,"message":"x"}"#).is_err());
        assert!(ErrorBody::from_json(b"").is_err());
    }

    #[test]
    fn display_shows_message_and_code() {
        assert_eq!(
            ErrorBody::from_error(&DiskFull).to_string(),
            "the disk is full; free some space and try again (disk_full)"
        );
    }

    #[test]
    fn display_neutralises_hostile_text() {
        let body = ErrorBody::new(
            "x\u{1b}[2J",
            format!("\u{1b}]0;pwned\u{7}{}", "a".repeat(10_000)),
        );
        let shown = body.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.chars().count() < MAX_DISPLAYED_MESSAGE + MAX_DISPLAYED_CODE + 10);
        assert!(shown.contains('…'));
    }

    proptest! {
        #[test]
        fn round_trip(code in ".{0,40}", message in ".{0,200}") {
            let body = ErrorBody::new(code, message);
            prop_assert_eq!(ErrorBody::from_json(body.to_json().as_bytes()).unwrap(), body);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), text in ".{0,200}") {
            let _ = ErrorBody::from_json(&bytes);
            if let Ok(body) = ErrorBody::from_json(text.as_bytes()) {
                prop_assert!(!body.to_string().chars().any(char::is_control));
            }
        }

        #[test]
        fn display_is_bounded_and_printable(code in any::<String>(), message in any::<String>()) {
            let shown = ErrorBody::new(code, message).to_string();
            prop_assert!(!shown.chars().any(char::is_control));
            prop_assert!(shown.chars().count() <= MAX_DISPLAYED_MESSAGE + MAX_DISPLAYED_CODE + 5);
        }
    }
}
