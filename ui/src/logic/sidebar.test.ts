import { describe, expect, it } from 'vitest';

import type { Conversation, Member, Message } from '../types';
import { sidebarRows } from './sidebar';
import { deepEqual, reduce, initialStore } from './store';

const member = (id: number, online = false, lastReadSeq = 0): Member =>
  ({ id, username: `u${id}`, displayName: `U${id}`, online, lastReadSeq });
const message = (seq: number): Message => ({
  id: seq, conversationId: 10, seq, updatedSeq: seq, senderId: 2, senderUsername: 'u2', type: 'text', content: `m${seq}`,
  clientMsgId: null, timestamp: 1000 + seq, editedAt: null, deletedAt: null, pinned: false, pinnedBy: null, reactions: {},
});
const direct = (extra: Partial<Conversation> = {}): Conversation => ({
  id: 10, kind: 'direct', title: null, members: [member(1, true), member(2, true)], lastMessage: message(3),
  unreadCount: 2, lastSeq: 3, createdAt: 0, ...extra,
});

describe('the rows of the conversation list', () => {
  it('show name, presence, preview and the unread badge (not for the conversation on screen)', () => {
    const state = reduce(initialStore, { type: 'presence', userId: 2, online: false, lastSeen: 5 });
    expect(sidebarRows([direct()], state.presence, 1, null)).toEqual([
      { id: 10, kind: 'direct', name: 'U2', online: false, groupCount: '', preview: 'u2: m3', unread: 2, open: false },
    ]);
    expect(sidebarRows([direct()], {}, 1, 10)[0]).toMatchObject({ online: true, unread: 0, open: true });
  });

  it('read the same when only a read cursor or the open conversation\'s unread count changed', () => {
    const before = sidebarRows([direct()], {}, 1, 10);
    const read = direct({ unreadCount: 0, members: [member(1, true, 3), member(2, true)] });
    expect(deepEqual(sidebarRows([read], {}, 1, 10), before)).toBe(true);
    expect(deepEqual(sidebarRows([direct({ lastMessage: message(4), lastSeq: 4 })], {}, 1, 10), before)).toBe(false);
  });
});
