// Calls as the UI shows them: one entry per callId (never "the current call"), moved along by the
// backend's call events and the user's actions. Pure, so it is tested without a backend.

import type { CallRecord, Id } from '../types';

export type CallType = 'audio' | 'video';
/** The backend's media connection state (`CallMedia.state`). */
export type MediaState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** The key a call is known by while `start_call` runs; the backend labels its early problems and
 * preview frames with it too. Renamed to the real callId when `start_call` answers. */
export const OUTGOING = 'outgoing';

export type CallPhase =
  | 'calling' // outgoing, ringing at the other end
  | 'ringing' // incoming, waiting for Accept / Decline
  | 'answering' // incoming, Accept pressed
  | 'active' // answered
  | 'ended';

export type EndReason =
  | 'hangup' | 'cancelled' | 'rejected' | 'missed' | 'disconnected' | 'answeredElsewhere' // the server's
  | 'busy' // start_call failed with `busy`
  | 'failed'; // start_call or accept_call failed otherwise

export interface CallView {
  callId: string;
  conversationId: Id;
  peerName: string;
  callType: CallType;
  direction: 'outgoing' | 'incoming';
  phase: CallPhase;
  /** When it was answered (ms), for the timer. */
  answeredAt: number | null;
  muted: boolean;
  cameraOn: boolean;
  media: MediaState | null;
  /** What the user should know ("No microphone found"), newest last, without repeats. */
  problems: string[];
  endReason: EndReason | null;
  /** The server's duration, or the time since answering, once ended. */
  durationMs: number;
  endedAt: number | null;
  /** For `failed`: the error. */
  error: string | null;
}

export interface CallsState {
  calls: Record<string, CallView>;
  /** Events for a callId not known yet (it may be the outgoing call whose id is on its way). */
  orphans: CallAction[];
}

export type CallAction =
  | { type: 'dialing'; conversationId: Id; peerName: string; callType: CallType }
  | { type: 'dialed'; callId: string }
  | { type: 'dialFailed'; code: string; message: string; at: number }
  | { type: 'incoming'; callId: string; conversationId: Id; peerName: string; callType: CallType }
  | { type: 'answering'; callId: string }
  | { type: 'accepted'; callId: string; at: number }
  | { type: 'rejected'; callId: string; at: number }
  | { type: 'ended'; callId: string; reason: EndReason; durationMs: number; at: number }
  | { type: 'media'; callId: string; state: MediaState }
  | { type: 'problem'; callId: string; message: string }
  | { type: 'muted'; callId: string; muted: boolean }
  | { type: 'camera'; callId: string; on: boolean }
  | { type: 'dismiss'; callId: string };

export const initialCalls: CallsState = { calls: {}, orphans: [] };
/** Orphan events kept at most (events of calls on other devices are never claimed). */
const MAX_ORPHANS = 20;

function newCall(callId: string, conversationId: Id, peerName: string, callType: CallType, direction: CallView['direction']): CallView {
  return {
    callId, conversationId, peerName, callType, direction,
    phase: direction === 'outgoing' ? 'calling' : 'ringing',
    answeredAt: null, muted: false, cameraOn: callType === 'video', media: null, problems: [],
    endReason: null, durationMs: 0, endedAt: null, error: null,
  };
}

function end(call: CallView, reason: EndReason, at: number, durationMs?: number): CallView {
  if (call.phase === 'ended') return call;
  const measured = call.answeredAt !== null ? Math.max(0, at - call.answeredAt) : 0;
  return { ...call, phase: 'ended', endReason: reason, endedAt: at, durationMs: durationMs || measured };
}

function update(state: CallsState, callId: string, change: (call: CallView) => CallView): CallsState {
  const call = state.calls[callId];
  return call ? { ...state, calls: { ...state.calls, [callId]: change(call) } } : state;
}

export function callsReducer(state: CallsState, action: CallAction): CallsState {
  switch (action.type) {
    case 'dialing':
      return { ...state, calls: { ...state.calls, [OUTGOING]: newCall(OUTGOING, action.conversationId, action.peerName, action.callType, 'outgoing') } };
    case 'dialed': {
      const { [OUTGOING]: dialing, ...rest } = state.calls;
      if (!dialing) return state;
      const next = { ...state, calls: { ...rest, [action.callId]: { ...dialing, callId: action.callId } }, orphans: [] };
      // Events that came before the id was known, in order.
      const mine = state.orphans.filter((o) => 'callId' in o && o.callId === action.callId);
      const others = state.orphans.filter((o) => !mine.includes(o));
      return mine.reduce(callsReducer, { ...next, orphans: others });
    }
    case 'dialFailed':
      return update(state, OUTGOING, (c) => ({ ...end(c, action.code === 'busy' ? 'busy' : 'failed', action.at), error: action.message }));
    case 'incoming':
      if (state.calls[action.callId]) return state;
      return { ...state, calls: { ...state.calls, [action.callId]: newCall(action.callId, action.conversationId, action.peerName, action.callType, 'incoming') } };
    case 'dismiss': {
      const { [action.callId]: _gone, ...rest } = state.calls;
      return { ...state, calls: rest };
    }
    case 'answering':
      return update(state, action.callId, (c) => (c.phase === 'ringing' ? { ...c, phase: 'answering' } : c));
    default: {
      if (!state.calls[action.callId]) {
        if (action.type === 'muted' || action.type === 'camera') return state;
        return { ...state, orphans: [...state.orphans, action].slice(-MAX_ORPHANS) };
      }
      return update(state, action.callId, (c) => {
        switch (action.type) {
          case 'accepted':
            return c.phase === 'ended' ? c : { ...c, phase: 'active', answeredAt: c.answeredAt ?? action.at };
          case 'rejected':
            return end(c, 'rejected', action.at);
          case 'ended':
            return end(c, action.reason, action.at, action.durationMs);
          case 'media':
            return { ...c, media: action.state };
          case 'problem':
            return c.problems.includes(action.message) ? c : { ...c, problems: [...c.problems, action.message] };
          case 'muted':
            return { ...c, muted: action.muted };
          case 'camera':
            return { ...c, cameraOn: action.on };
        }
      });
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
    case 'rejected': return call.direction === 'outgoing' ? `${peer} declined the call` : 'Call declined';
    case 'missed': return call.direction === 'outgoing' ? 'No answer' : `Missed call from ${peer}`;
    case 'cancelled': return call.direction === 'outgoing' ? 'Call cancelled' : `Missed call from ${peer}`;
    case 'answeredElsewhere': return 'Answered on another device';
    case 'disconnected': return call.answeredAt !== null ? `Call ended: connection lost · ${formatDuration(call.durationMs)}` : 'Call ended: connection lost';
    case 'failed': return `Call failed: ${call.error ?? 'unknown error'}`;
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
