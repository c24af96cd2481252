// Friends: requests, accept, decline/withdraw, remove, live events, online flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, connect, connectReady, nextEvent, expectNoEvent, assertRestError,
  assertRecentMs, makeFriends,
} from './helpers.mjs';

const ctx = useServer();

const userOf = (x) => ({ id: x.user.id, username: x.user.username, displayName: x.user.displayName });

function assertFriendRequest(r, from, to) {
  assert.deepEqual(Object.keys(r).sort(), ['createdAt', 'from', 'id', 'to'],
    `FriendRequest is {id, from, to, createdAt}: ${JSON.stringify(r)}`);
  assert.ok(Number.isInteger(r.id));
  assert.deepEqual(r.from, userOf(from));
  assert.deepEqual(r.to, userOf(to));
  assertRecentMs(assert, r.createdAt, 'createdAt');
}

function assertFriend(f, who, online) {
  assert.deepEqual(Object.keys(f).sort(), ['displayName', 'id', 'lastSeen', 'online', 'username'],
    `Friend is {id, username, displayName, online, lastSeen}: ${JSON.stringify(f)}`);
  assert.equal(f.id, who.user.id);
  assert.equal(f.username, who.user.username);
  assert.equal(f.displayName, who.user.displayName);
  if (online !== undefined) assert.equal(f.online, online);
}

/** Two fresh users, not friends yet, each with one ready socket. */
async function connectedStrangers() {
  const a = await register(ctx.url);
  const b = await register(ctx.url);
  const sa = await connectReady(ctx.url, a);
  const sb = await connectReady(ctx.url, b);
  return { a, b, sa, sb };
}

describe('friend requests', () => {
  it('request → 201 {request}; friendRequest to both; listed as incoming/outgoing', async () => {
    const { a, b, sa, sb } = await connectedStrangers();

    const res = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assertFriendRequest(res.body.request, a, b);

    const evA = await nextEvent(sa, 'friendRequest');
    const evB = await nextEvent(sb, 'friendRequest');
    assert.deepEqual(evA, res.body.request);
    assert.deepEqual(evB, res.body.request);

    const la = await api(ctx.url, 'GET', '/api/friends/requests', undefined, a.token);
    assert.equal(la.status, 200);
    assert.deepEqual(la.body, { incoming: [], outgoing: [res.body.request] });
    const lb = await api(ctx.url, 'GET', '/api/friends/requests', undefined, b.token);
    assert.deepEqual(lb.body, { incoming: [res.body.request], outgoing: [] });

    // neither is a friend yet
    const fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assert.deepEqual(fa.body, { friends: [] });
    sa.close();
    sb.close();
  });

  it('the username in a request is case-insensitive', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const res = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username.toUpperCase() }, a.token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.request.to.id, b.user.id);
  });

  it('refusals: unknown user 404, yourself 400, repeated 409, already friends 409, bad body 400, no token 401', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: 'no_such_user_xyz' }, a.token), 404, 'not_found');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: a.username }, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', {}, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: 7 }, a.token), 400, 'invalid_payload');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }), 401, 'unauthorized');

    const first = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    assert.equal(first.status, 201);
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token), 409, 'conflict');

    const acc = await api(ctx.url, 'POST', `/api/friends/requests/${first.body.request.id}/accept`, undefined, b.token);
    assert.equal(acc.status, 200);
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token), 409, 'conflict');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests', { username: a.username }, b.token), 409, 'conflict');
  });

  it('accept → 200 {friend}; friendAdded to both, each seeing the other; GET /api/friends', async () => {
    const { a, b, sa, sb } = await connectedStrangers();
    const req = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    await nextEvent(sa, 'friendRequest');
    await nextEvent(sb, 'friendRequest');

    // only the recipient may accept
    const bySender = await api(ctx.url, 'POST', `/api/friends/requests/${req.body.request.id}/accept`, undefined, a.token);
    assert.ok([403, 404].includes(bySender.status), `sender accepting must be refused, got ${bySender.status}`);
    assert.ok(['forbidden', 'not_found'].includes(bySender.body?.error?.code));
    await expectNoEvent(sa, 'friendAdded', 200);

    const acc = await api(ctx.url, 'POST', `/api/friends/requests/${req.body.request.id}/accept`, undefined, b.token);
    assert.equal(acc.status, 200, JSON.stringify(acc.body));
    assertFriend(acc.body.friend, a, true); // a is connected
    assert.equal(acc.body.friend.lastSeen, null);

    const evA = await nextEvent(sa, 'friendAdded');
    const evB = await nextEvent(sb, 'friendAdded');
    assertFriend(evA.friend, b, true);
    assertFriend(evB.friend, a, true);
    assert.deepEqual(Object.keys(evA), ['friend']);

    const fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assert.equal(fa.status, 200);
    assert.equal(fa.body.friends.length, 1);
    assertFriend(fa.body.friends[0], b, true);
    assert.equal(fa.body.friends[0].lastSeen, null);
    const fb = await api(ctx.url, 'GET', '/api/friends', undefined, b.token);
    assert.equal(fb.body.friends.length, 1);
    assertFriend(fb.body.friends[0], a, true);

    // the request is gone from both lists
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends/requests', undefined, a.token)).body, { incoming: [], outgoing: [] });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends/requests', undefined, b.token)).body, { incoming: [], outgoing: [] });

    // accepting again does not work
    const again = await api(ctx.url, 'POST', `/api/friends/requests/${req.body.request.id}/accept`, undefined, b.token);
    assert.ok(again.status >= 400, `re-accepting must fail, got ${again.status}`);
    sa.close();
    sb.close();
  });

  it('a request to someone who already asked you accepts: 200 {friend} and friendAdded to both', async () => {
    const { a, b, sa, sb } = await connectedStrangers();
    const r1 = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    assert.equal(r1.status, 201);
    const r2 = await api(ctx.url, 'POST', '/api/friends/requests', { username: a.username }, b.token);
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    assertFriend(r2.body.friend, a, true);
    assertFriend((await nextEvent(sa, 'friendAdded')).friend, b, true);
    assertFriend((await nextEvent(sb, 'friendAdded')).friend, a, true);
    const fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assert.deepEqual(fa.body.friends.map((f) => f.id), [b.user.id]);
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends/requests', undefined, b.token)).body, { incoming: [], outgoing: [] });
    sa.close();
    sb.close();
  });

  it('decline by the recipient → 204 and friendRequestRemoved {id} to both', async () => {
    const { a, b, sa, sb } = await connectedStrangers();
    const req = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    const id = req.body.request.id;
    const res = await api(ctx.url, 'POST', `/api/friends/requests/${id}/decline`, undefined, b.token);
    assert.equal(res.status, 204);
    assert.deepEqual(await nextEvent(sa, 'friendRequestRemoved'), { id });
    assert.deepEqual(await nextEvent(sb, 'friendRequestRemoved'), { id });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends/requests', undefined, a.token)).body, { incoming: [], outgoing: [] });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends/requests', undefined, b.token)).body, { incoming: [], outgoing: [] });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends', undefined, b.token)).body, { friends: [] });
    await expectNoEvent(sa, 'friendAdded', 100);
    // accepting a declined request fails
    const acc = await api(ctx.url, 'POST', `/api/friends/requests/${id}/accept`, undefined, b.token);
    assert.ok(acc.status >= 400);
    // and a new request can be sent
    const again = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    assert.equal(again.status, 201, JSON.stringify(again.body));
    sa.close();
    sb.close();
  });

  it('withdraw by the sender → 204 and friendRequestRemoved {id} to both', async () => {
    const { a, b, sa, sb } = await connectedStrangers();
    const req = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    const id = req.body.request.id;
    const res = await api(ctx.url, 'POST', `/api/friends/requests/${id}/decline`, undefined, a.token);
    assert.equal(res.status, 204);
    assert.deepEqual(await nextEvent(sa, 'friendRequestRemoved'), { id });
    assert.deepEqual(await nextEvent(sb, 'friendRequestRemoved'), { id });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends/requests', undefined, b.token)).body, { incoming: [], outgoing: [] });
    sa.close();
    sb.close();
  });

  it('a third user can neither accept nor decline somebody else\'s request', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    const c = await register(ctx.url);
    const req = await api(ctx.url, 'POST', '/api/friends/requests', { username: b.username }, a.token);
    const id = req.body.request.id;
    const acc = await api(ctx.url, 'POST', `/api/friends/requests/${id}/accept`, undefined, c.token);
    assert.ok([403, 404].includes(acc.status), `got ${acc.status}`);
    const dec = await api(ctx.url, 'POST', `/api/friends/requests/${id}/decline`, undefined, c.token);
    assert.ok([403, 404].includes(dec.status), `got ${dec.status}`);
    const lb = await api(ctx.url, 'GET', '/api/friends/requests', undefined, b.token);
    assert.equal(lb.body.incoming.length, 1);
    assertRestError(assert, await api(ctx.url, 'POST', '/api/friends/requests/99999999/accept', undefined, b.token), 404, 'not_found');
  });
});

describe('removing friends', () => {
  it('DELETE /api/friends/:userId → 204; friendRemoved {userId} to both; then 404', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    const sa = await connectReady(ctx.url, a);
    const sb = await connectReady(ctx.url, b);
    const res = await api(ctx.url, 'DELETE', `/api/friends/${b.user.id}`, undefined, a.token);
    assert.equal(res.status, 204);
    assert.deepEqual(await nextEvent(sa, 'friendRemoved'), { userId: b.user.id });
    assert.deepEqual(await nextEvent(sb, 'friendRemoved'), { userId: a.user.id });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends', undefined, a.token)).body, { friends: [] });
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends', undefined, b.token)).body, { friends: [] });
    assertRestError(assert, await api(ctx.url, 'DELETE', `/api/friends/${b.user.id}`, undefined, a.token), 404, 'not_found');
    assertRestError(assert, await api(ctx.url, 'DELETE', `/api/friends/${a.user.id}`, undefined, b.token), 404, 'not_found');
    // they can become friends again
    await makeFriends(ctx.url, b, a);
    assert.deepEqual((await api(ctx.url, 'GET', '/api/friends', undefined, a.token)).body.friends.map((f) => f.id), [b.user.id]);
    sa.close();
    sb.close();
  });
});

describe('online flag', () => {
  it('online while any device is connected; lastSeen set when the last one disconnects', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    await makeFriends(ctx.url, a, b);

    // b has never connected
    let fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assertFriend(fa.body.friends[0], b, false);
    assert.equal(fa.body.friends[0].lastSeen, null, 'never connected → lastSeen null');

    const sa = await connectReady(ctx.url, a);
    const sb1 = await connect(ctx.url, b.token);
    await nextEvent(sa, 'userOnline', { filter: (e) => e.userId === b.user.id });
    fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assertFriend(fa.body.friends[0], b, true);
    assert.equal(fa.body.friends[0].lastSeen, null, 'online → lastSeen null');

    const sb2 = await connect(ctx.url, b.token);
    sb1.close();
    await new Promise((r) => setTimeout(r, 300));
    fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assertFriend(fa.body.friends[0], b, true);

    const before = Date.now();
    sb2.close();
    const off = await nextEvent(sa, 'userOffline', { filter: (e) => e.userId === b.user.id });
    fa = await api(ctx.url, 'GET', '/api/friends', undefined, a.token);
    assertFriend(fa.body.friends[0], b, false);
    assertRecentMs(assert, fa.body.friends[0].lastSeen, 'lastSeen');
    assert.ok(fa.body.friends[0].lastSeen >= before - 1000);
    assert.equal(fa.body.friends[0].lastSeen, off.lastSeen, 'GET /api/friends lastSeen equals userOffline.lastSeen');
    sa.close();
  });
});
