import { useEffect, useState } from 'react';

import { backend } from '../backend';
import type { HostedServer } from '../types';

/** The settings' hosting section: the server this app hosts (issue 18, src-tauri/src/hosting.rs),
 * the addresses to give friends, stopping it, and whether it outlives the app. */
export function HostingSettings() {
  // undefined while asking; null when this app hosts nothing.
  const [hosted, setHosted] = useState<HostedServer | null | undefined>(undefined);
  const [keep, setKeep] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    backend.hostingStatus().then(setHosted, () => setHosted(null));
    backend.getSettings().then((s) => setKeep(s.keepHosting), () => {});
  }, []);

  async function keepHosting(on: boolean) {
    setKeep(on);
    try {
      await backend.setSettings({ ...(await backend.getSettings()), keepHosting: on });
      setError('');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  async function stop() {
    try {
      await backend.stopHosting();
      setHosted(null);
      setError('');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  if (hosted === undefined) return null;
  return (
    <div className="hosting-settings" data-testid="hosting-settings">
      <h2>Hosting</h2>
      {hosted ? (
        <>
          <p className="hint" data-testid="hosting-status">
            This computer hosts a Confab server at {hosted.url} ({hosted.scope === 'localNetwork' ? 'local network' : 'this computer only'}).
          </p>
          {hosted.shareUrls.length > 0 && (
            <ul className="share-urls">
              {hosted.shareUrls.map((url) => <li key={url} data-testid="share-url">{url}</li>)}
            </ul>
          )}
          <label className="choice">
            <input type="checkbox" checked={keep} onChange={(e) => keepHosting(e.target.checked)} data-testid="keep-hosting-setting" />
            Keep hosting in the background when Confab quits
          </label>
          <p className="hint">Stopping it disconnects everyone signed in to it, you included.</p>
          <button type="button" onClick={stop} data-testid="hosting-stop">Stop hosting</button>
        </>
      ) : (
        <p className="hint" data-testid="hosting-status">This computer does not host a Confab server.</p>
      )}
      {error && <p className="error" data-testid="hosting-error">{error}</p>}
    </div>
  );
}
