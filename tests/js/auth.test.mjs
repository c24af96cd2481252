// Accounts: register, login, logout, token checks on REST and Socket.IO.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, uniqueName, connect, connectExpectError, waitDisconnect,
  assertRestError, PASSWORD, nextEvent, emitAck,
} from './helpers.mjs';

const ctx = useServer();

function assertUser(u, { id, username, displayName }) {
  assert.deepEqual(Object.keys(u).sort(), ['displayName', 'id', 'username'].sort(),
    `User must be exactly {id, username, displayName}: ${JSON.stringify(u)}`);
  if (id !== undefined) assert.equal(u.id, id);
  assert.ok(Number.isInteger(u.id), 'user id is an integer');
  assert.equal(u.username, username);
  assert.equal(u.displayName, displayName);
}

describe('operations', () => {
  it('GET /healthz answers {"status":"ok"}', async () => {
    const res = await api(ctx.url, 'GET', '/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });
});

describe('metrics', () => {
  it('GET /metrics is Prometheus text with the documented series', async () => {
    const a = await register(ctx.url);
    const s1 = await connect(ctx.url, a.token);
    const s2 = await connect(ctx.url, a.token);
    await emitAck(s1, 'sync', { since: {} });
    const res = await fetch(ctx.url + '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') || '', /^(text\/plain|application\/openmetrics-text)/);
    const text = await res.text();
    const sockets = text.match(/^confab_connected_sockets(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/m);
    assert.ok(sockets, `confab_connected_sockets missing:\n${text}`);
    assert.ok(Number(sockets[1]) >= 2, `2 sockets are connected, metric says ${sockets[1]}`);
    assert.match(text, /^confab_messages_stored_total(?:\{[^}]*\})? \d+/m);
    assert.match(text, /^confab_event_duration_seconds_bucket\{[^}]*event="sync"[^}]*\} \d+/m);
    assert.match(text, /^confab_event_duration_seconds_count\{[^}]*event="sync"[^}]*\} [1-9]/m);
    s1.close();
    s2.close();
  });
});

describe('register', () => {
  it('returns 201 {token, user}; displayName defaults to the username', async () => {
    const username = uniqueName('reg');
    const res = await api(ctx.url, 'POST', '/api/auth/register', { username, password: PASSWORD });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(typeof res.body.token, 'string');
    assert.match(res.body.token, /^[A-Za-z0-9_-]{43}=?$/, 'token is 256 bits base64url (43 chars)');
    assertUser(res.body.user, { username, displayName: username });
  });

  it('stores the username lower-case and keeps an explicit displayName', async () => {
    const base = uniqueName('mix');
    const res = await api(ctx.url, 'POST', '/api/auth/register', {
      username: base.toUpperCase(), password: PASSWORD, displayName: 'Mixed Case Person',
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assertUser(res.body.user, { username: base, displayName: 'Mixed Case Person' });
    // login works with the stored (lower-case) name
    const login = await api(ctx.url, 'POST', '/api/auth/login', { username: base, password: PASSWORD });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal(login.body.user.id, res.body.user.id);
  });

  it('ignores unknown fields', async () => {
    const username = uniqueName('extra');
    const res = await api(ctx.url, 'POST', '/api/auth/register', { username, password: PASSWORD, isAdmin: true, id: 1, userId: 1 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.user.username, username);
  });

  it('gives each user a distinct integer id and distinct tokens', async () => {
    const a = await register(ctx.url);
    const b = await register(ctx.url);
    assert.notEqual(a.user.id, b.user.id);
    assert.notEqual(a.token, b.token);
  });

  it('409 conflict when the name is taken (case-insensitively)', async () => {
    const a = await register(ctx.url);
    const same = await api(ctx.url, 'POST', '/api/auth/register', { username: a.username, password: PASSWORD });
    assertRestError(assert, same, 409, 'conflict');
    const upper = await api(ctx.url, 'POST', '/api/auth/register', { username: a.username.toUpperCase(), password: PASSWORD });
    assertRestError(assert, upper, 409, 'conflict');
  });

  it('400 invalid_payload for bad usernames, passwords, displayNames and bodies', async () => {
    const cases = [
      { username: 'ab', password: PASSWORD }, // too short
      { username: 'bad name', password: PASSWORD }, // space
      { username: 'bad!name', password: PASSWORD }, // '!'
      { username: uniqueName(), password: 'short7!' }, // 7-char password
      { username: uniqueName(), password: PASSWORD, displayName: '' },
      { username: uniqueName() }, // missing password
      { password: PASSWORD }, // missing username
      { username: 12345, password: PASSWORD }, // wrong type
    ];
    for (const body of cases) {
      const res = await api(ctx.url, 'POST', '/api/auth/register', body);
      assertRestError(assert, res, 400, 'invalid_payload');
    }
    // free-text fields above their limit: too_large ("a field or body above its limit")
    assertRestError(assert, await api(ctx.url, 'POST', '/api/auth/register', { username: uniqueName(), password: 'p'.repeat(257) }), 413, 'too_large');
    assertRestError(assert, await api(ctx.url, 'POST', '/api/auth/register', { username: uniqueName(), password: PASSWORD, displayName: 'd'.repeat(65) }), 413, 'too_large');
    // a 33-character username breaks the username rule: invalid_payload or too_large (both readings of the doc)
    const long = await api(ctx.url, 'POST', '/api/auth/register', { username: 'x'.repeat(33), password: PASSWORD });
    assert.ok([400, 413].includes(long.status), `got ${long.status}`);
    assert.ok(['invalid_payload', 'too_large'].includes(long.body.error.code));
    const malformed = await api(ctx.url, 'POST', '/api/auth/register', '{"username": "abc",');
    assertRestError(assert, malformed, 400, 'invalid_payload');
  });

  it('accepts the limits exactly: 3 and 32 character names, 8 and 256 character passwords', async () => {
    const short = `${'abcdefghijklmnopqrstuvwxyz'[Math.floor(Math.random() * 26)]}${Math.floor(Math.random() * 10)}.`;
    const r1 = await api(ctx.url, 'POST', '/api/auth/register', { username: short, password: 'p'.repeat(8) });
    assert.equal(r1.status, 201, JSON.stringify(r1.body));
    const long = (uniqueName('l') + '_'.repeat(32)).slice(0, 32);
    const r2 = await api(ctx.url, 'POST', '/api/auth/register', { username: long, password: 'p'.repeat(256) });
    assert.equal(r2.status, 201, JSON.stringify(r2.body));
    assert.equal(r2.body.user.username, long);
  });
});

describe('login', () => {
  it('returns 200 {token, user} with a new token', async () => {
    const a = await register(ctx.url);
    const res = await api(ctx.url, 'POST', '/api/auth/login', { username: a.username, password: PASSWORD });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(typeof res.body.token, 'string');
    assert.notEqual(res.body.token, a.token, 'each login issues a new token');
    assertUser(res.body.user, { id: a.user.id, username: a.username, displayName: a.username });
    // both tokens are valid
    for (const token of [a.token, res.body.token]) {
      const me = await api(ctx.url, 'GET', '/api/users/me', undefined, token);
      assert.equal(me.status, 200);
      assert.equal(me.body.user.id, a.user.id);
    }
  });

  it('login is case-insensitive on the username', async () => {
    const a = await register(ctx.url);
    const res = await api(ctx.url, 'POST', '/api/auth/login', { username: a.username.toUpperCase(), password: PASSWORD });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user.id, a.user.id);
  });

  it('answers 401 unauthorized, identically, for a wrong password and an unknown user', async () => {
    const a = await register(ctx.url);
    const wrong = await api(ctx.url, 'POST', '/api/auth/login', { username: a.username, password: 'not the password' });
    const unknown = await api(ctx.url, 'POST', '/api/auth/login', { username: uniqueName('nobody'), password: 'not the password' });
    assertRestError(assert, wrong, 401, 'unauthorized');
    assertRestError(assert, unknown, 401, 'unauthorized');
    assert.deepEqual(wrong.body, unknown.body, 'the two refusals must be the same answer');
  });
});

describe('tokens on REST', () => {
  it('GET /api/users/me returns {user}; no token, a bad token, a malformed header → 401', async () => {
    const a = await register(ctx.url, undefined, { displayName: 'Alice Example' });
    const me = await api(ctx.url, 'GET', '/api/users/me', undefined, a.token);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { user: { id: a.user.id, username: a.username, displayName: 'Alice Example' } });

    assertRestError(assert, await api(ctx.url, 'GET', '/api/users/me'), 401, 'unauthorized');
    assertRestError(assert, await api(ctx.url, 'GET', '/api/users/me', undefined, 'A'.repeat(43)), 401, 'unauthorized');
    const res = await fetch(ctx.url + '/api/users/me', { headers: { Authorization: `Token ${a.token}` } });
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.error.code, 'unauthorized');
  });

  it('GET /api/users?search=PREFIX finds users by prefix, case-insensitively, excluding yourself', async () => {
    const prefix = uniqueName('srch').replace(/[^a-z0-9]/g, '').slice(0, 14);
    const me = await register(ctx.url, `${prefix}_me`);
    const other1 = await register(ctx.url, `${prefix}_one`);
    const other2 = await register(ctx.url, `${prefix}_two`);
    await register(ctx.url); // someone unrelated
    const res = await api(ctx.url, 'GET', `/api/users?search=${prefix.toUpperCase()}`, undefined, me.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const ids = res.body.users.map((u) => u.id).sort((x, y) => x - y);
    assert.deepEqual(ids, [other1.user.id, other2.user.id].sort((x, y) => x - y));
    for (const u of res.body.users) assertUser(u, { username: u.username, displayName: u.username });

    assertRestError(assert, await api(ctx.url, 'GET', '/api/users?search=', undefined, me.token), 400, 'invalid_payload');
    const long = await api(ctx.url, 'GET', `/api/users?search=${'a'.repeat(33)}`, undefined, me.token);
    assert.ok([400, 413].includes(long.status), `a 33-character prefix must be refused, got ${long.status}`);
    assertRestError(assert, await api(ctx.url, 'GET', `/api/users?search=${prefix}`), 401, 'unauthorized');
  });

  it('search returns at most 20 users', async () => {
    const prefix = uniqueName('many').replace(/[^a-z0-9]/g, '').slice(0, 12);
    const me = await register(ctx.url, `${prefix}_me`);
    for (let i = 0; i < 22; i++) await register(ctx.url, `${prefix}_${i}`);
    const res = await api(ctx.url, 'GET', `/api/users?search=${prefix}_`, undefined, me.token);
    assert.equal(res.status, 200);
    assert.equal(res.body.users.length, 20);
    assert.ok(res.body.users.every((u) => u.id !== me.user.id));
  });
});

describe('tokens on Socket.IO', () => {
  it('a valid token connects (websocket and polling transports)', async () => {
    const a = await register(ctx.url);
    const s1 = await connect(ctx.url, a.token);
    assert.equal(s1.connected, true);
    const s2 = await connect(ctx.url, a.token, { transports: ['polling'] });
    assert.equal(s2.connected, true);
    // both get onlineUsers right after connect
    assert.deepEqual(await nextEvent(s1, 'onlineUsers'), { userIds: [] });
    assert.deepEqual(await nextEvent(s2, 'onlineUsers'), { userIds: [] });
    // the polling socket can use acks too
    const ack = await emitAck(s2, 'sync', { since: {} });
    assert.equal(ack.success, true, JSON.stringify(ack));
    s1.close();
    s2.close();
  });

  it('a missing token → connect_error "unauthorized:…"', async () => {
    const err = await connectExpectError(ctx.url, undefined);
    assert.ok(err.message.startsWith('unauthorized:'), `message was ${JSON.stringify(err.message)}`);
  });

  it('an invalid token → connect_error "unauthorized:…"', async () => {
    for (const token of ['nope', 'A'.repeat(43), '', 42]) {
      const err = await connectExpectError(ctx.url, token);
      assert.ok(err.message.startsWith('unauthorized:'), `token ${JSON.stringify(token)}: message was ${JSON.stringify(err.message)}`);
    }
  });
});

describe('logout', () => {
  it('204; revokes the token at once for REST and sockets; other tokens keep working', async () => {
    const a = await register(ctx.url);
    const second = await api(ctx.url, 'POST', '/api/auth/login', { username: a.username, password: PASSWORD });
    assert.equal(second.status, 200);
    const otherToken = second.body.token;

    const s1 = await connect(ctx.url, a.token);
    const s2 = await connect(ctx.url, a.token, { transports: ['polling'] });
    const sOther = await connect(ctx.url, otherToken);
    const d1 = waitDisconnect(s1);
    const d2 = waitDisconnect(s2);

    const res = await api(ctx.url, 'POST', '/api/auth/logout', undefined, a.token);
    assert.equal(res.status, 204);
    assert.equal(res.body, null, '204 has no body');

    await d1;
    await d2;
    assert.equal(s1.connected, false);
    assert.equal(s2.connected, false);

    assertRestError(assert, await api(ctx.url, 'GET', '/api/users/me', undefined, a.token), 401, 'unauthorized');
    const err = await connectExpectError(ctx.url, a.token);
    assert.ok(err.message.startsWith('unauthorized:'), `message was ${JSON.stringify(err.message)}`);

    // the other token (another login of the same user) is untouched
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sOther.connected, true, 'a socket opened with another token stays connected');
    const me = await api(ctx.url, 'GET', '/api/users/me', undefined, otherToken);
    assert.equal(me.status, 200);
    const ack = await emitAck(sOther, 'sync', { since: {} });
    assert.equal(ack.success, true);
    sOther.close();
  });

  it('logout without a token → 401; logging out twice → 401', async () => {
    const a = await register(ctx.url);
    assertRestError(assert, await api(ctx.url, 'POST', '/api/auth/logout'), 401, 'unauthorized');
    assert.equal((await api(ctx.url, 'POST', '/api/auth/logout', undefined, a.token)).status, 204);
    assertRestError(assert, await api(ctx.url, 'POST', '/api/auth/logout', undefined, a.token), 401, 'unauthorized');
  });
});
