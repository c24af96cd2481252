import { useEffect, useState } from 'react';

import { backend } from '../backend';
import { iceSourcesText } from '../logic/calls';
import type { IceServer, IceServerSources, Settings } from '../types';
import { DeviceChoice } from './Calls';
import { HostingSettings } from './Hosting';

/** Calls: ICE servers (the server's, and the user's own on top) and devices; hosting. */
export function SettingsPanel() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [sources, setSources] = useState<IceServerSources | null>(null);
  const [draft, setDraft] = useState<IceServer>({ urls: [], username: '', credential: '' });
  const [urls, setUrls] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    backend.getSettings().then(setSettings);
    backend.iceServerSources().then(setSources, () => {});
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
        backend.iceServerSources().then(setSources, () => {});
        setUrls('');
        setDraft({ urls: [], username: '', credential: '' });
      }, (e) => setError(e.message));
  }

  return (
    <section className="settings" data-testid="settings">
      <h2>Calls</h2>
      <h3>ICE servers</h3>
      <p className="hint">
        STUN finds your public address; TURN relays calls that cannot connect directly. Calls use the servers your Confab
        server offers, and the ones you add here on top. Changes apply to the next call.
      </p>
      {sources && <IceSources sources={sources} />}
      <h4>Yours</h4>
      <ul className="ice-servers" data-testid="ice-servers">
        {settings.iceServers.length === 0 && <li className="hint">None added.</li>}
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

/** The server's ICE servers (URLs only) and whether calls have a relay. */
function IceSources({ sources }: { sources: IceServerSources }) {
  const text = iceSourcesText(sources);
  return (
    <div className="ice-sources" data-testid="ice-sources">
      <h4>From your Confab server</h4>
      <p className="hint" data-testid="ice-server-source">{text.server}</p>
      {sources.fromServer.length > 0 && (
        <ul className="ice-servers" data-testid="ice-servers-from-server">
          {sources.fromServer.map((server, i) => <li key={i} className="row" data-testid="ice-server-offered">{server.urls.join(', ')}</li>)}
        </ul>
      )}
      <p className="hint" data-testid="ice-relay">{text.relay}</p>
    </div>
  );
}
