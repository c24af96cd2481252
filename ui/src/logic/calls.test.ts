import { describe, expect, it } from 'vitest';

import type { CallRecord } from '../types';
import {
  type CallView, OUTGOING, busy, callRecordIcon, callRecordText, callsReducer, endText, formatDuration, hasRelay,
  iceSourcesText, initialCalls, ringingCalls, shownCall,
} from './calls';
import { FrameMeter, parseVideoMessage } from './video';

/** A snapshot as the core publishes it: a new outgoing call unless told otherwise. */
const snap = (extra: Partial<CallView>): CallView => ({
  callId: OUTGOING, replaces: null, conversationId: 7, peerName: 'bob', callType: 'audio', direction: 'outgoing',
  phase: 'calling', answeredAt: null, muted: false, cameraOn: false, media: null, problems: [], endReason: null,
  rejectReason: null, durationMs: 0, endedAt: null, error: null, ...extra,
});
const incoming = (extra: Partial<CallView> = {}) =>
  snap({ callId: 'c2', peerName: 'alice', callType: 'video', direction: 'incoming', phase: 'ringing', cameraOn: true, ...extra });
const run = (...calls: CallView[]) => calls.reduce((s, call) => callsReducer(s, { type: 'snapshot', call }), initialCalls);
const ended = (call: CallView, endReason: CallView['endReason'], extra: Partial<CallView> = {}) =>
  ({ ...call, replaces: null, phase: 'ended' as const, endReason, endedAt: 10_000, ...extra });

describe('formatDuration', () => {
  it('shows m:ss, and h:mm:ss past an hour', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(5_999)).toBe('0:05');
    expect(formatDuration(83_000)).toBe('1:23');
    expect(formatDuration(720_000)).toBe('12:00');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(-5)).toBe('0:00');
  });
});

describe('callsReducer', () => {
  it('keeps the latest snapshot of each call as it came', () => {
    const first = incoming();
    const answering = incoming({ phase: 'answering', problems: ['No microphone found'] });
    const s = run(first, answering);
    expect(Object.keys(s.calls)).toEqual(['c2']);
    expect(s.calls.c2).toBe(answering);
  });

  it("drops the 'outgoing' entry when the call's first snapshot under its real id replaces it", () => {
    let s = run(snap({ problems: ['No microphone found'] }));
    expect(shownCall(s)?.callId).toBe(OUTGOING);
    s = callsReducer(s, { type: 'snapshot', call: snap({ callId: 'c1', replaces: OUTGOING, problems: ['No microphone found'] }) });
    expect(Object.keys(s.calls)).toEqual(['c1']);
    expect(shownCall(s)).toMatchObject({ callId: 'c1', phase: 'calling', problems: ['No microphone found'] });
    // Later snapshots of c1 still say what it replaced; there is nothing left to drop.
    s = callsReducer(s, { type: 'snapshot', call: snap({ callId: 'c1', replaces: OUTGOING, phase: 'active', answeredAt: 1_000, media: 'connected' }) });
    expect(Object.keys(s.calls)).toEqual(['c1']);
    expect(s.calls.c1).toMatchObject({ phase: 'active', answeredAt: 1_000, media: 'connected' });
  });

  it('shows an ended call until it is dismissed, and dismisses only ended calls', () => {
    const active = snap({ callId: 'c1', phase: 'active', answeredAt: 1_000 });
    let s = run(active);
    expect(callsReducer(s, { type: 'dismiss', callId: 'c1' })).toBe(s);
    s = callsReducer(s, { type: 'snapshot', call: ended(active, 'hangup', { durationMs: 83_000 }) });
    expect(busy(s)).toBe(false);
    expect(shownCall(s)?.callId).toBe('c1');
    expect(endText(shownCall(s)!)).toBe('Call ended · 1:23');
    s = callsReducer(s, { type: 'dismiss', callId: 'c1' });
    expect(shownCall(s)).toBeNull();
    expect(callsReducer(s, { type: 'dismiss', callId: 'c1' })).toBe(s);
  });

  it("lets a new outgoing call take the id of one that failed before it was named", () => {
    let s = run(ended(snap({}), 'failed', { error: 'not connected' }));
    expect(endText(shownCall(s)!)).toBe('Call failed: not connected');
    s = callsReducer(s, { type: 'snapshot', call: snap({ peerName: 'carol' }) });
    // The old call's dismiss timer fires late: the new call stays.
    s = callsReducer(s, { type: 'dismiss', callId: OUTGOING });
    expect(shownCall(s)).toMatchObject({ callId: OUTGOING, phase: 'calling', peerName: 'carol' });
  });

  it('after lost events, takes the core\'s calls as they are and keeps the ended ones on screen', () => {
    const gone = snap({ callId: 'c1', phase: 'active', answeredAt: 1_000 }); // ended while events were lost
    const justEnded = ended(incoming({ callId: 'c3' }), 'missed');
    const stillRinging = incoming({ callId: 'c2' });
    let s = run(gone, justEnded);
    s = callsReducer(s, { type: 'resync', calls: [stillRinging] });
    expect(Object.keys(s.calls).sort()).toEqual(['c2', 'c3']);
    expect(s.calls.c2).toBe(stillRinging);
    expect(busy(s)).toBe(true);
  });

  it('keeps two calls apart by callId', () => {
    const s = run(incoming(), incoming({ callId: 'c3', peerName: 'carol' }), ended(incoming({ callId: 'c3', peerName: 'carol' }), 'missed'));
    expect(s.calls.c2.phase).toBe('ringing');
    expect(s.calls.c3.phase).toBe('ended');
    expect(ringingCalls(s).map((c) => c.callId).sort()).toEqual(['c2', 'c3']);
  });
});

describe('selectors', () => {
  it('rings an incoming call as a dialog until answered, then shows it as the call', () => {
    let s = run(incoming());
    expect(ringingCalls(s).map((c) => c.callId)).toEqual(['c2']);
    expect(shownCall(s)).toBeNull();
    expect(busy(s)).toBe(true);
    s = run(incoming(), incoming({ phase: 'answering' }));
    expect(ringingCalls(s)).toEqual([]);
    expect(shownCall(s)?.phase).toBe('answering');
    s = run(incoming(), incoming({ phase: 'active', answeredAt: 10, muted: true, cameraOn: false }));
    expect(ringingCalls(s)).toEqual([]);
    expect(shownCall(s)).toMatchObject({ callId: 'c2', muted: true, cameraOn: false });
  });

  it('keeps a call that ended while it rang here in its dialog ("missed"), not in the call view', () => {
    const s = run(incoming(), ended(incoming(), 'cancelled'));
    expect(shownCall(s)).toBeNull();
    expect(ringingCalls(s).map(endText)).toEqual(['Missed call from alice']);
    expect(busy(s)).toBe(false);
    const declined = run(ended(incoming(), 'rejected'));
    expect(ringingCalls(declined).map(endText)).toEqual(['Call declined']);
    const failed = run(ended(incoming({ phase: 'answering' }), 'failed', { error: 'timed out' }));
    expect(ringingCalls(failed).map(endText)).toEqual(['Call failed: timed out']);
  });

  it('shows the call under way rather than one that just ended', () => {
    const over = ended(snap({ callId: 'c1', phase: 'active', answeredAt: 1 }), 'hangup');
    const s = run(over, incoming({ phase: 'active', answeredAt: 20_000 }));
    expect(shownCall(s)?.callId).toBe('c2');
    expect(busy(s)).toBe(true);
  });

  it('is busy while any call rings or runs, on either side', () => {
    expect(busy(initialCalls)).toBe(false);
    expect(busy(run(snap({})))).toBe(true);
    expect(busy(run(incoming()))).toBe(true);
    expect(busy(run(ended(snap({}), 'cancelled'), ended(incoming(), 'missed')))).toBe(false);
  });
});

describe('endText', () => {
  it("says why the caller's call ended", () => {
    const out = snap({ callId: 'c1' });
    expect(endText(ended(out, 'busy'))).toBe('bob is in another call');
    expect(endText(ended(out, 'rejected'))).toBe('bob declined the call');
    expect(endText(ended(out, 'rejected', { rejectReason: 'in a meeting' }))).toBe('bob declined the call: in a meeting');
    expect(endText(ended(out, 'missed'))).toBe('No answer');
    expect(endText(ended(out, 'cancelled'))).toBe('Call cancelled');
    expect(endText(ended(out, 'answeredElsewhere'))).toBe('Answered on another device');
    expect(endText(ended(out, 'disconnected'))).toBe('Call ended: connection lost');
    expect(endText(ended(out, 'disconnected', { answeredAt: 1, durationMs: 5_000 }))).toBe('Call ended: connection lost · 0:05');
    expect(endText(ended(out, 'failed'))).toBe('Call failed: unknown error');
  });

  it('says why an answered call could not connect, instead of connecting on', () => {
    const answered = { answeredAt: 1_000 };
    expect(endText(ended(snap({ callId: 'c1', peerName: 'alice', ...answered }), 'noRelay'))).toBe('Could not reach alice: no relay available');
    expect(endText(ended(incoming(answered), 'noRelay'))).toBe('Could not reach alice: no relay available');
    expect(endText(ended(snap({ callId: 'c1', ...answered }), 'notConnected'))).toBe('Could not connect the call');
    // The call view shows it (an answered incoming call is the call view's, not a dialog's).
    const s = run(ended(incoming(answered), 'noRelay'));
    expect(shownCall(s)?.endReason).toBe('noRelay');
    expect(ringingCalls(s)).toEqual([]);
  });
});

describe('ICE server sources', () => {
  const stun = { urls: ['stun:confab.example.org:3478'] };
  const turn = { urls: ['turn:confab.example.org:3478?transport=udp'] };
  const mine = { urls: ['turns:relay.example.net:5349'], username: 'me', credential: 'secret' };

  it('tells a relay from STUN', () => {
    expect(hasRelay([stun])).toBe(false);
    expect(hasRelay([stun, turn])).toBe(true);
    expect(hasRelay([mine])).toBe(true);
    expect(hasRelay([])).toBe(false);
  });

  it("says what the server offers and whether calls have a relay", () => {
    expect(iceSourcesText({ fromServer: [stun, turn], serverError: null, fromSettings: [] })).toEqual({
      server: 'Your Confab server offers these; credentials are handed out per call.',
      relay: 'Calls that cannot connect directly go through a relay (TURN).',
    });
    expect(iceSourcesText({ fromServer: [], serverError: null, fromSettings: [] })).toEqual({
      server: 'Your Confab server offers no STUN or TURN server.',
      relay: 'No relay (TURN) is available: calls connect only when both sides can reach each other directly, for example on the same network.',
    });
    // The user's own relay counts too.
    expect(iceSourcesText({ fromServer: [stun], serverError: null, fromSettings: [mine] }).relay)
      .toBe('Calls that cannot connect directly go through a relay (TURN).');
  });

  it('says when the server gave no list (an older server, or offline)', () => {
    const old = iceSourcesText({ fromServer: [], serverError: 'unexpected answer from the server: HTTP 404 Not Found', fromSettings: [] });
    expect(old.server).toBe('Your Confab server gave no list (it may be an older version, or it did not answer): only the servers you add are used.');
    expect(old.relay).toMatch(/^No relay/);
    expect(iceSourcesText({ fromServer: [turn], serverError: 'offline', fromSettings: [] }).server)
      .toBe('Your Confab server did not answer just now; its last list is used.');
  });
});

describe('call records', () => {
  const record = (extra: Partial<CallRecord>): CallRecord =>
    ({ callId: 'c', callType: 'audio', callerId: 1, outcome: 'completed', durationMs: 83_000, ...extra });
  it('reads as a compact line', () => {
    expect(callRecordText(record({}), 1)).toBe('Audio call · 1:23');
    expect(callRecordText(record({ callType: 'video', outcome: 'missed', durationMs: 0 }), 2)).toBe('Missed video call');
    expect(callRecordText(record({ outcome: 'missed', durationMs: 0 }), 1)).toBe('Audio call · no answer');
    expect(callRecordText(record({ outcome: 'rejected' }), 2)).toBe('Declined audio call');
    expect(callRecordText(record({ outcome: 'cancelled' }), 1)).toBe('Cancelled audio call');
    expect(callRecordIcon(record({}))).toBe('📞');
    expect(callRecordIcon(record({ callType: 'video' }))).toBe('🎥');
  });
});

describe('video messages', () => {
  it('reads a frame message and refuses anything else', () => {
    const m = parseVideoMessage({ kind: 1, callId: 'call-1', width: 640, height: 480, seq: 7 });
    expect(m).toEqual({ kind: 'local', callId: 'call-1', width: 640, height: 480, seq: 7 });
    expect(parseVideoMessage({ kind: 2, callId: 'c', width: 1, height: 1, seq: 1 })).toBeNull();
    expect(parseVideoMessage({ kind: 0, callId: 'c', width: 1, height: 1 })).toBeNull();
    expect(parseVideoMessage([255, 216])).toBeNull();
    expect(parseVideoMessage(null)).toBeNull();
  });

  it('meters frames per second over a window', () => {
    const meter = new FrameMeter(1000);
    for (let t = 0; t < 3000; t += 100) meter.drawn(t, 4);
    expect(meter.fps(2950)).toBe(10);
    expect(meter.frames).toBe(30);
    expect(meter.meanCostMs()).toBe(4);
  });
});
