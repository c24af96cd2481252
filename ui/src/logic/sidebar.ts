// What the conversation list shows of each conversation, and nothing else: the list renders when a
// row changes, not when a summary changes in a way it does not show (a read cursor, the unread count
// of the conversation on screen, a message's reactions).

import { conversationName, preview } from '../names';
import type { Conversation, Id } from '../types';
import { groupCountText, othersOnline } from './presence';
import type { Presence } from './store';

export interface SidebarRow {
  id: Id;
  kind: Conversation['kind'];
  name: string;
  /** A direct chat: whether the other member is online. */
  online: boolean;
  /** A group: its members online, "2/3". */
  groupCount: string;
  preview: string;
  /** The unread badge; 0 for the conversation on screen. */
  unread: number;
  open: boolean;
}

/** The rows of the list, in the store's order (most recent activity first). */
export function sidebarRows(conversations: Conversation[], presence: Record<Id, Presence>, me: Id, openId: Id | null): SidebarRow[] {
  return conversations.map((c) => ({
    id: c.id,
    kind: c.kind,
    name: conversationName(c, me),
    online: c.kind === 'direct' && othersOnline(c, me, presence),
    groupCount: c.kind === 'group' ? groupCountText(c, me, presence) : '',
    preview: preview(c),
    unread: c.id === openId ? 0 : c.unreadCount,
    open: c.id === openId,
  }));
}
