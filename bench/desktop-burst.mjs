// The desktop app under a burst of incoming messages, against issue 18's targets: the real app
// (driven like the end-to-end suite, tests/e2e/lib.mjs) is signed in as user A; user B (REST and
// Socket.IO, the official socket.io-client) posts BURST messages into a group that A has not
// opened, as fast as the server takes them (its rate limits are off). Measured:
//   1. the CPU-seconds of the app's process tree (confab-desktop + WebKit's children, /proc) per
//      1,000 messages, thousand by thousand: between the moments the client core's cache (its SQLite
//      file, read with sqlite3) held (k-1)·1,000 and k·1,000 of them (also by what the list showed:
//      the list can show the newest long before the app has worked through the rest); the time from the last
//      arrival to the app being idle (< IDLE_PERCENT % of one core over 1 s); the lag from a
//      message's send to it showing as the newest in the list (WebDriver reads the list every
//      SAMPLE_MS);
//   2. the whole app's PSS (smaps_rollup of the tree): idle after sign-in, after the burst, with the
//      burst's conversation open and scrolled up PAGES pages, and after opening another conversation;
//   3. the time from setting the message list's scrollTop to 0 to the older page's bubbles in the DOM;
//   4. cold start with the server down: the app quit and started again on the same profile, from
//      the process's start to the burst conversation's bubbles on screen (COLD_RUNS runs).
//
//   bench/desktop-burst.sh              (builds what it needs, runs this under Xvfb)
//
// Env: CONFAB_DESKTOP_BIN, CONFAB_SERVER_BIN, BURST (default 10000), IN_FLIGHT (sends awaiting their
// ack, default 32), SAMPLE_MS (200), PAGES (10), COLD_RUNS (5), IDLE_PERCENT (2), MUTE=1 (mute the
// group first: no system notification per message), CHUNK=1000 (instead of one burst: steps of
// CHUNK messages, each followed by a wait until the app is idle, so that each step's CPU is its own
// whatever the app defers; no list lag then). Prints one JSON line per measurement and
// writes desktop-burst.json to SCREENSHOTS_DIR.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';

import {
  children, desktopBin, freePort, openApp, register, serverBin, shot, shots, start, stop, waitFor,
} from '../tests/e2e/lib.mjs';

const N = Number(process.env.BURST ?? 10_000);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 32);
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 200);
const PAGES = Number(process.env.PAGES ?? 10);
const COLD_RUNS = Number(process.env.COLD_RUNS ?? 5);
const IDLE_PERCENT = Number(process.env.IDLE_PERCENT ?? 2);
const CHUNK = Number(process.env.CHUNK ?? 0);
// Per 1,000 messages; a small burst is cut into fifths (still reported per 1,000).
const BUCKET = N >= 5000 ? 1000 : Math.max(1, Math.floor(N / 5));
const PASSWORD = 'correct horse';
const GROUP = 'Burst';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const MiB = 1024 * 1024;
const round = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? x : Number(x.toFixed(digits)));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = { messages: N, profile: process.env.BENCH_PROFILE ?? null, desktopBin, serverBin, load: { start: loadavg() } };
/** One JSON line per measurement, kept for desktop-burst.json too. */
function report(measurement, value) {
  results[measurement] = value;
  console.log(JSON.stringify({ measurement, ...value }));
}

// ---- /proc: the app's process tree ----
function processes() {
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
      all.set(Number(name), {
        name: text.slice(text.indexOf('(') + 1, text.lastIndexOf(') ')),
        state: fields[0],
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]),
        startTicks: Number(fields[19]),
      });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}
/** The pid of the app started with `home` as its profile (several apps may run on this machine). */
function appPid(home) {
  let pids = [];
  try {
    pids = execFileSync('pgrep', ['-f', desktopBin], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    return undefined;
  }
  return pids.find((p) => {
    try {
      return readFileSync(`/proc/${p}/environ`, 'utf8').includes(home);
    } catch {
      return false;
    }
  });
}
/** The app's process and its descendants: pid → {name, ticks}. */
function tree(root) {
  const all = processes();
  const ours = new Map();
  for (const [pid, p] of all) {
    for (let q = pid; q > 1; q = all.get(q)?.ppid ?? 0) {
      if (q === root) {
        ours.set(pid, p);
        break;
      }
    }
  }
  return ours;
}
/** CPU-seconds used so far by the tree, in all and by process name. */
function cpu(root) {
  const byProcess = {};
  let total = 0;
  for (const p of tree(root).values()) {
    byProcess[p.name] = (byProcess[p.name] ?? 0) + p.ticks / TICKS_PER_SECOND;
    total += p.ticks / TICKS_PER_SECOND;
  }
  return { total, byProcess };
}
const cpuDelta = (a, b) => ({
  total: round(b.total - a.total),
  byProcess: Object.fromEntries(Object.entries(b.byProcess).map(([k, v]) => [k, round(v - (a.byProcess[k] ?? 0))])),
});
/** CPU-seconds so far by thread name (`process/thread`), over the tree's live threads; what a
 * process's threads that have ended used shows as `process/(ended threads)`. */
function threadCpu(root) {
  const out = {};
  for (const [pid, p] of tree(root)) {
    let live = 0;
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
        const name = `${p.name}/${text.slice(text.indexOf('(') + 1, text.lastIndexOf(') '))}`;
        const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
        out[name] = (out[name] ?? 0) + seconds;
        live += seconds;
      } catch {
        // ended meanwhile
      }
    }
    const ended = `${p.name}/(ended threads)`;
    out[ended] = (out[ended] ?? 0) + Math.max(0, p.ticks / TICKS_PER_SECOND - live);
  }
  return out;
}
/** The threads that used the most between two `threadCpu()`, CPU-seconds. */
function topThreads(before, after, n = 8) {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, round(v - (before[k] ?? 0))])
    .filter(([, v]) => v >= 0.05).sort((x, y) => y[1] - x[1]).slice(0, n));
}
/** CPU-seconds of one process (the server), or null. */
function cpuOf(pid) {
  const p = processes().get(pid);
  return p ? p.ticks / TICKS_PER_SECOND : null;
}
/** PSS and RSS of the tree (smaps_rollup), MiB, in all and by process name. */
function memory(root) {
  const out = { pssMiB: 0, rssMiB: 0, pssByProcess: {} };
  for (const [pid, p] of tree(root)) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      continue;
    }
    const kb = (key) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
    out.pssMiB += (kb('Pss') * 1024) / MiB;
    out.rssMiB += (kb('Rss') * 1024) / MiB;
    out.pssByProcess[p.name] = round((out.pssByProcess[p.name] ?? 0) + (kb('Pss') * 1024) / MiB, 1);
  }
  out.pssMiB = round(out.pssMiB, 1);
  out.rssMiB = round(out.rssMiB, 1);
  return out;
}
/** When a process started, in ms since the epoch (10 ms resolution: the kernel counts in ticks). */
function startedAtMs(pid) {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const bootMs = Date.now() - uptime * 1000;
  return bootMs + (processes().get(pid).startTicks / TICKS_PER_SECOND) * 1000;
}
/** How many messages of `conversationId` the app's client core holds in its cache (sqlite3), or
 * null when it cannot tell. */
function storedCount(home, conversationId) {
  try {
    const dir = join(home, 'data');
    const db = readdirSync(dir).find((f) => /^cache-.*\.db$/.test(f));
    if (!db) return null;
    const out = execFileSync('sqlite3', ['-readonly', '-cmd', '.timeout 2000', join(dir, db),
      `select count(*) from messages where conversation_id = ${Number(conversationId)}`], { encoding: 'utf8' });
    return Number(out.trim());
  } catch {
    return null;
  }
}
/**
 * Waits until the tree uses less than IDLE_PERCENT % of one core over a 1 s window; returns the
 * start of that window (ms since the epoch). No WebDriver call meanwhile (it would cost CPU itself).
 */
async function idleFrom(root, timeoutMs) {
  const history = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    history.push({ t: Date.now(), cpu: cpu(root).total });
    const now = history.at(-1);
    const from = history.findLast((h) => now.t - h.t >= 1000);
    if (from && (now.cpu - from.cpu) / ((now.t - from.t) / 1000) < IDLE_PERCENT / 100) return from.t;
    await sleep(100);
  }
  return null;
}

// ---- the server (rate limits off) and the app on a profile kept across restarts ----
async function startServer(port, dataDir) {
  const child = start(serverBin, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--rate-limits', 'off']);
  await waitFor('the server', () => child.output.includes('listening on'));
  return child;
}
async function killServer(child) {
  const exited = new Promise((r) => child.once('exit', r));
  stop(child);
  await exited;
}

/** Starts the app on the profile `home` (the same `home` again is the same signed-in user). */
async function launch(home, serverUrl) {
  // 'burst': lib.mjs's shot() finds the window by the profile's name (confab-e2e-burst-…).
  const app = await openApp('burst', serverUrl, {}, home);
  await app.setTimeout({ script: 60_000 });
  return app;
}
async function quit(app, home) {
  const pid = appPid(home);
  await app.deleteSession().catch(() => {});
  stop(app.driverProcess);
  await waitFor('the app gone', () => pid === undefined || [undefined, 'Z'].includes(processes().get(pid)?.state), 20_000)
    .catch(() => {});
}

// ---- REST and Socket.IO as user B ----
async function rest(serverUrl, method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${serverUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}
function connectSocket(serverUrl, token) {
  const socket = io(serverUrl, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((res, rej) => {
    socket.once('connect', () => res(socket));
    socket.once('connect_error', rej);
  });
}

// ---- what the conversation list shows of the group ----
/** The group's entry: the number of the newest message in its preview, its unread badge, and
 * whether it is the first entry of the list. */
const listState = (app) => app.execute((group) => {
  const entry = document.querySelector(`[data-testid^="conversation-"][data-name="${group}"]`);
  if (!entry) return null;
  const preview = entry.querySelector('.preview')?.textContent ?? '';
  const match = preview.match(/burst (\d+)$/);
  return {
    shown: match ? Number(match[1]) : 0,
    unread: entry.querySelector('[data-testid="unread"]')?.textContent ?? '',
    first: document.querySelector('[data-testid^="conversation-"]') === entry,
  };
}, GROUP);

/** Older pages in the open conversation: scrolled near the top (the bubble at the top noted), then
 * scrollTop = 0 in the page, and the time until a bubble older than every one in the DOM before is
 * in the DOM (and until the list's data-loaded grew). */
const olderPage = (app) => app.executeAsync((done) => {
  const list = document.querySelector('[data-testid="messages"]');
  const numbers = () => [...list.querySelectorAll('[data-testid="message"]')]
    .map((m) => Number((m.getAttribute('data-content') ?? '').replace('burst ', '')))
    .filter((n) => Number.isFinite(n) && n > 0);
  const loaded = () => Number(list.dataset.loaded);
  const before = { loaded: loaded(), oldest: Math.min(...numbers()), inDom: numbers().length };
  let loadedMs = null;
  const started = performance.now();
  list.scrollTop = 0;
  const check = () => {
    const ms = performance.now() - started;
    if (loadedMs === null && loaded() > before.loaded) loadedMs = ms;
    const oldest = Math.min(...numbers());
    if (oldest < before.oldest) return done({ ms, loadedMs, before, after: { loaded: loaded(), oldest, inDom: numbers().length } });
    const start = list.dataset.hasOlder === 'false';
    if (ms > 20_000 || start) return done({ ms: null, start, loadedMs, before, after: { loaded: loaded(), oldest, inDom: numbers().length } });
    setTimeout(check, 2);
  };
  check();
});

/** On a freshly started app: waits for the group in the list, clicks it, waits for a bubble inside
 * the message list's view. Times in ms since the epoch. */
const openGroupCold = (app) => app.executeAsync((group, done) => {
  const at = { script: Date.now(), timeOrigin: performance.timeOrigin, signIn: false };
  const step = () => {
    if (Date.now() - at.script > 30_000) return done({ ...at, timeout: true, body: document.body.innerText.slice(0, 300) });
    const entry = document.querySelector(`[data-testid^="conversation-"][data-name="${group}"]`);
    if (!entry) return setTimeout(step, 2);
    if (!at.entry) {
      at.entry = Date.now();
      at.entryWasThere = at.entry - at.script < 3;
      entry.click();
    }
    const list = document.querySelector('[data-testid="messages"]');
    const box = list?.getBoundingClientRect();
    const visible = list && [...list.querySelectorAll('[data-testid="message"]')].some((m) => {
      const r = m.getBoundingClientRect();
      return r.height > 0 && r.bottom > box.top && r.top < box.bottom;
    });
    if (!visible) return setTimeout(step, 2);
    at.bubbles = Date.now();
    done(at);
  };
  step();
}, GROUP);

let app;
let home;
let server;
try {
  const dataDir = mkdtempSync(join(tmpdir(), 'confab-burst-server-'));
  const port = await freePort();
  const serverUrl = `http://127.0.0.1:${port}`;
  server = await startServer(port, dataDir);
  home = mkdtempSync(join(tmpdir(), 'confab-e2e-burst-'));

  // A signs up in the app; B through REST; they become friends, B opens a direct chat with one
  // message (the conversation A opens) and the group.
  app = await launch(home, serverUrl);
  const suffix = Math.random().toString(36).slice(2, 7);
  const [aName, bName] = [`a_${suffix}`, `b_${suffix}`];
  await register(app, aName);
  const pid = appPid(home);
  if (!pid) throw new Error('the app process not found');
  await idleFrom(pid, 60_000);
  report('pssAfterSignIn', memory(pid));

  const a = await rest(serverUrl, 'POST', '/api/auth/login', { username: aName, password: PASSWORD });
  const b = await rest(serverUrl, 'POST', '/api/auth/register', { username: bName, password: PASSWORD });
  const { request } = await rest(serverUrl, 'POST', '/api/friends/requests', { username: aName }, b.token);
  await rest(serverUrl, 'POST', `/api/friends/requests/${request.id}/accept`, undefined, a.token);
  const { conversation: direct } = await rest(serverUrl, 'POST', '/api/messages/conversations', { participantIds: [a.user.id] }, b.token);
  await rest(serverUrl, 'POST', `/api/messages/conversations/${direct.id}/messages`, { content: 'hello', clientMsgId: `hello-${suffix}` }, b.token);
  const { conversation: group } = await rest(serverUrl, 'POST', '/api/messages/conversations', { participantIds: [a.user.id], title: GROUP }, b.token);
  const entry = (name) => app.$(`[data-testid^="conversation-"][data-name="${name}"]`);
  await waitFor('the group in the list', async () => (await entry(GROUP)).isExisting());
  if (process.env.MUTE) {
    // Muting is done from the open conversation; it is closed again before the burst.
    await (await entry(GROUP)).click();
    const mute = await app.$('[data-testid="mute"]');
    await mute.waitForClickable({ timeout: 20_000 });
    await mute.click();
    await waitFor('the group muted', async () => (await mute.getText()) === 'Unmute');
  }
  // A reads the direct chat: the group stays closed.
  await (await entry(bName)).click();
  await waitFor('the direct chat open', async () => (await (await app.$('[data-testid="chat-title"]')).getText()) === bName);
  await idleFrom(pid, 60_000);
  report('pssBeforeBurst', memory(pid));

  // ---- 1. the burst ----
  if (CHUNK) {
    // In steps of CHUNK: each sent as fast as the server takes it, then the app is waited for
    // until its cache holds them and it is idle; the CPU of each step, with the history growing.
    const socket = await connectSocket(serverUrl, b.token);
    const steps = [];
    const cpuStart = cpu(pid);
    results.load.burstStart = loadavg();
    for (let first = 1; first <= N; first += CHUNK) {
      const last = Math.min(N, first + CHUNK - 1);
      const before = cpu(pid);
      const threadsBefore = threadCpu(pid);
      const started = Date.now();
      let next = first;
      const worker = async () => {
        while (next <= last) {
          const i = next++;
          const ack = await socket.timeout(60_000).emitWithAck('sendMessage', { conversationId: group.id, content: `burst ${i}`, clientMsgId: `burst-${suffix}-${i}` });
          if (!ack?.success) throw new Error(`message ${i} refused: ${JSON.stringify(ack)}`);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      const sent = Date.now();
      await waitFor(`${last} in the cache`, () => (storedCount(home, group.id) ?? 0) >= last, 15 * 60_000);
      const stored = Date.now();
      const idleAt = await idleFrom(pid, 15 * 60_000);
      const used = cpuDelta(before, cpu(pid));
      steps.push({
        messages: `${first}-${last}`,
        cpuSecondsPer1000: round((used.total * 1000) / (last - first + 1)),
        byProcess: used.byProcess,
        sendSeconds: round((sent - started) / 1000),
        storedAfterSentMs: stored - sent,
        idleAfterSentMs: idleAt === null ? null : idleAt - sent,
        busiestThreads: topThreads(threadsBefore, threadCpu(pid), 4),
      });
      console.log(JSON.stringify({ measurement: 'step', ...steps.at(-1) }));
    }
    socket.close();
    results.load.burstEnd = loadavg();
    report('burst', {
      messages: N,
      chunk: CHUNK,
      appCpuSeconds: cpuDelta(cpuStart, cpu(pid)),
      cpuPer1000: steps,
      lastVsFirst: round(steps.at(-1).cpuSecondsPer1000 / steps[0].cpuSecondsPer1000),
      idleAfterLastArrivalMs: steps.at(-1).idleAfterSentMs,
      listLagMs: {},
    });
  } else {
    // ---- 1. the burst ----
    const socket = await connectSocket(serverUrl, b.token);
    const sentAt = new Array(N + 1);
    const ackedAt = new Array(N + 1);
    let next = 1;
    let sending = true;
    const send = async (i) => {
      sentAt[i] = Date.now();
      const ack = await socket.timeout(60_000).emitWithAck('sendMessage', { conversationId: group.id, content: `burst ${i}`, clientMsgId: `burst-${suffix}-${i}` });
      if (!ack?.success) throw new Error(`message ${i} refused: ${JSON.stringify(ack)}`);
      ackedAt[i] = Date.now();
    };
    const worker = async () => {
      while (next < N) await send(next++);
    };
    const serverCpuBefore = cpuOf(server.pid);
    const cpuStart = cpu(pid);
    const threadsStart = threadCpu(pid);
    const burstStarted = Date.now();
    results.load.burstStart = loadavg();
    // All but the last in parallel, then the last alone: it is the newest.
    const sender = Promise.all(Array.from({ length: IN_FLIGHT }, worker)).then(() => send(N)).finally(() => {
      sending = false;
    });
    sender.catch(() => {});

    // Each read: what the list shows (WebDriver) and how many of the group's messages the client
    // core has stored in its cache (sqlite3, read-only: WAL readers do not block the app). After the
    // list shows the last, only the cache is read (no WebDriver) until it holds them all.
    const samples = [];
    let shown = 0;
    let stored = 0;
    let shownAllAt = null;
    while (true) {
      const t0 = Date.now();
      const state = shown >= N ? null : await listState(app);
      const t = Date.now();
      stored = storedCount(home, group.id) ?? stored;
      const c = cpu(pid);
      const sample = { t, readMs: t - t0, shown: state?.shown ?? shown, stored, unread: state?.unread, first: state?.first, sent: next - 1, cpu: c.total, byProcess: c.byProcess };
      if (state && sample.shown !== shown) {
        // How long the newest shown took since it was sent (the read's start: an upper bound by the read).
        sample.lagMs = sentAt[sample.shown] !== undefined ? t0 - sentAt[sample.shown] : null;
        shown = sample.shown;
        if (shown >= N) shownAllAt = t;
      }
      if (state) {
        // How long the list has been behind: since the oldest message newer than the shown one was acked.
        let behind = 0;
        for (let i = shown + 1; i <= N && ackedAt[i] !== undefined; i++) behind = Math.max(behind, t0 - ackedAt[i]);
        sample.behindMs = behind;
      }
      samples.push(sample);
      if (shown >= N && stored >= N) break;
      if (!sending && ackedAt[N] === undefined) await sender; // the sender failed: its error
      if (!sending && Date.now() - ackedAt[N] > 15 * 60_000) throw new Error(`the list shows ${shown}, the cache holds ${stored} of ${N} 15 min after the last send`);
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - t0)));
    }
    await sender;
    socket.close();
    const lastAck = ackedAt[N];
    const storedAllAt = samples.at(-1).t;
    const lastListSample = samples.findLast((s) => s.unread !== undefined);
    const idleAt = await idleFrom(pid, 15 * 60_000);
    const cpuEnd = cpu(pid);
    const threadsEnd = threadCpu(pid);
    results.load.burstEnd = loadavg();

    // CPU per 1,000 messages: between the moments (k-1)·BUCKET and k·BUCKET were stored in the
    // cache (the client core's progress; also by shown in the list), each interpolated between the two
    // reads around it (one read may cross several).
    const points = [{ shown: 0, stored: 0, t: burstStarted, cpu: cpuStart.total, byProcess: cpuStart.byProcess }, ...samples];
    const when = (x, key) => {
      const j = points.findIndex((p) => p[key] >= x);
      if (j <= 0) return j === 0 ? points[0] : null;
      const [a, b] = [points[j - 1], points[j]];
      const f = (x - a[key]) / (b[key] - a[key]);
      const lerp = (u, v) => u + (v - u) * f;
      return { t: lerp(a.t, b.t), cpu: lerp(a.cpu, b.cpu), byProcess: Object.fromEntries(Object.entries(b.byProcess).map(([k, v]) => [k, lerp(a.byProcess[k] ?? 0, v)])) };
    };
    const bucketsBy = (key) => {
      const buckets = [];
      for (let k = 1; k * BUCKET <= N; k++) {
        const [from, to] = [when((k - 1) * BUCKET, key), when(k * BUCKET, key)];
        if (!to) break;
        const perThousand = 1000 / BUCKET;
        buckets.push({
          messages: `${(k - 1) * BUCKET + 1}-${k * BUCKET}`,
          cpuSecondsPer1000: round((to.cpu - from.cpu) * perThousand),
          byProcessPer1000: Object.fromEntries(Object.entries(to.byProcess).map(([name, v]) => [name, round((v - (from.byProcess[name] ?? 0)) * perThousand)])),
          wallSeconds: round((to.t - from.t) / 1000),
        });
      }
      return buckets;
    };
    const buckets = bucketsBy('stored');
    const lastCost = buckets.at(-1)?.cpuSecondsPer1000;
    const firstCost = buckets[0]?.cpuSecondsPer1000;
    const lags = samples.filter((s) => s.lagMs !== undefined && s.lagMs !== null).map((s) => s.lagMs);
    const behinds = samples.filter((s) => s.behindMs !== undefined).map((s) => s.behindMs);
    report('burst', {
      messages: N,
      sendSeconds: round((lastAck - burstStarted) / 1000),
      sentPerSecond: round(N / ((lastAck - burstStarted) / 1000), 0),
      shownAllAfterLastSendMs: shownAllAt - lastAck,
      storedAllAfterLastSendMs: storedAllAt - lastAck,
      idleAfterLastArrivalMs: idleAt === null ? null : idleAt - lastAck,
      idleAfterShownAllMs: idleAt === null ? null : idleAt - shownAllAt,
      idleAfterStoredAllMs: idleAt === null ? null : idleAt - storedAllAt,
      appCpuSeconds: cpuDelta(cpuStart, cpuEnd),
      // After the list showed the last message, until idle: in no thousand above.
      appCpuSecondsAfterShownAll: round(cpuEnd.total - lastListSample.cpu),
      appCpuSecondsAfterStoredAll: cpuDelta({ total: samples.at(-1).cpu, byProcess: samples.at(-1).byProcess }, cpuEnd),
      busiestThreads: topThreads(threadsStart, threadsEnd),
      serverCpuSeconds: round(cpuOf(server.pid) - serverCpuBefore),
      cpuPer1000: buckets,
      cpuPer1000ByShown: bucketsBy('shown').map((b) => ({ messages: b.messages, cpuSecondsPer1000: b.cpuSecondsPer1000, wallSeconds: b.wallSeconds })),
      lastVsFirst: firstCost ? round(lastCost / firstCost) : null,
      listLagMs: { median: median(lags), max: Math.max(...lags), reads: lags.length, sampleMs: SAMPLE_MS },
      listBehindMs: { median: median(behinds), max: Math.max(...behinds), samples: behinds.length },
      unreadShown: lastListSample.unread,
      groupFirstInList: lastListSample.first,
      webdriverReadMs: { median: median(samples.filter((s) => s.unread !== undefined).map((s) => s.readMs)), max: Math.max(...samples.filter((s) => s.unread !== undefined).map((s) => s.readMs)) },
      // What reached the notification daemon of this session (dunst, D-Bus activated), if any.
      notifications: (() => {
        try {
          return execFileSync('dunstctl', ['count'], { encoding: 'utf8' }).trim().replace(/\s+/g, ' ');
        } catch {
          return null;
        }
      })(),
    });
    results.samples = samples.map(({ byProcess, ...s }) => s);
  }
  report('pssAfterBurst', memory(pid));

  // ---- 2 and 3: the group opened, PAGES older pages, then another conversation ----
  const openStarted = Date.now();
  await (await entry(GROUP)).click();
  // (In steps, the newest is one of the last step's IN_FLIGHT sent together.)
  await waitFor('the newest message in the DOM', async () =>
    app.execute((n) => [...document.querySelectorAll('[data-testid="message"]')]
      .some((m) => Number((m.getAttribute('data-content') ?? '').replace('burst ', '')) >= n), CHUNK ? N - IN_FLIGHT : N), 60_000);
  const openedMs = Date.now() - openStarted;
  await sleep(1000);
  await shot(app, 'desktop-burst-newest');
  const pages = [];
  for (let p = 0; p < PAGES; p++) {
    await app.execute(() => (document.querySelector('[data-testid="messages"]').scrollTop = 40));
    await sleep(200);
    const page = await olderPage(app);
    pages.push(page);
    if (page.ms === null) break;
    await sleep(300);
  }
  const pageTimes = pages.map((p) => p.ms).filter((ms) => ms !== null);
  await sleep(2000);
  await shot(app, 'desktop-burst-scrolled');
  const opened = memory(pid);
  report('olderPages', {
    openNewestMs: openedMs,
    pages: pages.length,
    medianMs: round(median(pageTimes), 1),
    maxMs: round(Math.max(...pageTimes), 1),
    eachMs: pageTimes.map((ms) => round(ms, 1)),
    loadedMsEach: pages.map((p) => round(p.loadedMs, 1)),
    inDomAtEnd: pages.at(-1)?.after.inDom,
    loadedAtEnd: pages.at(-1)?.after.loaded,
    oldestInDomAtEnd: pages.at(-1)?.after.oldest,
    reachedTheStart: pages.some((p) => p.start),
    failed: pages.filter((p) => p.ms === null && !p.start).length,
  });
  report('pssOpenedScrolled', opened);
  await (await entry(bName)).click();
  await waitFor('the direct chat open', async () => (await (await app.$('[data-testid="chat-title"]')).getText()) === bName);
  await sleep(3000);
  report('pssClosed3s', memory(pid));
  await sleep(17_000);
  report('pssClosed20s', memory(pid));

  // ---- 4. cold start with the server down ----
  await killServer(server);
  server = null;
  await quit(app, home);
  app = null;
  const runs = [];
  for (let r = 0; r < COLD_RUNS; r++) {
    app = await launch(home, serverUrl);
    const sessionAt = Date.now();
    const coldPid = appPid(home);
    const spawned = startedAtMs(coldPid);
    const at = await openGroupCold(app);
    if (at.timeout) throw new Error(`cold start ${r + 1}: no bubbles within 30 s; the window reads ${JSON.stringify(at.body)}`);
    runs.push({
      spawnToBubblesMs: round(at.bubbles - spawned, 0),
      spawnToPageMs: round(at.timeOrigin - spawned, 0),
      spawnToSessionMs: round(sessionAt - spawned, 0),
      spawnToListMs: round(at.entry - spawned, 0),
      listWasThereAtFirstLook: at.entryWasThere,
      clickToBubblesMs: round(at.bubbles - at.entry, 0),
    });
    if (r === 0) await shot(app, 'desktop-burst-cold');
    await quit(app, home);
    app = null;
    await sleep(1000);
  }
  const totals = runs.map((r) => r.spawnToBubblesMs);
  report('coldStart', {
    medianMs: median(totals),
    minMs: Math.min(...totals),
    maxMs: Math.max(...totals),
    medianClickToBubblesMs: median(runs.map((r) => r.clickToBubblesMs)),
    medianSpawnToSessionMs: median(runs.map((r) => r.spawnToSessionMs)),
    runs,
  });

  results.load.end = loadavg();
  const busy = Math.max(...[results.load.start, results.load.burstStart, results.load.burstEnd, results.load.end].map((l) => l[0]));
  results.note = busy > 1.5 ? `other work was running on the machine (1-min load average up to ${busy.toFixed(2)} on 2 cores)` : 'quiet machine';
  report('summary', {
    cpuPer1000LastVsFirst: results.burst.lastVsFirst,
    idleAfterLastArrivalMs: results.burst.idleAfterLastArrivalMs,
    listLagMedianMs: results.burst.listLagMs.median,
    listLagMaxMs: results.burst.listLagMs.max,
    pssMiB: {
      afterSignIn: results.pssAfterSignIn.pssMiB,
      beforeBurst: results.pssBeforeBurst.pssMiB,
      afterBurst: results.pssAfterBurst.pssMiB,
      openedScrolled: results.pssOpenedScrolled.pssMiB,
      closed3s: results.pssClosed3s.pssMiB,
      closed20s: results.pssClosed20s.pssMiB,
    },
    olderPageMedianMs: results.olderPages.medianMs,
    coldStartMedianMs: results.coldStart.medianMs,
    note: results.note,
  });
  writeFileSync(join(shots, 'desktop-burst.json'), JSON.stringify(results, null, 1));
  console.log(`written ${join(shots, 'desktop-burst.json')}`);
} finally {
  await app?.deleteSession().catch(() => {});
  for (const child of children) stop(child);
}
