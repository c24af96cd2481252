// Presence as the UI words it: one count of a group's members online for the header and the list,
// and "last known" while this app's own connection is down (then presence is what was last heard,
// not a fact).

import type { ConnectionState, Conversation, Id } from '../types';

/** A group's members online, counting yourself (you are here), out of all its members. */
export function groupOnline(c: Conversation, me: Id): { online: number; total: number } {
  return { online: c.members.filter((m) => m.id === me || m.online).length, total: c.members.length };
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
export function presenceText(c: Conversation, me: Id, connection: ConnectionState): string {
  let text: string;
  if (c.kind === 'direct') {
    text = c.members.some((m) => m.id !== me && m.online) ? 'online' : 'offline';
  } else {
    const { online, total } = groupOnline(c, me);
    text = `${online} of ${total} online`;
  }
  return presenceStale(connection) ? `${text} (last known)` : text;
}

/** The conversation list's count for a group: "2/3". */
export function groupCountText(c: Conversation, me: Id): string {
  const { online, total } = groupOnline(c, me);
  return `${online}/${total}`;
}
