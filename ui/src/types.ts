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

/** A message in the outbox: written, not yet acknowledged. `queued` waits for the connection,
 * `sending` is on its way, `failed` was refused (`error` says why) and waits for retry or discard. */
export interface Pending {
  conversationId: Id; clientMsgId: string; content: string; createdAt: number;
  state: 'queued' | 'sending' | 'failed'; error: ErrorBody | null;
}

export type ConnectionState =
  | { state: 'signedOut'; reason: string | null }
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number; retryInMs: number; lastError: string };

export interface Typing { conversationId: Id; userId: Id; username: string; isTyping: boolean }

export type ClientEvent =
  | { type: 'connection' } & ConnectionState
  /** A message created or changed, with its conversation's summary after the change. */
  | { type: 'message'; message: Message; isNew: boolean; conversation: Conversation }
  /** The whole outbox of a conversation. */
  | { type: 'outbox'; conversationId: Id; pending: Pending[] }
  /** One applied page of a catch-up: messages added or changed, summaries of the conversations touched. */
  | { type: 'syncPage'; messages: Message[]; conversations: Conversation[] }
  /** The whole conversation list (sign-in, a new conversation, members). */
  | { type: 'conversations'; conversations: Conversation[] }
  /** One summary changed without a message (read cursors). */
  | { type: 'conversationChanged'; conversation: Conversation }
  | { type: 'synced' }
  | ({ type: 'typing' } & Typing)
  /** Kept while disconnected: then it is the last known presence. */
  | { type: 'presence'; userId: Id; online: boolean; lastSeen: number | null }
  | { type: 'friendsChanged'; event: string }
  | { type: 'incomingCall'; callId: string; callerId: Id; callerUsername: string; conversationId: Id; callType: 'audio' | 'video' }
  | { type: 'callAccepted'; callId: string }
  | { type: 'callRejected'; callId: string; reason: string | null }
  | { type: 'callEnded'; callId: string; reason: CallEndReason; durationMs: number }
  | { type: 'iceCandidate'; callId: string }
  | { type: 'callMedia'; callId: string; state: 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed' }
  | { type: 'callProblem'; callId: string; message: string };

export type CallEndReason = 'hangup' | 'cancelled' | 'rejected' | 'missed' | 'disconnected' | 'answeredElsewhere';

/** STUN/TURN server, the browser's RTCIceServer shape. */
export interface IceServer { urls: string[]; username: string; credential: string }
/** The app's settings (settings.json in its data directory). */
export interface Settings { iceServers: IceServer[]; microphone: string | null; speaker: string | null; camera: string | null }
/** A device a call uses, as the settings and `switchCallDevice` name it. */
export type DeviceKind = 'microphone' | 'speaker' | 'camera';
export interface DeviceList { inputs: string[]; outputs: string[]; cameras: string[] }
export interface CallStats {
  audioPacketsSent: number; audioPacketsReceived: number; audioPacketsConcealed: number; audioFramesPlayed: number;
  videoFramesSent: number; videoPacketsReceived: number; videoFramesReceived: number; videoFramesDecoded: number;
  videoFramesDropped: number;
}
export interface VideoTransportStats {
  framesOffered: number; framesDroppedBusy: number; framesSent: number; bytesSent: number;
  meanEncodeMs: number; meanFrameBytes: number;
}

export interface SessionInfo { serverUrl: string; user: User }
