// The UI's one door to the backend: the command wrappers generated from the Rust commands
// (./bindings.ts, docs/architecture.md "UI bindings"), all through one choke point, and the event
// listener. Nothing else in the UI imports @tauri-apps or the generated commands.

import { Channel, convertFileSrc } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

import { commands } from './bindings';
import type { ClientEvent, Id, UiError, VideoNotice } from './types';

/** The event the client core's events arrive as (src-tauri/src/lib.rs, `EVENT`), and several at once (`EVENTS`). */
const EVENT = 'confab://event';
const EVENTS = 'confab://events';

export class BackendError extends Error implements UiError {
  constructor(public code: string, message: string) {
    super(message);
  }
}

type Commands = typeof commands;
type Command = keyof Commands;
/** What a command resolves to. Every command answers `Result<T, UiError>`, generated as
 * `{status: 'ok', data: T} | {status: 'error', error: UiError}`. */
type Data<K extends Command> = Extract<Awaited<ReturnType<Commands[K]>>, { status: 'ok' }>['data'];
/** …with `()` (generated as `null`) as `void`. */
type Answer<K extends Command> = [Data<K>] extends [null] ? void : Data<K>;
type Outcome = { status: 'ok'; data: unknown } | { status: 'error'; error: unknown };

/** The name the command is invoked by (`sendMessage` → `send_message`, as in Rust). */
const invokeName = (command: string) => command.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** An error the command returned, or one of Tauri's own (a string, e.g. a malformed argument). */
function backendError(e: unknown): BackendError {
  if (typeof e === 'object' && e !== null && 'code' in e && 'message' in e) {
    return new BackendError(String(e.code), String(e.message));
  }
  return new BackendError('local', e instanceof Error ? e.message : String(e));
}

/** Every command goes through here: counted, unwrapped, and a failure thrown as a `BackendError`. */
async function call<K extends Command>(command: K, ...args: Parameters<Commands[K]>): Promise<Answer<K>> {
  const name = invokeName(command);
  // Invokes counted, for measurements: the E2E suite reads `window.__confabIpc`.
  const counted = globalThis as { __confabIpc?: { total: number; byCommand: Record<string, number> } };
  const ipc = (counted.__confabIpc ??= { total: 0, byCommand: {} });
  ipc.total += 1;
  ipc.byCommand[name] = (ipc.byCommand[name] ?? 0) + 1;
  let outcome: Outcome;
  try {
    outcome = await (commands[command] as (...a: typeof args) => Promise<Outcome>)(...args);
  } catch (e) {
    throw backendError(e);
  }
  if (outcome.status === 'error') throw backendError(outcome.error);
  return outcome.data as Answer<K>;
}

/** A wrapper per generated command, named and typed as the command: a new Rust command needs no
 * line here. */
type Wrappers = { [K in Command]: (...args: Parameters<Commands[K]>) => Promise<Answer<K>> };
const wrappers = Object.fromEntries(
  (Object.keys(commands) as Command[]).map((name) => [name, (...args: never[]) => call(name, ...(args as never))]),
) as unknown as Wrappers;

export const backend = {
  ...wrappers,

  // Where the UI's arguments differ from the command's (optional ones become null), or it needs more
  // than one command.
  register: (serverUrl: string, username: string, password: string, displayName?: string) =>
    call('register', serverUrl, username, password, displayName || null),
  createConversation: (participantIds: Id[], title?: string) => call('createConversation', participantIds, title || null),
  rejectCall: (callId: string, reason?: string) => call('rejectCall', callId, reason ?? null),
  /** Where the page loads a stream's latest picture (`kind` 0 remote, 1 local preview); `seq` from
   * the notice keeps each URL distinct. */
  frameUrl: (kind: 0 | 1, callId: string, seq: number) => `${convertFileSrc(`${kind}/${callId}`, 'confab-frame')}?${seq}`,
  /** Notices of new video pictures (remote and local preview of every call); see ui/src/logic/video.ts. */
  watchVideo: (handler: (notice: VideoNotice) => void) => {
    const channel = new Channel<VideoNotice>();
    channel.onmessage = handler;
    return call('watchVideo', channel);
  },

  /** Every event of the client core. Returns the function that stops listening. */
  onEvent: async (handler: (event: ClientEvent) => void): Promise<UnlistenFn> => {
    const one = await listen<ClientEvent>(EVENT, (e) => handler(e.payload));
    // Events that queued together in the backend (a burst) come as one array: handled in one task,
    // so React renders their changes once.
    const many = await listen<ClientEvent[]>(EVENTS, (e) => e.payload.forEach(handler));
    return () => { one(); many(); };
  },
};
