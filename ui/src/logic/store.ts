// The UI's one store of chat state, fed by the client core's events (which carry their data) and by
// the few reads an event cannot replace: the conversation list at sign-in, a conversation's latest
// messages and outbox when it is opened, older pages on scroll.
//
// `reduce` is pure. It returns the same object for every part an action did not change (the state
// itself, the list, a conversation, a message), so memoized components skip their render: a summary
// or message that arrives equal to the one held keeps the held object.

import type { ClientEvent, Conversation, Id, Message, Pending } from '../types';

/** A user's presence as last heard from the core. */
export interface Presence {
  online: boolean;
  lastSeen: number | null;
}

/** The conversation on screen: its loaded messages (by seq, oldest first) and its outbox. */
export interface OpenConversation {
  id: Id;
  messages: Message[];
  pending: Pending[];
  /** The first read (latest page and outbox) has arrived. */
  loaded: boolean;
  /** An outbox event arrived since opening: it is newer than the outbox the first read brings. */
  outboxSeen: boolean;
}

export interface StoreState {
  /** Most recent activity first, as the client core's cache orders them. */
  conversations: Conversation[];
  /** By user id; overrides `member.online` and `friend.online` for display. */
  presence: Record<Id, Presence>;
  open: OpenConversation | null;
}

/** How many of the open conversation's messages `trim` keeps. */
export const WINDOW = 500;

export const initialStore: StoreState = { conversations: [], presence: {}, open: null };

/** What the UI itself tells the store, besides the core's events. */
export type StoreAction =
  | ClientEvent
  /** The user opened a conversation (or closed it with `null`); its first read follows. */
  | { type: 'open'; conversationId: Id | null }
  /** The first read of the open conversation: its latest messages and its outbox. `reread` after
   * lost events: then the outbox read replaces the held one whatever came before. */
  | { type: 'opened'; conversationId: Id; messages: Message[]; pending: Pending[]; reread?: boolean }
  /** The list read again after lost events: presence heard so far may be stale too, so it is
   * dropped (the list's summaries carry the core's current presence). */
  | { type: 'reread'; conversations: Conversation[] }
  /** An older page of the open conversation. */
  | { type: 'older'; conversationId: Id; messages: Message[] }
  /** The open conversation is shown at its newest: only its newest `WINDOW` messages are kept (older
   * pages bring the others back from the cache). */
  | { type: 'trim'; conversationId: Id }
  /** A conversation this device just created (its list event may follow). */
  | { type: 'created'; conversation: Conversation }
  /** Signed out: nothing is kept. */
  | { type: 'reset' };

/** The core's events the store applies (the others it would return unchanged). */
const STORE_EVENTS: ReadonlySet<ClientEvent['type']> = new Set(['message', 'outbox', 'syncPage', 'conversations', 'conversationChanged', 'presence']);
export const isStoreEvent = (event: ClientEvent): boolean => STORE_EVENTS.has(event.type);

/** The core lost events on their way here (the UI fell behind): what is shown is read again. */
export const isLagged = (event: ClientEvent): boolean => (event as { type: string }).type === 'lagged';

export function reduce(state: StoreState, action: StoreAction): StoreState {
  switch (action.type) {
    case 'conversations':
      return withConversations(state, replaceList(state.conversations, action.conversations));
    case 'reread': {
      const next = withConversations(state, replaceList(state.conversations, action.conversations));
      return Object.keys(next.presence).length === 0 ? next : { ...next, presence: {} };
    }
    case 'conversationChanged':
    case 'created':
      return withConversations(state, upsert(state.conversations, [action.conversation]));
    case 'message': {
      const next = withConversations(state, upsert(state.conversations, [action.conversation]));
      return withOpen(next, addMessages(next.open, [action.message], false));
    }
    case 'syncPage': {
      const next = withConversations(state, upsert(state.conversations, action.conversations));
      return withOpen(next, addMessages(next.open, action.messages, false));
    }
    case 'outbox': {
      const open = state.open;
      if (!open || open.id !== action.conversationId) return state;
      const pending = samePending(open.pending, undelivered(action.pending, open.messages));
      if (pending === open.pending && open.outboxSeen) return state;
      return withOpen(state, { ...open, pending, outboxSeen: true });
    }
    case 'presence': {
      const held = state.presence[action.userId];
      if (held && held.online === action.online && held.lastSeen === action.lastSeen) return state;
      return { ...state, presence: { ...state.presence, [action.userId]: { online: action.online, lastSeen: action.lastSeen } } };
    }
    case 'open':
      if ((state.open?.id ?? null) === action.conversationId) return state;
      return {
        ...state,
        open: action.conversationId === null
          ? null
          : { id: action.conversationId, messages: [], pending: [], loaded: false, outboxSeen: false },
      };
    case 'opened': {
      const open = state.open;
      if (!open || open.id !== action.conversationId) return state;
      const withMessages = addMessages(open, action.messages, true)!;
      const pending = open.outboxSeen && !action.reread ? withMessages.pending : undelivered(action.pending, withMessages.messages);
      return withOpen(state, { ...withMessages, pending: samePending(open.pending, pending), loaded: true });
    }
    case 'older': {
      const open = state.open;
      if (!open || open.id !== action.conversationId) return state;
      return withOpen(state, addMessages(open, action.messages, true));
    }
    case 'trim': {
      const open = state.open;
      if (!open || open.id !== action.conversationId || open.messages.length <= WINDOW) return state;
      return withOpen(state, { ...open, messages: open.messages.slice(-WINDOW) });
    }
    case 'reset':
      return initialStore;
    default:
      return state;
  }
}

// ---- conversations ----

/** When a conversation last saw activity: its last message, else its creation (the cache's order). */
export function lastActivity(c: Conversation): number {
  return c.lastMessage?.timestamp ?? c.createdAt;
}

/** Most recent activity first; ties by the higher id (the cache's `ORDER BY last_activity DESC, id DESC`). */
function byActivity(a: Conversation, b: Conversation): number {
  return lastActivity(b) - lastActivity(a) || b.id - a.id;
}

function withConversations(state: StoreState, conversations: Conversation[]): StoreState {
  return conversations === state.conversations ? state : { ...state, conversations };
}

/**
 * The list given, keeping each held conversation that arrives equal (and the held list if all do).
 * A held summary with a later message stays too: the list was read before an event applied since.
 */
function replaceList(held: Conversation[], incoming: Conversation[]): Conversation[] {
  const byId = new Map(held.map((c) => [c.id, c]));
  const next = incoming
    .map((c) => {
      const mine = byId.get(c.id);
      return mine && mine.lastSeq > c.lastSeq ? mine : keepIfEqual(mine, c);
    })
    .sort(byActivity);
  return sameItems(held, next) ? held : next;
}

/** The list with these summaries replaced (or added), re-ordered by activity. */
function upsert(held: Conversation[], incoming: Conversation[]): Conversation[] {
  let next: Conversation[] | null = null;
  for (const c of incoming) {
    const list: Conversation[] = next ?? held;
    const at = list.findIndex((x) => x.id === c.id);
    if (at >= 0 && (list[at] === c || deepEqual(list[at], c))) continue;
    next = at >= 0 ? list.map((x, i) => (i === at ? c : x)) : [...list, c];
  }
  return next ? next.sort(byActivity) : held;
}

// ---- the open conversation ----

function withOpen(state: StoreState, open: OpenConversation | null): StoreState {
  return open === state.open ? state : { ...state, open };
}

/**
 * Inserts or replaces messages of the open conversation by id, ordered by seq. A held message is
 * replaced only by a state at least as new (`updatedSeq`). A message older than the oldest loaded is
 * left out unless `older` (it belongs to a page not loaded; a gap would show): its page brings it.
 */
function addMessages(open: OpenConversation | null, incoming: Message[], older: boolean): OpenConversation | null {
  if (!open) return open;
  let messages = open.messages;
  for (const m of incoming) {
    if (m.conversationId !== open.id) continue;
    const at = messages.findIndex((x) => x.id === m.id);
    if (at >= 0) {
      const held = messages[at];
      if (held === m || m.updatedSeq < held.updatedSeq || deepEqual(held, m)) continue;
      messages = messages.map((x, i) => (i === at ? m : x));
      continue;
    }
    if (!older && messages.length > 0 && m.seq < messages[0].seq) continue;
    let i = messages.length;
    while (i > 0 && messages[i - 1].seq > m.seq) i--;
    messages = [...messages.slice(0, i), m, ...messages.slice(i)];
  }
  if (messages === open.messages) return open;
  const pending = undelivered(open.pending, messages);
  return { ...open, messages, pending: pending.length === open.pending.length ? open.pending : pending };
}

/** The outbox without what already arrived as a message (the two events may come in either order). */
function undelivered(pending: Pending[], messages: Message[]): Pending[] {
  if (pending.length === 0) return pending;
  const delivered = new Set(messages.map((m) => m.clientMsgId).filter((id) => id !== null));
  return pending.some((p) => delivered.has(p.clientMsgId)) ? pending.filter((p) => !delivered.has(p.clientMsgId)) : pending;
}

function samePending(held: Pending[], next: Pending[]): Pending[] {
  return held === next || deepEqual(held, next) ? held : next;
}

// ---- helpers ----

function keepIfEqual<T>(held: T | undefined, incoming: T): T {
  return held !== undefined && deepEqual(held, incoming) ? held : incoming;
}

function sameItems<T>(a: T[], b: T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Structural equality of JSON values (what the backend sends). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((x, i) => deepEqual(x, other[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && deepEqual(ra[k], rb[k]));
}

// ---- reading the store ----

/** Whether a user is online for display: their last presence event, else what the summary says. */
export function isOnline(presence: Record<Id, Presence>, userId: Id, fallback: boolean): boolean {
  return presence[userId]?.online ?? fallback;
}
