//! Socket.IO event names. Client → server events are answered with an ack; server → client events
//! are pushed to every device of the users concerned.

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
