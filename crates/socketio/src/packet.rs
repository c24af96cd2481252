//! The packet codec: Engine.IO v4 text frames carrying Socket.IO packets of the namespace `/`.
//!
//! Parsing borrows the frame and looks at the JSON of an event only as far as its name: the
//! arguments stay raw text until [`first_arg`] (or the caller's own typed parse) reads them.

use std::borrow::Cow;
use std::fmt::Write;
use std::time::Duration;

use serde_json::Value;

/// The Engine.IO pong, the answer to [`Packet::Ping`].
pub const PONG: &str = "3";
/// A Socket.IO disconnect from the namespace, sent before closing the websocket.
pub const DISCONNECT: &str = "41";

/// The timing announced by Engine.IO's open packet: the server pings every `ping_interval` and
/// waits `ping_timeout` for the pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
}

impl Open {
    /// How long the connection may go without a ping before it counts as dead.
    pub fn liveness(&self) -> Duration {
        self.ping_interval + self.ping_timeout
    }
}

/// One incoming text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Engine.IO `0{"sid":…,"pingInterval":…,"pingTimeout":…}` (the defaults, 25 s and 20 s, where
    /// a field is missing).
    Open(Open),
    /// Engine.IO `1`: the server closes the transport.
    Close,
    /// Engine.IO `2`: to be answered with [`PONG`].
    Ping,
    /// `40…` (`40{"sid":…}`): the server accepted the connection to the namespace.
    Connect,
    /// `44…`: the server refused it; the `message` of `{"message":…}`, else the text as sent.
    ConnectError(String),
    /// `41`: the server disconnected us from the namespace.
    Disconnect,
    /// `42["name",args…]`, or `42<id>["name",args…]` when the sender wants an ack.
    Event {
        ack_id: Option<u64>,
        /// Borrowed unless the name contains JSON escapes.
        name: Cow<'a, str>,
        /// The arguments after the name as sent: comma-separated JSON values without the
        /// brackets, `""` for none.
        args: &'a str,
    },
    /// `43<id>[args…]`: the answer to our event `id`; `args` as in [`Packet::Event`].
    Ack { id: u64, args: &'a str },
    /// Anything else: pong, noop, binary packets, other namespaces, malformed frames.
    Other(&'a str),
}

impl<'a> Packet<'a> {
    /// Parses one text frame. Never fails: what it does not know is [`Packet::Other`].
    pub fn parse(text: &'a str) -> Packet<'a> {
        let parsed = match text.as_bytes().first() {
            Some(b'0') => parse_open(&text[1..]).map(Packet::Open),
            Some(b'1') => Some(Packet::Close),
            Some(b'2') if text.len() == 1 => Some(Packet::Ping),
            Some(b'4') => parse_message(&text[1..]),
            _ => None,
        };
        parsed.unwrap_or(Packet::Other(text))
    }
}

fn parse_open(json: &str) -> Option<Open> {
    let handshake: Value = serde_json::from_str(json).ok()?;
    let millis =
        |key: &str, default: u64| Duration::from_millis(handshake.get(key).and_then(Value::as_u64).unwrap_or(default));
    Some(Open { ping_interval: millis("pingInterval", 25_000), ping_timeout: millis("pingTimeout", 20_000) })
}

/// A Socket.IO packet: what follows Engine.IO's `4`.
fn parse_message(packet: &str) -> Option<Packet<'_>> {
    let rest = packet.get(1..)?;
    match packet.as_bytes().first()? {
        b'0' => Some(Packet::Connect),
        b'1' => Some(Packet::Disconnect),
        b'2' => {
            let (ack_id, array) = split_id(rest)?;
            let (name, args) = split_name(array_items(array)?)?;
            Some(Packet::Event { ack_id, name, args })
        }
        b'3' => {
            let (id, array) = split_id(rest)?;
            Some(Packet::Ack { id: id?, args: array_items(array)? })
        }
        b'4' => Some(Packet::ConnectError(connect_error_message(rest))),
        _ => None,
    }
}

/// `17[…]` → `(Some(17), "[…]")`, `[…]` → `(None, "[…]")`; an id out of range is malformed.
fn split_id(text: &str) -> Option<(Option<u64>, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits == 0 { None } else { Some(text[..digits].parse().ok()?) };
    Some((id, &text[digits..]))
}

/// `[ a,b ]` → `a,b`.
fn array_items(array: &str) -> Option<&str> {
    Some(array.strip_prefix('[')?.trim_ascii_end().strip_suffix(']')?.trim_ascii())
}

/// `"name",a,b` → `("name", "a,b")`; `"name"` → `("name", "")`.
fn split_name(items: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = items.strip_prefix('"')?;
    let bytes = body.as_bytes();
    let (mut end, mut escaped) = (0, false);
    loop {
        match *bytes.get(end)? {
            b'"' => break,
            b'\\' => (end, escaped) = (end + 2, true),
            _ => end += 1,
        }
    }
    let name = if escaped {
        Cow::Owned(serde_json::from_str::<String>(&items[..end + 2]).ok()?)
    } else {
        Cow::Borrowed(&body[..end])
    };
    let after = body[end + 1..].trim_ascii_start();
    let args = if after.is_empty() { "" } else { after.strip_prefix(',')?.trim_ascii_start() };
    Some((name, args))
}

/// Socket.IO v4 sends `{"message":…,"data":…}`; older servers sent a string.
fn connect_error_message(data: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(mut error)) => match error.remove("message") {
            Some(Value::String(message)) => message,
            _ => data.to_owned(),
        },
        Ok(Value::String(message)) => message,
        _ => data.to_owned(),
    }
}

/// The first of an event's or ack's `args`, parsed (`null` when there are none).
pub fn first_arg(args: &str) -> serde_json::Result<Value> {
    serde_json::Deserializer::from_str(args).into_iter::<Value>().next().unwrap_or(Ok(Value::Null))
}

/// Appends `42["name",args…]` (`42<id>[…]` with an ack id) to `out`. `args` appends the arguments
/// after the name as JSON, comma-separated, or nothing; `out` is the only buffer written.
pub fn write_event(out: &mut String, ack_id: Option<u64>, name: &str, args: impl FnOnce(&mut String)) {
    out.push_str("42");
    if let Some(id) = ack_id {
        let _ = write!(out, "{id}");
    }
    out.push('[');
    push_json_string(out, name);
    out.push(',');
    let start = out.len();
    args(out);
    if out.len() == start {
        out.pop();
    }
    out.push(']');
}

/// `42["name",data]`, or `42<id>["name",data]` with an ack id.
pub fn encode_event(ack_id: Option<u64>, name: &str, data: &Value) -> String {
    let mut out = String::with_capacity(name.len() + 32);
    write_event(&mut out, ack_id, name, |out| {
        let _ = write!(out, "{data}");
    });
    out
}

/// `text` as a JSON string, escaped as serde_json escapes it.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event<'a>(ack_id: Option<u64>, name: &'a str, args: &'a str) -> Packet<'a> {
        Packet::Event { ack_id, name: Cow::Borrowed(name), args }
    }

    #[test]
    fn engine_io_packets() {
        assert_eq!(
            Packet::parse(r#"0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#),
            Packet::Open(Open { ping_interval: Duration::from_millis(300), ping_timeout: Duration::from_millis(200) })
        );
        let Packet::Open(defaults) = Packet::parse(r#"0{"sid":"abc"}"#) else { panic!() };
        assert_eq!(defaults.liveness(), Duration::from_secs(45));
        assert_eq!(Packet::parse("0not json"), Packet::Other("0not json"));
        assert_eq!(Packet::parse("1"), Packet::Close);
        assert_eq!(Packet::parse("2"), Packet::Ping);
        assert_eq!(Packet::parse("2probe"), Packet::Other("2probe"));
        assert_eq!(Packet::parse("3"), Packet::Other("3"));
        assert_eq!(Packet::parse("6"), Packet::Other("6"));
        assert_eq!(Packet::parse(""), Packet::Other(""));
    }

    #[test]
    fn connect_and_disconnect() {
        assert_eq!(Packet::parse(r#"40{"sid":"wZX3oN0bSVIhsaknAAAI"}"#), Packet::Connect);
        assert_eq!(Packet::parse("40"), Packet::Connect);
        assert_eq!(Packet::parse("41"), Packet::Disconnect);
        assert_eq!(Packet::parse("4"), Packet::Other("4"));
    }

    #[test]
    fn connect_errors() {
        let refused = |text| match Packet::parse(text) {
            Packet::ConnectError(message) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(r#"44{"message":"invalid token","data":{"code":"unauthorized"}}"#), "invalid token");
        assert_eq!(refused(r#"44"not authorized""#), "not authorized");
        assert_eq!(refused("44not authorized"), "not authorized");
        assert_eq!(refused(r#"44{"data":1}"#), r#"{"data":1}"#);
        assert_eq!(refused("44"), "");
    }

    #[test]
    fn events() {
        assert_eq!(
            Packet::parse(r#"42["messageReceived",{"id":1,"content":"a,b]"}]"#),
            event(None, "messageReceived", r#"{"id":1,"content":"a,b]"}"#)
        );
        assert_eq!(Packet::parse(r#"4217["typing",{"a":1},2]"#), event(Some(17), "typing", r#"{"a":1},2"#));
        assert_eq!(Packet::parse(r#"42["ping"]"#), event(None, "ping", ""));
        assert_eq!(Packet::parse(r#"42[ "spaced" , 1 ] "#), event(None, "spaced", "1"));
        let Packet::Event { name, args, .. } = Packet::parse(r#"42["say \"hi\"\\",1]"#) else { panic!() };
        assert!(matches!(name, Cow::Owned(_)));
        assert_eq!((name.as_ref(), args), (r#"say "hi"\"#, "1"));
        for malformed in [r#"42[1,2]"#, r#"42["x",1"#, r#"42"x""#, r#"42["unterminated]"#, r#"42["x"1]"#, "42"] {
            assert_eq!(Packet::parse(malformed), Packet::Other(malformed), "{malformed}");
        }
        assert_eq!(Packet::parse(r#"4299999999999999999999["x"]"#), Packet::Other(r#"4299999999999999999999["x"]"#));
        // Binary events and other namespaces are not used by Confab.
        assert_eq!(Packet::parse(r#"451-["x",{}]"#), Packet::Other(r#"451-["x",{}]"#));
        assert_eq!(Packet::parse(r#"42/admin,["x"]"#), Packet::Other(r#"42/admin,["x"]"#));
    }

    #[test]
    fn acks() {
        assert_eq!(Packet::parse(r#"4317[{"success":true}]"#), Packet::Ack { id: 17, args: r#"{"success":true}"# });
        assert_eq!(Packet::parse("430[]"), Packet::Ack { id: 0, args: "" });
        assert_eq!(Packet::parse(r#"43[{"success":true}]"#), Packet::Other(r#"43[{"success":true}]"#));
    }

    #[test]
    fn first_args() {
        assert_eq!(first_arg(r#"{"id":1},2"#).unwrap(), json!({"id": 1}));
        assert_eq!(first_arg("7, 8").unwrap(), json!(7));
        assert_eq!(first_arg("").unwrap(), Value::Null);
        assert!(first_arg("{nope").is_err());
    }

    #[test]
    fn encoding() {
        let data = json!({"conversationId": 9, "content": "a \"quoted\" line\n"});
        assert_eq!(encode_event(None, "sendMessage", &data), format!("42{}", json!(["sendMessage", data])));
        assert_eq!(encode_event(Some(12), "sync", &json!({"since": {}})), r#"4212["sync",{"since":{}}]"#);
        let odd = "a\"b\\c\u{1}\u{8}\u{c}\t\r\nédé/";
        assert_eq!(encode_event(None, odd, &json!(null)), format!("42{}", json!([odd, null])));
        let mut out = String::from("kept:");
        write_event(&mut out, Some(3), "bare", |_| {});
        write_event(&mut out, None, "two", |out| out.push_str("1,2"));
        assert_eq!(out, r#"kept:423["bare"]42["two",1,2]"#);
        // What is written is what is parsed.
        let frame = encode_event(Some(5), "x", &data);
        let Packet::Event { ack_id: Some(5), name, args } = Packet::parse(&frame) else { panic!("{frame}") };
        assert_eq!((name.as_ref(), first_arg(args).unwrap()), ("x", data));
    }
}
