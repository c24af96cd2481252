// The desktop end-to-end harness, shared by the suite (run.mjs) and the video measurement
// (bench/video-fps.mjs): a restartable confab-server, apps driven through tauri-driver +
// WebKitWebDriver, and small WebDriver helpers keyed by data-testid.
//
// Env: CONFAB_DESKTOP_BIN, CONFAB_SERVER_BIN (defaults: target/debug/...), SCREENSHOTS_DIR (where
// screenshots go; default a temp dir).

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { remote } from 'webdriverio';

export const root = resolve(import.meta.dirname, '../..');
export const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(root, 'target');
export const desktopBin = process.env.CONFAB_DESKTOP_BIN ?? join(target, 'debug/confab-desktop');
export const serverBin = process.env.CONFAB_SERVER_BIN ?? join(target, 'debug/confab-server');
export const shots = process.env.SCREENSHOTS_DIR ?? mkdtempSync(join(tmpdir(), 'confab-shots-'));
mkdirSync(shots, { recursive: true });
export const WAIT = 20_000;
export const children = [];

export function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

// Each child leads its own process group, so that stopping it also stops what it started
// (tauri-driver starts WebKitWebDriver, which starts the app).
export function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  children.push(child);
  return child;
}

export function stop(child, signal = 'SIGKILL') {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
  // Grandchildren may hold the pipes open; stop reading them so this process can exit.
  child.stdout.destroy();
  child.stderr.destroy();
}

export async function waitFor(what, check, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// ---- the server, restartable on a fixed port ----
export class Server {
  /** A server on a free loopback port with a fresh data directory (not started yet). */
  static async create() {
    const server = new Server();
    server.dataDir = mkdtempSync(join(tmpdir(), 'confab-e2e-server-'));
    server.port = await freePort();
    server.url = `http://127.0.0.1:${server.port}`;
    return server;
  }

  async start() {
    this.child = start(serverBin, ['--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir], {
      // The catch-up step posts 500 messages through REST at once.
      CONFAB_RATE_LIMITS: 'register=1000:1000,login=1000:1000,login_ip=1000:1000,messages=1000:1000',
    });
    await waitFor('the server', () => this.child.output.includes('listening on'));
  }

  async kill() {
    const exited = new Promise((r) => this.child.once('exit', r));
    stop(this.child);
    await exited;
  }
}

/**
 * A TCP proxy on a loopback port of its own in front of the server, which the test can take down
 * and bring back: the app behind it goes offline while the server keeps serving everyone else.
 */
export class Proxy {
  /** A proxy to `upstreamPort` (not listening yet). */
  static async create(upstreamPort) {
    const proxy = new Proxy();
    proxy.upstreamPort = upstreamPort;
    proxy.port = await freePort();
    proxy.url = `http://127.0.0.1:${proxy.port}`;
    proxy.sockets = new Set();
    return proxy;
  }

  /** Starts accepting connections (again). */
  async up() {
    this.listener = createServer((client) => {
      const upstream = connect(this.upstreamPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise((res, rej) => this.listener.once('error', rej).listen(this.port, '127.0.0.1', res));
  }

  /** Refuses new connections and cuts the open ones. */
  async down() {
    if (!this.listener.listening) return;
    const closed = new Promise((r) => this.listener.close(r));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

// ---- one app per user: its own tauri-driver, data dir and window ----
/** `env`: more environment for the app (e.g. CONFAB_HOST_LISTEN). `home`: the profile (data dir,
 * XDG dirs); a new one unless given, and the same one again is the same signed-in user. */
export async function openApp(name, serverUrl, env = {}, home = mkdtempSync(join(tmpdir(), `confab-e2e-${name}-`))) {
  const port = await freePort();
  const nativePort = await freePort();
  const driver = start('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    CONFAB_DATA_DIR: join(home, 'data'),
    CONFAB_SERVER_URL: serverUrl,
    XDG_DATA_HOME: join(home, 'share'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    NO_AT_BRIDGE: '1',
    GTK_A11Y: 'none',
    ...env,
  });
  await waitFor(`tauri-driver for ${name}`, async () => {
    const r = await fetch(`http://127.0.0.1:${port}/status`).catch(() => null);
    return r !== null;
  });
  const browser = await remote({
    hostname: '127.0.0.1',
    port,
    logLevel: 'warn',
    capabilities: { 'tauri:options': { application: desktopBin }, 'wdio:enforceWebDriverClassic': true },
  });
  browser.driverProcess = driver;
  browser.appName = name;
  return browser;
}

export const el = (app, testid) => app.$(`[data-testid="${testid}"]`);
export async function click(app, testid) {
  const e = await el(app, testid);
  await e.waitForClickable({ timeout: WAIT });
  await e.click();
}
export async function type(app, testid, text) {
  const e = await el(app, testid);
  await e.waitForDisplayed({ timeout: WAIT });
  await e.setValue(text);
}
export async function texts(app, selector) {
  return app.execute((s) => [...document.querySelectorAll(s)].map((n) => n.getAttribute('data-content') ?? n.textContent), selector);
}
/** The process id of `name`'s app, found by its data dir; undefined when it is not running. */
export function pidOf(name) {
  let pids;
  try {
    pids = execFileSync('pgrep', ['-f', desktopBin], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return undefined; // pgrep found none
  }
  return pids.find((p) => {
    try {
      return readFileSync(`/proc/${p}/environ`, 'utf8').includes(`confab-e2e-${name}-`);
    } catch {
      return false;
    }
  });
}

/** The X windows of `name`'s app (xdotool; there is no window manager under Xvfb). */
export function windowsOf(name) {
  const pid = pidOf(name);
  if (!pid) return [];
  return execFileSync('xdotool', ['search', '--onlyvisible', '--pid', pid], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
}

/**
 * Saves a screenshot to the screenshots directory, as a record for people (no test reads it). The
 * app draws without GPU compositing on Linux (src-tauri/src/lib.rs), and WebKitWebDriver's snapshot
 * of a window under the other app's window then waits for a paint that may not come: the window is
 * raised first, and a snapshot that takes over 10 s is given up (logged; the session goes on).
 */
export async function shot(app, name) {
  for (const window of windowsOf(app.appName)) execFileSync('xdotool', ['windowraise', window]);
  const taken = await Promise.race([app.takeScreenshot(), new Promise((r) => setTimeout(() => r(null), 10_000))]);
  if (taken === null) console.log(`screenshot ${name}: not taken (no picture from WebKit within 10 s)`);
  else writeFileSync(join(shots, `${name}.png`), Buffer.from(taken, 'base64'));
}
export async function register(app, username) {
  await click(app, 'switch-mode');
  await type(app, 'username', username);
  await type(app, 'password', 'correct horse');
  await click(app, 'submit');
  await waitFor(`${username} signed in`, async () => (await el(app, 'me')).isExisting());
}
/** `a` asks `b` to be friends, `b` accepts and opens their direct chat, then `a` opens it too. */
export async function befriendAndChat(a, aName, b, bName) {
  await click(a, 'tab-friends');
  await type(a, 'user-search', bName);
  await click(a, `add-${bName}`);
  await click(b, 'tab-friends');
  await click(b, `accept-${aName}`);
  await click(b, `chat-${aName}`);
  await waitFor(`${bName} in a chat`, async () => (await el(b, 'composer')).isExisting());
  await click(a, 'tab-chats');
  const entry = await waitFor(`the conversation on ${aName}`, async () => {
    const e = await a.$(`[data-testid^="conversation-"][data-name="${bName}"]`);
    return (await e.isExisting()) ? e : null;
  });
  await entry.click();
  await waitFor(`${aName} in a chat`, async () => (await el(a, 'composer')).isExisting());
}
export async function send(app, text) {
  await type(app, 'composer', text);
  await app.keys('Enter');
}
export async function messageElement(app, content) {
  return waitFor(`message "${content}"`, async () => {
    const found = await app.$(`[data-testid="message"][data-content="${content}"]`);
    return (await found.isExisting()) ? found : null;
  });
}


/** What the app's video path did so far in the call on screen: each canvas's meter (frames drawn,
 * dropped, fps over the last 2 s, mean decode + draw), the Rust side's counters of pictures sent
 * to the webview, what reached the page, and the call's own stats. */
export async function videoMeasurements(app) {
  const read = async (testid) => {
    const e = await el(app, testid);
    return Object.fromEntries(await Promise.all(['frames', 'dropped', 'fps', 'draw-ms'].map(async (k) => [k, await e.getAttribute(`data-${k}`)])));
  };
  return {
    remote: await read('video-remote'),
    local: await read('video-local'),
    transport: await app.execute(() => window.__TAURI_INTERNALS__.invoke('video_transport_stats')),
    arrivals: await app.execute(() => window.__confabVideo),
    call: await app.execute((id) => window.__TAURI_INTERNALS__.invoke('call_stats', { callId: id }),
      await (await el(app, 'call-view')).getAttribute('data-call-id')),
  };
}
