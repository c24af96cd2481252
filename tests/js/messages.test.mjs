// Conversations and messages: sendMessage, broadcast rules, idempotency, REST fallback,
// history paging, membership and validation.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, connectReady, nextEvent, expectNoEvent, emitAck, send, assertErrorAck,
  assertRestError, assertMessageShape, assertRecentMs, makeFriends, directConversation, friendPair,
  history, randomUUID, receiveIds, getConversation,
} from './helpers.mjs';

// more messages per second than the default, for the paging tests
const ctx = useServer({ env: { CONFAB_RATE_LIMITS: 'register=1000:1000,login=1000:1000,messages=1000:1000' } });

describe('conversations', () => {
  it('direct conversation: 201 then 200 with the same one; conversationCreated to both; shape', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    const sa = await connectReady(ctx.url, a);
    const sb = await connectReady(ctx.url, b);

    const res = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id] }, a.token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const c = res.body.conversation;
    assert.deepEqual(Object.keys(c).sort(),
      ['createdAt', 'id', 'kind', 'lastMessage', 'lastSeq', 'members', 'title', 'unreadCount'].sort());
    assert.ok(Number.isInteger(c.id));
    assert.equal(c.kind, 'direct');
    assert.equal(c.lastMessage, null);
    assert.equal(c.unreadCount, 0);
    assert.equal(c.lastSeq, 0);
    assertRecentMs(assert, c.createdAt, 'createdAt');
    const members = [...c.members].sort((x, y) => x.id - y.id);
    const expected = [a, b].sort((x, y) => x.user.id - y.user.id);
    assert.equal(members.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(Object.keys(members[i]).sort(), ['displayName', 'id', 'lastReadSeq', 'online', 'username']);
      assert.equal(members[i].id, expected[i].user.id);
      assert.equal(members[i].username, expected[i].user.username);
      assert.equal(members[i].displayName, expected[i].user.displayName);
      assert.equal(members[i].online, true);
      assert.equal(members[i].lastReadSeq, 0);
    }

    const evA = await nextEvent(sa, 'conversationCreated');
    const evB = await nextEvent(sb, 'conversationCreated');
    assert.equal(evA.conversation.id, c.id);
    assert.equal(evB.conversation.id, c.id);
    assert.equal(evB.conversation.kind, 'direct');

    // again, from either side: 200 with the same conversation, no new event
    const again = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id] }, a.token);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.conversation.id, c.id);
    const fromB = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [a.user.id] }, b.token);
    assert.equal(fromB.status, 200, JSON.stringify(fromB.body));
    assert.equal(fromB.body.conversation.id, c.id);

    // GET one, GET list
    assert.equal((await getConversation(ctx.url, b, c.id)).id, c.id);
    const list = await api(ctx.url, 'GET', '/api/messages/conversations', undefined, a.token);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.conversations.map((x) => x.id), [c.id]);
    sa.close();
    sb.close();
  });

  it('group conversation: title required, members must be friends; 201 and conversationCreated to everyone', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const c = await register(ctx.url);
    const stranger = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    await makeFriends(ctx.url, a, c);
    const sb = await connectReady(ctx.url, b);
    const sc = await connectReady(ctx.url, c);

    assertRestError(assert, await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, c.user.id] }, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, c.user.id], title: '' }, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, c.user.id], title: 't'.repeat(101) }, a.token), 413, 'too_large');
    const withStranger = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, stranger.user.id], title: 'x' }, a.token);
    assert.ok(withStranger.status >= 400 && withStranger.status < 500, `a non-friend member must be refused, got ${withStranger.status}`);

    const res = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, c.user.id], title: 'Trio' }, a.token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.conversation.kind, 'group');
    assert.equal(res.body.conversation.title, 'Trio');
    assert.deepEqual(res.body.conversation.members.map((m) => m.id).sort((x, y) => x - y),
      [a.user.id, b.user.id, c.user.id].sort((x, y) => x - y));
    assert.equal((await nextEvent(sb, 'conversationCreated')).conversation.id, res.body.conversation.id);
    assert.equal((await nextEvent(sc, 'conversationCreated')).conversation.id, res.body.conversation.id);

    // a message in a group reaches every other member
    const sa = await connectReady(ctx.url, a);
    const m = await send(sa, res.body.conversation.id, 'hello group');
    assert.deepEqual(await nextEvent(sb, 'messageReceived'), m);
    assert.deepEqual(await nextEvent(sc, 'messageReceived'), m);
    sa.close();
    sb.close();
    sc.close();
  });

  it('a direct conversation needs a friend; a stranger cannot see it (404)', async () => {
    const a = await register(ctx.url);
    const stranger = await register(ctx.url);
    const notFriend = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [stranger.user.id] }, a.token);
    assert.ok(notFriend.status >= 400 && notFriend.status < 500, `got ${notFriend.status}`);
    const { a: x, conv } = await friendPair(ctx.url);
    assert.ok(x);
    assertRestError(assert, await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}`, undefined, stranger.token), 404, 'not_found');
    assertRestError(assert, await api(ctx.url, 'GET', '/api/messages/conversations/99999999', undefined, stranger.token), 404, 'not_found');
    assertRestError(assert, await api(ctx.url, 'GET', '/api/messages/conversations'), 401, 'unauthorized');
  });
});

describe('sendMessage', () => {
  let a, b, conv, a1, a2, b1;
  before(async () => {
    ({ a, b, conv } = await friendPair(ctx.url));
    a1 = await connectReady(ctx.url, a);
    a2 = await connectReady(ctx.url, a);
    b1 = await connectReady(ctx.url, b);
  });
  after(() => {
    a1?.close();
    a2?.close();
    b1?.close();
  });

  it('ack carries the stored message; messageReceived to the other user and the sender\'s other device only', async () => {
    const clientMsgId = randomUUID();
    const before = Date.now();
    const ack = await emitAck(a1, 'sendMessage', { conversationId: conv.id, content: 'hello bob', clientMsgId });
    assert.equal(ack.success, true, JSON.stringify(ack));
    const m = ack.message;
    assertMessageShape(assert, m);
    assert.equal(m.conversationId, conv.id);
    assert.equal(m.seq, 1);
    assert.equal(m.updatedSeq, 1);
    assert.equal(m.senderId, a.user.id);
    assert.equal(m.senderUsername, a.user.username);
    assert.equal(m.type, 'text');
    assert.equal(m.content, 'hello bob');
    assert.equal(m.clientMsgId, clientMsgId);
    assertRecentMs(assert, m.timestamp);
    assert.ok(m.timestamp >= before - 1000 && m.timestamp <= Date.now() + 1000);
    assert.equal(m.editedAt, null);
    assert.equal(m.deletedAt, null);
    assert.equal(m.pinned, false);
    assert.equal(m.pinnedBy, null);
    assert.deepEqual(m.reactions, {});
    assert.equal(Object.hasOwn(m, 'call'), false, 'a text message has no call field');

    assert.deepEqual(await nextEvent(b1, 'messageReceived'), m);
    assert.deepEqual(await nextEvent(a2, 'messageReceived'), m);
    await expectNoEvent(a1, 'messageReceived', 300);

    // it is in history, identical
    const h = await history(ctx.url, b, conv.id);
    assert.deepEqual(h.messages, [m]);
    assert.equal(h.hasMore, false);
  });

  it('trims surrounding whitespace and stores the trimmed text; tab/CR/LF allowed inside', async () => {
    const m = await send(a1, conv.id, '  \n  two\tlines\r\nhere \t ');
    assert.equal(m.content, 'two\tlines\r\nhere');
    assert.equal((await nextEvent(b1, 'messageReceived')).content, 'two\tlines\r\nhere');
    await receiveIds(a2, [m.id]);
  });

  it('a spoofed senderId/userId is ignored and recipientId does not choose the recipients', async () => {
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    const ack = await emitAck(a1, 'sendMessage', {
      conversationId: conv.id, content: 'spoof', clientMsgId: randomUUID(),
      senderId: b.user.id, userId: b.user.id, senderUsername: b.user.username, recipientId: c.user.id, type: 'text',
    });
    assert.equal(ack.success, true, JSON.stringify(ack));
    assert.equal(ack.message.senderId, a.user.id);
    assert.equal(ack.message.senderUsername, a.user.username);
    const ev = await nextEvent(b1, 'messageReceived');
    assert.equal(ev.id, ack.message.id);
    assert.equal(ev.senderId, a.user.id);
    await receiveIds(a2, [ack.message.id]);
    await expectNoEvent(sc, 'messageReceived', 300);
    sc.close();
  });

  it('a repeated clientMsgId returns the same stored message and broadcasts nothing', async () => {
    const clientMsgId = randomUUID();
    const first = await send(a1, conv.id, 'only once', clientMsgId);
    await nextEvent(b1, 'messageReceived', { filter: (m) => m.id === first.id });
    await nextEvent(a2, 'messageReceived', { filter: (m) => m.id === first.id });

    // a retry, even from another device and with other content, gets the stored one back
    const again = await emitAck(a2, 'sendMessage', { conversationId: conv.id, content: 'only once', clientMsgId });
    assert.equal(again.success, true, JSON.stringify(again));
    assert.deepEqual(again.message, first);
    const other = await emitAck(a1, 'sendMessage', { conversationId: conv.id, content: 'different text', clientMsgId });
    assert.equal(other.success, true, JSON.stringify(other));
    assert.deepEqual(other.message, first);

    await expectNoEvent(b1, 'messageReceived', 400);
    await expectNoEvent(a1, 'messageReceived', 0);
    await expectNoEvent(a2, 'messageReceived', 0);

    const h = await history(ctx.url, a, conv.id, `?after=${first.seq - 1}`);
    assert.deepEqual(h.messages.map((m) => m.clientMsgId), [clientMsgId], 'stored once');
    const cv = await getConversation(ctx.url, a, conv.id);
    assert.equal(cv.lastSeq, first.seq, 'a retry takes no seq');
  });

  it('the same clientMsgId used by the other member is a new message of theirs', async () => {
    // "A clientMsgId *you* already used in that conversation returns the stored message"
    const clientMsgId = randomUUID();
    const mine = await send(a1, conv.id, 'from a', clientMsgId);
    const theirs = await emitAck(b1, 'sendMessage', { conversationId: conv.id, content: 'from b', clientMsgId });
    assert.equal(theirs.success, true, JSON.stringify(theirs));
    assert.notEqual(theirs.message.id, mine.id);
    assert.equal(theirs.message.senderId, b.user.id);
    assert.equal(theirs.message.content, 'from b');
    assert.equal(theirs.message.seq, mine.seq + 1);
    assert.equal((await nextEvent(a1, 'messageReceived')).id, theirs.message.id);
    await receiveIds(b1, [mine.id]);
    await receiveIds(a2, [mine.id, theirs.message.id]);
  });

  it('a clientMsgId reused in another conversation → conflict', async () => {
    const c = await register(ctx.url);
    await makeFriends(ctx.url, a, c);
    const conv2 = await directConversation(ctx.url, a, c);
    const clientMsgId = randomUUID();
    const first = await send(a1, conv.id, 'first conversation', clientMsgId);
    const ack = await emitAck(a1, 'sendMessage', { conversationId: conv2.id, content: 'second', clientMsgId });
    assertErrorAck(assert, ack, 'conflict');
    const h = await history(ctx.url, a, conv2.id);
    assert.deepEqual(h.messages, []);
    await receiveIds(b1, [first.id]);
    await receiveIds(a2, [first.id]);
  });

  it('REST POST fallback: 201 {message}, broadcast to every device of every member; 200 on retry', async () => {
    const clientMsgId = randomUUID();
    const res = await api(ctx.url, 'POST', `/api/messages/conversations/${conv.id}/messages`, { content: ' via rest ', clientMsgId }, a.token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const m = res.body.message;
    assertMessageShape(assert, m);
    assert.equal(m.content, 'via rest');
    assert.equal(m.senderId, a.user.id);
    assert.equal(m.clientMsgId, clientMsgId);
    assert.equal(m.type, 'text');
    assert.deepEqual(await nextEvent(b1, 'messageReceived'), m);
    assert.deepEqual(await nextEvent(a1, 'messageReceived'), m);
    assert.deepEqual(await nextEvent(a2, 'messageReceived'), m);

    const again = await api(ctx.url, 'POST', `/api/messages/conversations/${conv.id}/messages`, { content: 'via rest', clientMsgId }, a.token);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body.message, m);
    // the socket path sees the same clientMsgId as already used
    const sock = await emitAck(a1, 'sendMessage', { conversationId: conv.id, content: 'via rest', clientMsgId });
    assert.equal(sock.success, true);
    assert.deepEqual(sock.message, m);
    await expectNoEvent(b1, 'messageReceived', 300);
    await expectNoEvent(a1, 'messageReceived', 0);
    await expectNoEvent(a2, 'messageReceived', 0);
  });

  it('REST POST fallback refusals: invalid body 400, too long 413, non-member 404, no token 401', async () => {
    const path = `/api/messages/conversations/${conv.id}/messages`;
    assertRestError(assert, await api(ctx.url, 'POST', path, { content: '   ', clientMsgId: randomUUID() }, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', path, { content: 'x' }, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', path, '{"content":', a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', path, { content: 'x'.repeat(4001), clientMsgId: randomUUID() }, a.token), 413, 'too_large');
    const stranger = await register(ctx.url);
    assertRestError(assert, await api(ctx.url, 'POST', path, { content: 'hi', clientMsgId: randomUUID() }, stranger.token), 404, 'not_found');
    assertRestError(assert, await api(ctx.url, 'POST', path, { content: 'hi', clientMsgId: randomUUID() }), 401, 'unauthorized');
    // a body above 64 KiB
    const big = await api(ctx.url, 'POST', path, { content: 'x'.repeat(70 * 1024), clientMsgId: randomUUID() }, a.token);
    assertRestError(assert, big, 413, 'too_large');
    await expectNoEvent(b1, 'messageReceived', 300);
  });

  it('a non-member gets not_found and nothing changes', async () => {
    const c = await register(ctx.url);
    const sc = await connectReady(ctx.url, c);
    const before = await getConversation(ctx.url, a, conv.id);
    const ack = await emitAck(sc, 'sendMessage', { conversationId: conv.id, content: 'intrusion', clientMsgId: randomUUID() });
    assertErrorAck(assert, ack, 'not_found');
    const none = await emitAck(sc, 'sendMessage', { conversationId: 99999999, content: 'nowhere', clientMsgId: randomUUID() });
    assertErrorAck(assert, none, 'not_found');
    await expectNoEvent(b1, 'messageReceived', 300);
    await expectNoEvent(a1, 'messageReceived', 0);
    const afterConv = await getConversation(ctx.url, a, conv.id);
    assert.equal(afterConv.lastSeq, before.lastSeq);
    assert.deepEqual(afterConv.lastMessage, before.lastMessage);
    assertRestError(assert, await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/messages`, undefined, c.token), 404, 'not_found');
    assertRestError(assert, await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/pins`, undefined, c.token), 404, 'not_found');
    sc.close();
  });

  it('content limits: empty/blank → invalid_payload, 4001 chars → too_large, 4000 chars ok, control chars refused', async () => {
    const cases = [
      [{ conversationId: conv.id, content: '', clientMsgId: randomUUID() }, 'invalid_payload'],
      [{ conversationId: conv.id, content: ' \n\t ', clientMsgId: randomUUID() }, 'invalid_payload'],
      [{ conversationId: conv.id, content: 'x'.repeat(4001), clientMsgId: randomUUID() }, 'too_large'],
      [{ conversationId: conv.id, content: 'bell\u0007', clientMsgId: randomUUID() }, 'invalid_payload'],
      [{ conversationId: conv.id, content: 'nul\u0000x', clientMsgId: randomUUID() }, 'invalid_payload'],
    ];
    for (const [payload, code] of cases) {
      assertErrorAck(assert, await emitAck(a1, 'sendMessage', payload), code);
    }
    // 4000 characters, even with whitespace around it, is fine (counted after trimming)
    const ok = await send(a1, conv.id, `  ${'y'.repeat(4000)}  `);
    assert.equal(ok.content.length, 4000);
    // 4000 characters that are not ASCII count as characters, not bytes
    const wide = await send(a1, conv.id, 'é'.repeat(4000));
    assert.equal(wide.content, 'é'.repeat(4000));
    assert.equal((await nextEvent(b1, 'messageReceived')).id, ok.id);
    assert.equal((await nextEvent(b1, 'messageReceived')).id, wide.id);
    await expectNoEvent(b1, 'messageReceived', 200);
    await receiveIds(a2, [ok.id, wide.id]);
  });

  it('malformed payloads get an invalid_payload ack, never silence', async () => {
    const bad = [
      'just a string',
      42,
      null,
      [conv.id, 'hello'],
      {},
      { conversationId: conv.id },
      { conversationId: conv.id, content: 'no client id' },
      { content: 'no conversation', clientMsgId: randomUUID() },
      { conversationId: String(conv.id) + 'x', content: 'bad id', clientMsgId: randomUUID() },
      { conversationId: conv.id, content: 17, clientMsgId: randomUUID() },
      { conversationId: conv.id, content: 'bad client id', clientMsgId: 'has spaces in it' },
      { conversationId: conv.id, content: 'empty client id', clientMsgId: '' },
      { conversationId: conv.id, content: 'bad type', clientMsgId: randomUUID(), type: 'call' },
    ];
    for (const payload of bad) {
      const ack = await emitAck(a1, 'sendMessage', payload, 3000);
      assertErrorAck(assert, ack, 'invalid_payload');
    }
    // a clientMsgId above its 64-character limit: invalid_payload or too_large (the doc allows both readings)
    const long = await emitAck(a1, 'sendMessage', { conversationId: conv.id, content: 'long client id', clientMsgId: 'a'.repeat(65) });
    assert.equal(long.success, false, JSON.stringify(long));
    assert.ok(['invalid_payload', 'too_large'].includes(long.error.code), JSON.stringify(long));
    // no payload at all, only the ack callback
    const ack = await a1.timeout(3000).emitWithAck('sendMessage');
    assertErrorAck(assert, ack, 'invalid_payload');
    await expectNoEvent(b1, 'messageReceived', 300);
    // the socket is still usable
    const m = await send(a1, conv.id, 'still alive');
    assert.equal((await nextEvent(b1, 'messageReceived')).id, m.id);
    await receiveIds(a2, [m.id]);
  });

  it('a websocket message above 64 KiB closes that connection (and only that one)', async () => {
    const a3 = await connectReady(ctx.url, a);
    const d = new Promise((resolve) => a3.once('disconnect', resolve));
    a3.emit('sendMessage', { conversationId: conv.id, content: 'x'.repeat(70 * 1024), clientMsgId: randomUUID() }, () => {});
    const reason = await Promise.race([d, new Promise((r) => setTimeout(() => r('still connected'), 5000))]);
    assert.notEqual(reason, 'still connected', 'the oversized frame must close the connection');
    assert.equal(a3.connected, false);
    await expectNoEvent(b1, 'messageReceived', 200);
    assert.equal(a1.connected, true);
    assert.equal(b1.connected, true);
  });

  it('a clientMsgId of 64 characters of [A-Za-z0-9_-] is accepted', async () => {
    const id = ('Ab_-9'.repeat(13)).slice(0, 64);
    const m = await send(a1, conv.id, 'long id', id);
    assert.equal(m.clientMsgId, id);
    await receiveIds(b1, [m.id]);
    await receiveIds(a2, [m.id]);
  });

  it('GET conversations shows lastMessage, lastSeq and most recent activity first', async () => {
    const x = await register(ctx.url);
    const y = await register(ctx.url);
    const z = await register(ctx.url);
    await makeFriends(ctx.url, x, y);
    await makeFriends(ctx.url, x, z);
    const cy = await directConversation(ctx.url, x, y);
    const cz = await directConversation(ctx.url, x, z);
    const sx = await connectReady(ctx.url, x);
    const my = await send(sx, cy.id, 'to y');
    const mz = await send(sx, cz.id, 'to z');
    let list = (await api(ctx.url, 'GET', '/api/messages/conversations', undefined, x.token)).body.conversations;
    assert.deepEqual(list.map((c) => c.id), [cz.id, cy.id]);
    assert.deepEqual(list[0].lastMessage, mz);
    assert.equal(list[0].lastSeq, 1);
    assert.equal(list[0].unreadCount, 0, 'your own messages are not unread');
    const my2 = await send(sx, cy.id, 'bump y');
    list = (await api(ctx.url, 'GET', '/api/messages/conversations', undefined, x.token)).body.conversations;
    assert.deepEqual(list.map((c) => c.id), [cy.id, cz.id]);
    assert.deepEqual(list[0].lastMessage, my2);
    assert.equal(list[0].lastSeq, 2);
    assert.ok(my.seq === 1 && my2.seq === 2);
    const ly = (await api(ctx.url, 'GET', '/api/messages/conversations', undefined, y.token)).body.conversations;
    assert.equal(ly.length, 1);
    assert.equal(ly[0].unreadCount, 2);
    sx.close();
  });
});

describe('history paging', () => {
  let a, b, conv, sent;
  before(async () => {
    ({ a, b, conv } = await friendPair(ctx.url));
    const sa = await connectReady(ctx.url, a);
    const sb = await connectReady(ctx.url, b);
    sent = [];
    for (let i = 1; i <= 9; i++) {
      sent.push(await send(i % 3 === 0 ? sb : sa, conv.id, `message ${i}`));
    }
    sa.close();
    sb.close();
  });

  it('seq runs 1..9 without gaps', () => {
    assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('no before/after: the newest page, newest first', async () => {
    const h = await history(ctx.url, a, conv.id);
    assert.deepEqual(h, { messages: [...sent].reverse(), hasMore: false });
    const h3 = await history(ctx.url, b, conv.id, '?limit=3');
    assert.deepEqual(h3.messages.map((m) => m.seq), [9, 8, 7]);
    assert.equal(h3.hasMore, true);
    assert.deepEqual(h3.messages, [sent[8], sent[7], sent[6]]);
  });

  it('before=SEQ: seq < SEQ, newest first; paging back to the start', async () => {
    const p1 = await history(ctx.url, a, conv.id, '?before=7&limit=3');
    assert.deepEqual(p1.messages.map((m) => m.seq), [6, 5, 4]);
    assert.equal(p1.hasMore, true);
    const p2 = await history(ctx.url, a, conv.id, '?before=4&limit=3');
    assert.deepEqual(p2.messages.map((m) => m.seq), [3, 2, 1]);
    assert.equal(p2.hasMore, false);
    const p3 = await history(ctx.url, a, conv.id, '?before=1&limit=3');
    assert.deepEqual(p3, { messages: [], hasMore: false });
    const p4 = await history(ctx.url, a, conv.id, '?before=3');
    assert.deepEqual(p4.messages.map((m) => m.seq), [2, 1]);
    assert.equal(p4.hasMore, false);
  });

  it('after=SEQ: seq > SEQ, oldest first', async () => {
    const p1 = await history(ctx.url, b, conv.id, '?after=0&limit=4');
    assert.deepEqual(p1.messages.map((m) => m.seq), [1, 2, 3, 4]);
    assert.equal(p1.hasMore, true);
    assert.deepEqual(p1.messages, sent.slice(0, 4));
    const p2 = await history(ctx.url, b, conv.id, '?after=4&limit=4');
    assert.deepEqual(p2.messages.map((m) => m.seq), [5, 6, 7, 8]);
    assert.equal(p2.hasMore, true);
    const p3 = await history(ctx.url, b, conv.id, '?after=8&limit=4');
    assert.deepEqual(p3.messages.map((m) => m.seq), [9]);
    assert.equal(p3.hasMore, false);
    const p4 = await history(ctx.url, b, conv.id, '?after=9');
    assert.deepEqual(p4, { messages: [], hasMore: false });
  });

  it('bad query values → 400 invalid_payload', async () => {
    for (const q of ['?limit=abc', '?before=x', '?after=-']) {
      const res = await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/messages${q}`, undefined, a.token);
      assertRestError(assert, res, 400, 'invalid_payload');
    }
  });

  it('the default page is 50 messages', async () => {
    const { a: x, conv: c2 } = await friendPair(ctx.url);
    const sx = await connectReady(ctx.url, x);
    const all = [];
    for (let i = 0; i < 55; i++) all.push(await send(sx, c2.id, `m${i}`));
    const h = await history(ctx.url, x, c2.id);
    assert.equal(h.messages.length, 50);
    assert.equal(h.hasMore, true);
    assert.equal(h.messages[0].seq, 55);
    assert.equal(h.messages[49].seq, 6);
    const rest = await history(ctx.url, x, c2.id, '?before=6');
    assert.deepEqual(rest.messages.map((m) => m.seq), [5, 4, 3, 2, 1]);
    assert.equal(rest.hasMore, false);
    const big = await history(ctx.url, x, c2.id, '?after=0&limit=100');
    assert.equal(big.messages.length, 55);
    assert.equal(big.hasMore, false);
    sx.close();
  });
});
