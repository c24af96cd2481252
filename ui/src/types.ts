// The shapes the backend hands the UI, under the names the components use. None is written here:
// all come from the Rust types through the generated ./bindings.ts (docs/architecture.md, "UI
// bindings"). Where serde reads a Rust type differently from how it writes it (an `Option` field may
// be missing on input), the bindings have both shapes; the UI receives the `_Serialize` one, exactly
// what Rust sends, and what it sends back (settings) is accepted by the `_Deserialize` one.

import type * as Rust from './bindings';

/** Constants of the client core (`OUTGOING_CALL_ID`, unread counts stop at `MAX_UNREAD_COUNTED`). */
export { MAX_UNREAD_COUNTED, OUTGOING_CALL_ID } from './bindings';

/** Ids of users, conversations and messages (`i64` in Rust, far below 2^53). */
export type Id = number;

export type User = Rust.User;
export type Friend = Rust.Friend_Serialize;
export type FriendRequest = Rust.FriendRequest;
export type FriendRequests = Rust.FriendRequests;
export type Member = Rust.Member;
export type CallRecord = Rust.CallRecord;
export type Message = Rust.Message_Serialize;
export type Conversation = Rust.Conversation_Serialize;
export type ErrorBody = Rust.ErrorBody_Serialize;
/** A message in the outbox: written, not yet acknowledged. `queued` waits for the connection,
 * `sending` is on its way, `failed` was refused (`error` says why) and waits for retry or discard. */
export type Pending = Rust.Pending_Serialize;
export type ConnectionState = Rust.ConnectionState_Serialize;
export type Typing = Rust.Typing;
/** Every event of the client core, as `confab://event` carries it. */
export type ClientEvent = Rust.ClientEvent_Serialize;
/** A call as the client core publishes it (`{type: 'call'}` events): its whole state, rendered as it is. */
export type CallSnapshot = Rust.CallSnapshot_Serialize;
/** STUN/TURN server, the browser's RTCIceServer shape. */
export type IceServer = Rust.IceServer_Serialize;
/** Where calls get their ICE servers: the Confab server's list and the user's own (no credentials). */
export type IceServerSources = Rust.IceServerSources_Serialize;
/** The app's settings (settings.json in its data directory). */
export type Settings = Rust.Settings_Serialize;
/** A device a call uses, as the settings and `switchCallDevice` name it. */
export type DeviceKind = Rust.CallDevice;
export type DeviceList = Rust.DeviceList;
export type CallStats = Rust.CallStats;
export type VideoTransportStats = Rust.VideoTransportStats;
/** A new picture of a stream (`kind` 0 remote, 1 local preview); see ui/src/logic/video.ts. */
export type VideoNotice = Rust.VideoNotice;
export type SessionInfo = Rust.SessionInfo;
/** A server this app hosts (src-tauri/src/hosting.rs): the URL it signs in with, those to give friends. */
export type HostedServer = Rust.HostedServer;
/** Who may reach a hosted server: `thisComputer` (127.0.0.1) or `localNetwork` (0.0.0.0). */
export type HostingScope = Rust.Scope;
/** Why a command failed: `{code, message}` (the server's codes, plus `offline`, `signed_out`, `local`). */
export type UiError = Rust.UiError;
