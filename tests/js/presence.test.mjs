// Presence: onlineUsers on connect, userOnline for the first device, userOffline after the last.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, connect, connectReady, nextEvent, expectNoEvent, makeFriends,
  assertRecentMs, sleep, waitDisconnect, sortIds,
} from './helpers.mjs';

const ctx = useServer();

/** Friends a and b, both connected; b's socket has seen a come online. */
async function onlineFriends() {
  const a = await register(ctx.url);
  const b = await register(ctx.url);
  await makeFriends(ctx.url, a, b);
  const sb = await connectReady(ctx.url, b);
  const sa = await connect(ctx.url, a.token);
  await nextEvent(sb, 'userOnline');
  return { a, b, sa, sb };
}

describe('presence', () => {
  it('onlineUsers right after connect lists the friends online at that moment', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const c = await register(ctx.url);
    const stranger = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    await makeFriends(ctx.url, a, c);

    const sa0 = await connect(ctx.url, a.token);
    assert.deepEqual(await nextEvent(sa0, 'onlineUsers'), { userIds: [] }, 'nobody else online yet');
    const sb = await connect(ctx.url, b.token);
    assert.deepEqual(await nextEvent(sb, 'onlineUsers'), { userIds: [a.user.id] });
    const ss = await connect(ctx.url, stranger.token);
    assert.deepEqual(await nextEvent(ss, 'onlineUsers'), { userIds: [] }, 'a stranger sees nobody');
    const sc = await connect(ctx.url, c.token);
    assert.deepEqual(await nextEvent(sc, 'onlineUsers'), { userIds: [a.user.id] }, 'b is not c\'s friend');

    const sa1 = await connect(ctx.url, a.token);
    const ev = await nextEvent(sa1, 'onlineUsers');
    assert.deepEqual(sortIds(ev.userIds), sortIds([b.user.id, c.user.id]), 'the stranger is not listed');
    await expectNoEvent(sa1, 'onlineUsers', 300); // exactly once
    for (const s of [sa0, sa1, sb, sc, ss]) s.close();
  });

  it('userOnline only for the first device, userOffline only after the last device leaves', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const stranger = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    const sb = await connectReady(ctx.url, b);
    const ss = await connectReady(ctx.url, stranger);

    const a1 = await connect(ctx.url, a.token);
    assert.deepEqual(await nextEvent(sb, 'userOnline'), { userId: a.user.id, username: a.user.username });
    assert.deepEqual(await nextEvent(a1, 'onlineUsers'), { userIds: [b.user.id] });

    const a2 = await connect(ctx.url, a.token);
    assert.deepEqual(await nextEvent(a2, 'onlineUsers'), { userIds: [b.user.id] });
    await expectNoEvent(sb, 'userOnline', 400);

    a1.close();
    await expectNoEvent(sb, 'userOffline', 500);
    // still online for the friends list
    const f1 = await api(ctx.url, 'GET', '/api/friends', undefined, b.token);
    assert.equal(f1.body.friends[0].online, true);
    assert.equal(f1.body.friends[0].lastSeen, null);

    const t0 = Date.now();
    a2.close();
    const off = await nextEvent(sb, 'userOffline');
    assert.deepEqual(Object.keys(off).sort(), ['lastSeen', 'userId']);
    assert.equal(off.userId, a.user.id);
    assertRecentMs(assert, off.lastSeen, 'lastSeen');
    assert.ok(off.lastSeen >= t0 - 1000 && off.lastSeen <= Date.now() + 1000);
    const f2 = await api(ctx.url, 'GET', '/api/friends', undefined, b.token);
    assert.equal(f2.body.friends[0].online, false);
    assert.equal(f2.body.friends[0].lastSeen, off.lastSeen);

    // coming back is a first device again
    const a3 = await connect(ctx.url, a.token);
    assert.deepEqual(await nextEvent(sb, 'userOnline'), { userId: a.user.id, username: a.user.username });
    const f3 = await api(ctx.url, 'GET', '/api/friends', undefined, b.token);
    assert.equal(f3.body.friends[0].online, true);
    assert.equal(f3.body.friends[0].lastSeen, null);

    // the stranger heard nothing about a
    await expectNoEvent(ss, 'userOnline', 100);
    await expectNoEvent(ss, 'userOffline', 0);
    a3.close();
    sb.close();
    ss.close();
  });

  it('a device that drops (transport closed, not a clean disconnect) also counts as gone', async () => {
    const { a, sa, sb } = await onlineFriends();
    // close the underlying engine without a Socket.IO disconnect packet
    const d = waitDisconnect(sa);
    sa.io.engine.close();
    await d;
    const off = await nextEvent(sb, 'userOffline', { timeoutMs: 8000 });
    assert.equal(off.userId, a.user.id);
    sb.close();
  });

  it('logging out (which disconnects the sockets) makes the user offline for friends', async () => {
    const { a, b, sa, sb } = await onlineFriends();
    const d = waitDisconnect(sa);
    assert.equal((await api(ctx.url, 'POST', '/api/auth/logout', undefined, a.token)).status, 204);
    await d;
    const off = await nextEvent(sb, 'userOffline');
    assert.equal(off.userId, a.user.id);
    const f = await api(ctx.url, 'GET', '/api/friends', undefined, b.token);
    assert.equal(f.body.friends[0].online, false);
    sb.close();
  });

  it('co-members of a group who are not friends see each other\'s presence', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const c = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    await makeFriends(ctx.url, a, c);
    const res = await api(ctx.url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id, c.user.id], title: 'group' }, a.token);
    assert.equal(res.status, 201, JSON.stringify(res.body));

    const sb = await connect(ctx.url, b.token);
    assert.deepEqual(await nextEvent(sb, 'onlineUsers'), { userIds: [] });
    const sc = await connect(ctx.url, c.token);
    assert.deepEqual(await nextEvent(sc, 'onlineUsers'), { userIds: [b.user.id] }, 'b is c\'s co-member');
    assert.deepEqual(await nextEvent(sb, 'userOnline'), { userId: c.user.id, username: c.user.username });
    sc.close();
    assert.equal((await nextEvent(sb, 'userOffline')).userId, c.user.id);
    sb.close();
  });

  it('a friend added while online does not need a reconnect for later presence events', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const sa = await connectReady(ctx.url, a);
    const sb = await connectReady(ctx.url, b);
    await expectNoEvent(sa, 'userOnline', 200);
    await makeFriends(ctx.url, a, b);
    await sleep(100);
    sb.close();
    const off = await nextEvent(sa, 'userOffline');
    assert.equal(off.userId, b.user.id);
    sa.close();
  });
});
