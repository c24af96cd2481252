//! Error codes and the acknowledgement envelope.

use serde::{Deserialize, Serialize};

/// Why a request was refused. The same codes are used in socket acks and REST error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ErrorCode {
    /// No credentials, wrong credentials, or a revoked token.
    Unauthorized,
    /// Authenticated, but not allowed to do this (e.g. not a member, not the sender).
    Forbidden,
    /// The thing does not exist or is not visible to the caller.
    NotFound,
    /// Malformed JSON, a wrong type, a missing field or a value outside its rules.
    InvalidPayload,
    /// A field or frame above its size limit.
    TooLarge,
    /// Too many requests; `retryAfterMs` says when to try again.
    RateLimited,
    /// The request clashes with existing state (taken username, duplicate friend request, ...).
    Conflict,
    /// The callee is already in a call.
    Busy,
    /// The server failed; the request may be retried.
    Internal,
    /// The server is shutting down or its storage is unavailable; retry on another connection.
    Unavailable,
}

impl ErrorCode {
    /// The snake_case name that goes over the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{code, message, retryAfterMs?}`: the body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ErrorBody {
    /// Machine-readable reason.
    pub code: ErrorCode,
    /// Human-readable explanation, safe to show to the user.
    pub message: String,
    /// Only with `rate_limited`: milliseconds until the request would be accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into(), retry_after_ms: None }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}

/// The acknowledgement of every client → server socket event:
/// `{success:true, ...data}` or `{success:false, error:{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ack<T> {
    Err {
        success: False,
        error: ErrorBody,
    },
    Ok {
        success: True,
        #[serde(flatten)]
        data: T,
    },
}

impl<T> Ack<T> {
    pub fn ok(data: T) -> Self {
        Ack::Ok { success: True, data }
    }
    pub fn err(error: ErrorBody) -> Self {
        Ack::Err { success: False, error }
    }
    pub fn into_result(self) -> Result<T, ErrorBody> {
        match self {
            Ack::Ok { data, .. } => Ok(data),
            Ack::Err { error, .. } => Err(error),
        }
    }
}

impl<T> From<Result<T, ErrorBody>> for Ack<T> {
    fn from(r: Result<T, ErrorBody>) -> Self {
        match r {
            Ok(data) => Ack::ok(data),
            Err(e) => Ack::err(e),
        }
    }
}

/// The literal `true`, so that an untagged [`Ack`] can tell success from failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct True;
/// The literal `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct False;

macro_rules! bool_literal {
    ($ty:ident, $value:literal) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bool($value)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if bool::deserialize(d)? == $value {
                    Ok($ty)
                } else {
                    Err(serde::de::Error::custom(concat!("expected ", stringify!($value))))
                }
            }
        }
    };
}
bool_literal!(True, true);
bool_literal!(False, false);

/// An ack that carries nothing but `success:true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ack_shapes() {
        let ok: Ack<Empty> = Ack::ok(Empty {});
        assert_eq!(serde_json::to_value(&ok).unwrap(), json!({"success": true}));
        let err: Ack<Empty> = Ack::err(ErrorBody::new(ErrorCode::NotFound, "no such message"));
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"success": false, "error": {"code": "not_found", "message": "no such message"}})
        );
        let back: Ack<Empty> = serde_json::from_value(
            json!({"success": false, "error": {"code": "rate_limited", "message": "slow down", "retryAfterMs": 120}}),
        )
        .unwrap();
        assert_eq!(back.into_result().unwrap_err().retry_after_ms, Some(120));
    }
}
