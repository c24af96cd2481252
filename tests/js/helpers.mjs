// Shared helpers for the Confab end-to-end tests.
//
// Everything here is written from docs/protocol.md only. Each test file starts its own
// server (a child process with a fresh data dir) and talks to it over REST (global fetch)
// and Socket.IO (the official socket.io-client v4).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, before, after } from 'node:test';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');

export const SERVER_BIN =
  process.env.CONFAB_SERVER_BIN || join(repoRoot, 'target', 'debug', 'confab-server');

export const DEFAULT_TEST_ENV = {
  CONFAB_RATE_LIMITS: 'register=1000:1000,login=1000:1000',
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Numeric ids in ascending order (a sorted copy). */
export const sortIds = (ids) => [...ids].sort((x, y) => x - y);

// ---------------------------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------------------------

const servers = new Set();

function spawnServer(dataDir, env) {
  return new Promise((resolvePromise, reject) => {
    if (!existsSync(SERVER_BIN)) {
      reject(new Error(`server binary not found at ${SERVER_BIN} (set CONFAB_SERVER_BIN)`));
      return;
    }
    const fullEnv = { ...process.env, RUST_BACKTRACE: '1', ...env };
    for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
    const child = spawn(SERVER_BIN, ['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: fullEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = { child, stdout: '', stderr: '', exited: false, exitCode: null, signal: null };
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`server did not print its listening line in 20 s\nstdout:\n${proc.stdout}\nstderr:\n${proc.stderr}`));
    }, 20000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      proc.stderr += d;
    });
    child.stdout.on('data', (d) => {
      proc.stdout += d;
      if (settled) return;
      const m = proc.stdout.match(/^confab-server listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m);
      if (m) {
        settled = true;
        clearTimeout(timer);
        proc.url = m[1];
        resolvePromise(proc);
      }
    });
    proc.exitPromise = new Promise((r) => {
      child.on('exit', (code, signal) => {
        proc.exited = true;
        proc.exitCode = code;
        proc.signal = signal;
        r();
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`server exited early (code ${code}, signal ${signal})\nstdout:\n${proc.stdout}\nstderr:\n${proc.stderr}`));
        }
      });
    });
    child.on('error', (e) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
  });
}

/**
 * Start a server with a fresh temp data dir.
 * Returns {url, dataDir, logs(), stop(), kill(), restart()}.
 *   stop():    SIGTERM (SIGKILL after 5 s), then remove the data dir.
 *   kill():    SIGKILL, keep the data dir (for restart()).
 *   restart(): start again on the same data dir (after kill()); `url` changes (new port).
 */
export async function startServer({ env = {}, keepDefaults = true } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'confab-test-'));
  // keepDefaults: false → the server's own default rate limits (CONFAB_RATE_LIMITS unset)
  const fullEnv = { ...(keepDefaults ? DEFAULT_TEST_ENV : { CONFAB_RATE_LIMITS: undefined }), ...env };
  let proc = await spawnServer(dataDir, fullEnv);
  let previousLogs = '';
  const server = {
    url: proc.url,
    dataDir,
    logs() {
      return previousLogs + proc.stderr;
    },
    async kill() {
      if (!proc.exited) {
        proc.child.kill('SIGKILL');
        await proc.exitPromise;
      }
    },
    async restart() {
      await server.kill();
      previousLogs += proc.stderr + '\n----- restart -----\n';
      proc = await spawnServer(dataDir, fullEnv);
      server.url = proc.url;
      return server;
    },
    async stop() {
      closeAllSockets();
      if (!proc.exited) {
        proc.child.kill('SIGTERM');
        const t = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
        await proc.exitPromise;
        clearTimeout(t);
      }
      servers.delete(server);
      try {
        rmSync(dataDir, { recursive: true, force: true });
      } catch {
        /* ignore */
      }
    },
  };
  servers.add(server);
  return server;
}

/**
 * One server for the whole test file: call at the top level of the file. Registers the file's
 * before() hook (startServer(options)) and after() hook (stop()), and returns a context:
 *   ctx.server: the server (see startServer), set once before() ran;
 *   ctx.url:    the server's current url (follows ctx.server.restart()).
 */
export function useServer(options) {
  const ctx = {
    server: undefined,
    get url() {
      if (!ctx.server) throw new Error('useServer: the server is not started yet (before() has not run)');
      return ctx.server.url;
    },
  };
  before(async () => {
    ctx.server = await startServer(options);
  });
  after(async () => {
    await ctx.server?.stop();
  });
  return ctx;
}

// Print the server logs of every live server after a failing test.
afterEach((t) => {
  if (t && t.passed === false) {
    for (const s of servers) {
      const logs = s.logs();
      const tail = logs.length > 20000 ? '…' + logs.slice(-20000) : logs;
      process.stderr.write(`\n===== server stderr (${s.url}) after failing test "${t.name}" =====\n${tail}\n===== end of server stderr =====\n`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------

/** REST call. `body` may be an object (JSON-encoded) or a string (sent raw as JSON). */
export async function api(url, method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(url + path, { method, headers, body: payload });
  const text = await res.text();
  let parsed = null;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

let nameCounter = 0;
/** A unique, valid username: lower-case [a-z0-9_.-], 3–32 characters. */
export function uniqueName(prefix = 'u') {
  nameCounter += 1;
  const rnd = randomBytes(4).toString('hex');
  return `${prefix}${nameCounter}_${rnd}`.toLowerCase().slice(0, 32);
}

export const PASSWORD = 'correct horse battery';

/** Register a fresh user. Returns {token, user, username, password}. */
export async function register(url, name, { password = PASSWORD, displayName } = {}) {
  const username = name || uniqueName();
  const body = { username, password };
  if (displayName !== undefined) body.displayName = displayName;
  const res = await api(url, 'POST', '/api/auth/register', body);
  if (res.status !== 201) {
    throw new Error(`register ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return { token: res.body.token, user: res.body.user, username, password };
}

/** `a` sends a friend request to `b`, `b` accepts. Returns the accept response body. */
export async function makeFriends(url, a, b) {
  const req = await api(url, 'POST', '/api/friends/requests', { username: b.user.username }, a.token);
  if (req.status !== 201) throw new Error(`friend request failed: ${req.status} ${JSON.stringify(req.body)}`);
  const acc = await api(url, 'POST', `/api/friends/requests/${req.body.request.id}/accept`, undefined, b.token);
  if (acc.status !== 200) throw new Error(`accept failed: ${acc.status} ${JSON.stringify(acc.body)}`);
  return acc.body;
}

/** `a` opens (or gets) the direct conversation with friend `b`. Returns the Conversation. */
export async function directConversation(url, a, b) {
  const res = await api(url, 'POST', '/api/messages/conversations', { participantIds: [b.user.id] }, a.token);
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`create conversation failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.conversation;
}

/** GET one conversation as `user` sees it (requires 200). Returns the Conversation. */
export async function getConversation(url, user, convId) {
  const res = await api(url, 'GET', `/api/messages/conversations/${convId}`, undefined, user.token);
  if (res.status !== 200) throw new Error(`get conversation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.conversation;
}

/** Two fresh users who are friends, and their direct conversation. */
export async function friendPair(url) {
  const a = await register(url);
  const b = await register(url);
  await makeFriends(url, a, b);
  const conv = await directConversation(url, a, b);
  return { a, b, conv };
}

/** History page (REST). */
export async function history(url, user, convId, query = '') {
  const res = await api(url, 'GET', `/api/messages/conversations/${convId}/messages${query}`, undefined, user.token);
  if (res.status !== 200) throw new Error(`history failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// ---------------------------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------------------------

const sockets = new Set();

/**
 * Connect with `auth: {token}` and wait for 'connect' (reject on 'connect_error').
 * Every received event is recorded in a mailbox from the very start, so an event that
 * arrives before nextEvent() is called (e.g. `onlineUsers`, sent right on connect) is not lost.
 */
export function connect(url, token, { timeoutMs = 5000, transports = ['websocket'] } = {}) {
  const opts = {
    reconnection: false,
    forceNew: true,
    transports,
    timeout: timeoutMs,
  };
  if (token !== undefined) opts.auth = { token };
  const socket = io(url, opts);
  sockets.add(socket);
  installMailbox(socket);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.close();
      reject(new Error('socket connect timed out'));
    }, timeoutMs + 1000);
    const onConnect = () => {
      cleanup();
      resolvePromise(socket);
    };
    const onError = (err) => {
      cleanup();
      socket.close();
      reject(err);
    };
    function cleanup() {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Connect as `user` ({token}) and wait for the `onlineUsers` event sent right on connect. */
export async function connectReady(url, user, options) {
  const socket = await connect(url, user.token, options);
  await nextEvent(socket, 'onlineUsers');
  return socket;
}

/** Connect expecting a refusal; resolves with the connect_error Error. */
export function connectExpectError(url, token, { timeoutMs = 5000, transports = ['websocket'] } = {}) {
  return connect(url, token, { timeoutMs, transports }).then(
    (s) => {
      s.close();
      throw new Error('expected connect_error, but the socket connected');
    },
    (err) => err,
  );
}

export function closeAllSockets() {
  for (const s of sockets) s.close();
  sockets.clear();
}

function installMailbox(socket) {
  socket.__mailbox = []; // [{event, payload}]
  socket.__waiters = []; // [{event, filter, resolve}]
  socket.onAny((event, ...args) => {
    const payload = args[0];
    const idx = socket.__waiters.findIndex((w) => w.event === event && safeFilter(w.filter, payload));
    if (idx >= 0) {
      const [w] = socket.__waiters.splice(idx, 1);
      w.resolve(payload);
    } else {
      socket.__mailbox.push({ event, payload });
    }
  });
}

function safeFilter(filter, payload) {
  if (!filter) return true;
  try {
    return Boolean(filter(payload));
  } catch {
    return false;
  }
}

/**
 * Resolves with the earliest not-yet-consumed `event` payload (received since connect) that
 * passes `filter`; waits up to timeoutMs for one otherwise.
 */
export function nextEvent(socket, event, { timeoutMs = 5000, filter } = {}) {
  const idx = socket.__mailbox.findIndex((m) => m.event === event && safeFilter(filter, m.payload));
  if (idx >= 0) {
    const [m] = socket.__mailbox.splice(idx, 1);
    return Promise.resolve(m.payload);
  }
  return new Promise((resolvePromise, reject) => {
    const waiter = {
      event,
      filter,
      resolve: (p) => {
        clearTimeout(timer);
        resolvePromise(p);
      },
    };
    const timer = setTimeout(() => {
      const i = socket.__waiters.indexOf(waiter);
      if (i >= 0) socket.__waiters.splice(i, 1);
      const seen = socket.__mailbox.map((m) => m.event).join(', ');
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}' (unconsumed events: [${seen}])`));
    }, timeoutMs);
    socket.__waiters.push(waiter);
  });
}

/** All unconsumed payloads of `event` (consumes them). */
export function takeAll(socket, event, filter) {
  const out = [];
  socket.__mailbox = socket.__mailbox.filter((m) => {
    if (m.event === event && safeFilter(filter, m.payload)) {
      out.push(m.payload);
      return false;
    }
    return true;
  });
  return out;
}

/** Forget every unconsumed event (or only those named `event`). */
export function drain(socket, event) {
  if (event === undefined) socket.__mailbox = [];
  else socket.__mailbox = socket.__mailbox.filter((m) => m.event !== event);
}

/** Wait until `socket` has received messageReceived for each of `ids` (consumes them). */
export async function receiveIds(socket, ids, timeoutMs = 5000) {
  const out = [];
  for (const id of ids) out.push(await nextEvent(socket, 'messageReceived', { timeoutMs, filter: (m) => m.id === id }));
  return out;
}

/** Fails if `event` (passing `filter`) is, or within `ms` gets, in the mailbox. */
export async function expectNoEvent(socket, event, ms = 400, { filter } = {}) {
  await sleep(ms);
  const got = socket.__mailbox.filter((m) => m.event === event && safeFilter(filter, m.payload));
  if (got.length > 0) {
    throw new Error(`unexpected '${event}' event(s): ${JSON.stringify(got.map((m) => m.payload))}`);
  }
}

/** Emit with an ack (socket.timeout(ms).emitWithAck) and return the ack object. */
export async function emitAck(socket, event, payload, timeoutMs = 5000) {
  try {
    return await socket.timeout(timeoutMs).emitWithAck(event, payload);
  } catch (e) {
    throw new Error(`no ack for '${event}' within ${timeoutMs} ms (${e.message})`);
  }
}

/** Emit with an ack and require success; returns the ack. */
export async function emitOk(socket, event, payload, timeoutMs = 5000) {
  const ack = await emitAck(socket, event, payload, timeoutMs);
  if (!ack || ack.success !== true) {
    throw new Error(`'${event}' ${JSON.stringify(payload)} was refused: ${JSON.stringify(ack)}`);
  }
  return ack;
}

/** sendMessage and require success; returns the stored Message. */
export async function send(socket, conversationId, content, clientMsgId = randomUUID()) {
  const ack = await emitOk(socket, 'sendMessage', { conversationId, content, clientMsgId });
  return ack.message;
}

/** Wait until a socket is disconnected; resolves with the reason. */
export function waitDisconnect(socket, timeoutMs = 5000) {
  if (socket.disconnected) return Promise.resolve('already disconnected');
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not disconnected within ${timeoutMs} ms`)), timeoutMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolvePromise(reason);
    });
  });
}

/** Assert the shape of an error ack. */
export function assertErrorAck(assert, ack, code) {
  assert.equal(typeof ack, 'object', `ack should be an object, got ${JSON.stringify(ack)}`);
  assert.notEqual(ack, null);
  assert.equal(ack.success, false, `expected a refusal, got ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error, 'object', `ack.error missing: ${JSON.stringify(ack)}`);
  assert.equal(ack.error.code, code, `expected code ${code}, got ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error.message, 'string');
}

/** Assert a REST error answer. */
export function assertRestError(assert, res, status, code) {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body, 'object', `error body should be JSON: ${JSON.stringify(res.body)}`);
  assert.notEqual(res.body, null);
  assert.equal(typeof res.body.error, 'object', `body.error missing: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, code, `expected code ${code}, got ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.error.message, 'string');
}

/** Message keys per the doc (call messages add `call`). */
export const MESSAGE_KEYS = [
  'id', 'conversationId', 'seq', 'updatedSeq', 'senderId', 'senderUsername', 'type', 'content',
  'clientMsgId', 'timestamp', 'editedAt', 'deletedAt', 'pinned', 'pinnedBy', 'reactions',
];

export function assertMessageShape(assert, m) {
  assert.equal(typeof m, 'object');
  assert.notEqual(m, null);
  for (const k of MESSAGE_KEYS) {
    assert.ok(Object.hasOwn(m, k), `message lacks '${k}': ${JSON.stringify(m)}`);
  }
  assert.ok(Number.isInteger(m.id), 'id is an integer');
  assert.ok(Number.isInteger(m.conversationId), 'conversationId is an integer');
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1, 'seq is an integer >= 1');
  assert.ok(Number.isInteger(m.updatedSeq) && m.updatedSeq >= m.seq, 'updatedSeq >= seq');
  assert.ok(Number.isInteger(m.senderId), 'senderId is an integer');
  assert.equal(typeof m.senderUsername, 'string');
  assert.ok(Number.isInteger(m.timestamp), 'timestamp is an integer (ms)');
  assert.equal(typeof m.pinned, 'boolean');
  assert.equal(typeof m.reactions, 'object');
  assert.notEqual(m.reactions, null);
}

/** Timestamp in ms since the epoch, close to now. */
export function assertRecentMs(assert, t, label = 'timestamp') {
  assert.ok(Number.isInteger(t), `${label} should be an integer ms value, got ${t}`);
  const now = Date.now();
  assert.ok(Math.abs(now - t) < 120000, `${label} ${t} should be close to now ${now} (ms since epoch)`);
}

export { randomUUID };
