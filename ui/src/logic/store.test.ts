import { describe, expect, it } from 'vitest';

import type { Conversation, Member, Message, Pending } from '../types';
import { type StoreAction, type StoreState, WINDOW, deepEqual, initialStore, reduce } from './store';
import { groupCountText, presenceText } from './presence';

const ME = 1;
const member = (id: number, online = false, lastReadSeq = 0): Member =>
  ({ id, username: `u${id}`, displayName: `U${id}`, online, lastReadSeq });

function msg(conversationId: number, seq: number, extra: Partial<Message> = {}): Message {
  return {
    id: conversationId * 1000 + seq, conversationId, seq, updatedSeq: seq, senderId: 2, senderUsername: 'u2',
    type: 'text', content: `m${seq}`, clientMsgId: null, timestamp: 1000 + seq, editedAt: null, deletedAt: null,
    pinned: false, pinnedBy: null, reactions: {}, ...extra,
  };
}

function conv(id: number, extra: Partial<Conversation> = {}): Conversation {
  return {
    id, kind: 'direct', title: null, members: [member(ME, true), member(id + 1)], lastMessage: null,
    unreadCount: 0, lastSeq: 0, createdAt: id, ...extra,
  };
}

/** The summary of `c` after `m` arrived. */
const after = (c: Conversation, m: Message, unreadCount = c.unreadCount + 1): Conversation =>
  ({ ...c, lastMessage: m, lastSeq: m.seq, unreadCount });

function pending(clientMsgId: string, state: Pending['state'], extra: Partial<Pending> = {}): Pending {
  return { conversationId: 10, clientMsgId, content: clientMsgId, createdAt: 5000, state, error: null, ...extra };
}

const run = (state: StoreState, ...actions: StoreAction[]) => actions.reduce(reduce, state);
/** A store with conversations 10, 20 and 30 and conversation 10 open with messages 1..3. */
function opened(): StoreState {
  return run(
    initialStore,
    { type: 'conversations', conversations: [conv(10), conv(20), conv(30)] },
    { type: 'open', conversationId: 10 },
    { type: 'opened', conversationId: 10, messages: [msg(10, 1), msg(10, 2), msg(10, 3)], pending: [] },
  );
}
const seqs = (state: StoreState) => state.open!.messages.map((m) => m.seq);
const ids = (state: StoreState) => state.conversations.map((c) => c.id);

describe('the conversation list', () => {
  it('orders by last activity as the cache does: last message, else creation, newest first; ties by id', () => {
    const state = reduce(initialStore, {
      type: 'conversations',
      conversations: [conv(1, { createdAt: 50 }), conv(2, { lastMessage: msg(2, 1, { timestamp: 40 }) }), conv(3, { createdAt: 50 }), conv(4, { createdAt: 60 })],
    });
    expect(ids(state)).toEqual([4, 3, 1, 2]);
  });

  it('a message moves its conversation to the top and replaces its summary only', () => {
    const before = opened();
    const m = msg(30, 1, { timestamp: 9000 });
    const state = reduce(before, { type: 'message', message: m, isNew: true, conversation: after(conv(30), m) });
    expect(ids(state)).toEqual([30, 20, 10]);
    expect(state.conversations[0].unreadCount).toBe(1);
    expect(state.conversations[1]).toBe(before.conversations.find((c) => c.id === 20));
    expect(state.conversations[2]).toBe(before.conversations.find((c) => c.id === 10));
    // Not the open conversation: its messages are untouched.
    expect(state.open).toBe(before.open);
  });

  it('the whole list again, equal: the same state', () => {
    const before = opened();
    expect(reduce(before, { type: 'conversations', conversations: [conv(30), conv(20), conv(10)] })).toBe(before);
  });

  it('the whole list with one changed keeps the others', () => {
    const before = opened();
    const state = reduce(before, { type: 'conversations', conversations: [conv(10), conv(20, { title: 'renamed' }), conv(30)] });
    expect(state.conversations.find((c) => c.id === 20)!.title).toBe('renamed');
    expect(state.conversations.find((c) => c.id === 10)).toBe(before.conversations.find((c) => c.id === 10));
    expect(state.open).toBe(before.open);
  });

  it('a list read before a message event applied since keeps the newer summary', () => {
    const m = msg(20, 1, { timestamp: 9000 });
    const before = reduce(opened(), { type: 'message', message: m, isNew: true, conversation: after(conv(20), m) });
    const state = reduce(before, { type: 'conversations', conversations: [conv(10), conv(20), conv(30)] });
    expect(state).toBe(before);
  });

  it('a read cursor changes one summary; the same summary again changes nothing', () => {
    const before = opened();
    const read = conv(20, { members: [member(ME, true), member(21, false, 7)] });
    const state = reduce(before, { type: 'conversationChanged', conversation: read });
    expect(state.conversations.find((c) => c.id === 20)!.members[1].lastReadSeq).toBe(7);
    expect(reduce(state, { type: 'conversationChanged', conversation: { ...read } })).toBe(state);
  });

  it('a conversation created here appears before its list event', () => {
    const state = reduce(opened(), { type: 'created', conversation: conv(40, { createdAt: 99 }) });
    expect(ids(state)).toEqual([40, 30, 20, 10]);
  });
});

describe('the open conversation', () => {
  it('inserts messages arriving out of order by seq', () => {
    let state = opened();
    const m5 = msg(10, 5);
    const m4 = msg(10, 4);
    state = reduce(state, { type: 'message', message: m5, isNew: true, conversation: after(conv(10), m5) });
    state = reduce(state, { type: 'message', message: m4, isNew: true, conversation: after(conv(10), m5, 2) });
    expect(seqs(state)).toEqual([1, 2, 3, 4, 5]);
    // The later event's summary stands: the last message stays 5.
    expect(state.conversations[0].lastMessage!.seq).toBe(5);
  });

  it('replaces a message on edit, keeping the others; an older state of it is ignored', () => {
    const before = opened();
    const edited = msg(10, 2, { content: 'edited', editedAt: 2000, updatedSeq: 4 });
    const state = reduce(before, { type: 'message', message: edited, isNew: false, conversation: conv(10, { lastSeq: 4 }) });
    expect(state.open!.messages.map((m) => m.content)).toEqual(['m1', 'edited', 'm3']);
    expect(state.open!.messages[0]).toBe(before.open!.messages[0]);
    expect(state.open!.messages[2]).toBe(before.open!.messages[2]);
    const stale = msg(10, 2, { content: 'older state', updatedSeq: 3 });
    expect(reduce(state, { type: 'message', message: stale, isNew: false, conversation: conv(10, { lastSeq: 4 }) }).open)
      .toBe(state.open);
  });

  it('a message equal to the one held changes nothing', () => {
    const before = opened();
    expect(reduce(before, { type: 'message', message: msg(10, 2), isNew: false, conversation: conv(10) })).toBe(before);
  });

  it('leaves out a change to a message older than the loaded page, which loading that page brings', () => {
    const before = run(initialStore, { type: 'conversations', conversations: [conv(10)] }, { type: 'open', conversationId: 10 },
      { type: 'opened', conversationId: 10, messages: [msg(10, 50), msg(10, 51)], pending: [] });
    const state = reduce(before, { type: 'message', message: msg(10, 3, { updatedSeq: 52, pinned: true }), isNew: false, conversation: conv(10) });
    expect(seqs(state)).toEqual([50, 51]);
    const older = reduce(state, { type: 'older', conversationId: 10, messages: [msg(10, 3, { updatedSeq: 52, pinned: true }), msg(10, 49)] });
    expect(seqs(older)).toEqual([3, 49, 50, 51]);
  });

  it('keeps messages that arrived before its first read, merged with the read', () => {
    const state = run(
      initialStore,
      { type: 'conversations', conversations: [conv(10)] },
      { type: 'open', conversationId: 10 },
      { type: 'message', message: msg(10, 4, { content: 'live' }), isNew: true, conversation: conv(10) },
      { type: 'opened', conversationId: 10, messages: [msg(10, 2), msg(10, 3)], pending: [] },
    );
    expect(seqs(state)).toEqual([2, 3, 4]);
    expect(state.open!.loaded).toBe(true);
  });

  it('ignores the first read of a conversation no longer open', () => {
    const before = run(initialStore, { type: 'open', conversationId: 10 }, { type: 'open', conversationId: 20 });
    expect(reduce(before, { type: 'opened', conversationId: 10, messages: [msg(10, 1)], pending: [] })).toBe(before);
  });
});

describe('a catch-up page', () => {
  it('touching two conversations: both summaries replaced, the open one gets its messages, the third is kept', () => {
    const before = opened();
    const page = [msg(10, 4), msg(20, 1), msg(10, 5), msg(20, 2)];
    const state = reduce(before, {
      type: 'syncPage',
      messages: page,
      conversations: [after(conv(10), page[2], 2), after(conv(20), { ...page[3], timestamp: 5000 }, 2)],
    });
    expect(ids(state)).toEqual([20, 10, 30]);
    expect(state.conversations.find((c) => c.id === 20)!.unreadCount).toBe(2);
    expect(state.conversations.find((c) => c.id === 30)).toBe(before.conversations.find((c) => c.id === 30));
    expect(seqs(state)).toEqual([1, 2, 3, 4, 5]);
    expect(state.open!.messages[0]).toBe(before.open!.messages[0]);
  });

  it('with nothing new: the same state', () => {
    const before = opened();
    expect(reduce(before, { type: 'syncPage', messages: [msg(10, 3)], conversations: [conv(10)] })).toBe(before);
  });
});

describe('the outbox', () => {
  it('follows the outbox events of the open conversation: queued, sending, failed', () => {
    let state = opened();
    state = reduce(state, { type: 'outbox', conversationId: 10, pending: [pending('a', 'queued')] });
    expect(state.open!.pending.map((p) => p.state)).toEqual(['queued']);
    state = reduce(state, { type: 'outbox', conversationId: 10, pending: [pending('a', 'sending')] });
    expect(state.open!.pending.map((p) => p.state)).toEqual(['sending']);
    const error = { code: 'rate_limited' as const, message: 'slow down' };
    state = reduce(state, { type: 'outbox', conversationId: 10, pending: [pending('a', 'failed', { error })] });
    expect(state.open!.pending[0]).toMatchObject({ state: 'failed', error });
    // The same outbox again: nothing changes.
    expect(reduce(state, { type: 'outbox', conversationId: 10, pending: [pending('a', 'failed', { error })] })).toBe(state);
    // Another conversation's outbox is not shown here.
    expect(reduce(state, { type: 'outbox', conversationId: 20, pending: [] })).toBe(state);
  });

  it('a sent message replaces its pending bubble, whichever event comes first', () => {
    const sent = msg(10, 4, { senderId: ME, clientMsgId: 'a' });
    const withPending = reduce(opened(), { type: 'outbox', conversationId: 10, pending: [pending('a', 'sending'), pending('b', 'queued')] });
    // The message first: the pending bubble goes at once.
    const messageFirst = reduce(withPending, { type: 'message', message: sent, isNew: true, conversation: after(conv(10), sent, 0) });
    expect(messageFirst.open!.pending.map((p) => p.clientMsgId)).toEqual(['b']);
    expect(seqs(messageFirst)).toEqual([1, 2, 3, 4]);
    // The emptied outbox first, then the message: never both bubbles.
    const outboxFirst = run(withPending, { type: 'outbox', conversationId: 10, pending: [pending('b', 'queued')] });
    expect(outboxFirst.open!.pending.map((p) => p.clientMsgId)).toEqual(['b']);
    // A late outbox event still listing a delivered message does not bring its bubble back.
    const late = reduce(messageFirst, { type: 'outbox', conversationId: 10, pending: [pending('a', 'sending'), pending('b', 'queued')] });
    expect(late.open!.pending.map((p) => p.clientMsgId)).toEqual(['b']);
  });

  it('an outbox event before the first read wins over the outbox that read brings', () => {
    const state = run(
      initialStore,
      { type: 'open', conversationId: 10 },
      { type: 'outbox', conversationId: 10, pending: [] },
      { type: 'opened', conversationId: 10, messages: [], pending: [pending('a', 'sending')] },
    );
    expect(state.open!.pending).toEqual([]);
  });
});

describe('presence', () => {
  it('overrides the summaries for display, and an unchanged event changes nothing', () => {
    const group = conv(10, { kind: 'group', title: 'Team', members: [member(ME, true), member(2, false), member(3, true)] });
    let state = reduce(initialStore, { type: 'conversations', conversations: [group] });
    expect(groupCountText(state.conversations[0], ME, state.presence)).toBe('2/3');
    state = reduce(state, { type: 'presence', userId: 2, online: true, lastSeen: null });
    expect(groupCountText(state.conversations[0], ME, state.presence)).toBe('3/3');
    state = reduce(state, { type: 'presence', userId: 3, online: false, lastSeen: 4000 });
    expect(presenceText(state.conversations[0], ME, { state: 'reconnecting', attempt: 1, retryInMs: 1000, lastError: '' }, state.presence))
      .toBe('2 of 3 online (last known)');
    expect(reduce(state, { type: 'presence', userId: 3, online: false, lastSeen: 4000 })).toBe(state);
    // The list itself is untouched by presence.
    expect(state.conversations[0]).toBe(group);
  });
});

describe('events lost on the way (lagged)', () => {
  it('the list read again replaces it and drops the presence heard so far; the open outbox read again wins', () => {
    let state = reduce(opened(), { type: 'presence', userId: 11, online: true, lastSeen: null });
    state = reduce(state, { type: 'outbox', conversationId: 10, pending: [pending('a', 'sending')] });
    state = reduce(state, { type: 'reread', conversations: [conv(10), conv(20, { title: 'renamed' }), conv(30)] });
    expect(state.presence).toEqual({});
    expect(state.conversations.find((c) => c.id === 20)!.title).toBe('renamed');
    state = reduce(state, { type: 'opened', conversationId: 10, messages: [msg(10, 3), msg(10, 4)], pending: [], reread: true });
    expect(state.open!.pending).toEqual([]);
    expect(seqs(state)).toEqual([1, 2, 3, 4]);
  });
});

describe('sign-out', () => {
  it('drops everything', () => {
    expect(reduce(opened(), { type: 'reset' })).toBe(initialStore);
  });
});

describe('deepEqual', () => {
  it('compares JSON values', () => {
    expect(deepEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
    expect(deepEqual({ r: { '👍': [1] } }, { r: { '👍': [2] } })).toBe(false);
  });
});

describe('the window of loaded messages', () => {
  const many = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(10, from + i));

  it('trim keeps the newest WINDOW messages; older pages bring the others back', () => {
    const loaded = run(opened(), { type: 'older', conversationId: 10, messages: many(-WINDOW - 99, 0) });
    expect(loaded.open!.messages.length).toBe(WINDOW + 103);
    const trimmed = reduce(loaded, { type: 'trim', conversationId: 10 });
    expect(seqs(trimmed)).toEqual(seqs(loaded).slice(-WINDOW));
    expect(trimmed.open!.messages.at(-1)).toBe(loaded.open!.messages.at(-1));
    expect(trimmed.conversations).toBe(loaded.conversations);
    // Scrolling up again: the page before the oldest kept comes back in front.
    const oldest = trimmed.open!.messages[0].seq;
    const again = reduce(trimmed, { type: 'older', conversationId: 10, messages: many(oldest - 50, oldest - 1) });
    expect(seqs(again)).toEqual(seqs(loaded).slice(-WINDOW - 50));
  });

  it('trim with no more than WINDOW loaded, or for another conversation, changes nothing', () => {
    const state = opened();
    expect(reduce(state, { type: 'trim', conversationId: 10 })).toBe(state);
    const loaded = run(state, { type: 'older', conversationId: 10, messages: many(-WINDOW, 0) });
    expect(reduce(loaded, { type: 'trim', conversationId: 20 })).toBe(loaded);
  });
});
