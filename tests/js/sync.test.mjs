// sync after being offline, and durability across a SIGKILL + restart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  useServer, api, register, connectReady, nextEvent, emitAck, emitOk, send, assertErrorAck,
  friendPair, makeFriends, directConversation, history, randomUUID, sleep, waitDisconnect,
  getConversation,
} from './helpers.mjs';

const ctx = useServer();

/** Current state of every message, oldest first (REST history, paged). */
async function allMessages(user, convId) {
  const out = [];
  let after = 0;
  for (;;) {
    const h = await history(ctx.url, user, convId, `?after=${after}&limit=100`);
    out.push(...h.messages);
    if (!h.hasMore || h.messages.length === 0) break;
    after = h.messages[h.messages.length - 1].seq;
  }
  return out;
}

const byUpdatedSeq = (ms) => [...ms].sort((x, y) => x.updatedSeq - y.updatedSeq);

function assertSyncAckShape(ack) {
  assert.equal(ack.success, true, JSON.stringify(ack));
  assert.ok(Array.isArray(ack.conversations), JSON.stringify(ack));
  assert.equal(typeof ack.hasMore, 'boolean');
  for (const c of ack.conversations) {
    for (const k of ['conversationId', 'lastSeq', 'messages', 'nextSince', 'hasMore', 'readCursors']) {
      assert.ok(Object.hasOwn(c, k), `sync conversation lacks ${k}: ${JSON.stringify(c)}`);
    }
    assert.ok(Number.isInteger(c.nextSince));
    const ups = c.messages.map((m) => m.updatedSeq);
    assert.deepEqual(ups, [...ups].sort((x, y) => x - y), 'messages ordered by updatedSeq');
    assert.equal(new Set(c.messages.map((m) => m.id)).size, c.messages.length, 'each message once');
  }
}

/** Run sync to completion, following nextSince; returns {convId: [messages...]} and the last acks. */
async function syncAll(s, since, limit) {
  const cur = { ...since };
  const got = {};
  const entries = {};
  for (let round = 0; round < 50; round++) {
    const payload = { since: cur };
    if (limit !== undefined) payload.limit = limit;
    const ack = await emitAck(s, 'sync', payload);
    assertSyncAckShape(ack);
    for (const c of ack.conversations) {
      (got[c.conversationId] ||= []).push(...c.messages);
      entries[c.conversationId] = c;
      cur[String(c.conversationId)] = c.nextSince;
    }
    if (!ack.hasMore) return { got, entries, since: cur };
  }
  throw new Error('sync never finished');
}

describe('sync', () => {
  it('after an offline period returns every new and changed message in its current state', async () => {
    const { a, b, conv } = await friendPair(ctx.url);
    const sa = await connectReady(ctx.url, a);
    let sb = await connectReady(ctx.url, b);
    const m1 = await send(sa, conv.id, 'one');
    const m2 = await send(sa, conv.id, 'two');
    const m3 = await send(sa, conv.id, 'three');
    const m0 = await send(sb, conv.id, 'b says hi'); // seq 4
    await emitOk(sb, 'markRead', { conversationId: conv.id, seq: 4 });
    const known = 4;
    sb.close();
    await sleep(100);

    // while b is away
    const m5 = await send(sa, conv.id, 'five'); // 5
    await emitOk(sa, 'editMessage', { messageId: m1.id, content: 'one (edited)' }); // 6
    await emitOk(sa, 'deleteMessage', { messageId: m2.id }); // 7
    await emitOk(sa, 'addReaction', { messageId: m3.id, emoji: '🔥' }); // 8
    await emitOk(sa, 'pinMessage', { messageId: m5.id, pinned: true }); // 9
    await emitOk(sa, 'addReaction', { messageId: m0.id, emoji: '👀' }); // 10
    const m6 = await send(sa, conv.id, 'six'); // 11
    await emitOk(sa, 'markRead', { conversationId: conv.id, seq: 11 });

    sb = await connectReady(ctx.url, b);
    const ack = await emitAck(sb, 'sync', { since: { [String(conv.id)]: known } });
    assertSyncAckShape(ack);
    assert.equal(ack.hasMore, false);
    assert.equal(ack.conversations.length, 1, JSON.stringify(ack.conversations.map((c) => c.conversationId)));
    const c = ack.conversations[0];
    assert.equal(c.conversationId, conv.id);
    assert.equal(c.lastSeq, 11);
    assert.equal(c.hasMore, false);

    const current = await allMessages(b, conv.id);
    const expected = byUpdatedSeq(current.filter((m) => m.updatedSeq > known));
    assert.deepEqual(c.messages.map((m) => m.id), [m1.id, m2.id, m3.id, m5.id, m0.id, m6.id]);
    assert.deepEqual(c.messages, expected, 'sync messages are in their current state');
    const get = (id) => c.messages.find((m) => m.id === id);
    assert.equal(get(m1.id).content, 'one (edited)');
    assert.equal(get(m2.id).content, null);
    assert.equal(typeof get(m2.id).deletedAt, 'number');
    assert.deepEqual(get(m3.id).reactions, { '🔥': [a.user.id] });
    assert.equal(get(m5.id).pinned, true);
    assert.equal(get(m5.id).pinnedBy, a.user.id);
    assert.deepEqual(get(m0.id).reactions, { '👀': [a.user.id] });
    assert.equal(get(m6.id).content, 'six');
    assert.deepEqual(c.messages.map((m) => m.updatedSeq), [6, 7, 8, 9, 10, 11]);

    // read cursors for every member
    const cursors = [...c.readCursors].sort((x, y) => x.userId - y.userId);
    const exp = [
      { conversationId: conv.id, userId: a.user.id, seq: 11 },
      { conversationId: conv.id, userId: b.user.id, seq: 4 },
    ].sort((x, y) => x.userId - y.userId);
    assert.deepEqual(cursors, exp);

    // caught up: nothing new → the conversation is left out
    const again = await emitAck(sb, 'sync', { since: { [String(conv.id)]: c.nextSince } });
    assertSyncAckShape(again);
    assert.deepEqual(again.conversations, []);
    assert.equal(again.hasMore, false);
    const atLast = await emitAck(sb, 'sync', { since: { [String(conv.id)]: 11 } });
    assert.deepEqual(atLast.conversations, []);

    // since {}: everything from 0
    const full = await emitAck(sb, 'sync', { since: {} });
    assertSyncAckShape(full);
    assert.equal(full.conversations.length, 1);
    assert.deepEqual(full.conversations[0].messages, byUpdatedSeq(current));
    assert.equal(full.conversations[0].messages.length, 6);
    sa.close();
    sb.close();
  });

  it('conversations missing from since count from 0; conversations with nothing new are left out', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const c = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    await makeFriends(ctx.url, a, c);
    const ab = await directConversation(ctx.url, a, b);
    const ac = await directConversation(ctx.url, a, c);
    const quiet = await directConversation(ctx.url, b, await (async () => {
      const d = await register(ctx.url);
      await makeFriends(ctx.url, b, d);
      return d;
    })());
    const sa = await connectReady(ctx.url, a);
    const mab = await send(sa, ab.id, 'to b');
    const mac = await send(sa, ac.id, 'to c');
    assert.ok(mac);
    const sb = await connectReady(ctx.url, b);
    const ack = await emitAck(sb, 'sync', { since: {} });
    assertSyncAckShape(ack);
    assert.deepEqual(ack.conversations.map((x) => x.conversationId), [ab.id], 'only b\'s conversation with news');
    assert.deepEqual(ack.conversations[0].messages, [mab]);
    assert.ok(quiet.id !== ab.id);
    sa.close();
    sb.close();
  });

  it('pages with limit and nextSince until hasMore is false', async () => {
    const { a, b, conv } = await friendPair(ctx.url);
    const sa = await connectReady(ctx.url, a);
    const ms = [];
    for (let i = 0; i < 7; i++) ms.push(await send(sa, conv.id, `p${i}`));
    await emitOk(sa, 'editMessage', { messageId: ms[0].id, content: 'p0 edited' }); // moves m0 to the end
    const sb = await connectReady(ctx.url, b);

    const first = await emitAck(sb, 'sync', { since: {}, limit: 3 });
    assertSyncAckShape(first);
    assert.equal(first.hasMore, true);
    assert.equal(first.conversations.length, 1);
    assert.equal(first.conversations[0].messages.length, 3);
    assert.equal(first.conversations[0].hasMore, true);
    assert.equal(first.conversations[0].lastSeq, 8);

    const { got } = await syncAll(sb, {}, 3);
    const ids = got[conv.id].map((m) => m.id);
    assert.deepEqual(ids, [...ms.slice(1), ms[0]].map((m) => m.id), 'ordered by updatedSeq, each once');
    assert.equal(got[conv.id].at(-1).content, 'p0 edited');
    sa.close();
    sb.close();
  });

  it('bad sync payloads → invalid_payload', async () => {
    const a = await register(ctx.url);
    const sa = await connectReady(ctx.url, a);
    assertErrorAck(assert, await emitAck(sa, 'sync', {}), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'sync', { since: 'yesterday' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'sync', { since: { 1: 'x' } }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'sync', { since: {}, limit: 'all' }), 'invalid_payload');
    assertErrorAck(assert, await emitAck(sa, 'sync', 'now'), 'invalid_payload');
    sa.close();
  });
});

describe('deletion', () => {
  it('a deleted message\'s text is erased from storage (no file in the data dir holds it)', async () => {
    const { a, b, conv } = await friendPair(ctx.url);
    const sa = await connectReady(ctx.url, a);
    const secret = `secret-${randomUUID()}-text`;
    const m = await send(sa, conv.id, secret);
    await emitOk(sa, 'editMessage', { messageId: m.id, content: `${secret} edited` });
    await emitOk(sa, 'deleteMessage', { messageId: m.id });
    const h = await history(ctx.url, b, conv.id);
    assert.equal(h.messages[0].content, null);
    await sleep(300);
    const found = [];
    const walk = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (readFileSync(p).includes(Buffer.from(secret))) found.push(p);
      }
    };
    walk(ctx.server.dataDir);
    assert.deepEqual(found, [], `the deleted text is still in ${found.join(', ')}`);
    sa.close();
  });
});

describe('restart', () => {
  it('SIGKILL + restart on the same data dir: every acknowledged message, reaction and pin survives; tokens too', async () => {
    const { a, b, conv } = await friendPair(ctx.url);
    const sa = await connectReady(ctx.url, a);
    const sb = await connectReady(ctx.url, b);
    const m1 = await send(sa, conv.id, 'before the crash 1');
    const m2 = await send(sb, conv.id, 'before the crash 2');
    await emitOk(sb, 'addReaction', { messageId: m1.id, emoji: '🧡' });
    await emitOk(sa, 'addReaction', { messageId: m1.id, emoji: '👨‍👩‍👧' });
    await emitOk(sa, 'pinMessage', { messageId: m2.id, pinned: true });
    await emitOk(sa, 'editMessage', { messageId: m1.id, content: 'before the crash 1 (edited)' });
    const gone = await send(sa, conv.id, 'to be deleted');
    await emitOk(sa, 'deleteMessage', { messageId: gone.id });
    await emitOk(sb, 'markRead', { conversationId: conv.id, seq: 3 });
    const rest = await api(ctx.url, 'POST', `/api/messages/conversations/${conv.id}/messages`,
      { content: 'via REST', clientMsgId: randomUUID() }, b.token);
    assert.equal(rest.status, 201);

    // a burst of concurrent sends; every acknowledged one must survive the SIGKILL
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      emitAck(sa, 'sendMessage', { conversationId: conv.id, content: `burst ${i}`, clientMsgId: randomUUID() })));
    const acked = burst.filter((x) => x.success).map((x) => x.message);
    assert.ok(acked.length >= 1);
    const lastAck = await emitOk(sb, 'addReaction', { messageId: acked[0].id, emoji: '✅' });
    const beforeKill = await allMessages(a, conv.id);
    const pinsBefore = (await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/pins`, undefined, a.token)).body;

    const da = waitDisconnect(sa);
    await ctx.server.kill(); // SIGKILL right after the last ack
    await da.catch(() => {});
    sa.close();
    sb.close();
    await ctx.server.restart();

    // tokens are still valid (stored hashes)
    const me = await api(ctx.url, 'GET', '/api/users/me', undefined, a.token);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.user.id, a.user.id);
    const friends = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assert.deepEqual(friends.body.friends.map((f) => f.id), [b.user.id]);

    const afterRestart = await allMessages(a, conv.id);
    assert.deepEqual(afterRestart, beforeKill, 'history identical after the restart');
    for (const m of acked) assert.ok(afterRestart.some((x) => x.id === m.id && x.content === m.content), `acked message ${m.id} survived`);
    const m1After = afterRestart.find((x) => x.id === m1.id);
    assert.equal(m1After.content, 'before the crash 1 (edited)');
    assert.deepEqual(Object.keys(m1After.reactions).sort(), ['🧡', '👨‍👩‍👧'].sort());
    assert.deepEqual(m1After.reactions['🧡'], [b.user.id]);
    assert.deepEqual(afterRestart.find((x) => x.id === acked[0].id).reactions, { '✅': [b.user.id] });
    assert.equal(afterRestart.find((x) => x.id === gone.id).content, null);
    const pinsAfter = (await api(ctx.url, 'GET', `/api/messages/conversations/${conv.id}/pins`, undefined, a.token)).body;
    assert.deepEqual(pinsAfter, pinsBefore);
    assert.deepEqual(pinsAfter.messages.map((m) => m.id), [m2.id]);

    // the conversation's seq carries on without reuse, and sync works
    const convAfter = await getConversation(ctx.url, b, conv.id);
    assert.equal(convAfter.lastSeq, lastAck.message.updatedSeq);
    assert.equal(convAfter.members.find((x) => x.id === b.user.id).lastReadSeq, 3);
    const sa2 = await connectReady(ctx.url, a);
    const sb2 = await connectReady(ctx.url, b);
    const next = await send(sa2, conv.id, 'after the restart');
    assert.equal(next.seq, convAfter.lastSeq + 1);
    assert.equal((await nextEvent(sb2, 'messageReceived')).id, next.id);
    const { got } = await syncAll(sb2, {});
    const synced = got[conv.id];
    assert.deepEqual(synced.map((m) => m.id), byUpdatedSeq([...afterRestart, next]).map((m) => m.id));
    const ack = await emitAck(sb2, 'sync', { since: { [String(conv.id)]: convAfter.lastSeq } });
    assert.deepEqual(ack.conversations.map((c) => c.messages.map((m) => m.id)), [[next.id]]);

    // a retried clientMsgId from before the crash is still recognised
    const retry = await emitAck(sa2, 'sendMessage', { conversationId: conv.id, content: m1.content, clientMsgId: m1.clientMsgId });
    assert.equal(retry.success, true, JSON.stringify(retry));
    assert.equal(retry.message.id, m1.id);
    sa2.close();
    sb2.close();
  });
});
