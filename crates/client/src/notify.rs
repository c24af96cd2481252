//! When a system notification is due, and what it says. Policy lives here, testable without a GUI;
//! the desktop shell only displays what [`notice_for`] returns.

use confab_protocol::{ConversationId, MessageType, UserId};

use crate::ClientEvent;

/// What the UI is showing right now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attention {
    /// The window has keyboard focus.
    pub focused: bool,
    /// The conversation open in the chat pane, if any.
    pub open_conversation: Option<ConversationId>,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// Longest preview shown in a notification, in characters.
const PREVIEW_CHARS: usize = 120;

fn preview(text: &str) -> String {
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    preview
}

/// The notification an event deserves, if any: new messages from others (not your own, not from
/// your other devices) unless you are looking at that conversation or muted it; incoming calls
/// while the window is unfocused (a focused window shows its own incoming-call dialog).
pub fn notice_for(event: &ClientEvent, me: UserId, attention: Attention, muted: bool) -> Option<Notice> {
    match event {
        ClientEvent::Message { message, is_new: true } if message.sender_id != me && message.deleted_at.is_none() => {
            let looking = attention.focused && attention.open_conversation == Some(message.conversation_id);
            if looking || muted {
                return None;
            }
            let body = match message.kind {
                MessageType::Call => message.content.clone().unwrap_or_default(),
                MessageType::Text => preview(message.content.as_deref().unwrap_or_default()),
            };
            Some(Notice { title: message.sender_username.clone(), body })
        }
        ClientEvent::IncomingCall(call) if !attention.focused => Some(Notice {
            title: format!("{} is calling", call.caller_username),
            body: match call.call_type {
                confab_protocol::CallType::Audio => "Incoming voice call".into(),
                confab_protocol::CallType::Video => "Incoming video call".into(),
            },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_protocol::Message;

    fn message(sender: UserId, conversation: ConversationId, text: &str) -> ClientEvent {
        ClientEvent::Message {
            message: Message {
                id: 1,
                conversation_id: conversation,
                seq: 1,
                updated_seq: 1,
                sender_id: sender,
                sender_username: "alice".into(),
                kind: MessageType::Text,
                content: Some(text.into()),
                client_msg_id: None,
                timestamp: 0,
                edited_at: None,
                deleted_at: None,
                pinned: false,
                pinned_by: None,
                reactions: Default::default(),
                call: None,
            },
            is_new: true,
        }
    }

    #[test]
    fn who_gets_notified() {
        let away = Attention { focused: false, open_conversation: Some(7) };
        let looking = Attention { focused: true, open_conversation: Some(7) };
        let elsewhere = Attention { focused: true, open_conversation: Some(8) };
        let notice = notice_for(&message(2, 7, "hi"), 1, away, false).unwrap();
        assert_eq!(notice, Notice { title: "alice".into(), body: "hi".into() });
        assert!(notice_for(&message(2, 7, "hi"), 1, looking, false).is_none(), "reading it already");
        assert!(notice_for(&message(2, 7, "hi"), 1, elsewhere, false).is_some(), "another conversation");
        assert!(notice_for(&message(1, 7, "hi"), 1, away, false).is_none(), "own message from another device");
        assert!(notice_for(&message(2, 7, "hi"), 1, away, true).is_none(), "muted");
        let long = notice_for(&message(2, 7, &"x".repeat(500)), 1, away, false).unwrap();
        assert_eq!(long.body.chars().count(), PREVIEW_CHARS + 1);
    }

    #[test]
    fn incoming_calls_notify_only_an_unfocused_window() {
        let call = ClientEvent::IncomingCall(confab_protocol::notifications::IncomingCall {
            call_id: "c".into(),
            caller_id: 2,
            caller_username: "alice".into(),
            conversation_id: 7,
            call_type: confab_protocol::CallType::Video,
            sdp: String::new(),
        });
        let away = Attention { focused: false, open_conversation: Some(7) };
        let notice = notice_for(&call, 1, away, false).unwrap();
        assert_eq!(notice, Notice { title: "alice is calling".into(), body: "Incoming video call".into() });
        assert!(notice_for(&call, 1, Attention { focused: true, open_conversation: None }, false).is_none());
    }
}
