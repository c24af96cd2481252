import { describe, expect, it } from 'vitest';

import type { Message, Pending } from '../types';
import { GROUP_GAP_MS, groupTimeline } from './grouping';
import { timelineRows } from './timeline';

const me = { id: 1, username: 'me' };
const noon = new Date(2026, 10, 26, 12, 0, 0).getTime();
const yesterday = noon - 24 * 3600 * 1000;

function msg(seq: number, senderId: number, timestamp: number): Message {
  return {
    id: seq, conversationId: 1, seq, updatedSeq: seq, senderId, senderUsername: senderId === 1 ? 'me' : 'bob',
    type: 'text', content: `m${seq}`, clientMsgId: null, timestamp, editedAt: null, deletedAt: null,
    pinned: false, pinnedBy: null, reactions: {},
  };
}
const pending: Pending = { conversationId: 1, clientMsgId: 'c1', content: 'p', createdAt: noon + 2000, state: 'sending', error: null };

describe('timelineRows', () => {
  it('one row per message and pending entry, with the day on the day\'s first and the sender on a run\'s first', () => {
    const days = groupTimeline(
      [msg(1, 2, yesterday), msg(2, 2, noon), msg(3, 2, noon + 1000), msg(4, 1, noon + 1500), msg(5, 2, noon + 1000 + GROUP_GAP_MS)],
      [pending], me, noon + 2 * GROUP_GAP_MS,
    );
    const rows = timelineRows(days, me.id);
    expect(rows.map((r) => [r.key, r.day, r.sender, r.mine])).toEqual([
      ['m1', 'Yesterday', 'bob', false],
      ['m2', 'Today', 'bob', false],
      ['m3', null, null, false],
      ['m4', null, 'me', true],
      ['m5', null, 'bob', false],
      ['pc1', null, 'me', true],
    ]);
  });

  it('keys stay when an older page comes in front: only the separators move', () => {
    const newer = timelineRows(groupTimeline([msg(3, 2, noon + 10), msg(4, 2, noon + 20)], [], me, noon), me.id);
    const all = timelineRows(groupTimeline([msg(1, 2, noon), msg(2, 2, noon + 5), msg(3, 2, noon + 10), msg(4, 2, noon + 20)], [], me, noon), me.id);
    expect(all.slice(2).map((r) => r.key)).toEqual(newer.map((r) => r.key));
    expect(newer[0].day).toBe('Today');
    expect(all[2].day).toBeNull();
    expect(all[0].day).toBe('Today');
  });
});
