import { type FormEvent, useEffect, useState } from 'react';

import { backend } from '../backend';
import { humanError, serverHost } from '../logic/errors';
import type { HostedServer, HostingScope } from '../types';

/** Whether a Confab server answers at the address in the form: asked by the backend (GET /healthz). */
type Reachable = 'unknown' | 'yes' | 'no';

export function Login({ onSignedIn }: { onSignedIn: () => void }) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  // null until the default address has arrived: the form is not shown half filled in.
  const [serverUrl, setServerUrl] = useState<string | null>(null);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [reachable, setReachable] = useState<Reachable>('unknown');
  const [hosted, setHosted] = useState<HostedServer | null>(null);

  useEffect(() => {
    (async () => {
      const running = await backend.hostingStatus().catch(() => null);
      const url = running?.url ?? (await backend.defaultServerUrl().catch(() => ''));
      setHosted(running);
      setServerUrl(url);
      await probe(url);
    })();
  }, []);

  /** Asks whether a server answers at `url`; an empty address is not asked about. */
  async function probe(url: string) {
    if (!url.trim()) return setReachable('unknown');
    setReachable((await backend.probeServer(url).catch(() => false)) ? 'yes' : 'no');
  }

  function hostedAt(server: HostedServer) {
    setHosted(server);
    setServerUrl(server.url);
    setReachable('yes');
    setError('');
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (serverUrl === null) return;
    setBusy(true);
    setError('');
    try {
      if (mode === 'register') await backend.register(serverUrl, username, password, displayName);
      else await backend.login(serverUrl, username, password);
      onSignedIn();
    } catch (err) {
      setError(humanError(err, { action: mode, serverUrl }));
      if ((err as { code?: string }).code === 'offline') setReachable('no');
    } finally {
      setBusy(false);
    }
  }

  if (serverUrl === null) return <div className="splash">Confab</div>;
  return (
    <div className="login">
      <form onSubmit={submit} data-testid="login-form">
        <h1>Confab</h1>
        <label>
          Server
          <input
            value={serverUrl}
            onChange={(e) => {
              setServerUrl(e.target.value);
              setReachable('unknown');
            }}
            onBlur={() => probe(serverUrl)}
            data-testid="server-url"
          />
        </label>
        {reachable === 'no' && !hosted && <NoServer serverUrl={serverUrl} onHosted={hostedAt} />}
        {hosted && <Hosted server={hosted} />}
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoFocus data-testid="username" />
        </label>
        {mode === 'register' && (
          <label>
            Display name (optional)
            <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} data-testid="display-name" />
          </label>
        )}
        <label>
          Password
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="password" />
        </label>
        {error && <p className="error" data-testid="login-error">{error}</p>}
        <button type="submit" disabled={busy} data-testid="submit">{mode === 'register' ? 'Create account' : 'Sign in'}</button>
        <button type="button" className="link" onClick={() => setMode(mode === 'login' ? 'register' : 'login')} data-testid="switch-mode">
          {mode === 'login' ? 'New here? Create an account' : 'Have an account? Sign in'}
        </button>
      </form>
    </div>
  );
}

/** Nothing answers at the address: host a server here (for this computer or the local network), or
 * type another address in the Server field. */
function NoServer({ serverUrl, onHosted }: { serverUrl: string; onHosted: (server: HostedServer) => void }) {
  const [scope, setScope] = useState<HostingScope>('thisComputer');
  const [keep, setKeep] = useState(false);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    backend.getSettings().then((s) => setKeep(s.keepHosting), () => {});
  }, []);

  async function keepHosting(on: boolean) {
    setKeep(on);
    try {
      await backend.setSettings({ ...(await backend.getSettings()), keepHosting: on });
    } catch (e) {
      setError(humanError(e));
    }
  }

  async function host() {
    setStarting(true);
    setError('');
    try {
      onHosted(await backend.hostServer(scope));
    } catch (e) {
      // Hosting errors are written for people (src-tauri/src/hosting.rs).
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setStarting(false);
    }
  }

  return (
    <section className="no-server" data-testid="no-server">
      <p data-testid="no-server-message">No Confab server answers at {serverHost(serverUrl)}.</p>
      <fieldset disabled={starting}>
        <label className="choice">
          <input type="radio" name="scope" checked={scope === 'thisComputer'} onChange={() => setScope('thisComputer')} data-testid="scope-this-computer" />
          This computer only
        </label>
        <label className="choice">
          <input type="radio" name="scope" checked={scope === 'localNetwork'} onChange={() => setScope('localNetwork')} data-testid="scope-local-network" />
          Local network (friends on the same network can join)
        </label>
        <label className="choice">
          <input type="checkbox" checked={keep} onChange={(e) => keepHosting(e.target.checked)} data-testid="keep-hosting" />
          Keep hosting in the background when Confab quits
        </label>
      </fieldset>
      <button type="button" onClick={host} disabled={starting} data-testid="host-server">
        {starting ? 'Starting the server…' : 'Host a server on this computer'}
      </button>
      {error && <p className="error" data-testid="host-error">{error}</p>}
      <p className="hint-inline">Or enter another server’s address above.</p>
    </section>
  );
}

/** The server this app hosts, and the addresses to give friends. */
function Hosted({ server }: { server: HostedServer }) {
  return (
    <section className="no-server" data-testid="hosting">
      <p>
        {server.scope === 'localNetwork' ? 'Hosting a server for your local network.' : 'Hosting a server on this computer.'}
      </p>
      {server.shareUrls.length > 0 && (
        <>
          <p className="hint-inline">Give friends this address:</p>
          <ul>
            {server.shareUrls.map((url) => <li key={url} data-testid="share-url">{url}</li>)}
          </ul>
        </>
      )}
    </section>
  );
}
