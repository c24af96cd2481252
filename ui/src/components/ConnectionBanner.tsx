import { useEffect, useState } from 'react';

import { backend } from '../backend';
import type { ConnectionState } from '../types';

/** Connected: nothing. Connecting: a thin note. Reconnecting: the countdown and "retry now". */
export function ConnectionBanner({ connection }: { connection: ConnectionState }) {
  const [now, setNow] = useState(Date.now());
  const [since, setSince] = useState(Date.now());
  useEffect(() => {
    setSince(Date.now());
    setNow(Date.now());
  }, [connection]);
  useEffect(() => {
    if (connection.state !== 'reconnecting') return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [connection]);

  if (connection.state === 'connected') return <div className="banner ok" data-testid="connection" data-state="connected" />;
  if (connection.state === 'connecting')
    return <div className="banner" data-testid="connection" data-state="connecting">Connecting…</div>;
  if (connection.state === 'reconnecting') {
    const left = Math.max(0, Math.ceil((since + connection.retryInMs - now) / 1000));
    return (
      <div className="banner warn" data-testid="connection" data-state="reconnecting" title={connection.lastError}>
        Offline — reconnecting{left > 0 ? ` in ${left} s` : '…'}
        <button className="link" onClick={() => backend.retryNow()} data-testid="retry-now">Retry now</button>
      </div>
    );
  }
  return <div className="banner warn" data-testid="connection" data-state="signedOut">Signed out</div>;
}
