//! Who may change a message, and how: the rules of edits, deletes, reactions and pins, as one pure
//! function of the message as stored and its conversation's members. The store loads both, calls
//! [`decide`] and writes its answer in the same transaction ([`crate::store::Store::change_message`]).

use confab_protocol::{ErrorCode, Message, MessageType, UserId, limits};

use crate::error::{Error, Result};
use crate::store::{Decision, Write};

/// A change a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Edit(&'a str),
    Delete,
    AddReaction(&'a str),
    RemoveReaction(&'a str),
    /// Pin (`true`) or unpin.
    Pin(bool),
}

/// Whether `user_id` may make `change` to `message` (of a conversation with these `members`), and
/// what it writes. A change that would leave the message as it is, is [`Decision::Unchanged`]:
/// repeating a request is harmless and takes no `seq`.
///
/// - Only members see a message: to anyone else it is `not_found`.
/// - Edit: only the sender, only a text message that is not deleted.
/// - Delete: only the sender.
/// - Reactions: any member; not on a deleted message; at most
///   [`limits::MAX_REACTIONS_PER_MESSAGE`] different emoji on a message (`too_large`).
/// - Pin, unpin: any member; not a deleted message.
pub fn decide<'a>(message: &Message, members: &[UserId], user_id: UserId, change: Change<'a>) -> Result<Decision<'a>> {
    if !members.contains(&user_id) {
        return Err(Error::not_found("message"));
    }
    let deleted = message.deleted_at.is_some();
    let own = message.sender_id == user_id;
    let reacted = |emoji: &str| message.reactions.get(emoji).is_some_and(|users| users.contains(&user_id));
    let write = match change {
        Change::Edit(content) => {
            if !own {
                return Err(Error::forbidden("only the sender can edit a message"));
            }
            if deleted || message.kind != MessageType::Text {
                return Err(Error::forbidden("this message cannot be edited"));
            }
            if message.content.as_deref() == Some(content) {
                return Ok(Decision::Unchanged);
            }
            Write::Edit(content)
        }
        Change::Delete => {
            if !own {
                return Err(Error::forbidden("only the sender can delete a message"));
            }
            if deleted {
                return Ok(Decision::Unchanged);
            }
            Write::Delete
        }
        Change::AddReaction(emoji) => {
            if deleted {
                return Err(Error::forbidden("this message was deleted"));
            }
            if reacted(emoji) {
                return Ok(Decision::Unchanged);
            }
            if !message.reactions.contains_key(emoji) && message.reactions.len() >= limits::MAX_REACTIONS_PER_MESSAGE {
                return Err(Error::refused(ErrorCode::TooLarge, "too many different reactions on this message"));
            }
            Write::AddReaction { user_id, emoji }
        }
        Change::RemoveReaction(emoji) => {
            // A deleted message has no reactions left, so removing one there changes nothing either.
            if !reacted(emoji) {
                return Ok(Decision::Unchanged);
            }
            Write::RemoveReaction { user_id, emoji }
        }
        Change::Pin(pinned) => {
            if deleted {
                return Err(Error::forbidden("this message was deleted"));
            }
            if message.pinned == pinned {
                return Ok(Decision::Unchanged);
            }
            Write::Pin(pinned.then_some(user_id))
        }
    };
    Ok(Decision::Apply(write))
}

#[cfg(test)]
mod tests {
    use confab_protocol::{CallOutcome, CallRecord, CallType};

    use super::*;

    const ALICE: UserId = 1;
    const BOB: UserId = 2;
    const EVE: UserId = 3;
    const MEMBERS: &[UserId] = &[ALICE, BOB];

    /// A text message Alice sent to a conversation of Alice and Bob.
    fn message() -> Message {
        Message {
            id: 10,
            conversation_id: 5,
            seq: 1,
            updated_seq: 1,
            sender_id: ALICE,
            sender_username: "alice".into(),
            kind: MessageType::Text,
            content: Some("hello".into()),
            client_msg_id: Some("c1".into()),
            timestamp: 1_000,
            edited_at: None,
            deleted_at: None,
            pinned: false,
            pinned_by: None,
            reactions: Default::default(),
            call: None,
        }
    }

    /// The same message, deleted as the store leaves it: a tombstone without text, reactions or pin.
    fn deleted() -> Message {
        Message { content: None, deleted_at: Some(2_000), ..message() }
    }

    fn call_message() -> Message {
        Message {
            kind: MessageType::Call,
            content: Some("Missed audio call".into()),
            client_msg_id: None,
            call: Some(CallRecord {
                call_id: "c".into(),
                call_type: CallType::Audio,
                caller_id: ALICE,
                outcome: CallOutcome::Missed,
                duration_ms: 0,
            }),
            ..message()
        }
    }

    fn decide_by<'a>(user_id: UserId, message: &Message, change: Change<'a>) -> Result<Decision<'a>> {
        decide(message, MEMBERS, user_id, change)
    }

    fn apply(write: Write<'_>) -> Decision<'_> {
        Decision::Apply(write)
    }

    /// The refusal's code and message, exactly as the client sees them.
    #[track_caller]
    fn refusal(result: Result<Decision<'_>>) -> (ErrorCode, String) {
        match result {
            Err(Error::Refused(body)) => {
                assert_eq!(body.retry_after_ms, None);
                (body.code, body.message)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn forbidden(message: &str) -> (ErrorCode, String) {
        (ErrorCode::Forbidden, message.to_owned())
    }

    #[test]
    fn a_non_member_finds_no_message_whatever_the_change() {
        let mut pinned = message();
        pinned.pinned = true;
        pinned.reactions.insert("👍".into(), vec![EVE]);
        for change in [
            Change::Edit("mine now"),
            Change::Delete,
            Change::AddReaction("👍"),
            Change::RemoveReaction("👍"),
            Change::Pin(true),
            Change::Pin(false),
        ] {
            for message in [message(), pinned.clone(), deleted()] {
                assert_eq!(
                    refusal(decide_by(EVE, &message, change)),
                    (ErrorCode::NotFound, "message not found".to_owned()),
                    "{change:?}"
                );
            }
        }
        // Not even the sender, once no longer a member.
        assert_eq!(refusal(decide(&message(), &[BOB], ALICE, Change::Delete)).0, ErrorCode::NotFound);
    }

    #[test]
    fn only_the_sender_edits_a_text_message_that_is_not_deleted() {
        assert_eq!(decide_by(ALICE, &message(), Change::Edit("hello!")).unwrap(), apply(Write::Edit("hello!")));
        assert_eq!(
            refusal(decide_by(BOB, &message(), Change::Edit("hello!"))),
            forbidden("only the sender can edit a message")
        );
        // Who comes first: another member is told it is not theirs, even of a deleted or call message.
        assert_eq!(
            refusal(decide_by(BOB, &deleted(), Change::Edit("x"))),
            forbidden("only the sender can edit a message")
        );
        assert_eq!(
            refusal(decide_by(BOB, &call_message(), Change::Edit("x"))),
            forbidden("only the sender can edit a message")
        );
        assert_eq!(
            refusal(decide_by(ALICE, &deleted(), Change::Edit("back"))),
            forbidden("this message cannot be edited")
        );
        // Not even to its own text.
        assert_eq!(
            refusal(decide_by(ALICE, &call_message(), Change::Edit("Missed audio call"))),
            forbidden("this message cannot be edited")
        );
    }

    #[test]
    fn editing_to_the_same_text_changes_nothing() {
        assert_eq!(decide_by(ALICE, &message(), Change::Edit("hello")).unwrap(), Decision::Unchanged);
        // The comparison is exact.
        assert_eq!(decide_by(ALICE, &message(), Change::Edit("Hello")).unwrap(), apply(Write::Edit("Hello")));
        let edited = Message { content: Some("hello again".into()), edited_at: Some(1_500), ..message() };
        assert_eq!(decide_by(ALICE, &edited, Change::Edit("hello again")).unwrap(), Decision::Unchanged);
        assert_eq!(decide_by(ALICE, &edited, Change::Edit("hello")).unwrap(), apply(Write::Edit("hello")));
    }

    #[test]
    fn only_the_sender_deletes_and_deleting_again_changes_nothing() {
        assert_eq!(decide_by(ALICE, &message(), Change::Delete).unwrap(), apply(Write::Delete));
        assert_eq!(
            refusal(decide_by(BOB, &message(), Change::Delete)),
            forbidden("only the sender can delete a message")
        );
        assert_eq!(
            refusal(decide_by(BOB, &deleted(), Change::Delete)),
            forbidden("only the sender can delete a message")
        );
        assert_eq!(decide_by(ALICE, &deleted(), Change::Delete).unwrap(), Decision::Unchanged);
        // A call record is the caller's to delete (it cannot be edited).
        assert_eq!(decide_by(ALICE, &call_message(), Change::Delete).unwrap(), apply(Write::Delete));
        // Pinned or reacted to, it still goes.
        let mut busy = message();
        busy.pinned = true;
        busy.pinned_by = Some(BOB);
        busy.reactions.insert("👍".into(), vec![BOB]);
        assert_eq!(decide_by(ALICE, &busy, Change::Delete).unwrap(), apply(Write::Delete));
    }

    #[test]
    fn any_member_reacts_once_per_emoji_but_not_to_a_deleted_message() {
        assert_eq!(
            decide_by(BOB, &message(), Change::AddReaction("👍")).unwrap(),
            apply(Write::AddReaction { user_id: BOB, emoji: "👍" })
        );
        assert_eq!(
            decide_by(ALICE, &message(), Change::AddReaction("👍")).unwrap(),
            apply(Write::AddReaction { user_id: ALICE, emoji: "👍" })
        );
        let mut reacted = message();
        reacted.reactions.insert("👍".into(), vec![BOB]);
        assert_eq!(decide_by(BOB, &reacted, Change::AddReaction("👍")).unwrap(), Decision::Unchanged);
        // The same emoji from someone else is theirs to add.
        assert_eq!(
            decide_by(ALICE, &reacted, Change::AddReaction("👍")).unwrap(),
            apply(Write::AddReaction { user_id: ALICE, emoji: "👍" })
        );
        assert_eq!(
            refusal(decide_by(BOB, &deleted(), Change::AddReaction("👍"))),
            forbidden("this message was deleted")
        );
        // Reacting to a call record is fine.
        assert_eq!(
            decide_by(BOB, &call_message(), Change::AddReaction("😢")).unwrap(),
            apply(Write::AddReaction { user_id: BOB, emoji: "😢" })
        );
    }

    #[test]
    fn a_message_holds_at_most_so_many_different_emoji() {
        let mut full = message();
        for i in 0..limits::MAX_REACTIONS_PER_MESSAGE {
            full.reactions.insert(format!("e{i}"), vec![ALICE]);
        }
        assert_eq!(
            refusal(decide_by(BOB, &full, Change::AddReaction("🆕"))),
            (ErrorCode::TooLarge, "too many different reactions on this message".to_owned())
        );
        // Joining an emoji already there adds no kind, so the limit does not apply…
        assert_eq!(
            decide_by(BOB, &full, Change::AddReaction("e0")).unwrap(),
            apply(Write::AddReaction { user_id: BOB, emoji: "e0" })
        );
        // …and repeating one's own is still nothing.
        assert_eq!(decide_by(ALICE, &full, Change::AddReaction("e0")).unwrap(), Decision::Unchanged);
        // One short of the limit, a new kind fits.
        full.reactions.remove("e0");
        assert_eq!(
            decide_by(BOB, &full, Change::AddReaction("🆕")).unwrap(),
            apply(Write::AddReaction { user_id: BOB, emoji: "🆕" })
        );
    }

    #[test]
    fn removing_a_reaction_one_has_not_made_changes_nothing() {
        let mut reacted = message();
        reacted.reactions.insert("👍".into(), vec![BOB]);
        assert_eq!(
            decide_by(BOB, &reacted, Change::RemoveReaction("👍")).unwrap(),
            apply(Write::RemoveReaction { user_id: BOB, emoji: "👍" })
        );
        // Someone else's reaction is not one's own to remove; an emoji nobody used is absent.
        assert_eq!(decide_by(ALICE, &reacted, Change::RemoveReaction("👍")).unwrap(), Decision::Unchanged);
        assert_eq!(decide_by(BOB, &reacted, Change::RemoveReaction("🎉")).unwrap(), Decision::Unchanged);
        // A deleted message has none left: no refusal, nothing to do.
        assert_eq!(decide_by(BOB, &deleted(), Change::RemoveReaction("👍")).unwrap(), Decision::Unchanged);
    }

    #[test]
    fn any_member_pins_and_unpins_a_message_that_is_not_deleted() {
        assert_eq!(decide_by(BOB, &message(), Change::Pin(true)).unwrap(), apply(Write::Pin(Some(BOB))));
        assert_eq!(decide_by(ALICE, &message(), Change::Pin(true)).unwrap(), apply(Write::Pin(Some(ALICE))));
        assert_eq!(decide_by(ALICE, &call_message(), Change::Pin(true)).unwrap(), apply(Write::Pin(Some(ALICE))));
        let pinned = Message { pinned: true, pinned_by: Some(ALICE), ..message() };
        // Unpinning is anyone's too, not only the one who pinned.
        assert_eq!(decide_by(BOB, &pinned, Change::Pin(false)).unwrap(), apply(Write::Pin(None)));
        // Already so: nothing, even when someone else pinned it.
        assert_eq!(decide_by(BOB, &pinned, Change::Pin(true)).unwrap(), Decision::Unchanged);
        assert_eq!(decide_by(BOB, &message(), Change::Pin(false)).unwrap(), Decision::Unchanged);
        // Deleted: refused either way, before "already so".
        assert_eq!(refusal(decide_by(BOB, &deleted(), Change::Pin(true))), forbidden("this message was deleted"));
        assert_eq!(refusal(decide_by(ALICE, &deleted(), Change::Pin(false))), forbidden("this message was deleted"));
    }
}
