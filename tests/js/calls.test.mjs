// Calls: ringing on every callee device, accept/reject/end, ICE relay, busy, missed,
// disconnects, and the call record messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, connectReady, nextEvent, expectNoEvent, emitAck, emitOk,
  assertErrorAck, friendPair, makeFriends, directConversation, history, takeAll, drain, sleep,
} from './helpers.mjs';

const RING_MS = 1500;
const ctx = useServer({ env: { CONFAB_CALL_RING_TIMEOUT_MS: String(RING_MS) } });

/** Caller a with one device, callee b with two devices. */
async function setup() {
  const { a, b, conv } = await friendPair(ctx.url);
  const a1 = await connectReady(ctx.url, a);
  const b1 = await connectReady(ctx.url, b);
  const b2 = await connectReady(ctx.url, b);
  return { a, b, conv, a1, b1, b2, all: [a1, b1, b2] };
}

const closeAll = (socks) => socks.forEach((s) => s.close());

function assertEnded(ev, callId, reason) {
  assert.equal(ev.callId, callId);
  assert.equal(ev.reason, reason);
  assert.ok(Number.isInteger(ev.durationMs) && ev.durationMs >= 0, `durationMs ${ev.durationMs}`);
}

const endedFor = (callId) => ({ filter: (e) => e.callId === callId });

/** The call record delivered as messageReceived. */
async function callRecord(s, callId, timeoutMs = 5000) {
  return nextEvent(s, 'messageReceived', { timeoutMs, filter: (m) => m.type === 'call' && m.call && m.call.callId === callId });
}

function assertCallMessage(m, { callId, callType, callerId, outcome, conversationId }) {
  assert.equal(m.type, 'call');
  assert.equal(m.conversationId, conversationId);
  assert.deepEqual(Object.keys(m.call).sort(), ['callId', 'callType', 'callerId', 'durationMs', 'outcome']);
  assert.equal(m.call.callId, callId);
  assert.equal(m.call.callType, callType);
  assert.equal(m.call.callerId, callerId);
  assert.equal(m.call.outcome, outcome);
  assert.ok(Number.isInteger(m.call.durationMs) && m.call.durationMs >= 0);
  assert.equal(typeof m.content, 'string');
  assert.ok(m.content.length > 0, 'a call message has a short text');
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1);
}

describe('calls', () => {
  it('initiate → incomingCall on both callee devices; accept on one → callAccepted + answeredElsewhere; ICE both ways; hangup', async () => {
    const { a, b, conv, a1, b1, b2, all } = await setup();
    const a2 = await connectReady(ctx.url, a); // a second device of the caller, not part of the call
    const ack = await emitAck(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'v=0 offer' });
    assert.equal(ack.success, true, JSON.stringify(ack));
    assert.equal(typeof ack.callId, 'string');
    assert.ok(ack.callId.length > 0);
    const callId = ack.callId;
    const incoming = { callId, callerId: a.user.id, callerUsername: a.user.username, conversationId: conv.id, callType: 'audio', sdp: 'v=0 offer' };
    assert.deepEqual(await nextEvent(b1, 'incomingCall'), incoming);
    assert.deepEqual(await nextEvent(b2, 'incomingCall'), incoming);
    await expectNoEvent(a1, 'incomingCall', 100);

    // ICE from the caller while ringing: to all the callee's devices
    const cand1 = { candidate: 'candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    assert.deepEqual(await emitAck(a1, 'iceCandidate', { callId, candidate: cand1 }), { success: true });
    assert.deepEqual(await nextEvent(b1, 'iceCandidate'), { callId, fromUserId: a.user.id, candidate: cand1 });
    assert.deepEqual(await nextEvent(b2, 'iceCandidate'), { callId, fromUserId: a.user.id, candidate: cand1 });

    // b2 answers
    const acc = await emitAck(b2, 'acceptCall', { callId, sdp: 'v=0 answer' });
    assert.equal(acc.success, true, JSON.stringify(acc));
    assert.deepEqual(await nextEvent(a1, 'callAccepted'), { callId, sdp: 'v=0 answer' });
    assertEnded(await nextEvent(b1, 'callEnded', endedFor(callId)), callId, 'answeredElsewhere');
    await expectNoEvent(b2, 'callEnded', 200);
    await expectNoEvent(a1, 'callEnded', 0);

    // accepting again (from the other device) fails: not ringing anymore
    const late = await emitAck(b1, 'acceptCall', { callId, sdp: 'v=0 late' });
    assert.equal(late.success, false, JSON.stringify(late));

    // ICE now goes only to the answering device, both ways
    const cand2 = { candidate: 'candidate:2 1 udp 1 10.0.0.2 6000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    await emitOk(b2, 'iceCandidate', { callId, candidate: cand2 });
    assert.deepEqual(await nextEvent(a1, 'iceCandidate'), { callId, fromUserId: b.user.id, candidate: cand2 });
    const cand3 = { candidate: 'candidate:3 1 udp 1 10.0.0.3 7000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    await emitOk(a1, 'iceCandidate', { callId, candidate: cand3 });
    assert.deepEqual(await nextEvent(b2, 'iceCandidate'), { callId, fromUserId: a.user.id, candidate: cand3 });
    await expectNoEvent(b1, 'iceCandidate', 300);

    await sleep(150);
    // the callee hangs up
    assert.deepEqual(await emitAck(b2, 'endCall', { callId }), { success: true });
    const e1 = await nextEvent(a1, 'callEnded', endedFor(callId));
    const e2 = await nextEvent(b2, 'callEnded', endedFor(callId));
    assertEnded(e1, callId, 'hangup');
    assertEnded(e2, callId, 'hangup');
    assert.ok(e1.durationMs >= 100, `an answered call lasted about 150+ ms, got ${e1.durationMs}`);
    await expectNoEvent(b1, 'callEnded', 300); // b1 already had its one callEnded

    // the call record: a messageReceived of type "call" to both users
    const recA = await callRecord(a1, callId);
    const recB = await callRecord(b1, callId);
    assertCallMessage(recA, { callId, callType: 'audio', callerId: a.user.id, outcome: 'completed', conversationId: conv.id });
    assert.deepEqual(recB, recA);
    assert.ok(recA.call.durationMs >= 100);
    const h = await history(ctx.url, b, conv.id);
    assert.deepEqual(h.messages[0], recA);

    // call messages are not text: nobody may edit them
    assertErrorAck(assert, await emitAck(a1, 'editMessage', { messageId: recA.id, content: 'fake call' }), 'forbidden');
    assertErrorAck(assert, await emitAck(b1, 'editMessage', { messageId: recA.id, content: 'fake call' }), 'forbidden');

    // ending again fails; ICE on an ended call fails
    assert.equal((await emitAck(a1, 'endCall', { callId })).success, false);
    assert.equal((await emitAck(a1, 'iceCandidate', { callId, candidate: cand1 })).success, false);
    // the caller's other device was never involved: no call events at all
    for (const ev of ['incomingCall', 'callAccepted', 'callRejected', 'callEnded', 'iceCandidate']) {
      await expectNoEvent(a2, ev, 0);
    }
    a2.close();
    closeAll(all);
  });

  it('the caller may end an active call: hangup to both sides', async () => {
    const { a, conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'video', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await emitOk(b1, 'acceptCall', { callId, sdp: 'answer' });
    await nextEvent(a1, 'callAccepted');
    assertEnded(await nextEvent(b2, 'callEnded', endedFor(callId)), callId, 'answeredElsewhere');
    await emitOk(a1, 'endCall', { callId });
    assertEnded(await nextEvent(a1, 'callEnded', endedFor(callId)), callId, 'hangup');
    assertEnded(await nextEvent(b1, 'callEnded', endedFor(callId)), callId, 'hangup');
    const rec = await callRecord(b2, callId);
    assertCallMessage(rec, { callId, callType: 'video', callerId: a.user.id, outcome: 'completed', conversationId: conv.id });
    closeAll(all);
  });

  it('reject: callRejected to the caller, then callEnded "rejected" to everyone involved; outcome "rejected"', async () => {
    const { a, conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'video', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await nextEvent(b2, 'incomingCall');

    // only the callee may reject
    const byCaller = await emitAck(a1, 'rejectCall', { callId, reason: 'nope' });
    assert.equal(byCaller.success, false, JSON.stringify(byCaller));

    assert.deepEqual(await emitAck(b1, 'rejectCall', { callId, reason: 'declined' }), { success: true });
    assert.deepEqual(await nextEvent(a1, 'callRejected'), { callId, reason: 'declined' });
    assertEnded(await nextEvent(a1, 'callEnded', endedFor(callId)), callId, 'rejected');
    assertEnded(await nextEvent(b1, 'callEnded', endedFor(callId)), callId, 'rejected');
    assertEnded(await nextEvent(b2, 'callEnded', endedFor(callId)), callId, 'rejected');
    await expectNoEvent(b1, 'callEnded', 300);
    await expectNoEvent(b2, 'callEnded', 0);
    await expectNoEvent(a1, 'callEnded', 0);
    await expectNoEvent(a1, 'callAccepted', 0);

    const rec = await callRecord(a1, callId);
    assertCallMessage(rec, { callId, callType: 'video', callerId: a.user.id, outcome: 'rejected', conversationId: conv.id });
    assert.deepEqual(await callRecord(b2, callId), rec);
    // too late to accept
    assert.equal((await emitAck(b2, 'acceptCall', { callId, sdp: 'x' })).success, false);
    closeAll(all);
  });

  it('the caller ends a ringing call: callEnded "cancelled" everywhere; outcome "cancelled"', async () => {
    const { a, conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await nextEvent(b2, 'incomingCall');
    await emitOk(a1, 'endCall', { callId });
    for (const s of [a1, b1, b2]) assertEnded(await nextEvent(s, 'callEnded', endedFor(callId)), callId, 'cancelled');
    const rec = await callRecord(b1, callId);
    assertCallMessage(rec, { callId, callType: 'audio', callerId: a.user.id, outcome: 'cancelled', conversationId: conv.id });
    await expectNoEvent(b1, 'callEnded', 200);
    closeAll(all);
  });

  it('no answer within the ring timeout: callEnded "missed" to all; outcome "missed"', async () => {
    const { a, b, conv, a1, b1, b2, all } = await setup();
    const t0 = Date.now();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await nextEvent(b2, 'incomingCall');
    const ends = await Promise.all([a1, b1, b2].map((s) => nextEvent(s, 'callEnded', { ...endedFor(callId), timeoutMs: RING_MS + 4000 })));
    const elapsed = Date.now() - t0;
    for (const e of ends) assertEnded(e, callId, 'missed');
    assert.ok(elapsed >= RING_MS - 200, `missed after ${elapsed} ms, before the ${RING_MS} ms ring timeout`);
    const rec = await callRecord(a1, callId);
    assertCallMessage(rec, { callId, callType: 'audio', callerId: a.user.id, outcome: 'missed', conversationId: conv.id });
    assert.deepEqual(await callRecord(b1, callId), rec);
    // the callee can no longer accept
    assert.equal((await emitAck(b1, 'acceptCall', { callId, sdp: 'x' })).success, false);
    const h = await history(ctx.url, b, conv.id);
    assert.equal(h.messages[0].call.outcome, 'missed');
    assert.ok(b);
    closeAll(all);
  });

  it('busy: calling someone in a call (or while in one yourself) → busy, recorded as a "busy" call message', async () => {
    const { a, b, conv, a1, b1, b2, all } = await setup();
    const c = await register(ctx.url);
    await makeFriends(ctx.url, c, b);
    await makeFriends(ctx.url, c, a);
    const convCB = await directConversation(ctx.url, c, b);
    const convCA = await directConversation(ctx.url, c, a);
    const c1 = await connectReady(ctx.url, c);

    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await emitOk(b1, 'acceptCall', { callId, sdp: 'answer' });
    await nextEvent(a1, 'callAccepted');
    drain(b2);

    // c calls b, who is in a call
    const busy = await emitAck(c1, 'initiateCall', { conversationId: convCB.id, callType: 'video', sdp: 'offer' });
    assertErrorAck(assert, busy, 'busy');
    await expectNoEvent(b1, 'incomingCall', 300);
    await expectNoEvent(b2, 'incomingCall', 0);
    const recB = await nextEvent(b1, 'messageReceived', { filter: (m) => m.type === 'call' && m.conversationId === convCB.id });
    assert.equal(recB.call.outcome, 'busy');
    assert.equal(recB.call.callerId, c.user.id);
    assert.equal(recB.call.callType, 'video');
    const hCB = await history(ctx.url, c, convCB.id);
    assert.equal(hCB.messages.length, 1);
    assert.equal(hCB.messages[0].type, 'call');
    assert.equal(hCB.messages[0].call.outcome, 'busy');

    // a, in a call, tries to call c
    const own = await emitAck(a1, 'initiateCall', { conversationId: convCA.id, callType: 'audio', sdp: 'offer' });
    assertErrorAck(assert, own, 'busy');
    await expectNoEvent(c1, 'incomingCall', 300);

    // the first call is unaffected
    await emitOk(a1, 'endCall', { callId });
    assertEnded(await nextEvent(b1, 'callEnded', endedFor(callId)), callId, 'hangup');
    // and once it is over, c can call b
    await sleep(1100); // calls bucket
    const { callId: c2 } = await emitOk(c1, 'initiateCall', { conversationId: convCB.id, callType: 'audio', sdp: 'offer' });
    assert.equal((await nextEvent(b2, 'incomingCall', { filter: (e) => e.callId === c2 })).callerId, c.user.id);
    await emitOk(c1, 'endCall', { callId: c2 });
    closeAll([...all, c1]);
  });

  it('the caller\'s device disconnecting ends an active call: callEnded "disconnected"', async () => {
    const { a, conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await emitOk(b1, 'acceptCall', { callId, sdp: 'answer' });
    await nextEvent(a1, 'callAccepted');
    assertEnded(await nextEvent(b2, 'callEnded', endedFor(callId)), callId, 'answeredElsewhere');
    a1.close();
    assertEnded(await nextEvent(b1, 'callEnded', endedFor(callId)), callId, 'disconnected');
    const rec = await callRecord(b1, callId);
    assert.equal(rec.call.callId, callId);
    assert.equal(rec.call.callerId, a.user.id);
    assert.equal(rec.type, 'call');
    await expectNoEvent(b2, 'callEnded', 300);
    // b is free again
    const h = await history(ctx.url, a, conv.id);
    assert.equal(h.messages[0].call.callId, callId);
    closeAll(all);
  });

  it('the caller disconnecting while it rings ends it on every callee device', async () => {
    const { conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await nextEvent(b2, 'incomingCall');
    a1.close();
    const e1 = await nextEvent(b1, 'callEnded', endedFor(callId));
    const e2 = await nextEvent(b2, 'callEnded', endedFor(callId));
    assertEnded(e1, callId, 'disconnected');
    assertEnded(e2, callId, 'disconnected');
    assert.equal((await emitAck(b1, 'acceptCall', { callId, sdp: 'x' })).success, false);
    closeAll(all);
  });

  it('the callee\'s answering device disconnecting ends the call for the caller', async () => {
    const { conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    await emitOk(b1, 'acceptCall', { callId, sdp: 'answer' });
    await nextEvent(a1, 'callAccepted');
    b1.close();
    assertEnded(await nextEvent(a1, 'callEnded', endedFor(callId)), callId, 'disconnected');
    closeAll(all);
  });

  it('refusals: group conversation, non-member, bad callType, unknown call, accept by the caller, a third party', async () => {
    const { a, b, conv, a1, b1, b2, all } = await setup();
    const c = await register(ctx.url);
    await makeFriends(ctx.url, a, c);
    const group = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, c.user.id], title: 'g' }, a.token);
    assert.equal(group.status, 201);
    const g = await emitAck(a1, 'initiateCall', { conversationId: group.body.conversation.id, callType: 'audio', sdp: 'offer' });
    assert.equal(g.success, false, `group calls are refused: ${JSON.stringify(g)}`);

    const stranger = await register(ctx.url);
    const ss = await connectReady(ctx.url, stranger);
    assertErrorAck(assert, await emitAck(ss, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' }), 'not_found');
    assertErrorAck(assert, await emitAck(a1, 'initiateCall', { conversationId: conv.id, callType: 'hologram', sdp: 'offer' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(a1, 'initiateCall', 'call me'), 'invalid_payload');
    assertErrorAck(assert, await emitAck(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'x'.repeat(33 * 1024) }), 'too_large');
    await expectNoEvent(b1, 'incomingCall', 300);

    await sleep(1100); // calls bucket: 1/s, burst 5
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    assert.equal((await emitAck(a1, 'acceptCall', { callId, sdp: 'self' })).success, false, 'the caller cannot accept');
    assert.equal((await emitAck(ss, 'acceptCall', { callId, sdp: 'x' })).success, false, 'a stranger cannot accept');
    assert.equal((await emitAck(ss, 'endCall', { callId })).success, false, 'a stranger cannot end');
    assert.equal((await emitAck(ss, 'iceCandidate', { callId, candidate: {} })).success, false, 'a stranger cannot signal');
    assert.equal((await emitAck(a1, 'endCall', { callId: 'no-such-call' })).success, false);
    assertErrorAck(assert, await emitAck(a1, 'acceptCall', { sdp: 'x' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(a1, 'iceCandidate', { callId, candidate: { c: 'x'.repeat(5 * 1024) } }), 'too_large');
    await expectNoEvent(b1, 'iceCandidate', 200);
    await emitOk(a1, 'endCall', { callId });
    for (const s of [a1, b1, b2]) assertEnded(await nextEvent(s, 'callEnded', endedFor(callId)), callId, 'cancelled');
    takeAll(b1, 'messageReceived');
    closeAll([...all, ss]);
  });
  it('renegotiateCall (ICE restart) passes offer and answer between the two devices in the call only', async () => {
    const { a, conv, a1, b1, b2, all } = await setup();
    const { callId } = await emitOk(a1, 'initiateCall', { conversationId: conv.id, callType: 'audio', sdp: 'offer' });
    await nextEvent(b1, 'incomingCall');
    assertErrorAck(assert, await emitAck(a1, 'renegotiateCall', { callId, kind: 'offer', sdp: 'restart' }), 'conflict');
    await emitOk(b1, 'acceptCall', { callId, sdp: 'answer' });
    await nextEvent(a1, 'callAccepted');
    await emitOk(a1, 'renegotiateCall', { callId, kind: 'offer', sdp: 'restart offer' });
    assert.deepEqual(await nextEvent(b1, 'renegotiateCall'), { callId, fromUserId: a.user.id, kind: 'offer', sdp: 'restart offer' });
    await emitOk(b1, 'renegotiateCall', { callId, kind: 'answer', sdp: 'restart answer' });
    const answer = await nextEvent(a1, 'renegotiateCall');
    assert.equal(answer.kind, 'answer');
    assert.equal(answer.sdp, 'restart answer');
    await expectNoEvent(b2, 'renegotiateCall', 300);
    assertErrorAck(assert, await emitAck(b2, 'renegotiateCall', { callId, kind: 'answer', sdp: 'x' }), 'forbidden');
    assertErrorAck(assert, await emitAck(a1, 'renegotiateCall', { callId, kind: 'rollback', sdp: 'x' }), 'invalid_payload');
    await emitOk(a1, 'endCall', { callId });
    assertErrorAck(assert, await emitAck(a1, 'renegotiateCall', { callId, kind: 'offer', sdp: 'x' }), 'not_found');
    closeAll(all);
  });
});
