import { type FormEvent, useEffect, useState } from 'react';

import { backend } from '../backend';
import { humanError } from '../logic/errors';

export function Login({ onSignedIn }: { onSignedIn: () => void }) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  // null until the default address has arrived: the form is not shown half filled in.
  const [serverUrl, setServerUrl] = useState<string | null>(null);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    backend.defaultServerUrl().then(setServerUrl, () => setServerUrl(''));
  }, []);

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
          <input value={serverUrl} onChange={(e) => setServerUrl(e.target.value)} data-testid="server-url" />
        </label>
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
