//! Call signaling and call state (ringing → active → ended). Media never passes through the
//! server: SDP and ICE payloads are relayed as opaque values.
//!
//! A call is addressed by its `callId` everywhere (never "the user's current call"), so that
//! several calls — and later group calls — fit the same events. The state lives in a [`CallTable`]:
//! this process's memory, or Redis when nodes share it, so caller and callee may sit on different
//! nodes. Each transition loads the call, decides here, and commits with a compare-and-swap; the
//! path whose removal wins is the one that finishes the call (one `callEnded`, one record).

mod table;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use confab_protocol::error::Empty;
use confab_protocol::notifications::{
    CallAccepted, CallEndReason, CallEnded, CallRejected, CallRenegotiated, CallStarted, IceCandidateRelayed,
    IncomingCall, MessageReceived,
};
use confab_protocol::requests::{AcceptCall, EndCall, IceCandidate, InitiateCall, RejectCall, RenegotiateCall};
use confab_protocol::{CallOutcome, CallRecord, CallType, ConversationKind, ErrorCode, MessageType, limits, validate};
use socketioxide::socket::Sid;

pub use table::{Call, CallTable, Inserted, Party, SharedCalls, Versioned};

use crate::AppState;
use crate::accounts::AuthUser;
use crate::error::{Error, Result};
use crate::hub::user_room;
use crate::ratelimit::{Bucket, Key};
use crate::socket::{Caller, Handle};
use crate::store::now_ms;

/// Call state, and which of this node's sockets are parties to which calls.
pub struct Calls {
    table: CallTable,
    /// Call id → this node's sockets in it: ended when they disconnect, leases renewed while they live.
    parties_here: Mutex<HashMap<String, Vec<(Sid, Party)>>>,
}

impl Calls {
    pub fn new(table: CallTable) -> Self {
        Calls { table, parties_here: Mutex::default() }
    }

    fn here(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(Sid, Party)>>> {
        self.parties_here.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn join_here(&self, id: &str, sid: Sid, party: Party) {
        self.here().entry(id.to_owned()).or_default().push((sid, party));
    }

    /// Loads the call, lets `check` refuse, and removes it; retries when another transition raced.
    async fn take_if(&self, id: &str, check: impl Fn(&Call) -> Result<()>) -> Result<Call> {
        loop {
            let current = self.table.load(id).await?.ok_or_else(call_not_found)?;
            check(&current.call)?;
            if self.table.remove(id, &current).await? {
                self.here().remove(id);
                return Ok(current.call);
            }
        }
    }
}

fn call_not_found() -> Error {
    Error::not_found("call")
}

/// Where the callee is reached: the answering device, or every device while it rings.
fn callee_room(call: &Call) -> String {
    call.callee_sid.clone().unwrap_or_else(|| user_room(call.callee))
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
    let call_id = confab_protocol::time::random_id();
    let call = Call {
        conversation_id: request.conversation_id,
        call_type: request.call_type,
        caller: me.user.clone(),
        caller_sid: sid.to_string(),
        callee,
        callee_sid: None,
        answered_at_ms: None,
    };
    match state.calls.table.insert(&call_id, &call).await? {
        Inserted::Yes => {}
        Inserted::CallerBusy => return Err(Error::refused(ErrorCode::Busy, "you are already in a call")),
        Inserted::CalleeBusy => {
            record(state, &call_id, &call, CallOutcome::Busy).await;
            return Err(Error::refused(ErrorCode::Busy, "the other user is in another call"));
        }
    }
    state.calls.join_here(&call_id, sid, Party::Caller);
    let incoming = IncomingCall {
        call_id: call_id.clone(),
        caller_id: me.user.id,
        caller_username: me.user.username.clone(),
        conversation_id: request.conversation_id,
        call_type: request.call_type,
        sdp: request.sdp,
    };
    state.hub.to_users(&[callee], None, &incoming).await;

    // The ring timer runs on this node; if the node dies, the caller's lease ends the call instead.
    let timeout = Duration::from_millis(state.config.call_ring_timeout_ms);
    let (state, id) = (state.clone(), call_id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let ringing = |c: &Call| if c.answered_at_ms.is_none() { Ok(()) } else { Err(Error::conflict("answered")) };
        if let Ok(call) = state.calls.take_if(&id, ringing).await {
            finish(&state, &id, call, CallEndReason::Missed, CallOutcome::Missed).await;
        }
    });
    Ok(call_id)
}

pub async fn accept(state: &AppState, me: &AuthUser, sid: Sid, request: AcceptCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    validate::sdp(&request.sdp)?;
    let call = loop {
        let current = state.calls.table.load(&request.call_id).await?;
        let current = current.filter(|c| c.call.callee == me.user.id).ok_or_else(call_not_found)?;
        if current.call.answered_at_ms.is_some() {
            return Err(Error::conflict("the call was already answered"));
        }
        let mut call = current.call;
        call.callee_sid = Some(sid.to_string());
        call.answered_at_ms = Some(now_ms());
        if state.calls.table.replace(&request.call_id, current.version, &call).await? {
            break call;
        }
    };
    state.calls.join_here(&request.call_id, sid, Party::Callee);
    let accepted = CallAccepted { call_id: request.call_id.clone(), sdp: request.sdp };
    state.hub.to_rooms(vec![call.caller_sid], &accepted).await;
    let elsewhere = CallEnded { call_id: request.call_id, reason: CallEndReason::AnsweredElsewhere, duration_ms: 0 };
    state.hub.to_user_except(me.user.id, vec![sid.to_string()], &elsewhere).await;
    Ok(())
}

pub async fn reject(state: &AppState, me: &AuthUser, request: RejectCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let reason = request.reason.map(|r| validate::label("reason", &r, limits::MAX_REASON_CHARS)).transpose()?;
    let call = state
        .calls
        .take_if(&request.call_id, |c| match (c.callee == me.user.id, c.answered_at_ms.is_some()) {
            (false, _) => Err(call_not_found()),
            (true, true) => Err(Error::conflict("the call was already answered")),
            (true, false) => Ok(()),
        })
        .await?;
    let rejected = CallRejected { call_id: request.call_id.clone(), reason };
    state.hub.to_rooms(vec![call.caller_sid.clone()], &rejected).await;
    finish(state, &request.call_id, call, CallEndReason::Rejected, CallOutcome::Rejected).await;
    Ok(())
}

pub async fn end(state: &AppState, me: &AuthUser, request: EndCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let involved = |c: &Call| if c.involves(me.user.id) { Ok(()) } else { Err(call_not_found()) };
    let call = state.calls.take_if(&request.call_id, involved).await?;
    let (reason, outcome) = match (call.answered_at_ms.is_some(), call.caller.id == me.user.id) {
        (true, _) => (CallEndReason::Hangup, CallOutcome::Completed),
        (false, true) => (CallEndReason::Cancelled, CallOutcome::Cancelled),
        // The callee ending a ringing call declines it.
        (false, false) => {
            let rejected = CallRejected { call_id: request.call_id.clone(), reason: None };
            state.hub.to_rooms(vec![call.caller_sid.clone()], &rejected).await;
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
    let call = state.calls.table.load(&request.call_id).await?;
    let call = call.filter(|c| c.call.involves(me.user.id)).ok_or_else(call_not_found)?.call;
    // The other party's device in the call; all the callee's devices while it still rings.
    let target = if call.caller.id == me.user.id { callee_room(&call) } else { call.caller_sid };
    let relayed =
        IceCandidateRelayed { call_id: request.call_id, from_user_id: me.user.id, candidate: request.candidate };
    state.hub.to_rooms(vec![target], &relayed).await;
    Ok(())
}

/// Relays a new offer or answer (an ICE restart) to the other party's device in an answered call.
pub async fn renegotiate(state: &AppState, me: &AuthUser, sid: Sid, request: RenegotiateCall) -> Result<()> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    validate::sdp(&request.sdp)?;
    let call = state.calls.table.load(&request.call_id).await?;
    let call = call.filter(|c| c.call.involves(me.user.id)).ok_or_else(call_not_found)?.call;
    let Some(callee_sid) = call.callee_sid.clone() else {
        return Err(Error::conflict("the call has not been answered yet"));
    };
    // Only the devices in the call take part: a user's other device cannot renegotiate it.
    let sid = sid.to_string();
    let target = if sid == call.caller_sid {
        callee_sid
    } else if sid == callee_sid {
        call.caller_sid
    } else {
        return Err(Error::forbidden("this device is not the one in the call"));
    };
    let relayed =
        CallRenegotiated { call_id: request.call_id, from_user_id: me.user.id, kind: request.kind, sdp: request.sdp };
    state.hub.to_rooms(vec![target], &relayed).await;
    Ok(())
}

/// A socket went away: every call it was a party to ends.
pub async fn socket_gone(state: &AppState, sid: Sid) {
    let ids: Vec<String> = state
        .calls
        .here()
        .iter()
        .filter(|(_, parties)| parties.iter().any(|(s, _)| *s == sid))
        .map(|(id, _)| id.clone())
        .collect();
    let sid = sid.to_string();
    for id in ids {
        let party = |c: &Call| {
            if c.caller_sid == sid || c.callee_sid.as_deref() == Some(&sid) { Ok(()) } else { Err(call_not_found()) }
        };
        match state.calls.take_if(&id, party).await {
            Ok(call) => disconnected(state, &id, call).await,
            Err(Error::Refused(_)) => {}
            Err(e) => tracing::warn!(error = %e, call_id = id, "ending a call of a closed socket failed"),
        }
    }
}

async fn disconnected(state: &AppState, id: &str, call: Call) {
    let outcome = if call.answered_at_ms.is_some() { CallOutcome::Completed } else { CallOutcome::Cancelled };
    finish(state, id, call, CallEndReason::Disconnected, outcome).await;
}

/// Keeps the leases of this node's parties alive and ends calls whose party's node died (shared
/// state only; a single node learns of its sockets' end from their disconnect).
pub async fn heartbeat(state: &AppState) {
    let parties: Vec<(String, Party)> = state
        .calls
        .here()
        .iter()
        .flat_map(|(id, parties)| parties.iter().map(move |(_, party)| (id.clone(), *party)))
        .collect();
    match state.calls.table.renew(&parties).await {
        Ok(gone) => {
            let mut here = state.calls.here();
            for id in gone {
                here.remove(&id);
            }
        }
        Err(e) => tracing::warn!(error = %e, "renewing call leases failed"),
    }
    match state.calls.table.expired().await {
        Ok(expired) => {
            for (id, current) in expired {
                match state.calls.table.remove(&id, &current).await {
                    Ok(true) => disconnected(state, &id, current.call).await,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "ending an expired call failed"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "sweeping expired calls failed"),
    }
}

/// Tells every device involved that the call ended, and records it in the conversation.
async fn finish(state: &AppState, call_id: &str, call: Call, reason: CallEndReason, outcome: CallOutcome) {
    let ended = CallEnded { call_id: call_id.to_owned(), reason, duration_ms: call.duration_ms() };
    state.hub.to_rooms(vec![call.caller_sid.clone(), callee_room(&call)], &ended).await;
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
            state.hub.to_users(&outcome.members, None, &MessageReceived(outcome.message)).await;
        }
        Err(e) => tracing::error!(error = %e, call_id, "recording a call failed"),
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

// The socket requests: each the domain function above, answered with its ack.

impl Handle for InitiateCall {
    async fn handle(self, c: Caller<'_>) -> Result<CallStarted> {
        initiate(c.state, c.me, c.sid, self).await.map(|call_id| CallStarted { call_id })
    }
}

impl Handle for AcceptCall {
    async fn handle(self, c: Caller<'_>) -> Result<Empty> {
        accept(c.state, c.me, c.sid, self).await.map(|()| Empty {})
    }
}

impl Handle for RejectCall {
    async fn handle(self, c: Caller<'_>) -> Result<Empty> {
        reject(c.state, c.me, self).await.map(|()| Empty {})
    }
}

impl Handle for EndCall {
    async fn handle(self, c: Caller<'_>) -> Result<Empty> {
        end(c.state, c.me, self).await.map(|()| Empty {})
    }
}

impl Handle for IceCandidate {
    async fn handle(self, c: Caller<'_>) -> Result<Empty> {
        relay_ice(c.state, c.me, self).await.map(|()| Empty {})
    }
}

impl Handle for RenegotiateCall {
    async fn handle(self, c: Caller<'_>) -> Result<Empty> {
        renegotiate(c.state, c.me, c.sid, self).await.map(|()| Empty {})
    }
}
