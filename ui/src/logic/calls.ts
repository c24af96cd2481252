// Calls as the UI shows them: one entry per callId (never "the current call"). The client core owns
// every call's state and publishes it whole on each change (`{type: 'call'}`, crates/client/src/
// calls.rs); the UI keeps the latest snapshot of each call and only decides when an ended one
// leaves the screen. Pure, so it is tested without a backend.

import { type CallRecord, type CallSnapshot, type IceServer, type IceServerSources, type Id, OUTGOING_CALL_ID } from '../types';

/** A call as shown: the core's snapshot, as it came. */
export type CallView = CallSnapshot;
export type CallType = CallView['callType'];
/** The media connection's state. */
export type MediaState = NonNullable<CallView['media']>;
/** outgoing `calling → active → ended`; incoming `ringing → answering → active → ended`. */
export type CallPhase = CallView['phase'];
export type EndReason = NonNullable<CallView['endReason']>;

/** The callId of an outgoing call until the server names it (the core's `OUTGOING_CALL_ID`): its
 * early problems and preview frames go by it too. Its first snapshot under the real id `replaces` it. */
export const OUTGOING = OUTGOING_CALL_ID;

export interface CallsState {
  calls: Record<string, CallView>;
}

export type CallAction =
  /** The core published a call's state. */
  | { type: 'snapshot'; call: CallView }
  /** An ended call has been shown long enough. */
  | { type: 'dismiss'; callId: string }
  /** The core's calls as they are now (after lost events): they replace every call not ended. */
  | { type: 'resync'; calls: CallView[] };

export const initialCalls: CallsState = { calls: {} };

export function callsReducer(state: CallsState, action: CallAction): CallsState {
  switch (action.type) {
    case 'snapshot': {
      const { call } = action;
      const calls = { ...state.calls };
      if (call.replaces !== null && call.replaces !== call.callId) delete calls[call.replaces];
      calls[call.callId] = call;
      return { calls };
    }
    case 'resync': {
      // Ended calls stay until dismissed; the rest is what the core holds.
      const calls = Object.fromEntries(Object.entries(state.calls).filter(([, c]) => c.phase === 'ended'));
      for (const call of action.calls) calls[call.callId] = call;
      return { calls };
    }
    case 'dismiss': {
      // Only an ended call leaves: a new call may have taken the id meanwhile ('outgoing').
      if (state.calls[action.callId]?.phase !== 'ended') return state;
      const { [action.callId]: _gone, ...calls } = state.calls;
      return { calls };
    }
  }
}

/** The call the main call view shows: one that is under way, else the newest that just ended
 * (shown briefly, then dismissed). Incoming calls still ringing are shown as dialogs instead. */
export function shownCall(state: CallsState): CallView | null {
  const all = Object.values(state.calls).filter((c) => c.phase !== 'ringing' && !(c.direction === 'incoming' && c.phase === 'ended' && c.answeredAt === null));
  return all.find((c) => c.phase !== 'ended') ?? all.sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0))[0] ?? null;
}

/** Incoming calls to show as dialogs: ringing, or ended before they were answered (a short "missed").
 * Once Accept is pressed the call view takes over ("Connecting…"). */
export function ringingCalls(state: CallsState): CallView[] {
  return Object.values(state.calls).filter((c) => c.direction === 'incoming' && c.answeredAt === null && (c.phase === 'ringing' || c.phase === 'ended'));
}

/** True while a call is under way or ringing somewhere (no second call is started then). */
export function busy(state: CallsState): boolean {
  return Object.values(state.calls).some((c) => c.phase !== 'ended');
}

/** 0:05, 1:23, 12:00, 1:02:03. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The line an ended call shows before the view closes. */
export function endText(call: CallView): string {
  const peer = call.peerName;
  switch (call.endReason) {
    case 'busy': return `${peer} is in another call`;
    case 'rejected':
      if (call.direction === 'incoming') return 'Call declined';
      return call.rejectReason ? `${peer} declined the call: ${call.rejectReason}` : `${peer} declined the call`;
    case 'missed': return call.direction === 'outgoing' ? 'No answer' : `Missed call from ${peer}`;
    case 'cancelled': return call.direction === 'outgoing' ? 'Call cancelled' : `Missed call from ${peer}`;
    case 'answeredElsewhere': return 'Answered on another device';
    case 'disconnected': return call.answeredAt !== null ? `Call ended: connection lost · ${formatDuration(call.durationMs)}` : 'Call ended: connection lost';
    case 'failed': return `Call failed: ${call.error ?? 'unknown error'}`;
    // Answered, but the media never connected (the core gives up after its connect timeout).
    case 'noRelay': return `Could not reach ${peer}: no relay available`;
    case 'notConnected': return 'Could not connect the call';
    case 'hangup': return `Call ended · ${formatDuration(call.durationMs)}`;
    default: return 'Call ended';
  }
}

/** What a call record in the conversation says: "Audio call · 1:23", "Missed video call". */
export function callRecordText(record: CallRecord, me: Id): string {
  const kind = record.callType === 'video' ? 'video call' : 'audio call';
  const Kind = kind[0].toUpperCase() + kind.slice(1);
  const outgoing = record.callerId === me;
  switch (record.outcome) {
    case 'completed': return `${Kind} · ${formatDuration(record.durationMs)}`;
    case 'missed': return outgoing ? `${Kind} · no answer` : `Missed ${kind}`;
    case 'rejected': return outgoing ? `${Kind} · declined` : `Declined ${kind}`;
    case 'busy': return outgoing ? `${Kind} · busy` : `Missed ${kind} (busy)`;
    case 'cancelled': return outgoing ? `Cancelled ${kind}` : `Missed ${kind}`;
  }
}

/** The icon of a call record: the medium, and whether it reached anyone. */
export function callRecordIcon(record: CallRecord): string {
  if (record.outcome !== 'completed') return record.callType === 'video' ? '📵' : '☎️';
  return record.callType === 'video' ? '🎥' : '📞';
}

/** True if one of these servers is a relay (TURN). */
export function hasRelay(servers: IceServer[]): boolean {
  return servers.some((s) => s.urls.some((url) => /^turns?:/i.test(url)));
}

/** What Settings says about where calls get their ICE servers (the core's `IceServerSources`): the
 * server's list first, the user's on top. */
export function iceSourcesText(sources: IceServerSources): { server: string; relay: string } {
  let server: string;
  if (sources.serverError !== null) {
    server = sources.fromServer.length > 0
      ? 'Your Confab server did not answer just now; its last list is used.'
      : 'Your Confab server gave no list (it may be an older version, or it did not answer): only the servers you add are used.';
  } else if (sources.fromServer.length === 0) {
    server = 'Your Confab server offers no STUN or TURN server.';
  } else {
    server = `Your Confab server offers ${sources.fromServer.length === 1 ? 'this one' : 'these'}; credentials are handed out per call.`;
  }
  const relay = hasRelay([...sources.fromServer, ...sources.fromSettings])
    ? 'Calls that cannot connect directly go through a relay (TURN).'
    : 'No relay (TURN) is available: calls connect only when both sides can reach each other directly, for example on the same network.';
  return { server, relay };
}
