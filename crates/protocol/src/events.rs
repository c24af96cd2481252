//! Every Socket.IO event, declared once: its name, and the types that travel with it.
//!
//! - A client → server event is a [`Request`]: the payload type names the event and the data its
//!   ack carries (`{success:true, ...Ack}` or `{success:false, error}`, see [`crate::Ack`]).
//! - A server → client event is a [`Push`]: the payload type names the event. [`ServerEvent`] is
//!   every push as one enum, for clients that read them.
//!
//! The server's dispatcher and fan-out, the client core and the load generator all go through these
//! declarations; the tables at the bottom of this file are the only place a name meets its types.
//! Three names go both ways (`userTyping`, `iceCandidate`, `renegotiateCall`), with a request type
//! for what a client sends and a push type for what the others receive.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Empty;
use crate::notifications::*;
use crate::requests::*;

/// A client → server event, answered with an ack.
pub trait Request: Serialize + DeserializeOwned + Send + std::marker::Sync + 'static {
    /// The event name on the wire.
    const EVENT: &'static str;
    /// What a successful ack carries next to `success: true`.
    type Ack: Serialize + DeserializeOwned + Send + 'static;
}

/// A server → client event.
pub trait Push: Serialize + DeserializeOwned + Send + std::marker::Sync + 'static {
    /// The event name on the wire.
    const EVENT: &'static str;
}

// Client → server (each with an ack).
pub const SEND_MESSAGE: &str = "sendMessage";
pub const USER_TYPING: &str = "userTyping";
pub const ADD_REACTION: &str = "addReaction";
pub const REMOVE_REACTION: &str = "removeReaction";
pub const DELETE_MESSAGE: &str = "deleteMessage";
pub const EDIT_MESSAGE: &str = "editMessage";
pub const PIN_MESSAGE: &str = "pinMessage";
pub const MARK_READ: &str = "markRead";
pub const SYNC: &str = "sync";
pub const INITIATE_CALL: &str = "initiateCall";
pub const ACCEPT_CALL: &str = "acceptCall";
pub const REJECT_CALL: &str = "rejectCall";
pub const END_CALL: &str = "endCall";
/// Both directions: a client sends it with an ack, the other party receives it.
pub const ICE_CANDIDATE: &str = "iceCandidate";
/// Both directions, like `iceCandidate`: a new offer or answer within an answered call (an ICE
/// restart after the media connection dropped).
pub const RENEGOTIATE_CALL: &str = "renegotiateCall";

// Server → client.
pub const MESSAGE_RECEIVED: &str = "messageReceived";
// `userTyping` is also pushed to the other members, under the same name.
pub const REACTION_ADDED: &str = "reactionAdded";
pub const REACTION_REMOVED: &str = "reactionRemoved";
pub const MESSAGE_DELETED: &str = "messageDeleted";
pub const MESSAGE_EDITED: &str = "messageEdited";
pub const MESSAGE_PINNED: &str = "messagePinned";
pub const MESSAGES_READ: &str = "messagesRead";
pub const USER_ONLINE: &str = "userOnline";
pub const USER_OFFLINE: &str = "userOffline";
pub const ONLINE_USERS: &str = "onlineUsers";
pub const INCOMING_CALL: &str = "incomingCall";
pub const CALL_ACCEPTED: &str = "callAccepted";
pub const CALL_REJECTED: &str = "callRejected";
pub const CALL_ENDED: &str = "callEnded";
pub const FRIEND_REQUEST: &str = "friendRequest";
pub const FRIEND_REQUEST_REMOVED: &str = "friendRequestRemoved";
pub const FRIEND_ADDED: &str = "friendAdded";
pub const FRIEND_REMOVED: &str = "friendRemoved";
pub const CONVERSATION_CREATED: &str = "conversationCreated";

macro_rules! requests {
    // `$d` is a literal `$`, so that this macro can define one with its own metavariables.
    ($d:tt $($event:ident: $request:ident => $ack:ty;)*) => {
        $(impl Request for $request {
            const EVENT: &'static str = $event;
            type Ack = $ack;
        })*
        /// Every client → server event name.
        pub const REQUESTS: &[&str] = &[$($event),*];

        /// Calls the macro `$callback` with every request type, comma-separated (paths into
        /// `confab_protocol::requests`), so that a server can generate its dispatcher from this
        /// table: a request added here then does not compile until the server handles it.
        #[macro_export]
        macro_rules! for_each_request {
            ($d callback:ident) => {
                $d callback! { $($d crate::requests::$request),* }
            };
        }
    };
}

macro_rules! pushes {
    ($($event:ident: $push:ident;)*) => {
        $(impl Push for $push {
            const EVENT: &'static str = $event;
        })*

        /// Every server → client event, parsed.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ServerEvent {
            $($push($push),)*
        }

        impl ServerEvent {
            /// Parses a pushed event; `Ok(None)` for a name this protocol does not know.
            pub fn parse(event: &str, data: serde_json::Value) -> Result<Option<ServerEvent>, serde_json::Error> {
                Ok(Some(match event {
                    $($event => ServerEvent::$push(serde_json::from_value(data)?),)*
                    _ => return Ok(None),
                }))
            }

            /// The event's name on the wire.
            pub fn name(&self) -> &'static str {
                match self {
                    $(ServerEvent::$push(_) => $event,)*
                }
            }
        }

        /// Every server → client event name.
        pub const PUSHES: &[&str] = &[$($event),*];
    };
}

requests! { $
    SEND_MESSAGE: SendMessage => MessageAck;
    USER_TYPING: UserTyping => TypingAck;
    ADD_REACTION: AddReaction => MessageAck;
    REMOVE_REACTION: RemoveReaction => MessageAck;
    DELETE_MESSAGE: DeleteMessage => MessageAck;
    EDIT_MESSAGE: EditMessage => MessageAck;
    PIN_MESSAGE: PinMessage => MessageAck;
    MARK_READ: MarkRead => ReadCursor;
    SYNC: Sync => SyncPage;
    INITIATE_CALL: InitiateCall => CallStarted;
    ACCEPT_CALL: AcceptCall => Empty;
    REJECT_CALL: RejectCall => Empty;
    END_CALL: EndCall => Empty;
    ICE_CANDIDATE: IceCandidate => Empty;
    RENEGOTIATE_CALL: RenegotiateCall => Empty;
}

pushes! {
    MESSAGE_RECEIVED: MessageReceived;
    USER_TYPING: Typing;
    REACTION_ADDED: ReactionAdded;
    REACTION_REMOVED: ReactionRemoved;
    MESSAGE_DELETED: MessageDeleted;
    MESSAGE_EDITED: MessageEdited;
    MESSAGE_PINNED: MessagePinned;
    MESSAGES_READ: MessagesRead;
    USER_ONLINE: UserOnline;
    USER_OFFLINE: UserOffline;
    ONLINE_USERS: OnlineUsers;
    INCOMING_CALL: IncomingCall;
    CALL_ACCEPTED: CallAccepted;
    CALL_REJECTED: CallRejected;
    CALL_ENDED: CallEnded;
    ICE_CANDIDATE: IceCandidateRelayed;
    RENEGOTIATE_CALL: CallRenegotiated;
    FRIEND_REQUEST: FriendRequestSent;
    FRIEND_REQUEST_REMOVED: FriendRequestRemoved;
    FRIEND_ADDED: FriendAdded;
    FRIEND_REMOVED: FriendRemoved;
    CONVERSATION_CREATED: ConversationCreated;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_unique_per_direction() {
        for list in [REQUESTS, PUSHES] {
            let mut names = list.to_vec();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), list.len());
        }
    }

    #[test]
    fn pushes_parse_by_name() {
        let typing = json!({"conversationId": 1, "userId": 2, "username": "bob", "isTyping": true});
        let parsed = ServerEvent::parse(USER_TYPING, typing).unwrap().unwrap();
        assert_eq!(parsed.name(), USER_TYPING);
        assert!(matches!(parsed, ServerEvent::Typing(Typing { user_id: 2, .. })));
        assert!(ServerEvent::parse("noSuchEvent", json!({})).unwrap().is_none());
        // A call push without its callType is an error, not a silent default.
        let incoming = json!({"callId": "c", "callerId": 1, "callerUsername": "a", "conversationId": 1, "sdp": "v=0"});
        assert!(ServerEvent::parse(INCOMING_CALL, incoming).is_err());
    }

    #[test]
    fn newtype_payloads_are_transparent() {
        let reaction = json!({"messageId": 5, "emoji": "👍"});
        let add: AddReaction = serde_json::from_value(reaction.clone()).unwrap();
        assert_eq!(serde_json::to_value(&add).unwrap(), reaction);
        assert_eq!(<AddReaction as Request>::EVENT, "addReaction");
    }
}
