import { describe, expect, it } from 'vitest';

import type { CallRecord } from '../types';
import {
  type CallAction, OUTGOING, busy, callRecordIcon, callRecordText, callsReducer, endText, formatDuration, initialCalls,
  ringingCalls, shownCall,
} from './calls';
import { FrameMeter, parseVideoMessage } from './video';

const run = (...actions: CallAction[]) => actions.reduce(callsReducer, initialCalls);
const dialing: CallAction = { type: 'dialing', conversationId: 7, peerName: 'bob', callType: 'audio' };
const incoming: CallAction = { type: 'incoming', callId: 'c2', conversationId: 7, peerName: 'alice', callType: 'video' };

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
  it('follows an outgoing call from dialing to hang-up, renamed to its callId', () => {
    let s = run(dialing, { type: 'problem', callId: OUTGOING, message: 'No microphone found' });
    expect(shownCall(s)?.phase).toBe('calling');
    expect(busy(s)).toBe(true);
    s = callsReducer(s, { type: 'dialed', callId: 'c1' });
    expect(Object.keys(s.calls)).toEqual(['c1']);
    expect(s.calls.c1.problems).toEqual(['No microphone found']);
    s = callsReducer(s, { type: 'accepted', callId: 'c1', at: 1_000 });
    s = callsReducer(s, { type: 'media', callId: 'c1', state: 'connected' });
    expect(s.calls.c1).toMatchObject({ phase: 'active', answeredAt: 1_000, media: 'connected' });
    s = callsReducer(s, { type: 'ended', callId: 'c1', reason: 'hangup', durationMs: 83_000, at: 84_000 });
    expect(endText(s.calls.c1)).toBe('Call ended · 1:23');
    expect(busy(s)).toBe(false);
    expect(shownCall(s)?.callId).toBe('c1');
    s = callsReducer(s, { type: 'dismiss', callId: 'c1' });
    expect(shownCall(s)).toBeNull();
  });

  it('keeps events that come before start_call answers and replays them', () => {
    const s = run(dialing, { type: 'accepted', callId: 'c1', at: 500 }, { type: 'dialed', callId: 'c1' });
    expect(s.calls.c1).toMatchObject({ phase: 'active', answeredAt: 500 });
    expect(s.orphans).toEqual([]);
  });

  it('bounds events of calls it never hears about', () => {
    let s = initialCalls;
    for (let i = 0; i < 100; i++) s = callsReducer(s, { type: 'media', callId: `x${i}`, state: 'connected' });
    expect(s.orphans.length).toBeLessThanOrEqual(20);
  });

  it('shows busy, declined and unanswered calls to the caller', () => {
    const busyCall = run(dialing, { type: 'dialFailed', code: 'busy', message: 'busy', at: 1 });
    expect(endText(shownCall(busyCall)!)).toBe('bob is in another call');
    const declined = run(dialing, { type: 'dialed', callId: 'c1' }, { type: 'rejected', callId: 'c1', at: 2 },
      { type: 'ended', callId: 'c1', reason: 'rejected', durationMs: 0, at: 3 });
    expect(endText(declined.calls.c1)).toBe('bob declined the call');
    const missed = run(dialing, { type: 'dialed', callId: 'c1' }, { type: 'ended', callId: 'c1', reason: 'missed', durationMs: 0, at: 3 });
    expect(endText(missed.calls.c1)).toBe('No answer');
    const failed = run(dialing, { type: 'dialFailed', code: 'offline', message: 'not connected', at: 1 });
    expect(endText(failed.calls[OUTGOING])).toBe('Call failed: not connected');
  });

  it('rings an incoming call as a dialog until answered, then shows it as the call', () => {
    let s = run(incoming);
    expect(ringingCalls(s).map((c) => c.callId)).toEqual(['c2']);
    expect(shownCall(s)).toBeNull();
    expect(s.calls.c2.cameraOn).toBe(true);
    s = callsReducer(s, { type: 'answering', callId: 'c2' });
    expect(ringingCalls(s)).toEqual([]);
    expect(shownCall(s)?.phase).toBe('answering');
    s = callsReducer(s, { type: 'accepted', callId: 'c2', at: 10 });
    expect(ringingCalls(s)).toEqual([]);
    expect(shownCall(s)?.callId).toBe('c2');
    s = callsReducer(s, { type: 'camera', callId: 'c2', on: false });
    s = callsReducer(s, { type: 'muted', callId: 'c2', muted: true });
    expect(s.calls.c2).toMatchObject({ cameraOn: false, muted: true });
  });

  it('says "missed" when the caller gives up while it rings here, and the first end wins', () => {
    let s = run(incoming, { type: 'ended', callId: 'c2', reason: 'cancelled', durationMs: 0, at: 5 });
    expect(endText(ringingCalls(s)[0])).toBe('Missed call from alice');
    s = callsReducer(s, { type: 'ended', callId: 'c2', reason: 'hangup', durationMs: 0, at: 6 });
    expect(s.calls.c2.endReason).toBe('cancelled');
  });

  it('keeps two calls apart by callId', () => {
    const s = run(incoming, { ...incoming, callId: 'c3', peerName: 'carol' }, { type: 'ended', callId: 'c3', reason: 'missed', durationMs: 0, at: 1 });
    expect(s.calls.c2.phase).toBe('ringing');
    expect(s.calls.c3.phase).toBe('ended');
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
