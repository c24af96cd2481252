//! Call signaling and call state (ringing → active → ended). Media never passes through the
//! server: SDP and ICE payloads are relayed as opaque values.
//!
//! A call is addressed by its `callId` everywhere (never "the user's current call"), so that
//! several calls — and later group calls — fit the same events. State is process-local for now;
//! the scale-out work moves it to shared storage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confab_protocol::notifications::{
    CallAccepted, CallEndReason, CallEnded, CallRejected, IceCandidateRelayed, IncomingCall,
};
use confab_protocol::requests::{AcceptCall, EndCall, IceCandidate, InitiateCall, RejectCall};
use confab_protocol::{
    CallOutcome, CallRecord, CallType, ConversationId, ConversationKind, ErrorCode, MessageType, User, UserId, events,
    limits, validate,
};
use rand::RngCore;
use socketioxide::socket::Sid;

use crate::AppState;
use crate::accounts::AuthUser;
use crate::error::{Error, Result};
use crate::hub::user_room;
use crate::ratelimit::{Bucket, Key};

struct Call {
    conversation_id: ConversationId,
    call_type: CallType,
    caller: User,
    /// The caller's device in the call.
    caller_sid: Sid,
    callee: UserId,
    /// The callee's device that answered; `None` while ringing.
    callee_sid: Option<Sid>,
    /// When it was answered; `None` while ringing.
    answered_at: Option<Instant>,
}

impl Call {
    fn involves(&self, user: UserId) -> bool {
        self.caller.id == user || self.callee == user
    }
    /// Where the callee is reached: the answering device, or every device while it rings.
    fn callee_room(&self) -> String {
        self.callee_sid.map_or_else(|| user_room(self.callee), |sid| sid.to_string())
    }

    fn duration_ms(&self) -> i64 {
        self.answered_at.map_or(0, |t| t.elapsed().as_millis() as i64)
    }
}

/// Calls in progress, by call id.
#[derive(Default)]
pub struct Calls {
    calls: Mutex<HashMap<String, Call>>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Call>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn is_busy(&self, user: UserId) -> bool {
        self.lock().values().any(|c| c.involves(user))
    }
    /// Removes a call so that exactly one path finishes it.
    fn take(&self, call_id: &str) -> Option<Call> {
        self.lock().remove(call_id)
    }
}

fn new_call_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn call_not_found() -> Error {
    Error::not_found("call")
}

pub async fn initiate(state: &AppState, me: &AuthUser, sid: Sid, request: InitiateCall) -> Result<String> {
    state.limits.check(Bucket::Calls, Key::User(me.user.id)).await?;
    validate::sdp(&request.sdp)?;
    let conversation = crate::conversations::get(state, me, request.conversation_id).await?;
    if conversation.kind != ConversationKind::Direct {
        return Err(Error::invalid("calls are only possible in direct conversations for now"));
    }
    let callee = conversation
        .members
        .iter()
        .map(|m| m.user.id)
        .find(|&id| id != me.user.id)
        .ok_or_else(|| Error::invalid("nobody to call in this conversation"))?;
    if state.calls.is_busy(me.user.id) {
        return Err(Error::refused(ErrorCode::Busy, "you are already in a call"));
    }
    let call_id = new_call_id();
    let call = Call {
        conversation_id: request.conversation_id,
        call_type: request.call_type,
        caller: me.user.clone(),
        caller_sid: sid,
        callee,
        callee_sid: None,
        answered_at: None,
    };
    let inserted = {
        let mut calls = state.calls.lock();
        if calls.values().any(|c| c.involves(callee)) {
            Err(call)
        } else {
            calls.insert(call_id.clone(), call);
            Ok(())
        }
    };
    if let Err(call) = inserted {
        record(state, &call_id, &call, CallOutcome::Busy).await;
        return Err(Error::refused(ErrorCode::Busy, "the other user is in another call"));
    }
    let incoming = IncomingCall {
        call_id: call_id.clone(),
        caller_id: me.user.id,
        caller_username: me.user.username.clone(),
        conversation_id: request.conversation_id,
        call_type: request.call_type,
        sdp: request.sdp,
    };
    state.hub.to_users(&[callee], None, events::INCOMING_CALL, &incoming).await;

    let timeout = Duration::from_millis(state.config.call_ring_timeout_ms);
    let (state, id) = (state.clone(), call_id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let ringing = state.calls.lock().get(&id).is_some_and(|c| c.answered_at.is_none());
        if ringing && let Some(call) = state.calls.take(&id) {
            finish(&state, &id, call, CallEndReason::Missed, CallOutcome::Missed).await;
        }
    });
    Ok(call_id)
}

pub async fn accept(state: &AppState, me: &AuthUser, sid: Sid, request: AcceptCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    validate::sdp(&request.sdp)?;
    let caller_sid = {
        let mut calls = state.calls.lock();
        let call = calls.get_mut(&request.call_id).filter(|c| c.callee == me.user.id).ok_or_else(call_not_found)?;
        if call.answered_at.is_some() {
            return Err(Error::conflict("the call was already answered"));
        }
        call.callee_sid = Some(sid);
        call.answered_at = Some(Instant::now());
        call.caller_sid
    };
    let accepted = CallAccepted { call_id: request.call_id.clone(), sdp: request.sdp };
    state.hub.to_socket(caller_sid, events::CALL_ACCEPTED, &accepted).await;
    let elsewhere = CallEnded { call_id: request.call_id, reason: CallEndReason::AnsweredElsewhere, duration_ms: 0 };
    state.hub.to_user_except(me.user.id, vec![sid.to_string()], events::CALL_ENDED, &elsewhere).await;
    Ok(())
}

pub async fn reject(state: &AppState, me: &AuthUser, request: RejectCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let reason = request.reason.map(|r| validate::label("reason", &r, limits::MAX_REASON_CHARS)).transpose()?;
    let call = {
        let mut calls = state.calls.lock();
        match calls.get(&request.call_id) {
            Some(c) if c.callee == me.user.id && c.answered_at.is_none() => calls.remove(&request.call_id),
            Some(c) if c.callee == me.user.id => return Err(Error::conflict("the call was already answered")),
            _ => None,
        }
    }
    .ok_or_else(call_not_found)?;
    let rejected = CallRejected { call_id: request.call_id.clone(), reason };
    state.hub.to_socket(call.caller_sid, events::CALL_REJECTED, &rejected).await;
    finish(state, &request.call_id, call, CallEndReason::Rejected, CallOutcome::Rejected).await;
    Ok(())
}

pub async fn end(state: &AppState, me: &AuthUser, request: EndCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let call = {
        let mut calls = state.calls.lock();
        if calls.get(&request.call_id).is_some_and(|c| c.involves(me.user.id)) {
            calls.remove(&request.call_id)
        } else {
            None
        }
    }
    .ok_or_else(call_not_found)?;
    let (reason, outcome) = match (call.answered_at.is_some(), call.caller.id == me.user.id) {
        (true, _) => (CallEndReason::Hangup, CallOutcome::Completed),
        (false, true) => (CallEndReason::Cancelled, CallOutcome::Cancelled),
        // The callee ending a ringing call declines it.
        (false, false) => {
            let rejected = CallRejected { call_id: request.call_id.clone(), reason: None };
            state.hub.to_socket(call.caller_sid, events::CALL_REJECTED, &rejected).await;
            (CallEndReason::Rejected, CallOutcome::Rejected)
        }
    };
    finish(state, &request.call_id, call, reason, outcome).await;
    Ok(())
}

pub async fn relay_ice(state: &AppState, me: &AuthUser, request: IceCandidate) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let size = serde_json::to_string(&request.candidate).map(|s| s.len()).unwrap_or(usize::MAX);
    if size > limits::MAX_ICE_CANDIDATE_BYTES {
        return Err(Error::refused(ErrorCode::TooLarge, "ICE candidate too large"));
    }
    // The other party's device in the call; all the callee's devices while it still rings.
    let target = {
        let calls = state.calls.lock();
        let call = calls.get(&request.call_id).filter(|c| c.involves(me.user.id)).ok_or_else(call_not_found)?;
        if call.caller.id == me.user.id { call.callee_room() } else { call.caller_sid.to_string() }
    };
    let relayed =
        IceCandidateRelayed { call_id: request.call_id, from_user_id: me.user.id, candidate: request.candidate };
    state.hub.to_rooms(vec![target], events::ICE_CANDIDATE, &relayed).await;
    Ok(())
}

/// A socket went away: every call it was a party to ends.
pub async fn socket_gone(state: &AppState, sid: Sid) {
    let gone: Vec<(String, Call)> = {
        let mut calls = state.calls.lock();
        let ids: Vec<String> = calls
            .iter()
            .filter(|(_, c)| c.caller_sid == sid || c.callee_sid == Some(sid))
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter().filter_map(|id| calls.remove(&id).map(|c| (id, c))).collect()
    };
    for (id, call) in gone {
        let outcome = if call.answered_at.is_some() { CallOutcome::Completed } else { CallOutcome::Cancelled };
        finish(state, &id, call, CallEndReason::Disconnected, outcome).await;
    }
}

/// Tells every device involved that the call ended, and records it in the conversation.
async fn finish(state: &AppState, call_id: &str, call: Call, reason: CallEndReason, outcome: CallOutcome) {
    let ended = CallEnded { call_id: call_id.to_owned(), reason, duration_ms: call.duration_ms() };
    state.hub.to_rooms(vec![call.caller_sid.to_string(), call.callee_room()], events::CALL_ENDED, &ended).await;
    record(state, call_id, &call, outcome).await;
}

async fn record(state: &AppState, call_id: &str, call: &Call, outcome: CallOutcome) {
    let kind = match call.call_type {
        CallType::Audio => "audio",
        CallType::Video => "video",
    };
    let content = match outcome {
        CallOutcome::Completed => format!("{} call", capitalized(kind)),
        CallOutcome::Missed => format!("Missed {kind} call"),
        CallOutcome::Rejected => format!("Declined {kind} call"),
        CallOutcome::Busy => format!("Missed {kind} call (busy)"),
        CallOutcome::Cancelled => format!("Cancelled {kind} call"),
    };
    let record = CallRecord {
        call_id: call_id.to_owned(),
        call_type: call.call_type,
        caller_id: call.caller.id,
        outcome,
        duration_ms: call.duration_ms(),
    };
    let stored = state
        .store
        .insert_message(call.conversation_id, call.caller.id, MessageType::Call, &content, None, Some(&record))
        .await;
    match stored {
        Ok(outcome) => {
            state.metrics.messages_stored.inc();
            state.hub.to_users(&outcome.members, None, events::MESSAGE_RECEIVED, &outcome.message).await;
        }
        Err(e) => tracing::error!(error = %e, call_id, "recording a call failed"),
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
