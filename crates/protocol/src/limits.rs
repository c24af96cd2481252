//! Size and count limits. The server enforces them; clients may check early for a better message.

/// Message content, in Unicode scalar values, after trimming surrounding whitespace.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Usernames: 3–32 characters of `[a-z0-9_.-]` (compared case-insensitively).
pub const MIN_USERNAME_LEN: usize = 3;
pub const MAX_USERNAME_LEN: usize = 32;
/// Passwords: 8–256 characters.
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;
/// Display names: 1–64 characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Group titles: 1–100 characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Members of a group, the creator included.
pub const MAX_GROUP_MEMBERS: usize = 256;
/// `clientMsgId`: 1–64 characters of `[A-Za-z0-9_-]` (a UUID fits).
pub const MAX_CLIENT_MSG_ID_LEN: usize = 64;
/// A reaction: one grapheme cluster of at most this many bytes (long ZWJ emoji sequences fit).
pub const MAX_EMOJI_BYTES: usize = 64;
/// Distinct emoji on one message.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 50;
/// Session descriptions of calls, in bytes.
pub const MAX_SDP_BYTES: usize = 32 * 1024;
/// One ICE candidate (serialized JSON), in bytes.
pub const MAX_ICE_CANDIDATE_BYTES: usize = 4 * 1024;
/// A call rejection reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// One websocket message. Anything larger closes the connection.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;
/// One REST request body.
pub const MAX_HTTP_BODY_BYTES: usize = 64 * 1024;
/// History page size: default and maximum.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;
pub const MAX_HISTORY_LIMIT: u32 = 100;
/// `sync`: messages per conversation per page: default and maximum.
pub const DEFAULT_SYNC_LIMIT: u32 = 200;
pub const MAX_SYNC_LIMIT: u32 = 500;
/// User search results.
pub const MAX_SEARCH_RESULTS: u32 = 20;
/// A ringing call that nobody answers ends as `missed` after this many seconds.
pub const CALL_RING_TIMEOUT_SECS: u64 = 45;
