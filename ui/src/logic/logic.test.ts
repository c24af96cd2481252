import { describe, expect, it } from 'vitest';

import type { Message, Pending } from '../types';
import { GROUP_GAP_MS, groupTimeline } from './grouping';
import { reactionChips, toggleAction } from './reactions';
import { TYPING_TTL_MS, TypingTracker, typingText } from './typing';

const me = { id: 1, username: 'me' };
const noon = new Date(2026, 10, 26, 12, 0, 0).getTime();

function msg(seq: number, senderId: number, timestamp: number, extra: Partial<Message> = {}): Message {
  return {
    id: seq, conversationId: 1, seq, updatedSeq: seq, senderId, senderUsername: senderId === 1 ? 'me' : 'bob',
    type: 'text', content: `m${seq}`, clientMsgId: null, timestamp, editedAt: null, deletedAt: null,
    pinned: false, pinnedBy: null, reactions: {}, ...extra,
  };
}

describe('groupTimeline', () => {
  it('groups consecutive messages of a sender and splits on sender, gap, and day', () => {
    const yesterday = noon - 24 * 3600 * 1000;
    const days = groupTimeline(
      [msg(4, 2, noon + 1000), msg(1, 2, yesterday), msg(2, 2, noon), msg(3, 1, noon + 500), msg(5, 2, noon + 1000 + GROUP_GAP_MS)],
      [],
      me,
      noon + 2 * GROUP_GAP_MS,
    );
    expect(days.map((d) => d.label)).toEqual(['Yesterday', 'Today']);
    expect(days[1].groups.map((g) => [g.senderName, g.items.length])).toEqual([['bob', 1], ['me', 1], ['bob', 1], ['bob', 1]]);
  });

  it('appends pending messages after sent ones, as mine', () => {
    const pending: Pending = { conversationId: 1, clientMsgId: 'x', content: 'later', createdAt: noon + 100, state: 'sending', error: null };
    const days = groupTimeline([msg(1, 1, noon)], [pending], me, noon);
    expect(days).toHaveLength(1);
    expect(days[0].groups).toHaveLength(1);
    expect(days[0].groups[0].items.map((i) => i.kind)).toEqual(['message', 'pending']);
  });

  it('never merges call records into a run', () => {
    const days = groupTimeline([msg(1, 2, noon), msg(2, 2, noon + 1, { type: 'call' })], [], me, noon);
    expect(days[0].groups).toHaveLength(2);
  });
});

describe('TypingTracker', () => {
  it('shows a typist for 3 s after the last event', () => {
    const t = new TypingTracker();
    expect(t.seen(2, 'Alice', true, 0)).toBe(true);
    expect(t.seen(2, 'Alice', true, 2000)).toBe(false);
    expect(t.expire(TYPING_TTL_MS + 1000)).toBe(false);
    expect(t.names()).toEqual(['Alice']);
    expect(t.nextExpiry()).toBe(2000 + TYPING_TTL_MS);
    expect(t.expire(2000 + TYPING_TTL_MS)).toBe(true);
    expect(t.names()).toEqual([]);
  });

  it('clears on "stopped" and when their message arrives', () => {
    const t = new TypingTracker();
    t.seen(2, 'Alice', true, 0);
    t.seen(3, 'Bob', true, 0);
    expect(typingText(t.names())).toBe('Alice and Bob are typing…');
    expect(t.seen(2, 'Alice', false, 10)).toBe(true);
    expect(typingText(t.names())).toBe('Bob is typing…');
    expect(t.messageFrom(3)).toBe(true);
    expect(typingText(t.names())).toBe('');
  });
});

describe('reaction chips', () => {
  it('counts, marks mine and orders by count', () => {
    const chips = reactionChips({ '👍': [2], '🎉': [1, 2, 3], '❤️': [1] }, 1);
    expect(chips.map((c) => [c.emoji, c.count, c.mine])).toEqual([['🎉', 3, true], ['👍', 1, false], ['❤️', 1, true]]);
  });

  it('toggles: add when not mine, remove when mine', () => {
    expect(toggleAction({ '👍': [2] }, '👍', 1)).toEqual({ emoji: '👍', add: true });
    expect(toggleAction({ '👍': [1, 2] }, '👍', 1)).toEqual({ emoji: '👍', add: false });
    expect(toggleAction({}, '🔥', 1)).toEqual({ emoji: '🔥', add: true });
  });
});
