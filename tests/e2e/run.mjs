// End-to-end: two real Confab desktop apps (the built binary, WebKitGTK under Xvfb) driven through
// tauri-driver + WebKitWebDriver, against a real confab-server that is restarted mid-test.
// Run through `npm run test:e2e` (scripts/test.sh does, under dbus-run-session).
//
// Env: CONFAB_DESKTOP_BIN, CONFAB_SERVER_BIN (defaults: target/debug/...), SCREENSHOTS_DIR (where
// screenshots go; default a temp dir).

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  Proxy, Server, WAIT, befriendAndChat, children, click, freePort, desktopBin, el, messageElement, openApp, pidOf, register, send, shot, shots, stop, texts, type,
  videoMeasurements, waitFor, windowsOf,
} from './lib.mjs';

const server = await Server.create();
const serverUrl = server.url;
// Alice reaches the server through a proxy the test can take down: she goes offline while the
// server keeps serving bob.
const aliceProxy = await Proxy.create(server.port);
const startServer = () => server.start();
const killServer = () => server.kill();

/** Gives the X input focus to the window of `name`'s app, as a user switching windows would. */
function focusWindowOf(name) {
  const windows = windowsOf(name);
  assert.ok(windows.length > 0, `the window of ${name}'s app`);
  for (const window of windows) execFileSync('xdotool', ['windowfocus', window]);
}

/** Whether the app's window has the input focus, as the app sees it (it decides on call notifications). */
const focused = (app) => app.execute(() => window.__TAURI_INTERNALS__.invoke('plugin:window|is_focused', { label: 'main' }));

/** The app's invokes so far (`window.__confabIpc`, counted in ui/src/backend.ts). */
const ipcCount = (app) => app.execute(() => JSON.parse(JSON.stringify(window.__confabIpc ?? { total: 0, byCommand: {} })));
/** How often the conversation list rendered so far (counted in ui/src/components/Sidebar.tsx). */
const sidebarRenders = (app) => app.execute(() => window.__confabSidebarRenders ?? 0);
/** The invokes between two counts: total and by command. */
function ipcDelta(before, after) {
  const byCommand = {};
  for (const [command, n] of Object.entries(after.byCommand)) {
    if (n !== (before.byCommand[command] ?? 0)) byCommand[command] = n - (before.byCommand[command] ?? 0);
  }
  return { total: after.total - before.total, byCommand };
}
const settle = (ms = 1500) => new Promise((r) => setTimeout(r, ms));

/** REST as `username`: a function `(method, path, body?) => JSON answer`. */
async function restAs(username) {
  const json = async (response) => {
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    return response.status === 204 ? null : response.json();
  };
  const headers = { 'content-type': 'application/json' };
  const { token } = await json(await fetch(`${serverUrl}/api/auth/login`, {
    method: 'POST', headers, body: JSON.stringify({ username, password: 'correct horse' }),
  }));
  return async (method, path, body) => json(await fetch(`${serverUrl}${path}`, {
    method, headers: { ...headers, authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

/** System notifications shown so far, from the notification daemon (dunst, D-Bus activated). */
function notifications() {
  try {
    const history = JSON.parse(execFileSync('dunstctl', ['history'], { encoding: 'utf8' }));
    return history.data.flat().map((n) => ({ summary: n.summary?.data, body: n.body?.data }));
  } catch {
    return [];
  }
}

let alice;
let bob;
const suffix = Math.random().toString(36).slice(2, 7);
const [aliceName, bobName] = [`alice_${suffix}`, `bob_${suffix}`];

describe('two desktop apps chatting through a real server', { timeout: 300_000 }, () => {
  before(async () => {
    await startServer();
    await aliceProxy.up();
    alice = await openApp('alice', aliceProxy.url);
    bob = await openApp('bob', serverUrl);
  });

  after(async () => {
    for (const app of [alice, bob]) await app?.deleteSession().catch(() => {});
    for (const child of children) stop(child);
    await aliceProxy.down();
  });

  it('registers two users, who befriend each other and open a direct chat', async () => {
    await shot(alice, 'sign-in');
    await register(alice, aliceName);
    await register(bob, bobName);
    await befriendAndChat(alice, aliceName, bob, bobName);
  });

  it('sends both ways, shows typing, and the online dot', async () => {
    await send(alice, 'Hi Bob!');
    await messageElement(bob, 'Hi Bob!');
    await send(bob, 'Hello Alice');
    await messageElement(alice, 'Hello Alice');

    await type(alice, 'composer', 'typing something');
    await waitFor('typing indicator on bob', async () => (await (await el(bob, 'typing')).getText()).includes(aliceName));
    await shot(bob, 'chat-typing');
    await (await el(alice, 'composer')).clearValue();
    await waitFor('typing indicator cleared', async () => (await (await el(bob, 'typing')).getText()) === '', 10_000);

    const dot = await alice.$(`[data-testid^="conversation-"][data-name="${bobName}"] [data-testid="presence"]`);
    await waitFor('bob online on alice', async () => (await dot.getAttribute('data-online')) === 'true');
  });

  it('one sent message costs the sender at most 2 invokes', async () => {
    await type(alice, 'composer', 'counted');
    const [typed, bobBefore, rendersBefore] = [await ipcCount(alice), await ipcCount(bob), await sidebarRenders(alice)];
    await alice.keys('Enter');
    await messageElement(bob, 'counted');
    await messageElement(alice, 'counted');
    await settle();
    const sender = ipcDelta(typed, await ipcCount(alice));
    const receiver = ipcDelta(bobBefore, await ipcCount(bob));
    console.log(`one message sent: ${JSON.stringify(sender)} invokes on the sender, ${JSON.stringify(receiver)} on the receiver; ` +
      `the sender's conversation list rendered ${(await sidebarRenders(alice)) - rendersBefore} times`);
    assert.ok(sender.total <= 2, `the sender made ${sender.total} invokes: ${JSON.stringify(sender.byCommand)}`);
  });

  it('reacts, edits, deletes and pins', async () => {
    await send(alice, 'edit me');
    await send(alice, 'delete me');
    const hello = await messageElement(bob, 'Hello Alice');
    await hello.moveTo();
    const menu = await hello.$('[data-testid="message-menu"]');
    await menu.click();
    await (await hello.$('[data-testid="react-👍"]')).click();
    await waitFor('reaction on bob', async () => (await hello.$('[data-testid="chip"]')).isExisting());
    const mine = await messageElement(alice, 'Hello Alice');
    await waitFor('reaction on alice', async () => (await mine.$('[data-testid="chip"][data-emoji="👍"]')).isExisting());

    const edit = await messageElement(alice, 'edit me');
    await edit.moveTo();
    await (await edit.$('[data-testid="message-menu"]')).click();
    await (await edit.$('[data-testid="edit"]')).click();
    const input = await el(alice, 'edit-input');
    await input.setValue('edited!');
    await alice.keys('Enter');
    const edited = await messageElement(bob, 'edited!');
    await waitFor('edited marker', async () => (await edited.$('[data-testid="edited"]')).isExisting());

    const doomed = await messageElement(alice, 'delete me');
    await doomed.moveTo();
    await (await doomed.$('[data-testid="message-menu"]')).click();
    await (await doomed.$('[data-testid="delete"]')).click();
    await waitFor('deleted on bob', async () => (await texts(bob, '[data-testid="message"]')).includes('Message deleted'));

    const pinned = await messageElement(bob, 'Hi Bob!');
    await pinned.moveTo();
    await (await pinned.$('[data-testid="message-menu"]')).click();
    await (await pinned.$('[data-testid="pin"]')).click();
    await waitFor('pin on alice', async () => (await (await el(alice, 'pins-toggle')).getText()).includes('1'));
    await shot(alice, 'chat');
  });

  it('opens the menu of a short incoming message inside the list, and reacts from it', async () => {
    // A short bubble from the other side sits at the left edge of the list: the menu opened
    // leftwards from its right edge used to be cut off there, hiding the reactions.
    await send(alice, 'ok');
    const ok = await messageElement(bob, 'ok');
    await ok.moveTo();
    await (await ok.$('[data-testid="message-menu"]')).click();
    await (await ok.$('[data-testid="menu"]')).waitForDisplayed({ timeout: WAIT });
    const boxes = await bob.execute(() => {
      const box = (r) => ({ left: r.left, top: r.top, right: r.right, bottom: r.bottom });
      const list = document.querySelector('[data-testid="messages"]');
      const outer = list.getBoundingClientRect();
      const left = outer.left + list.clientLeft;
      const top = outer.top + list.clientTop;
      return {
        menu: box(document.querySelector('[data-testid="message"][data-content="ok"] [data-testid="menu"]').getBoundingClientRect()),
        // The list's visible inside (without its scroll bar), which clips the menu.
        list: { left, top, right: left + list.clientWidth, bottom: top + list.clientHeight },
        window: { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight },
      };
    });
    console.log(`menu of a short incoming message: ${JSON.stringify(boxes)}`);
    for (const where of ['list', 'window']) {
      const { menu } = boxes;
      const bounds = boxes[where];
      assert.ok(menu.right - menu.left > 0 && menu.bottom - menu.top > 0, 'the menu has a size');
      assert.ok(menu.left >= bounds.left - 0.5 && menu.right <= bounds.right + 0.5 && menu.top >= bounds.top - 0.5 && menu.bottom <= bounds.bottom + 0.5,
        `the menu ${JSON.stringify(menu)} lies inside the ${where} ${JSON.stringify(bounds)}`);
    }
    await (await ok.$('[data-testid="react-👍"]')).click();
    await waitFor('the reaction on bob', async () => (await ok.$('[data-testid="chip"][data-emoji="👍"]')).isExisting());
    const sent = await messageElement(alice, 'ok');
    await waitFor('the reaction on alice', async () => (await sent.$('[data-testid="chip"][data-emoji="👍"]')).isExisting());
  });

  it('keeps chatting across a server restart; a message written while it is down arrives after', async () => {
    await killServer();
    await waitFor('reconnecting banner', async () => (await (await el(alice, 'connection')).getAttribute('data-state')) === 'reconnecting');
    // Presence is only the last known now, and says so.
    const dot = await alice.$(`[data-testid^="conversation-"][data-name="${bobName}"] [data-testid="presence"]`);
    await waitFor('the presence dot marked stale', async () => (await dot.getAttribute('class')).split(' ').includes('stale'));
    assert.equal(await dot.getAttribute('title'), 'last known — reconnecting');
    assert.match(await (await el(alice, 'chat-presence')).getText(), /^(online|offline) \(last known\)$/);
    await shot(alice, 'offline');
    await send(alice, 'written while the server was down');
    await waitFor('pending on alice', async () => (await texts(alice, '[data-testid="pending"]')).includes('written while the server was down'));
    await startServer();
    await messageElement(bob, 'written while the server was down');
    await send(bob, 'back online');
    await messageElement(alice, 'back online');
    await waitFor('fresh presence again', async () =>
      !(await dot.getAttribute('class')).split(' ').includes('stale') && (await (await el(alice, 'chat-presence')).getText()) === 'online');
  });

  it('catches up 500 messages written while it was offline, rendering the conversation list at most 3 times', async () => {
    const rest = await restAs(bobName);
    const { conversations } = await rest('GET', '/api/messages/conversations');
    const direct = conversations.find((c) => c.kind === 'direct' && c.members.some((m) => m.username === aliceName));
    assert.ok(direct, 'the direct conversation of bob and alice');
    await aliceProxy.down();
    await waitFor('alice offline', async () => (await (await el(alice, 'connection')).getAttribute('data-state')) !== 'connected');
    const count = 500;
    for (let i = 1; i <= count; i++) {
      await rest('POST', `/api/messages/conversations/${direct.id}/messages`, { content: `catch-up ${i}`, clientMsgId: `catch-up-${suffix}-${i}` });
    }
    await settle(500);
    const [rendersBefore, ipcBefore] = [await sidebarRenders(alice), await ipcCount(alice)];
    const started = Date.now();
    await aliceProxy.up();
    await messageElement(alice, `catch-up ${count}`);
    const shownAfterMs = Date.now() - started;
    await settle();
    const renders = (await sidebarRenders(alice)) - rendersBefore;
    const ipc = ipcDelta(ipcBefore, await ipcCount(alice));
    console.log(`catch-up of ${count} messages: shown ${shownAfterMs} ms after the proxy came back (reconnect wait included); ` +
      `the conversation list rendered ${renders} times; ${JSON.stringify(ipc)} invokes`);
    assert.ok(renders <= 3, `the conversation list rendered ${renders} times`);
  });

  it('creates a group conversation that both see', async () => {
    await click(alice, 'tab-friends');
    await click(alice, `pick-${bobName}`);
    await type(alice, 'group-title', 'Team');
    await click(alice, 'create-group');
    await waitFor('the group open on alice', async () => (await (await el(alice, 'chat-title')).getText()) === 'Team');
    await send(alice, 'welcome to the team');
    await waitFor('the group on bob', async () => (await bob.$('[data-testid^="conversation-"][data-name="Team"]')).isExisting());
    // Bob has the direct chat open, so a message in the group raises a system notification.
    await waitFor('a notification on bob', () =>
      notifications().some((n) => n.summary === aliceName && n.body === 'welcome to the team'));
    await (await bob.$('[data-testid^="conversation-"][data-name="Team"]')).click();
    await messageElement(bob, 'welcome to the team');
    // The header and the conversation list count the group's members online alike: both of them.
    for (const app of [alice, bob]) {
      await waitFor(`the same online count in the header and the list on ${app.appName}`, async () => {
        const header = await (await el(app, 'chat-presence')).getText();
        const list = await (await app.$('[data-testid^="conversation-"][data-name="Team"] [data-testid="group-online"]')).getText();
        if (header !== '2 of 2 online' || list !== '2/2') throw new Error(`header "${header}", list "${list}"`);
        return true;
      });
    }
  });

  it('opens a 2,000-message burst at the newest message, holds only what is on screen, and scrolls to the oldest without losing its place', async () => {
    // Bob writes 2,000 messages through REST into a new group while alice has another conversation
    // open (she muted it first: no 2,000 notifications).
    const rest = await restAs(bobName);
    const { conversations } = await rest('GET', '/api/messages/conversations');
    const aliceId = conversations.flatMap((c) => c.members).find((m) => m.username === aliceName).id;
    const { conversation: burst } = await rest('POST', '/api/messages/conversations', { participantIds: [aliceId], title: 'Burst' });
    const entry = () => alice.$('[data-testid^="conversation-"][data-name="Burst"]');
    await waitFor('the burst group on alice', async () => (await entry()).isExisting());
    await (await entry()).click();
    await click(alice, 'mute');
    await waitFor('the burst group muted', async () => (await (await el(alice, 'mute')).getText()) === 'Unmute');
    await (await alice.$('[data-testid^="conversation-"][data-name="Team"]')).click();
    await waitFor('the group open on alice', async () => (await (await el(alice, 'chat-title')).getText()) === 'Team');

    // Alice is offline meanwhile (one live event per message would keep her app busy for minutes in
    // a debug build): she catches up when she is back.
    await aliceProxy.down();
    await waitFor('alice offline', async () => (await (await el(alice, 'connection')).getAttribute('data-state')) !== 'connected');
    const count = 2000;
    const post = (i) => rest('POST', `/api/messages/conversations/${burst.id}/messages`, { content: `burst ${i}`, clientMsgId: `burst-${suffix}-${i}` });
    // The first and the last alone, so that they are the oldest and the newest.
    await post(1);
    for (let i = 2; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => post(i + k)));
    await post(count);
    await aliceProxy.up();
    const preview = () => alice.execute(() => document.querySelector('[data-testid^="conversation-"][data-name="Burst"]')?.textContent ?? '');
    await waitFor('the burst on alice', async () => {
      const text = await preview();
      if (!text.includes(`burst ${count}`)) throw new Error(`the entry reads "${text}"`);
      return true;
    }, 60_000);

    await (await entry()).click();
    await messageElement(alice, `burst ${count}`);
    // What the list shows: the messages in the DOM, and which of them lie inside the list's view.
    const view = () => alice.execute(() => {
      const list = document.querySelector('[data-testid="messages"]');
      const box = list.getBoundingClientRect();
      const shown = [...list.querySelectorAll('[data-testid="message"]')];
      const visible = shown.filter((m) => {
        const r = m.getBoundingClientRect();
        return r.bottom > box.top + 1 && r.top < box.bottom - 1;
      }).map((m) => m.getAttribute('data-content'));
      return { inDom: shown.length, visible, loaded: Number(list.dataset.loaded), hasOlder: list.dataset.hasOlder === 'true', scrollTop: list.scrollTop };
    });
    const opened = await waitFor('the newest message in view', async () => {
      const v = await view();
      return v.visible.at(-1) === `burst ${count}` ? v : null;
    });
    console.log(`burst of ${count}: opened with ${opened.loaded} loaded, ${opened.inDom} message bubbles in the DOM, ${opened.visible.length} in view`);
    assert.ok(opened.inDom < 200, `${opened.inDom} message bubbles in the DOM`);
    await shot(alice, 'burst-newest');

    let pages = 0;
    let most = opened.inDom;
    const started = Date.now();
    const scrollTo = (top) => alice.execute((t) => (document.querySelector('[data-testid="messages"]').scrollTop = t), top);
    for (let v = opened; !v.visible.includes('burst 1');) {
      // Near the top (not yet loading), the message at the top is noted; then up to the top, which
      // loads the page before it.
      await scrollTo(40);
      await settle(150);
      v = await view();
      const top = v.visible[0];
      const before = v.loaded;
      await scrollTo(0);
      v = await waitFor(`an older page above "${top}"`, async () => {
        const now = await view();
        return now.loaded > before || !now.hasOlder ? now : null;
      });
      await settle(100);
      const loadedMore = v.loaded > before;
      v = await view();
      pages++;
      most = Math.max(most, v.inDom);
      // (The last read finds nothing older: the list stays at its start.)
      if (loadedMore) assert.ok(v.visible.includes(top), `after page ${pages}, "${top}" is still in view: ${JSON.stringify(v.visible)}`);
      assert.ok(pages <= count / 50 + 2, `${pages} pages`);
    }
    const end = await waitFor('the conversation start', async () => {
      const v = await view();
      return !v.hasOlder ? v : null;
    });
    console.log(`scrolled to the oldest of ${count} in ${pages} pages (${Date.now() - started} ms); at most ${most} bubbles in the DOM; ` +
      `${end.loaded} loaded at the end`);
    assert.ok(end.visible.includes('burst 1'), `the oldest message in view: ${JSON.stringify(end.visible)}`);
    assert.ok(most < 200, `at most ${most} message bubbles in the DOM`);
    assert.ok(end.loaded >= count, `every message loaded: ${end.loaded}`);
    await shot(alice, 'burst-oldest');
  });

  it('calls: alice rings bob, bob accepts, both talk with a running timer, alice hangs up, both see the record', async () => {
    for (const [app, other] of [[alice, bobName], [bob, aliceName]]) {
      await click(app, 'tab-chats');
      const entry = await app.$(`[data-testid^="conversation-"][data-name="${other}"]`);
      await entry.waitForClickable({ timeout: WAIT });
      await entry.click();
      await waitFor('the direct chat', async () => (await (await el(app, 'chat-title')).getText()) === other);
    }
    await click(alice, 'call-voice');
    await waitFor('"Calling…" on alice', async () => (await (await el(alice, 'call-status')).getText()) === 'Calling…');
    await waitFor('the incoming call on bob', async () => (await (await el(bob, 'incoming-caller')).getText()) === aliceName);
    await click(bob, 'call-accept');
    for (const app of [alice, bob]) {
      await waitFor('the call active', async () => (await (await el(app, 'call-view')).getAttribute('data-phase')) === 'active');
      // The timer runs: it shows 0:02 or later within a few seconds.
      await waitFor('the timer running', async () => /^0:0[2-9]$/.test(await (await el(app, 'call-timer')).getText()), 10_000);
      await waitFor('media connected', async () => (await (await el(app, 'call-status')).getText()) === 'connected', 10_000);
    }
    // Without sound devices "No microphone found" is a valid state; under scripts/with-pulse.sh there is none.
    // A voice call offers no camera; the video call below does.
    assert.ok(!(await (await alice.$('[data-testid="camera-source"]')).isExisting()), 'no camera row in a voice call');
    const problems = await texts(alice, '[data-testid="call-problem"]');
    console.log(`call problems on alice: ${JSON.stringify(problems)}; on bob: ${JSON.stringify(await texts(bob, '[data-testid="call-problem"]'))}`);
    for (const p of problems) assert.match(p, /No (microphone|speaker) found/);
    const callId = await (await el(alice, 'call-view')).getAttribute('data-call-id');
    const stats = () => alice.execute((id) => window.__TAURI_INTERNALS__.invoke('call_stats', { callId: id }), callId);
    console.log(`voice call stats on alice: ${JSON.stringify(await stats())}`);

    // Another microphone during the call: audio goes on from it, and the choice is kept for the next calls.
    const settings = () => alice.execute(() => window.__TAURI_INTERNALS__.invoke('get_settings'));
    const microphones = await alice.execute(() =>
      [...document.querySelector('[data-testid="choose-microphone"]').options].map((o) => o.value).filter(Boolean));
    const current = (await settings()).microphone;
    const other = microphones.find((m) => m !== current && !/monitor/i.test(m));
    assert.ok(other, `a second microphone to switch to (scripts/with-pulse.sh has two): ${JSON.stringify(microphones)}`);
    const sentBefore = (await stats()).audioPacketsSent;
    await (await el(alice, 'choose-microphone')).selectByAttribute('value', other);
    await waitFor(`the microphone "${other}" kept in the settings`, async () => (await settings()).microphone === other);
    assert.deepEqual(await texts(alice, '[data-testid="device-error"]'), [], 'the switch reported no error');
    await waitFor('audio sent from the new microphone', async () => (await stats()).audioPacketsSent >= sentBefore + 50, 15_000);
    assert.equal(await (await el(alice, 'call-status')).getText(), 'connected', 'the call stayed connected');
    console.log(`alice switched the microphone to "${other}" during the call; sent ${(await stats()).audioPacketsSent - sentBefore} packets since`);
    await shot(alice, 'call-voice');
    await click(alice, 'call-hangup');
    for (const app of [alice, bob]) {
      await waitFor('the call view closed', async () => !(await (await el(app, 'call-view')).isExisting()), 10_000);
      await waitFor('the call record', async () =>
        (await texts(app, '[data-testid="call-record"]')).some((t) => /^Audio call · 0:\d\d$/.test(t)));
    }
  });

  it('video call: pictures reach both webviews (measured), bob hangs up', async () => {
    await click(alice, 'call-video');
    await waitFor('the incoming video call on bob', async () => (await (await el(bob, 'incoming-caller')).getText()) === aliceName);
    await click(bob, 'call-accept');
    for (const app of [alice, bob]) {
      await waitFor('the call active', async () => (await (await el(app, 'call-view')).getAttribute('data-phase')) === 'active');
    }
    // No camera on this machine (no /dev/video*): the call says so and sends the test pattern.
    assert.equal(await (await el(alice, 'camera-source')).getText(), 'None found: a test pattern is sent');
    await waitFor('the no-camera notice', async () =>
      (await texts(alice, '[data-testid="call-problem"]')).some((t) => t.includes('No camera found: sending a test pattern')));
    // Measure over a few seconds once pictures flow (or fail with what was measured).
    for (const app of [alice, bob]) {
      await waitFor('remote pictures drawn', async () => Number(await (await el(app, 'video-remote')).getAttribute('data-frames')) > 0, 15_000)
        .catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 6000));
    const measured = {};
    for (const [name, app] of [['alice', alice], ['bob', bob]]) measured[name] = await videoMeasurements(app);
    console.log(`video measurements: ${JSON.stringify(measured, null, 1)}`);
    writeFileSync(join(shots, 'video-measurements.json'), JSON.stringify(measured, null, 1));
    for (const m of Object.values(measured)) assert.ok(Number(m.remote.fps) > 0, 'remote pictures keep arriving');
    await shot(bob, 'call');
    await click(bob, 'call-hangup');
    for (const app of [alice, bob]) {
      await waitFor('the call record', async () =>
        (await texts(app, '[data-testid="call-record"]')).some((t) => /^Video call · 0:\d\d$/.test(t)), 10_000);
    }
  });

  it('calls not taken: bob declines a voice call; alice cancels a video call that rings on bob in the background, with a notification; both sides see why', async () => {
    const closed = (app) => waitFor('the call view closed', async () => !(await (await el(app, 'call-view')).isExisting()), 15_000);
    await click(alice, 'call-voice');
    await waitFor('the incoming call on bob', async () => (await (await el(bob, 'incoming-caller')).getText()) === aliceName);
    await click(bob, 'call-decline');
    // (Alice's call view says "… declined the call" for 3 s; the records below are what stays.)
    await waitFor('the ringing stopped on bob', async () => !(await (await el(bob, 'incoming-call')).isExisting()));
    for (const [app, text] of [[alice, 'Audio call · declined'], [bob, 'Declined audio call']]) {
      await waitFor(`the record "${text}"`, async () => (await texts(app, '[data-testid="call-record"]')).includes(text), 10_000);
    }
    await closed(alice);

    // Bob is in another window when the next call comes: it also rings as a system notification.
    focusWindowOf('alice');
    await waitFor('bob in the background', async () => !(await focused(bob)));
    await click(alice, 'call-video');
    await waitFor('the incoming video call on bob', async () => (await (await el(bob, 'incoming-caller')).getText()) === aliceName);
    await waitFor('the call notification on bob', () =>
      notifications().some((n) => n.summary === `${aliceName} is calling` && n.body === 'Incoming video call'));
    await click(alice, 'call-cancel');
    await waitFor('the ringing stopped on bob', async () => !(await (await el(bob, 'incoming-call')).isExisting()));
    for (const [app, text] of [[alice, 'Cancelled video call'], [bob, 'Missed video call']]) {
      await waitFor(`the record "${text}"`, async () => (await texts(app, '[data-testid="call-record"]')).includes(text), 10_000);
    }
    await closed(alice);
  });

  it('shows the other user offline when their app quits, in the friends list without reading it again', async () => {
    await click(alice, 'tab-friends');
    const friendDot = await alice.$(`[data-testid="friend-${bobName}"] [data-testid="friend-presence"]`);
    await waitFor('bob online in the friends list', async () => (await friendDot.getAttribute('data-online')) === 'true');
    const before = await ipcCount(alice);
    await bob.deleteSession();
    bob = undefined;
    await waitFor('bob offline in the friends list', async () => (await friendDot.getAttribute('data-online')) === 'false');
    await settle();
    const reads = ipcDelta(before, await ipcCount(alice));
    console.log(`presence change with the friends list shown: ${JSON.stringify(reads)} invokes`);
    assert.equal(reads.byCommand.friends ?? 0, 0, 'the friends list was not read again for a presence change');
    await click(alice, 'tab-chats');
    const dot = await alice.$(`[data-testid^="conversation-"][data-name="${bobName}"] [data-testid="presence"]`);
    await waitFor('bob offline on alice', async () => (await dot.getAttribute('data-online')) === 'false');
    await shot(alice, 'presence-offline');
  });
});

// Issue 18: with no server at the proposed address, the app hosts one (the bundled confab-server,
// next to the app's binary) in one click. CONFAB_HOST_LISTEN puts it on a free port.
describe('hosting a server from the app', { timeout: 180_000 }, () => {
  let carol;
  let dave;
  let hostUrl;
  const [carolName, daveName] = [`carol_${suffix}`, `dave_${suffix}`];

  after(async () => {
    for (const app of [carol, dave]) await app?.deleteSession().catch(() => {});
    // The hosted server runs in carol's tauri-driver's process group: stopping it stops the server.
    for (const child of children) stop(child);
  });

  it('offers to host when nothing answers, hosts in one click, and a second app joins', async () => {
    const port = await freePort();
    hostUrl = `http://127.0.0.1:${port}`;
    carol = await openApp('carol', hostUrl, { CONFAB_HOST_LISTEN: `127.0.0.1:${port}` });
    await waitFor('the no-server message', async () =>
      (await (await el(carol, 'no-server-message')).getText()) === `No Confab server answers at 127.0.0.1:${port}.`);
    await shot(carol, 'hosting-offer');
    await click(carol, 'scope-this-computer');
    await click(carol, 'host-server');
    await waitFor('hosting', async () => (await el(carol, 'hosting')).isExisting(), 40_000);
    assert.equal(await (await el(carol, 'server-url')).getValue(), hostUrl, 'the form uses the hosted server');
    assert.equal((await fetch(`${hostUrl}/healthz`)).status, 200, 'the hosted server answers');
    await register(carol, carolName);

    dave = await openApp('dave', hostUrl);
    await register(dave, daveName);
    await befriendAndChat(carol, carolName, dave, daveName);
    await send(carol, 'Hosted here!');
    await messageElement(dave, 'Hosted here!');
    await send(dave, 'Nice, it works');
    await messageElement(carol, 'Nice, it works');
    await shot(carol, 'hosting-chat');
    await click(carol, 'tab-settings');
    await waitFor('the hosting status in the settings', async () =>
      (await (await el(carol, 'hosting-status')).getText()) === `This computer hosts a Confab server at ${hostUrl} (this computer only).`);
    assert.equal(await (await el(carol, 'keep-hosting-setting')).isSelected(), false, 'not kept after quitting by default');
    await shot(carol, 'hosting-settings');
  });

  it('stops the hosted server when the app quits', async () => {
    await dave.deleteSession();
    dave = undefined;
    // Deleting the session SIGKILLs the app, which nothing can catch; the end of a desktop session
    // (SIGTERM) quits it the way closing its window does (src-tauri/src/lib.rs, `exit_on_signal`).
    const pid = pidOf('carol');
    assert.ok(pid, "carol's app is running");
    process.kill(Number(pid), 'SIGTERM');
    await waitFor("carol's app quit", () => pidOf('carol') === undefined, 15_000);
    await waitFor('the hosted server stopped', async () => !(await fetch(`${hostUrl}/healthz`).then(() => true, () => false)), 15_000);
    await carol.deleteSession().catch(() => {});
    carol = undefined;
  });
});

process.on('exit', () => {
  for (const child of children) stop(child);
  console.log(`screenshots in ${shots}`);
});
