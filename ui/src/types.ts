// The shapes the backend hands the UI (confab-protocol and confab-client types, serialized).

export type Id = number;

export interface User { id: Id; username: string; displayName: string }
export interface Friend extends User { online: boolean; lastSeen: number | null }
export interface FriendRequest { id: Id; from: User; to: User; createdAt: number }
export interface FriendRequests { incoming: FriendRequest[]; outgoing: FriendRequest[] }
export interface Member extends User { online: boolean; lastReadSeq: number }

export interface CallRecord {
  callId: string; callType: 'audio' | 'video'; callerId: Id;
  outcome: 'completed' | 'missed' | 'rejected' | 'busy' | 'cancelled'; durationMs: number;
}

export interface Message {
  id: Id; conversationId: Id; seq: number; updatedSeq: number;
  senderId: Id; senderUsername: string; type: 'text' | 'call';
  content: string | null; clientMsgId: string | null; timestamp: number;
  editedAt: number | null; deletedAt: number | null;
  pinned: boolean; pinnedBy: Id | null;
  reactions: Record<string, Id[]>;
  call?: CallRecord;
}

export interface Conversation {
  id: Id; kind: 'direct' | 'group'; title: string | null; members: Member[];
  lastMessage: Message | null; unreadCount: number; lastSeq: number; createdAt: number;
}

export interface ErrorBody { code: string; message: string; retryAfterMs?: number }

/** A message in the outbox: written, not yet acknowledged. */
export interface Pending {
  conversationId: Id; clientMsgId: string; content: string; createdAt: number; error: ErrorBody | null;
}

export type ConnectionState =
  | { state: 'signedOut'; reason: string | null }
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number; retryInMs: number; lastError: string };

export interface Typing { conversationId: Id; userId: Id; username: string; isTyping: boolean }

export type ClientEvent =
  | { type: 'connection' } & ConnectionState
  | { type: 'message'; message: Message; isNew: boolean }
  | { type: 'outbox'; conversationId: Id }
  | { type: 'conversationsChanged' }
  | { type: 'synced' }
  | ({ type: 'typing' } & Typing)
  | { type: 'presence'; userId: Id; online: boolean; lastSeen: number | null }
  | { type: 'read'; conversationId: Id; userId: Id; seq: number }
  | { type: 'friendsChanged'; event: string }
  | { type: 'incomingCall' | 'callAccepted' | 'callRejected' | 'callEnded' | 'iceCandidate'; [key: string]: unknown };

export interface SessionInfo { serverUrl: string; user: User }
