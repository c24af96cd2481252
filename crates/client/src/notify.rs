//! When a system notification is due, and what it says. Policy lives here, testable without a GUI;
//! the desktop shell only displays what [`notice_for`] returns.

use confab_protocol::{ConversationId, Message, MessageType, UserId};

use crate::ClientEvent;
use crate::calls::{CallDirection, CallPhase};

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

/// Whether a message deserves a notification: from someone else (not your own, not from your
/// other devices), not deleted, and not in a conversation you are looking at or muted.
fn notifies(message: &Message, me: UserId, attention: Attention, muted: &dyn Fn(ConversationId) -> bool) -> bool {
    let looking = attention.focused && attention.open_conversation == Some(message.conversation_id);
    message.sender_id != me && message.deleted_at.is_none() && !looking && !muted(message.conversation_id)
}

fn body_of(message: &Message) -> String {
    match message.kind {
        MessageType::Call => message.content.clone().unwrap_or_default(),
        MessageType::Text => preview(message.content.as_deref().unwrap_or_default()),
    }
}

/// The notification an event deserves, if any: new messages (see [`notifies`]) — one notice per
/// live message, one summary per catch-up page (messages missed while offline: new and unread);
/// incoming calls while the window is unfocused (a focused window shows its own incoming-call dialog).
pub fn notice_for(
    event: &ClientEvent,
    me: UserId,
    attention: Attention,
    muted: &dyn Fn(ConversationId) -> bool,
) -> Option<Notice> {
    match event {
        ClientEvent::Message { message, is_new: true, .. } if notifies(message, me, attention, muted) => {
            Some(Notice { title: message.sender_username.clone(), body: body_of(message) })
        }
        ClientEvent::SyncPage { messages, conversations } => {
            let unread = |m: &&Message| {
                let cursor = conversations
                    .iter()
                    .find(|c| c.id == m.conversation_id)
                    .and_then(|c| c.members.iter().find(|member| member.user.id == me))
                    .map_or(0, |member| member.last_read_seq);
                m.seq > cursor
            };
            let missed: Vec<&Message> =
                messages.iter().filter(|m| notifies(m, me, attention, muted)).filter(unread).collect();
            match missed.as_slice() {
                [] => None,
                [one] => Some(Notice { title: one.sender_username.clone(), body: body_of(one) }),
                [first, ..] => {
                    let one_sender = missed.iter().all(|m| m.sender_id == first.sender_id);
                    let title = if one_sender { first.sender_username.clone() } else { "Confab".to_owned() };
                    Some(Notice { title, body: format!("{} new messages", missed.len()) })
                }
            }
        }
        ClientEvent::Call(call)
            if !attention.focused && call.direction == CallDirection::Incoming && call.phase == CallPhase::Ringing =>
        {
            Some(Notice {
                title: format!("{} is calling", call.peer_name),
                body: match call.call_type {
                    confab_protocol::CallType::Audio => "Incoming voice call".into(),
                    confab_protocol::CallType::Video => "Incoming video call".into(),
                },
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_protocol::{Conversation, ConversationKind};

    const NOT_MUTED: &dyn Fn(ConversationId) -> bool = &|_| false;
    const MUTED: &dyn Fn(ConversationId) -> bool = &|_| true;

    fn conversation(id: ConversationId) -> Conversation {
        Conversation {
            id,
            kind: ConversationKind::Direct,
            title: None,
            members: Vec::new(),
            last_message: None,
            unread_count: 0,
            last_seq: 0,
            created_at: 0,
        }
    }

    fn message(sender: UserId, conversation_id: ConversationId, text: &str) -> ClientEvent {
        ClientEvent::Message {
            message: Box::new(text_message(sender, conversation_id, text)),
            is_new: true,
            conversation: Box::new(conversation(conversation_id)),
        }
    }

    fn text_message(sender: UserId, conversation: ConversationId, text: &str) -> Message {
        Message {
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
        }
    }

    #[test]
    fn who_gets_notified() {
        let away = Attention { focused: false, open_conversation: Some(7) };
        let looking = Attention { focused: true, open_conversation: Some(7) };
        let elsewhere = Attention { focused: true, open_conversation: Some(8) };
        let notice = notice_for(&message(2, 7, "hi"), 1, away, NOT_MUTED).unwrap();
        assert_eq!(notice, Notice { title: "alice".into(), body: "hi".into() });
        assert!(notice_for(&message(2, 7, "hi"), 1, looking, NOT_MUTED).is_none(), "reading it already");
        assert!(notice_for(&message(2, 7, "hi"), 1, elsewhere, NOT_MUTED).is_some(), "another conversation");
        assert!(notice_for(&message(1, 7, "hi"), 1, away, NOT_MUTED).is_none(), "own message from another device");
        assert!(notice_for(&message(2, 7, "hi"), 1, away, MUTED).is_none(), "muted");
        let long = notice_for(&message(2, 7, &"x".repeat(500)), 1, away, NOT_MUTED).unwrap();
        assert_eq!(long.body.chars().count(), PREVIEW_CHARS + 1);
    }

    #[test]
    fn a_catch_up_page_is_one_summary() {
        let away = Attention { focused: false, open_conversation: None };
        let page = |messages: Vec<Message>| ClientEvent::SyncPage { messages, conversations: vec![conversation(7)] };
        let three = page((0..3).map(|_| text_message(2, 7, "hi")).collect());
        let notice = notice_for(&three, 1, away, NOT_MUTED).unwrap();
        assert_eq!(notice, Notice { title: "alice".into(), body: "3 new messages".into() });
        let one = notice_for(&page(vec![text_message(2, 7, "hi")]), 1, away, NOT_MUTED).unwrap();
        assert_eq!(one.body, "hi");
        assert!(notice_for(&three, 1, away, MUTED).is_none(), "muted");
        assert!(notice_for(&page(vec![text_message(1, 7, "mine")]), 1, away, NOT_MUTED).is_none(), "own");
    }

    #[test]
    fn incoming_calls_notify_only_an_unfocused_window() {
        let ringing = crate::calls::CallSnapshot::new(
            "c",
            7,
            "alice".into(),
            confab_protocol::CallType::Video,
            CallDirection::Incoming,
        );
        let mut answered = ringing.clone();
        answered.phase = CallPhase::Active;
        let call = ClientEvent::Call(Box::new(ringing));
        let away = Attention { focused: false, open_conversation: Some(7) };
        let notice = notice_for(&call, 1, away, NOT_MUTED).unwrap();
        assert_eq!(notice, Notice { title: "alice is calling".into(), body: "Incoming video call".into() });
        assert!(notice_for(&call, 1, Attention { focused: true, open_conversation: None }, NOT_MUTED).is_none());
        assert!(
            notice_for(&ClientEvent::Call(Box::new(answered)), 1, away, NOT_MUTED).is_none(),
            "only while it rings"
        );
    }
}
