import { useCallback, useEffect, useReducer, useRef, useState } from 'react';

import { backend } from '../backend';
import { useBackendEvents } from '../hooks';
import {
  type CallType, type CallView, type CallsState, busy, callsReducer, endText, formatDuration, initialCalls, ringingCalls,
  shownCall,
} from '../logic/calls';
import { FrameMeter } from '../logic/video';
import type { ClientEvent, Conversation, DeviceKind, DeviceList, Settings } from '../types';
import { type FrameKind, onFrames } from '../video';

/** How long an ended call (or a missed incoming one) stays on screen before its view closes. */
const ENDED_SHOWN_MS = 3000;

/** A command whose outcome the core publishes: a failure shows in the call's next snapshot (a
 * failed `start_call` or `accept_call` ends the call with `busy`/`failed` and the error). */
const published = (command: Promise<unknown>) => command.catch(() => {});

export interface CallControls {
  state: CallsState;
  /** True while a call is under way or ringing: the call buttons are disabled. */
  busy: boolean;
  start: (conversation: Conversation, callType: CallType) => void;
}

/** The calls of this app, keyed by callId: the client core's snapshots as they came (`call` events). */
export function useCalls(): CallControls {
  const [state, dispatch] = useReducer(callsReducer, initialCalls);

  // What the core holds (a call may ring already when the page loads), and again after lost events.
  const resync = useCallback(() => {
    backend.callsNow().then((calls) => dispatch({ type: 'resync', calls }), () => {});
  }, []);
  useEffect(resync, [resync]);

  useBackendEvents(
    useCallback((event: ClientEvent) => {
      if (event.type === 'lagged') return resync();
      if (event.type !== 'call') return;
      const { type: _type, ...call } = event;
      dispatch({ type: 'snapshot', call });
    }, [resync]),
  );

  // Ended calls close after a moment.
  useEffect(() => {
    const timers = Object.values(state.calls)
      .filter((c) => c.phase === 'ended' && c.endedAt !== null)
      .map((c) => setTimeout(() => dispatch({ type: 'dismiss', callId: c.callId }), Math.max(0, c.endedAt! + ENDED_SHOWN_MS - Date.now())));
    return () => timers.forEach(clearTimeout);
  }, [state.calls]);

  // The call appears as 'outgoing' at once (a snapshot), then under its id.
  const start = useCallback((conversation: Conversation, callType: CallType) => {
    published(backend.startCall(conversation.id, callType));
  }, []);

  return { state, busy: busy(state), start };
}

/** Incoming-call dialogs and the call view, over the rest of the app. */
export function CallLayer({ calls }: { calls: CallControls }) {
  const shown = shownCall(calls.state);
  return (
    <>
      {ringingCalls(calls.state).map((call) => <IncomingDialog key={call.callId} call={call} />)}
      {shown && <CallScreen key={shown.callId} call={shown} />}
    </>
  );
}

function IncomingDialog({ call }: { call: CallView }) {
  const ended = call.phase === 'ended';
  return (
    <div className="call-dialog" role="dialog" data-testid="incoming-call" data-call-id={call.callId} data-phase={call.phase}>
      <div className="call-icon">{call.callType === 'video' ? '🎥' : '📞'}</div>
      <div className="call-who" data-testid="incoming-caller">{call.peerName}</div>
      <div className="call-what">{ended ? endText(call) : `Incoming ${call.callType === 'video' ? 'video' : 'voice'} call`}</div>
      {!ended && (
        <div className="call-buttons">
          <button className="accept" onClick={() => published(backend.acceptCall(call.callId))} disabled={call.phase === 'answering'} data-testid="call-accept">
            {call.phase === 'answering' ? 'Connecting…' : 'Accept'}
          </button>
          <button className="hangup" onClick={() => published(backend.rejectCall(call.callId))} disabled={call.phase === 'answering'} data-testid="call-decline">Decline</button>
        </div>
      )}
    </div>
  );
}

const MEDIA_TEXT: Record<string, string> = {
  new: 'connecting…', connecting: 'connecting…', connected: 'connected', disconnected: 'reconnecting…', failed: 'connection lost', closed: '',
};

function CallScreen({ call }: { call: CallView }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (call.phase !== 'active') return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [call.phase]);
  const ended = call.phase === 'ended';

  // The snapshot that follows carries `muted` / `cameraOn`; hanging up works on 'outgoing' too (the
  // core ends the call on the server once it has an id).
  const toggleMute = () => published(backend.setCallMuted(call.callId, !call.muted));
  const toggleCamera = () => published(backend.setCallCamera(call.callId, !call.cameraOn));
  const hangUp = () => published(backend.endCall(call.callId));

  let status: string;
  if (ended) status = endText(call);
  else if (call.phase === 'calling') status = 'Calling…';
  else if (call.phase === 'answering') status = 'Connecting…';
  else status = MEDIA_TEXT[call.media ?? 'connecting'] ?? '';

  return (
    <div className="call-screen" data-testid="call-view" data-call-id={call.callId} data-phase={call.phase} data-end-reason={call.endReason ?? ''}>
      <header className="call-top">
        <div>
          <div className="call-who">{call.peerName}</div>
          <div className="call-status" data-testid="call-status">{status}</div>
        </div>
        {call.phase === 'active' && call.answeredAt !== null && (
          <div className="call-timer" data-testid="call-timer">{formatDuration(now - call.answeredAt)}</div>
        )}
      </header>
      {call.callType === 'video' && !ended && (
        <div className="call-videos">
          <VideoView callId={call.callId} kind="remote" label={call.peerName} />
          {call.cameraOn && <VideoView callId={call.callId} kind="local" label="You" small />}
        </div>
      )}
      {call.problems.length > 0 && (
        <ul className="call-problems" data-testid="call-problems">
          {call.problems.map((p) => <li key={p} data-testid="call-problem">⚠ {p}</li>)}
        </ul>
      )}
      {!ended && (
        <div className="call-buttons">
          {call.phase === 'active' && (
            <button onClick={toggleMute} data-testid="call-mute" aria-pressed={call.muted}>{call.muted ? 'Unmute' : 'Mute'}</button>
          )}
          {call.phase === 'active' && call.callType === 'video' && (
            <button onClick={toggleCamera} data-testid="call-camera" aria-pressed={!call.cameraOn}>{call.cameraOn ? 'Camera off' : 'Camera on'}</button>
          )}
          <button className="hangup" onClick={hangUp} data-testid={call.phase === 'calling' ? 'call-cancel' : 'call-hangup'}>
            {call.phase === 'calling' ? 'Cancel' : 'Hang up'}
          </button>
        </div>
      )}
      {!ended && <DeviceChoice inCall callId={call.phase === 'active' ? call.callId : undefined} video={call.callType === 'video'} />}
    </div>
  );
}

/** A picture stream of a call on a canvas. Loads and decodes one picture at a time; notices that
 * arrive meanwhile are dropped (counted). `data-*` attributes carry the meter, for tests and measuring. */
function VideoView({ callId, kind, label, small }: { callId: string; kind: FrameKind; label: string; small?: boolean }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const meter = new FrameMeter();
    let busyDrawing = false;
    let stopped = false;
    const publish = () => {
      const el = canvas.current;
      if (!el) return;
      el.dataset.frames = String(meter.frames);
      el.dataset.dropped = String(meter.dropped);
      el.dataset.fps = meter.fps(performance.now()).toFixed(1);
      el.dataset.drawMs = meter.meanCostMs().toFixed(2);
    };
    const timer = setInterval(publish, 500);
    const stop = onFrames(callId, kind, (message) => {
      if (busyDrawing) {
        meter.dropped++;
        return;
      }
      busyDrawing = true;
      const started = performance.now();
      const picture = new Image();
      picture.src = backend.frameUrl(kind === 'remote' ? 0 : 1, callId, message.seq);
      picture.decode()
        .then(() => {
          const el = canvas.current;
          if (!stopped && el) {
            if (el.width !== picture.naturalWidth) el.width = picture.naturalWidth;
            if (el.height !== picture.naturalHeight) el.height = picture.naturalHeight;
            el.getContext('2d')?.drawImage(picture, 0, 0);
            meter.drawn(performance.now(), performance.now() - started);
          }
        })
        .catch(() => meter.dropped++)
        .finally(() => (busyDrawing = false));
    });
    return () => {
      stopped = true;
      stop();
      clearInterval(timer);
    };
  }, [callId, kind]);
  return (
    <figure className={small ? 'video small' : 'video'}>
      <canvas ref={canvas} width={640} height={480} data-testid={`video-${kind}`} />
      <figcaption>{label}</figcaption>
    </figure>
  );
}

/** Microphone, speaker and camera choice, saved in the settings. Shown in a call (`inCall`), the
 * camera row only in a video call; once the call is active (`callId`) a change also switches the
 * call's device at once. */
export function DeviceChoice({ inCall, callId, video }: { inCall?: boolean; callId?: string; video?: boolean }) {
  const [devices, setDevices] = useState<DeviceList | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    backend.listDevices().then(setDevices, () => setDevices({ inputs: [], outputs: [], cameras: [] }));
    backend.getSettings().then(setSettings);
  }, []);
  if (!settings) return null;
  function choose(key: DeviceKind, name: string | null) {
    const next = { ...settings!, [key]: name };
    // In an active call the backend opens the device, switches to it and saves the choice.
    const saved = callId ? backend.switchCallDevice(callId, key, name) : backend.setSettings(next);
    saved.then(() => {
      setSettings(next);
      setError('');
    }, (e) => setError(e.message));
  }
  const select = (label: string, names: string[], value: string | null, key: DeviceKind) => (
    <label className="device">
      {label}
      <select value={value ?? ''} onChange={(e) => choose(key, e.target.value || null)} data-testid={`choose-${key}`}>
        <option value="">{key === 'camera' ? 'First camera' : 'System default'}</option>
        {value && !names.includes(value) && <option value={value}>{value} (not found)</option>}
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
    </label>
  );
  return (
    <div className={inCall ? 'devices compact' : 'devices'} data-testid="device-choice">
      {select('Microphone', devices?.inputs ?? [], settings.microphone, 'microphone')}
      {select('Speaker', devices?.outputs ?? [], settings.speaker, 'speaker')}
      {(!inCall || video) && (devices && devices.cameras.length > 0
        ? select('Camera', devices.cameras, settings.camera, 'camera')
        : <div className="device">Camera <span className="hint-inline" data-testid="camera-source">{devices ? 'None found: a test pattern is sent' : '…'}</span></div>)}
      {devices && devices.inputs.length + devices.outputs.length === 0 && <small className="hint-inline">No sound devices found.</small>}
      {inCall && !callId && <small className="hint-inline">Device changes apply when the call starts.</small>}
      {error && <small className="error" data-testid="device-error">{error}</small>}
    </div>
  );
}

/** The header buttons of a direct conversation. */
export function CallButtons({ conversation, calls }: { conversation: Conversation; calls: CallControls }) {
  return (
    <>
      <button className="link" disabled={calls.busy} onClick={() => calls.start(conversation, 'audio')} data-testid="call-voice" title="Voice call">📞</button>
      <button className="link" disabled={calls.busy} onClick={() => calls.start(conversation, 'video')} data-testid="call-video" title="Video call">🎥</button>
    </>
  );
}
