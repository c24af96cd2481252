// Presence as the UI words it: one count of a group's members online for the header and the list,
// and "last known" while this app's own connection is down (then presence is what was last heard,
// not a fact).

import type { ConnectionState, Conversation, Id } from '../types';
import { type Presence, isOnline } from './store';

/** Presence events heard so far, by user (they override the summaries' `online`). */
type Heard = Record<Id, Presence>;

/** A group's members online, counting yourself (you are here), out of all its members. */
export function groupOnline(c: Conversation, me: Id, presence: Heard = {}): { online: number; total: number } {
  return { online: c.members.filter((m) => m.id === me || isOnline(presence, m.id, m.online)).length, total: c.members.length };
}

/** Whether anyone else in the conversation is online (the dot of a direct chat). */
export function othersOnline(c: Conversation, me: Id, presence: Heard = {}): boolean {
  return c.members.some((m) => m.id !== me && isOnline(presence, m.id, m.online));
}

/** Presence is stale while the connection is anything but connected. */
export function presenceStale(connection: ConnectionState): boolean {
  return connection.state !== 'connected';
}

/** The tooltip of stale presence. (The state alternates between connecting and reconnecting while
 * the client retries: one text for both.) */
export const STALE_TITLE = 'last known — reconnecting';

/** The chat header's presence line: "online" / "offline" for a direct chat, "2 of 3 online" for a
 * group; "(last known)" after it while the connection is down. */
export function presenceText(c: Conversation, me: Id, connection: ConnectionState, presence: Heard = {}): string {
  let text: string;
  if (c.kind === 'direct') {
    text = othersOnline(c, me, presence) ? 'online' : 'offline';
  } else {
    const { online, total } = groupOnline(c, me, presence);
    text = `${online} of ${total} online`;
  }
  return presenceStale(connection) ? `${text} (last known)` : text;
}

/** The conversation list's count for a group: "2/3". */
export function groupCountText(c: Conversation, me: Id, presence: Heard = {}): string {
  const { online, total } = groupOnline(c, me, presence);
  return `${online}/${total}`;
}
