// How many pictures per second the desktop app draws in a video call, with one app on the machine:
// the app (driven like the end-to-end suite) answers a call from a headless peer
// (crates/client/examples/video_peer.rs: the 640x480 15 fps test pattern and a tone), and after a
// warm-up the canvases' meters are read at the start and the end of a measuring window.
//
//   bench/video-fps.sh                 (builds what it needs, runs this under Xvfb and PulseAudio)
//
// Env: CONFAB_DESKTOP_BIN, CONFAB_SERVER_BIN, VIDEO_PEER_BIN (the example's binary), MEASURE_SECONDS
// (default 20), WARMUP_SECONDS (default 5), VIDEO_FPS (the peer's picture rate, default 15; higher
// shows the headroom). CPU is the app's process and its WebKit children, from /proc. Prints one JSON line per measurement and writes
// video-fps.json to SCREENSHOTS_DIR.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  Server, children, click, desktopBin, el, openApp, register, shot, shots, start, stop, target, videoMeasurements, waitFor,
} from '../tests/e2e/lib.mjs';

const peerBin = process.env.VIDEO_PEER_BIN ?? join(target, 'release/examples/video_peer');
const measureSeconds = Number(process.env.MEASURE_SECONDS ?? 20);
const warmupSeconds = Number(process.env.WARMUP_SECONDS ?? 5);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** CPU seconds used so far by the app (the process running desktopBin) and its descendants
 * (WebKit's web and network processes), by process name. */
function appCpuSeconds() {
  const stat = (pid) => {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(') '));
    return { name, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  };
  const apps = new Set(execFileSync('pgrep', ['-f', desktopBin], { encoding: 'utf8' }).trim().split('\n').map(Number));
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      all.set(Number(name), stat(name));
    } catch {
      // gone meanwhile
    }
  }
  const isOurs = (pid) => {
    for (let p = pid; p > 1; p = all.get(p)?.ppid ?? 0) if (apps.has(p)) return true;
    return false;
  };
  const byProcess = {};
  for (const [pid, s] of all) if (isOurs(pid)) byProcess[s.name] = (byProcess[s.name] ?? 0) + s.ticks / TICKS_PER_SECOND;
  return byProcess;
}

/** Percent of one core each process (by name) used between two `appCpuSeconds()`, and in all. */
function cpuPercent(before, after, seconds) {
  const out = { total: 0 };
  for (const [name, used] of Object.entries(after)) {
    out[name] = Math.round(((used - (before[name] ?? 0)) / seconds) * 100);
    out.total += out[name];
  }
  return out;
}

let app;
try {
  const server = await Server.create();
  await server.start();
  app = await openApp('viewer', server.url);
  const name = `viewer_${Math.random().toString(36).slice(2, 7)}`;
  await register(app, name);

  const peer = start(peerBin, [server.url, name, 'correct horse', String(warmupSeconds + measureSeconds + 60)]);
  await waitFor('the peer calling', () => peer.output.includes('ringing'), 60_000);
  await click(app, 'call-accept');
  await waitFor('the call active', async () => (await (await el(app, 'call-view')).getAttribute('data-phase')) === 'active');
  await waitFor('remote pictures drawn', async () => Number(await (await el(app, 'video-remote')).getAttribute('data-frames')) > 0, 30_000);
  await sleep(warmupSeconds * 1000);

  const first = await videoMeasurements(app);
  const cpuBefore = appCpuSeconds();
  const startedAt = Date.now();
  await sleep(measureSeconds * 1000);
  const cpuAfter = appCpuSeconds();
  const last = await videoMeasurements(app);
  const seconds = (Date.now() - startedAt) / 1000;
  const rate = (key, kind) => (Number(last[kind][key]) - Number(first[kind][key])) / seconds;
  const result = {
    seconds,
    remoteFps: rate('frames', 'remote'),
    previewFps: rate('frames', 'local'),
    remoteDroppedPerSecond: rate('dropped', 'remote'),
    meanDrawMs: { remote: Number(last.remote['draw-ms']), preview: Number(last.local['draw-ms']) },
    decodedByCallPerSecond: (last.call.videoFramesDecoded - first.call.videoFramesDecoded) / seconds,
    appCpuPercentOfOneCore: cpuPercent(cpuBefore, cpuAfter, seconds),
    transport: last.transport,
    first,
    last,
  };
  console.log(JSON.stringify(result));
  writeFileSync(join(shots, 'video-fps.json'), JSON.stringify(result, null, 1));
  await shot(app, 'video-fps');
  console.log(`remote ${result.remoteFps.toFixed(1)} fps, preview ${result.previewFps.toFixed(1)} fps, ` +
    `the call decoded ${result.decodedByCallPerSecond.toFixed(1)} pictures/s, the app used ` +
    `${JSON.stringify(result.appCpuPercentOfOneCore)} % of a core (${shots}/video-fps.json)`);
} finally {
  await app?.deleteSession().catch(() => {});
  for (const child of children) stop(child);
}
