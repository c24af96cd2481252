// The UI's one door to the backend: the command wrappers generated from the Rust commands
// (./bindings.ts, docs/architecture.md "UI bindings"), all through one choke point, and the event
// listener. Nothing else in the UI imports @tauri-apps or the generated commands.

import { Channel, convertFileSrc } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

import { commands } from './bindings';
import type { ClientEvent, DeviceKind, HostingScope, Id, Settings, UiError, VideoNotice } from './types';

/** The event the client core's events arrive as (src-tauri/src/lib.rs, `EVENT`). */
const EVENT = 'confab://event';

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

export const backend = {
  defaultServerUrl: () => call('defaultServerUrl'),
  session: () => call('session'),
  connectionState: () => call('connectionState'),
  register: (serverUrl: string, username: string, password: string, displayName?: string) =>
    call('register', serverUrl, username, password, displayName || null),
  login: (serverUrl: string, username: string, password: string) => call('login', serverUrl, username, password),
  logout: () => call('logout'),
  retryNow: () => call('retryNow'),

  /** Whether a Confab server answers at `url` (asked by the backend: GET <url>/healthz). */
  probeServer: (url: string) => call('probeServer', url),
  /** Starts the bundled server on this computer and resolves once it answers (error codes
   * `port_taken` and `hosting`, with messages written for people). */
  hostServer: (scope: HostingScope) => call('hostServer', scope),
  /** The server this app hosts, or null. */
  hostingStatus: () => call('hostingStatus'),
  stopHosting: () => call('stopHosting'),

  conversations: () => call('conversations'),
  messages: (conversationId: Id, before: number | null, limit: number) => call('messages', conversationId, before, limit),
  loadOlder: (conversationId: Id, before: number) => call('loadOlder', conversationId, before),
  outbox: (conversationId: Id) => call('outbox', conversationId),
  sendMessage: (conversationId: Id, content: string) => call('sendMessage', conversationId, content),
  retryMessage: (clientMsgId: string) => call('retryMessage', clientMsgId),
  discardMessage: (clientMsgId: string) => call('discardMessage', clientMsgId),
  editMessage: (messageId: Id, content: string) => call('editMessage', messageId, content),
  deleteMessage: (messageId: Id) => call('deleteMessage', messageId),
  react: (messageId: Id, emoji: string, add: boolean) => call('react', messageId, emoji, add),
  pin: (messageId: Id, pinned: boolean) => call('pin', messageId, pinned),
  markRead: (conversationId: Id, seq: number) => call('markRead', conversationId, seq),
  setTyping: (conversationId: Id, isTyping: boolean) => call('setTyping', conversationId, isTyping),
  setMuted: (conversationId: Id, muted: boolean) => call('setMuted', conversationId, muted),
  isMuted: (conversationId: Id) => call('isMuted', conversationId),
  setOpenConversation: (conversationId: Id | null) => call('setOpenConversation', conversationId),

  friends: () => call('friends'),
  friendRequests: () => call('friendRequests'),
  searchUsers: (prefix: string) => call('searchUsers', prefix),
  requestFriend: (username: string) => call('requestFriend', username),
  acceptFriend: (requestId: Id) => call('acceptFriend', requestId),
  declineFriend: (requestId: Id) => call('declineFriend', requestId),
  removeFriend: (userId: Id) => call('removeFriend', userId),
  createConversation: (participantIds: Id[], title?: string) => call('createConversation', participantIds, title || null),

  /** Calls the other member of a direct conversation; resolves to the callId (error code `busy` if they are in a call). */
  startCall: (conversationId: Id, callType: 'audio' | 'video') => call('startCall', conversationId, callType),
  acceptCall: (callId: string) => call('acceptCall', callId),
  rejectCall: (callId: string, reason?: string) => call('rejectCall', callId, reason ?? null),
  endCall: (callId: string) => call('endCall', callId),
  setCallMuted: (callId: string, muted: boolean) => call('setCallMuted', callId, muted),
  setCallCamera: (callId: string, on: boolean) => call('setCallCamera', callId, on),
  /** Changes a running call's microphone, speaker or camera (`null`: the default) and keeps the choice for the next calls. */
  switchCallDevice: (callId: string, device: DeviceKind, name: string | null) => call('switchCallDevice', callId, device, name),
  callStats: (callId: string) => call('callStats', callId),
  /** The calls of this device as the core holds them now. */
  callsNow: () => call('callsNow'),
  listDevices: () => call('listDevices'),
  getSettings: () => call('getSettings'),
  setSettings: (settings: Settings) => call('setSettings', settings),
  videoTransportStats: () => call('videoTransportStats'),
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
  onEvent: (handler: (event: ClientEvent) => void): Promise<UnlistenFn> =>
    listen<ClientEvent>(EVENT, (e) => handler(e.payload)),
};
