// Hooks the components share. Components import from here, never from App.tsx (which imports them).

import { useEffect, useRef } from 'react';

import { backend } from './backend';
import { deepEqual } from './logic/store';
import type { ClientEvent } from './types';

/** The components listening now; the app's one subscription to the backend hands each event to all. */
const listeners = new Set<(event: ClientEvent) => void>();
let subscribed = false;

/** Hands the backend's events to `handler` for the lifetime of a component. Every component shares
 * one subscription (made by the first), so an event reaches them all in the same task and React
 * renders what they change once. */
export function useBackendEvents(handler: (event: ClientEvent) => void) {
  useEffect(() => {
    listeners.add(handler);
    if (!subscribed) {
      subscribed = true;
      backend.onEvent((event) => {
        for (const listener of [...listeners]) listener(event);
      });
    }
    return () => {
      listeners.delete(handler);
    };
  }, [handler]);
}

/** `value`, or the object returned before while it is structurally equal: memoized components given
 * it skip their render when nothing they show changed. */
export function useStable<T>(value: T): T {
  const held = useRef(value);
  if (held.current !== value && !deepEqual(held.current, value)) held.current = value;
  return held.current;
}
