// Rate limits with the server's default buckets (CONFAB_RATE_LIMITS unset).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, api, register, connectReady, emitAck, takeAll, sleep, makeFriends, directConversation,
  history, randomUUID, uniqueName, PASSWORD, assertRestError,
} from './helpers.mjs';

const ctx = useServer({ keepDefaults: false });

let a, b, conv, sa, sb;

describe('rate limits (defaults)', () => {
  before(async () => {
    a = await register(ctx.url);
    b = await register(ctx.url);
    await makeFriends(ctx.url, a, b);
    conv = await directConversation(ctx.url, a, b);
    sa = await connectReady(ctx.url, a);
    sb = await connectReady(ctx.url, b);
  });
  after(() => {
    sa?.close();
    sb?.close();
  });

  it('30 rapid sendMessage: the burst (20) passes, the rest get rate_limited with retryAfterMs > 0', async () => {
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      emitAck(sa, 'sendMessage', { conversationId: conv.id, content: `flood ${i}`, clientMsgId: randomUUID() })));
    const ok = acks.filter((x) => x.success === true);
    const limited = acks.filter((x) => x.success === false);
    assert.equal(ok.length + limited.length, 30, JSON.stringify(acks.filter((x) => typeof x.success !== 'boolean')));
    assert.ok(ok.length >= 20 && ok.length <= 23, `burst 20 (+ a little refill) should pass, ${ok.length} did`);
    assert.ok(limited.length >= 7, `${limited.length} refused`);
    for (const x of limited) {
      assert.equal(x.error.code, 'rate_limited', JSON.stringify(x));
      assert.equal(typeof x.error.message, 'string');
      assert.ok(Number.isInteger(x.error.retryAfterMs) && x.error.retryAfterMs > 0 && x.error.retryAfterMs <= 1000,
        `retryAfterMs at 10/s should be in (0, 1000]: ${JSON.stringify(x)}`);
    }
    // only the accepted ones were stored and delivered, with gapless seqs
    const seqs = ok.map((x) => x.message.seq).sort((p, q) => p - q);
    assert.deepEqual(seqs, Array.from({ length: ok.length }, (_, i) => i + 1));
    await sleep(300);
    const got = takeAll(sb, 'messageReceived');
    assert.equal(got.length, ok.length);
    const h = await history(ctx.url, a, conv.id, '?limit=100');
    assert.equal(h.messages.length, ok.length);

    // after waiting as told, sending works again
    const wait = Math.max(...limited.map((x) => x.error.retryAfterMs));
    await sleep(wait + 50);
    const again = await emitAck(sa, 'sendMessage', { conversationId: conv.id, content: 'after the wait', clientMsgId: randomUUID() });
    assert.equal(again.success, true, JSON.stringify(again));
  });

  it('typing flood: every ack is a success, the excess is {success:true, dropped:true} and is not relayed', async () => {
    const acks = await Promise.all(Array.from({ length: 20 }, () =>
      emitAck(sa, 'userTyping', { conversationId: conv.id, isTyping: true })));
    for (const x of acks) {
      assert.equal(x.success, true, `typing is never refused: ${JSON.stringify(x)}`);
      assert.equal(x.error, undefined);
    }
    const dropped = acks.filter((x) => x.dropped === true);
    const passed = acks.filter((x) => x.dropped !== true);
    assert.ok(passed.length >= 5 && passed.length <= 7, `burst 5 should pass, ${passed.length} did`);
    assert.equal(dropped.length, 20 - passed.length);
    for (const x of dropped) assert.deepEqual(x, { success: true, dropped: true });
    await sleep(300);
    const relayed = takeAll(sb, 'userTyping');
    assert.equal(relayed.length, passed.length, 'only the accepted ones are relayed');
  });

  it('typing flood with isTyping alternating: the bucket covers every userTyping (burst 5)', async () => {
    // b's bucket is untouched so far
    const acks = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      emitAck(sb, 'userTyping', { conversationId: conv.id, isTyping: i % 2 === 0 })));
    for (const x of acks) assert.equal(x.success, true, JSON.stringify(x));
    const passed = acks.filter((x) => x.dropped !== true);
    await sleep(300);
    const relayed = takeAll(sa, 'userTyping');
    assert.equal(relayed.length, passed.length, 'only the accepted ones are relayed');
    assert.ok(passed.length >= 5 && passed.length <= 7,
      `userTyping is 2/s, burst 5 whatever isTyping says: ${passed.length} of 20 passed (${relayed.filter((e) => !e.isTyping).length} relayed with isTyping:false)`);
  });

  it('login: 10 attempts per username pass (burst), then 429 rate_limited with Retry-After and retryAfterMs', async () => {
    const victim = await register(ctx.url);
    const statuses = [];
    for (let i = 0; i < 10; i++) {
      const res = await api(ctx.url, 'POST', '/api/auth/login', { username: victim.username, password: 'wrong password' });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, Array(10).fill(401));
    const limited = await api(ctx.url, 'POST', '/api/auth/login', { username: victim.username, password: 'wrong password' });
    assertRestError(assert, limited, 429, 'rate_limited');
    assert.ok(Number.isInteger(limited.body.error.retryAfterMs) && limited.body.error.retryAfterMs > 0, JSON.stringify(limited.body));
    const retryAfter = limited.headers.get('retry-after');
    assert.match(String(retryAfter), /^\d+$/, `Retry-After header in seconds, got ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1);
    assert.ok(Math.abs(Number(retryAfter) * 1000 - limited.body.error.retryAfterMs) <= 1000,
      `Retry-After ${retryAfter}s vs retryAfterMs ${limited.body.error.retryAfterMs}`);
    // even the right password is refused while limited
    const right = await api(ctx.url, 'POST', '/api/auth/login', { username: victim.username, password: PASSWORD });
    assertRestError(assert, right, 429, 'rate_limited');
    // another username is not affected
    const other = await api(ctx.url, 'POST', '/api/auth/login', { username: a.username, password: PASSWORD });
    assert.equal(other.status, 200, JSON.stringify(other.body));
  });

  it('register: 20 per IP (burst), then 429 rate_limited', async () => {
    // 3 users registered above; keep going until the bucket (burst 20) is empty
    let firstLimited = -1;
    for (let i = 0; i < 25; i++) {
      const res = await api(ctx.url, 'POST', '/api/auth/register', { username: uniqueName('rl'), password: PASSWORD });
      if (res.status === 429) {
        firstLimited = i;
        assertRestError(assert, res, 429, 'rate_limited');
        assert.ok(res.body.error.retryAfterMs > 0);
        assert.ok(Number(res.headers.get('retry-after')) >= 1);
        break;
      }
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    assert.ok(firstLimited >= 0, 'registration must eventually be rate limited');
    assert.ok(firstLimited >= 16 && firstLimited <= 18, `the 21st registration from this IP should be refused (got refused at attempt ${firstLimited + 4})`);
  });
});
