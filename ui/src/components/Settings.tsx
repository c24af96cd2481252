import { useEffect, useState } from 'react';

import { backend } from '../backend';
import type { IceServer, Settings } from '../types';
import { DeviceChoice } from './Calls';
import { HostingSettings } from './Hosting';

/** Calls: ICE servers (none by default) and devices; hosting. */
export function SettingsPanel() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [draft, setDraft] = useState<IceServer>({ urls: [], username: '', credential: '' });
  const [urls, setUrls] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    backend.getSettings().then(setSettings);
  }, []);
  if (!settings) return <section className="settings" data-testid="settings" />;

  function save(iceServers: IceServer[]) {
    // Re-read first: the device choice is saved by its own component.
    backend.getSettings()
      .then((current) => {
        const next = { ...current, iceServers };
        return backend.setSettings(next).then(() => next);
      })
      .then((next) => {
        setSettings(next);
        setError('');
        setUrls('');
        setDraft({ urls: [], username: '', credential: '' });
      }, (e) => setError(e.message));
  }

  return (
    <section className="settings" data-testid="settings">
      <h2>Calls</h2>
      <h3>ICE servers</h3>
      <p className="hint">
        STUN finds your public address; TURN relays calls that cannot connect directly. None is set by default: calls then
        work on the same network only. Changes apply to the next call.
      </p>
      <ul className="ice-servers" data-testid="ice-servers">
        {settings.iceServers.length === 0 && <li className="hint">No ICE servers.</li>}
        {settings.iceServers.map((server, i) => (
          <li key={i} className="row" data-testid="ice-server">
            <span>{server.urls.join(', ')}{server.username && ` · ${server.username}`}</span>
            <button className="link" onClick={() => save(settings.iceServers.filter((_, j) => j !== i))} data-testid="ice-remove">Remove</button>
          </li>
        ))}
      </ul>
      <form className="ice-form" onSubmit={(e) => {
        e.preventDefault();
        save([...settings.iceServers, { ...draft, urls: urls.split(/[\s,]+/).filter(Boolean) }]);
      }}>
        <input placeholder="stun:stun.example.org:3478 or turn:…" value={urls} onChange={(e) => setUrls(e.target.value)} data-testid="ice-urls" />
        <input placeholder="username (TURN)" value={draft.username} onChange={(e) => setDraft({ ...draft, username: e.target.value })} data-testid="ice-username" />
        <input placeholder="credential (TURN)" type="password" value={draft.credential} onChange={(e) => setDraft({ ...draft, credential: e.target.value })} data-testid="ice-credential" />
        <button type="submit" disabled={!urls.trim()} data-testid="ice-add">Add</button>
      </form>
      {error && <p className="error" data-testid="settings-error">{error}</p>}
      <h3>Devices</h3>
      <DeviceChoice />
      <HostingSettings />
    </section>
  );
}
