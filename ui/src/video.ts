// Video from the backend: one channel carries a notice for each new picture of every call (received,
// and the local preview) with its callId, kind and seq (parsed in logic/video.ts); views subscribe by
// callId and kind and load the picture from backend.frameUrl.

import { backend } from './backend';
import { type FrameKind, type VideoMessage, parseVideoMessage } from './logic/video';

export type { FrameKind, VideoMessage };

type Listener = (message: VideoMessage) => void;
const listeners = new Map<string, Set<Listener>>();
let started: Promise<void> | null = null;

/** What reached this page, for measuring and for tests (`window.__confabVideo`). */
export const videoArrivals = { messages: 0, unparsed: 0, unclaimed: 0, lastKey: '', type: '', error: '' };
(globalThis as { __confabVideo?: typeof videoArrivals }).__confabVideo = videoArrivals;

/** Registers the channel with the backend once per page. */
function start() {
  started ??= backend.watchVideo((data) => {
    videoArrivals.messages++;
    try {
      videoArrivals.type = Object.prototype.toString.call(data);
      const message = parseVideoMessage(data);
      if (!message) {
        videoArrivals.unparsed++;
        return;
      }
      const key = `${message.kind}:${message.callId}`;
      videoArrivals.lastKey = key;
      const found = listeners.get(key);
      if (!found) videoArrivals.unclaimed++;
      for (const listener of found ?? []) listener(message);
    } catch (e) {
      videoArrivals.error = String(e);
    }
  }).catch((e) => {
    started = null;
    videoArrivals.error = `watch_video: ${e}`;
  });
}

/** Calls `listener` with every picture of `callId`'s `kind`; returns the unsubscribe function. */
export function onFrames(callId: string, kind: FrameKind, listener: Listener): () => void {
  start();
  const key = `${kind}:${callId}`;
  const set = listeners.get(key) ?? new Set();
  set.add(listener);
  listeners.set(key, set);
  return () => {
    set.delete(listener);
    if (set.size === 0) listeners.delete(key);
  };
}
