// Hooks the components share. Components import from here, never from App.tsx (which imports them).

import { useEffect } from 'react';

import { backend } from './backend';
import type { ClientEvent } from './types';

/** Subscribes to the backend's events for the lifetime of a component. */
export function useBackendEvents(handler: (event: ClientEvent) => void) {
  useEffect(() => {
    let stop: (() => void) | undefined;
    let cancelled = false;
    backend.onEvent(handler).then((unlisten) => {
      if (cancelled) unlisten();
      else stop = unlisten;
    });
    return () => {
      cancelled = true;
      stop?.();
    };
  }, [handler]);
}
