// The UI's one door to the backend: typed wrappers over Tauri's invoke and event listening.
// Nothing else in the UI imports @tauri-apps.

import { Channel, convertFileSrc, invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

import type {
  CallStats, ClientEvent, Conversation, ConnectionState, DeviceKind, DeviceList, ErrorBody, Friend, FriendRequests, Id, Message, Pending,
  SessionInfo, Settings, User, VideoTransportStats,
} from './types';

export class BackendError extends Error implements ErrorBody {
  constructor(public code: string, message: string) {
    super(message);
  }
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  // Invokes counted, for measurements: the E2E suite reads `window.__confabIpc`.
  const counted = globalThis as { __confabIpc?: { total: number; byCommand: Record<string, number> } };
  const ipc = (counted.__confabIpc ??= { total: 0, byCommand: {} });
  ipc.total += 1;
  ipc.byCommand[command] = (ipc.byCommand[command] ?? 0) + 1;
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    const body = e as Partial<ErrorBody>;
    throw new BackendError(body?.code ?? 'local', body?.message ?? String(e));
  }
}

export const backend = {
  defaultServerUrl: () => call<string>('default_server_url'),
  session: () => call<SessionInfo | null>('session'),
  connectionState: () => call<ConnectionState>('connection_state'),
  register: (serverUrl: string, username: string, password: string, displayName?: string) =>
    call<User>('register', { serverUrl, username, password, displayName: displayName || null }),
  login: (serverUrl: string, username: string, password: string) => call<User>('login', { serverUrl, username, password }),
  logout: () => call<void>('logout'),
  retryNow: () => call<void>('retry_now'),

  conversations: () => call<Conversation[]>('conversations'),
  messages: (conversationId: Id, before: number | null, limit: number) =>
    call<Message[]>('messages', { conversationId, before, limit }),
  loadOlder: (conversationId: Id, before: number) => call<boolean>('load_older', { conversationId, before }),
  outbox: (conversationId: Id) => call<Pending[]>('outbox', { conversationId }),
  sendMessage: (conversationId: Id, content: string) => call<Pending>('send_message', { conversationId, content }),
  retryMessage: (clientMsgId: string) => call<void>('retry_message', { clientMsgId }),
  discardMessage: (clientMsgId: string) => call<void>('discard_message', { clientMsgId }),
  editMessage: (messageId: Id, content: string) => call<Message>('edit_message', { messageId, content }),
  deleteMessage: (messageId: Id) => call<Message>('delete_message', { messageId }),
  react: (messageId: Id, emoji: string, add: boolean) => call<Message>('react', { messageId, emoji, add }),
  pin: (messageId: Id, pinned: boolean) => call<Message>('pin', { messageId, pinned }),
  markRead: (conversationId: Id, seq: number) => call<void>('mark_read', { conversationId, seq }),
  setTyping: (conversationId: Id, isTyping: boolean) => call<void>('set_typing', { conversationId, isTyping }),
  setMuted: (conversationId: Id, muted: boolean) => call<void>('set_muted', { conversationId, muted }),
  isMuted: (conversationId: Id) => call<boolean>('is_muted', { conversationId }),
  setOpenConversation: (conversationId: Id | null) => call<void>('set_open_conversation', { conversationId }),

  friends: () => call<Friend[]>('friends'),
  friendRequests: () => call<FriendRequests>('friend_requests'),
  searchUsers: (prefix: string) => call<User[]>('search_users', { prefix }),
  requestFriend: (username: string) => call<void>('request_friend', { username }),
  acceptFriend: (requestId: Id) => call<void>('accept_friend', { requestId }),
  declineFriend: (requestId: Id) => call<void>('decline_friend', { requestId }),
  removeFriend: (userId: Id) => call<void>('remove_friend', { userId }),
  createConversation: (participantIds: Id[], title?: string) =>
    call<Conversation>('create_conversation', { participantIds, title: title || null }),

  /** Calls the other member of a direct conversation; resolves to the callId (error code `busy` if they are in a call). */
  startCall: (conversationId: Id, callType: 'audio' | 'video') => call<string>('start_call', { conversationId, callType }),
  acceptCall: (callId: string) => call<void>('accept_call', { callId }),
  rejectCall: (callId: string, reason?: string) => call<void>('reject_call', { callId, reason: reason ?? null }),
  endCall: (callId: string) => call<void>('end_call', { callId }),
  setCallMuted: (callId: string, muted: boolean) => call<void>('set_call_muted', { callId, muted }),
  setCallCamera: (callId: string, on: boolean) => call<void>('set_call_camera', { callId, on }),
  /** Changes a running call's microphone, speaker or camera (`null`: the default) and keeps the choice for the next calls. */
  switchCallDevice: (callId: string, device: DeviceKind, name: string | null) =>
    call<void>('switch_call_device', { callId, device, name }),
  callStats: (callId: string) => call<CallStats | null>('call_stats', { callId }),
  listDevices: () => call<DeviceList>('list_devices'),
  getSettings: () => call<Settings>('get_settings'),
  setSettings: (settings: Settings) => call<void>('set_settings', { settings }),
  videoTransportStats: () => call<VideoTransportStats>('video_transport_stats'),
  /** Where the page loads a stream's latest picture (`kind` 0 remote, 1 local preview); `seq` from
   * the notice keeps each URL distinct. */
  frameUrl: (kind: 0 | 1, callId: string, seq: number) => `${convertFileSrc(`${kind}/${callId}`, 'confab-frame')}?${seq}`,
  /** Notices of new video pictures (remote and local preview of every call); see ui/src/logic/video.ts. */
  watchVideo: (handler: (message: unknown) => void) => {
    const channel = new Channel<unknown>();
    channel.onmessage = handler;
    return call<void>('watch_video', { channel });
  },

  /** Every event of the client core. Returns the function that stops listening. */
  onEvent: (handler: (event: ClientEvent) => void): Promise<UnlistenFn> =>
    listen<ClientEvent>('confab://event', (e) => handler(e.payload)),
};
