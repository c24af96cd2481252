// Typing, reactions, edits, deletes, pins, read cursors and the conversation seq.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, connectReady, nextEvent, expectNoEvent, emitAck, emitOk, send,
  assertErrorAck, assertRecentMs, friendPair, history, takeAll, drain, getConversation, sortIds,
} from './helpers.mjs';

const ctx = useServer();

async function convFromList(user, id) {
  const res = await api(ctx.url, 'GET', '/api/messages/conversations', undefined, user.token);
  assert.equal(res.status, 200);
  const c = res.body.conversations.find((x) => x.id === id);
  assert.ok(c, `conversation ${id} in the list`);
  return c;
}

/** A fresh pair with one socket each (a also gets a second device). */
async function setup() {
  const { a, b, conv } = await friendPair(ctx.url);
  const sa = await connectReady(ctx.url, a);
  const sb = await connectReady(ctx.url, b);
  return { a, b, conv, sa, sb };
}

describe('typing', () => {
  it('userTyping is relayed to the other member with userId and username; ack {success:true}', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const ack = await emitAck(sa, 'userTyping', { conversationId: conv.id, isTyping: true });
    assert.equal(ack.success, true, JSON.stringify(ack));
    assert.notEqual(ack.dropped, true);
    assert.deepEqual(await nextEvent(sb, 'userTyping'),
      { conversationId: conv.id, userId: a.user.id, username: a.user.username, isTyping: true });
    await emitOk(sb, 'userTyping', { conversationId: conv.id, isTyping: false });
    assert.deepEqual(await nextEvent(sa, 'userTyping'),
      { conversationId: conv.id, userId: b.user.id, username: b.user.username, isTyping: false });
    await expectNoEvent(sa, 'userTyping', 200, { filter: (e) => e.userId === a.user.id });
    // typing is not stored
    assert.deepEqual((await history(ctx.url, a, conv.id)).messages, []);
    assert.equal((await getConversation(ctx.url, a, conv.id)).lastSeq, 0);
    sa.close();
    sb.close();
  });

  it('typing: bad payloads → invalid_payload; a non-member → not_found', async () => {
    const { conv, sa, sb } = await setup();
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    assertErrorAck(assert, await emitAck(sa, 'userTyping', { conversationId: conv.id }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'userTyping', { conversationId: conv.id, isTyping: 'yes' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'userTyping', 'typing'), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sc, 'userTyping', { conversationId: conv.id, isTyping: true }), 'not_found');
    await expectNoEvent(sb, 'userTyping', 300);
    sa.close();
    sb.close();
    sc.close();
  });
});

describe('reactions', () => {
  it('add: ack {message} with reactions; reactionAdded with the next seq; re-adding changes nothing', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'react to me');
    await nextEvent(sb, 'messageReceived');

    const ack = await emitAck(sb, 'addReaction', { messageId: m.id, emoji: '👍' });
    assert.equal(ack.success, true, JSON.stringify(ack));
    assert.equal(ack.message.id, m.id);
    assert.deepEqual(ack.message.reactions, { '👍': [b.user.id] });
    assert.equal(ack.message.seq, 1);
    assert.equal(ack.message.updatedSeq, 2);
    assert.equal(ack.message.content, 'react to me');
    assert.deepEqual(await nextEvent(sa, 'reactionAdded'),
      { conversationId: conv.id, messageId: m.id, seq: 2, userId: b.user.id, emoji: '👍' });

    // adding the same again: success, unchanged message, no event, no seq
    const again = await emitAck(sb, 'addReaction', { messageId: m.id, emoji: '👍' });
    assert.equal(again.success, true, JSON.stringify(again));
    assert.deepEqual(again.message, ack.message);
    await expectNoEvent(sa, 'reactionAdded', 300, { filter: (e) => e.userId === b.user.id });
    assert.equal((await getConversation(ctx.url, a, conv.id)).lastSeq, 2);

    // a second user on the same emoji, and another emoji
    const a2 = await emitOk(sa, 'addReaction', { messageId: m.id, emoji: '👍' });
    assert.deepEqual(Object.keys(a2.message.reactions), ['👍']);
    assert.deepEqual(sortIds(a2.message.reactions['👍']), sortIds([a.user.id, b.user.id]));
    assert.equal(a2.message.updatedSeq, 3);
    assert.deepEqual(await nextEvent(sb, 'reactionAdded', { filter: (e) => e.userId === a.user.id }),
      { conversationId: conv.id, messageId: m.id, seq: 3, userId: a.user.id, emoji: '👍' });
    const heart = await emitOk(sb, 'addReaction', { messageId: m.id, emoji: '❤️' });
    assert.deepEqual(heart.message.reactions['❤️'], [b.user.id]);
    assert.equal(heart.message.updatedSeq, 4);
    assert.equal((await nextEvent(sa, 'reactionAdded', { filter: (e) => e.userId === b.user.id && e.emoji === '❤️' })).seq, 4);

    // history shows the current state
    const h = await history(ctx.url, a, conv.id);
    assert.deepEqual(h.messages[0], heart.message);
    sa.close();
    sb.close();
  });

  it('ZWJ sequences, skin tones, flags and keycaps are single emoji', async () => {
    const { a, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'emoji test');
    const emojis = ['👨‍👩‍👧‍👦', '🏳️‍🌈', '👍🏽', '🇫🇷', '🧑🏿‍💻', '😀'];
    let seq = m.seq;
    for (const emoji of emojis) {
      const ack = await emitAck(sa, 'addReaction', { messageId: m.id, emoji });
      assert.equal(ack.success, true, `${emoji}: ${JSON.stringify(ack)}`);
      seq += 1;
      assert.deepEqual(ack.message.reactions[emoji], [a.user.id], `${emoji} stored as is`);
      const ev = await nextEvent(sb, 'reactionAdded');
      assert.equal(ev.emoji, emoji);
      assert.equal(ev.seq, seq);
    }
    const h = await history(ctx.url, a, conv.id);
    assert.deepEqual(Object.keys(h.messages[0].reactions).sort(), [...emojis].sort());
    sa.close();
    sb.close();
  });

  it('invalid emoji are refused with invalid_payload and change nothing', async () => {
    const { a, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'no letters please');
    await nextEvent(sb, 'messageReceived');
    for (const emoji of ['ab', 'a', '1', ' ', '', '!', '👍👍', '👍 ', 'é', 12]) {
      const ack = await emitAck(sb, 'addReaction', { messageId: m.id, emoji });
      assertErrorAck(assert, ack, 'invalid_payload');
    }
    assertErrorAck(assert, await emitAck(sb, 'addReaction', { messageId: m.id }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sb, 'addReaction', { emoji: '👍' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sb, 'addReaction', '👍'), 'invalid_payload');
    await expectNoEvent(sa, 'reactionAdded', 300);
    assert.equal((await getConversation(ctx.url, a, conv.id)).lastSeq, 1);
    sa.close();
    sb.close();
  });

  it('remove: ack {message}; reactionRemoved with the next seq; removing one you lack changes nothing', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'remove test');
    await emitOk(sa, 'addReaction', { messageId: m.id, emoji: '🎉' });
    await emitOk(sb, 'addReaction', { messageId: m.id, emoji: '🎉' });
    drain(sa);
    drain(sb);

    const ack = await emitAck(sb, 'removeReaction', { messageId: m.id, emoji: '🎉' });
    assert.equal(ack.success, true, JSON.stringify(ack));
    assert.deepEqual(ack.message.reactions, { '🎉': [a.user.id] });
    assert.equal(ack.message.updatedSeq, 4);
    assert.deepEqual(await nextEvent(sa, 'reactionRemoved', { filter: (e) => e.userId === b.user.id }),
      { conversationId: conv.id, messageId: m.id, seq: 4, userId: b.user.id, emoji: '🎉' });

    const none = await emitAck(sb, 'removeReaction', { messageId: m.id, emoji: '🎉' });
    assert.equal(none.success, true, JSON.stringify(none));
    assert.deepEqual(none.message, ack.message);
    const never = await emitAck(sb, 'removeReaction', { messageId: m.id, emoji: '🚀' });
    assert.equal(never.success, true, JSON.stringify(never));
    assert.deepEqual(never.message, ack.message);
    await expectNoEvent(sa, 'reactionRemoved', 300, { filter: (e) => e.userId === b.user.id });
    assert.equal((await getConversation(ctx.url, a, conv.id)).lastSeq, 4);

    // the last reactor leaves: the emoji key disappears
    const last = await emitOk(sa, 'removeReaction', { messageId: m.id, emoji: '🎉' });
    assert.deepEqual(last.message.reactions, {});
    assert.equal(last.message.updatedSeq, 5);
    assert.deepEqual(await nextEvent(sb, 'reactionRemoved', { filter: (e) => e.userId === a.user.id }),
      { conversationId: conv.id, messageId: m.id, seq: 5, userId: a.user.id, emoji: '🎉' });
    sa.close();
    sb.close();
  });

  it('reacting in a conversation you are not in → not_found; unknown message → not_found', async () => {
    const { conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'private');
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    assertErrorAck(assert, await emitAck(sc, 'addReaction', { messageId: m.id, emoji: '👍' }), 'not_found');
    assertErrorAck(assert, await emitAck(sc, 'removeReaction', { messageId: m.id, emoji: '👍' }), 'not_found');
    assertErrorAck(assert, await emitAck(sa, 'addReaction', { messageId: 99999999, emoji: '👍' }), 'not_found');
    await expectNoEvent(sb, 'reactionAdded', 300);
    sa.close();
    sb.close();
    sc.close();
  });

  it('at most 50 distinct emoji per message', async () => {
    const { a, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'many reactions');
    // 51 distinct single-codepoint emoji: U+1F600..U+1F632
    const emojis = Array.from({ length: 51 }, (_, i) => String.fromCodePoint(0x1f600 + i));
    for (let i = 0; i < 50; i++) {
      const ack = await emitAck(i % 2 ? sa : sb, 'addReaction', { messageId: m.id, emoji: emojis[i] });
      assert.equal(ack.success, true, `emoji #${i}: ${JSON.stringify(ack)}`);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 600)); // stay under the reactions rate limit
    }
    const ack = await emitAck(sb, 'addReaction', { messageId: m.id, emoji: emojis[50] });
    assert.equal(ack.success, false, `the 51st distinct emoji must be refused: ${JSON.stringify(ack)}`);
    assert.ok(['invalid_payload', 'too_large', 'conflict'].includes(ack.error.code), JSON.stringify(ack));
    // an existing emoji can still be added by another user
    const more = await emitAck(sa, 'addReaction', { messageId: m.id, emoji: emojis[0] });
    assert.equal(more.success, true, JSON.stringify(more));
    assert.equal(Object.keys(more.message.reactions).length, 50);
    assert.ok(a);
    sa.close();
    sb.close();
  });
});

describe('edit and delete', () => {
  it('edit by the sender: ack {message}; messageEdited to members; history shows the new text', async () => {
    const { a, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'tpyo');
    await nextEvent(sb, 'messageReceived');
    const ack = await emitAck(sa, 'editMessage', { messageId: m.id, content: '  typo fixed  ' });
    assert.equal(ack.success, true, JSON.stringify(ack));
    const e = ack.message;
    assert.equal(e.id, m.id);
    assert.equal(e.content, 'typo fixed');
    assert.equal(e.seq, 1);
    assert.equal(e.updatedSeq, 2);
    assertRecentMs(assert, e.editedAt, 'editedAt');
    assert.equal(e.timestamp, m.timestamp, 'the original timestamp stays');
    assert.equal(e.deletedAt, null);
    assert.deepEqual(await nextEvent(sb, 'messageEdited'),
      { conversationId: conv.id, messageId: m.id, seq: 2, content: 'typo fixed', editedAt: e.editedAt });
    assert.deepEqual((await history(ctx.url, a, conv.id)).messages, [e]);
    // lastMessage is the message in its current state too
    assert.deepEqual((await convFromList(a, conv.id)).lastMessage, e);
    assert.deepEqual((await getConversation(ctx.url, a, conv.id)).lastMessage, e);
    sa.close();
    sb.close();
  });

  it('editing another user\'s message → forbidden; bad content → invalid_payload / too_large; non-member → not_found', async () => {
    const { a, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'mine');
    await nextEvent(sb, 'messageReceived');
    assertErrorAck(assert, await emitAck(sb, 'editMessage', { messageId: m.id, content: 'hijacked' }), 'forbidden');
    assertErrorAck(assert, await emitAck(sa, 'editMessage', { messageId: m.id, content: '   ' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'editMessage', { messageId: m.id, content: 'z'.repeat(4001) }), 'too_large');
    assertErrorAck(assert, await emitAck(sa, 'editMessage', { messageId: m.id }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'editMessage', { messageId: 99999999, content: 'x' }), 'not_found');
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    assertErrorAck(assert, await emitAck(sc, 'editMessage', { messageId: m.id, content: 'x' }), 'not_found');
    await expectNoEvent(sa, 'messageEdited', 300);
    await expectNoEvent(sb, 'messageEdited', 0);
    const h = await history(ctx.url, a, conv.id);
    assert.deepEqual(h.messages, [m]);
    sa.close();
    sb.close();
    sc.close();
  });

  it('delete by the sender: tombstone (content null, reactions cleared, unpinned); messageDeleted; deleting again changes nothing', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'secret to erase');
    await emitOk(sb, 'addReaction', { messageId: m.id, emoji: '😮' });
    await emitOk(sb, 'pinMessage', { messageId: m.id, pinned: true });
    await nextEvent(sa, 'reactionAdded', { filter: (e) => e.seq === 2 });
    await nextEvent(sa, 'messagePinned', { filter: (e) => e.seq === 3 });
    drain(sb);

    assertErrorAck(assert, await emitAck(sb, 'deleteMessage', { messageId: m.id }), 'forbidden');
    await expectNoEvent(sa, 'messageDeleted', 200);

    const ack = await emitAck(sa, 'deleteMessage', { messageId: m.id });
    assert.equal(ack.success, true, JSON.stringify(ack));
    const d = ack.message;
    assert.equal(d.id, m.id);
    assert.equal(d.content, null);
    assertRecentMs(assert, d.deletedAt, 'deletedAt');
    assert.deepEqual(d.reactions, {});
    assert.equal(d.pinned, false);
    assert.equal(d.pinnedBy, null);
    assert.equal(d.seq, 1);
    assert.equal(d.updatedSeq, 4);
    assert.equal(d.senderId, a.user.id);
    assert.deepEqual(await nextEvent(sb, 'messageDeleted'),
      { conversationId: conv.id, messageId: m.id, seq: 4, deletedAt: d.deletedAt });

    const again = await emitAck(sa, 'deleteMessage', { messageId: m.id });
    assert.equal(again.success, true, JSON.stringify(again));
    assert.deepEqual(again.message, d);
    await expectNoEvent(sb, 'messageDeleted', 300);
    assert.equal((await getConversation(ctx.url, b, conv.id)).lastSeq, 4);

    // the tombstone is what history and pins show
    const h = await history(ctx.url, b, conv.id);
    assert.deepEqual(h.messages, [d]);
    const pins = await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/pins`, undefined, b.token);
    assert.deepEqual(pins.body, { messages: [] });

    // a deleted message can't be edited, reacted to or pinned
    assertErrorAck(assert, await emitAck(sa, 'editMessage', { messageId: m.id, content: 'back' }), 'forbidden');
    const pin = await emitAck(sb, 'pinMessage', { messageId: m.id, pinned: true });
    assert.equal(pin.success, false, `pinning a deleted message must be refused: ${JSON.stringify(pin)}`);
    await expectNoEvent(sa, 'messagePinned', 200);
    assert.equal((await getConversation(ctx.url, b, conv.id)).lastSeq, 4);
    sa.close();
    sb.close();
  });

  it('deleteMessage by a non-member → not_found; bad payload → invalid_payload', async () => {
    const { conv, sa, sb } = await setup();
    const m = await send(sa, conv.id, 'x');
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    assertErrorAck(assert, await emitAck(sc, 'deleteMessage', { messageId: m.id }), 'not_found');
    assertErrorAck(assert, await emitAck(sa, 'deleteMessage', {}), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'deleteMessage', { messageId: 'one' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'deleteMessage', 5), 'invalid_payload');
    sa.close();
    sb.close();
    sc.close();
  });
});

describe('pins', () => {
  it('any member pins/unpins; messagePinned; GET pins most recently pinned first', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const m1 = await send(sa, conv.id, 'first');
    const m2 = await send(sa, conv.id, 'second');
    drain(sb);

    const p1 = await emitAck(sb, 'pinMessage', { messageId: m1.id, pinned: true });
    assert.equal(p1.success, true, JSON.stringify(p1));
    assert.equal(p1.message.pinned, true);
    assert.equal(p1.message.pinnedBy, b.user.id);
    assert.equal(p1.message.updatedSeq, 3);
    assert.deepEqual(await nextEvent(sa, 'messagePinned'),
      { conversationId: conv.id, messageId: m1.id, seq: 3, pinned: true, pinnedBy: b.user.id });

    await new Promise((r) => setTimeout(r, 20));
    const p2 = await emitOk(sa, 'pinMessage', { messageId: m2.id, pinned: true });
    assert.equal(p2.message.pinnedBy, a.user.id);
    assert.equal(p2.message.updatedSeq, 4);
    assert.deepEqual(await nextEvent(sb, 'messagePinned', { filter: (e) => e.seq === 4 }),
      { conversationId: conv.id, messageId: m2.id, seq: 4, pinned: true, pinnedBy: a.user.id });

    let pins = await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/pins`, undefined, a.token);
    assert.equal(pins.status, 200);
    assert.deepEqual(pins.body, { messages: [p2.message, p1.message] });

    const u = await emitAck(sa, 'pinMessage', { messageId: m1.id, pinned: false });
    assert.equal(u.success, true, JSON.stringify(u));
    assert.equal(u.message.pinned, false);
    assert.equal(u.message.pinnedBy, null);
    assert.equal(u.message.updatedSeq, 5);
    const ev = await nextEvent(sb, 'messagePinned', { filter: (e) => e.seq === 5 });
    assert.equal(ev.conversationId, conv.id);
    assert.equal(ev.messageId, m1.id);
    assert.equal(ev.seq, 5);
    assert.equal(ev.pinned, false);

    pins = await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/pins`, undefined, b.token);
    assert.deepEqual(pins.body, { messages: [p2.message] });
    const h = await history(ctx.url, b, conv.id);
    assert.deepEqual(h.messages, [p2.message, u.message]);

    assertErrorAck(assert, await emitAck(sa, 'pinMessage', { messageId: m1.id }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'pinMessage', { messageId: m1.id, pinned: 'yes' }), 'invalid_payload');
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    assertErrorAck(assert, await emitAck(sc, 'pinMessage', { messageId: m1.id, pinned: true }), 'not_found');
    sa.close();
    sb.close();
    sc.close();
  });
});

describe('read cursors', () => {
  it('markRead moves forward only, capped at lastSeq; messagesRead to others; unreadCount and lastReadSeq follow', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const m1 = await send(sa, conv.id, 'one');
    const m2 = await send(sa, conv.id, 'two');
    const m3 = await send(sa, conv.id, 'three');
    const mine = await send(sb, conv.id, 'b writes too');
    drain(sa);
    drain(sb);

    let cb = await convFromList(b, conv.id);
    assert.equal(cb.unreadCount, 3, 'b has three unread messages of a');
    assert.equal(cb.lastSeq, 4);
    let ca = await convFromList(a, conv.id);
    assert.equal(ca.unreadCount, 1, 'a has b\'s message unread');

    const ack = await emitAck(sb, 'markRead', { conversationId: conv.id, seq: m2.seq });
    assert.deepEqual(ack, { success: true, seq: m2.seq });
    assert.deepEqual(await nextEvent(sa, 'messagesRead'), { conversationId: conv.id, userId: b.user.id, seq: m2.seq });
    cb = await convFromList(b, conv.id);
    assert.equal(cb.unreadCount, 1);
    assert.equal(cb.members.find((x) => x.id === b.user.id).lastReadSeq, m2.seq);
    assert.equal((await getConversation(ctx.url, a, conv.id)).members.find((x) => x.id === b.user.id).lastReadSeq, m2.seq);

    // backwards: the cursor stays
    const back = await emitAck(sb, 'markRead', { conversationId: conv.id, seq: m1.seq });
    assert.deepEqual(back, { success: true, seq: m2.seq });
    assert.equal((await convFromList(b, conv.id)).unreadCount, 1);

    // beyond the end: capped at lastSeq
    const far = await emitAck(sb, 'markRead', { conversationId: conv.id, seq: 1000 });
    assert.deepEqual(far, { success: true, seq: 4 });
    drain(sa, 'messagesRead');
    cb = await convFromList(b, conv.id);
    assert.equal(cb.unreadCount, 0);
    assert.equal(cb.members.find((x) => x.id === b.user.id).lastReadSeq, 4);
    assert.ok(m3 && mine);

    // a deleted message does not count as unread
    const m5 = await send(sa, conv.id, 'will be deleted');
    const m6 = await send(sa, conv.id, 'stays');
    await emitOk(sa, 'deleteMessage', { messageId: m5.id });
    cb = await convFromList(b, conv.id);
    assert.equal(cb.unreadCount, 1);
    assert.equal(cb.lastSeq, 7);
    assert.ok(m6);

    // errors
    assertErrorAck(assert, await emitAck(sb, 'markRead', { conversationId: conv.id }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sb, 'markRead', { conversationId: conv.id, seq: 'x' }), 'invalid_payload');
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    assertErrorAck(assert, await emitAck(sc, 'markRead', { conversationId: conv.id, seq: 1 }), 'not_found');
    assert.ok(a);
    sa.close();
    sb.close();
    sc.close();
  });
});

describe('seq', () => {
  it('every change takes the next seq of the conversation: 1, 2, 3, … with no gaps', async () => {
    const { a, b, conv, sa, sb } = await setup();
    const seqs = [];
    const evSeqs = [];
    const note = (s) => seqs.push(s);

    const m1 = await send(sa, conv.id, 'one');
    note(m1.seq);
    const m2 = await send(sb, conv.id, 'two');
    note(m2.seq);
    note((await emitOk(sb, 'addReaction', { messageId: m1.id, emoji: '👍' })).message.updatedSeq);
    note((await emitOk(sa, 'editMessage', { messageId: m1.id, content: 'one, edited' })).message.updatedSeq);
    note((await emitOk(sa, 'pinMessage', { messageId: m2.id, pinned: true })).message.updatedSeq);
    note((await emitOk(sb, 'removeReaction', { messageId: m1.id, emoji: '👍' })).message.updatedSeq);
    const m3 = await send(sa, conv.id, 'three');
    note(m3.seq);
    note((await emitOk(sb, 'pinMessage', { messageId: m2.id, pinned: false })).message.updatedSeq);
    note((await emitOk(sb, 'deleteMessage', { messageId: m2.id })).message.updatedSeq);
    // things that are not changes take no seq
    await emitOk(sa, 'userTyping', { conversationId: conv.id, isTyping: true });
    await emitOk(sa, 'markRead', { conversationId: conv.id, seq: 1 });
    const m4 = await send(sb, conv.id, 'four');
    note(m4.seq);

    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // the events b saw carry the same numbers, in order
    await new Promise((r) => setTimeout(r, 400));
    for (const ev of ['messageReceived', 'reactionAdded', 'reactionRemoved', 'messageEdited', 'messagePinned', 'messageDeleted']) {
      for (const p of takeAll(sb, ev)) evSeqs.push(p.seq);
      for (const p of takeAll(sa, ev)) evSeqs.push(p.seq);
    }
    // a saw m2, m4 (from b) and the reaction/unpin/delete by b; b saw m1, m3 and a's edit and pin
    // (deduplicated: whether the actor's own sockets also get the change events is not specified)
    assert.deepEqual(sortIds(new Set(evSeqs)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    const ca = await getConversation(ctx.url, a, conv.id);
    assert.equal(ca.lastSeq, 10);
    const h = await history(ctx.url, b, conv.id, '?after=0');
    assert.deepEqual(h.messages.map((x) => [x.seq, x.updatedSeq]), [[1, 6], [2, 9], [7, 7], [10, 10]]);
    sa.close();
    sb.close();
  });
});
