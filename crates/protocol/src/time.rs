//! Ids and clocks, made the same way by the server and the clients.

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> crate::Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// 128 random bits as 32 lower-case hex digits: a `clientMsgId`, a call id.
pub fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
