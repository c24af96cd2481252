import { memo } from 'react';

import { STALE_TITLE } from '../logic/presence';
import type { SidebarRow } from '../logic/sidebar';
import { type Id, MAX_UNREAD_COUNTED } from '../types';

/** The conversation list: name, presence (marked stale while the connection is down), last message,
 * unread badge; most recent first. Memoized and given only what it shows (its rows, kept as the
 * same array while they read the same, and staleness rather than the connection), so it renders
 * when something it shows changes. */
export const Sidebar = memo(function Sidebar({ rows, onOpen, stale }: {
  rows: SidebarRow[]; onOpen: (id: Id) => void; stale: boolean;
}) {
  countRender();
  const title = stale ? STALE_TITLE : undefined;
  if (rows.length === 0) return <p className="hint">No conversations yet. Add a friend to start one.</p>;
  return (
    <ul className="conversations" data-testid="conversations">
      {rows.map((row) => (
        <li key={row.id}>
          <button className={row.open ? 'conversation open' : 'conversation'} onClick={() => onOpen(row.id)}
            data-testid={`conversation-${row.id}`} data-name={row.name}>
            <span className="title">
              {row.kind === 'direct' ? (
                <span className={`dot${row.online ? ' on' : ''}${stale ? ' stale' : ''}`} title={title ?? (row.online ? 'online' : 'offline')}
                  data-testid="presence" data-online={row.online} />
              ) : (
                <span className={stale ? 'count stale' : 'count'} title={title ?? 'online'} data-testid="group-online">
                  {row.groupCount}
                </span>
              )}
              {row.name}
            </span>
            <span className="preview">{row.preview}</span>
            {row.unread > 0 && <span className="badge" data-testid="unread">{row.unread >= MAX_UNREAD_COUNTED ? '999+' : row.unread}</span>}
          </button>
        </li>
      ))}
    </ul>
  );
});

/** Counts this list's renders for measurements: the E2E suite reads `window.__confabSidebarRenders`. */
function countRender() {
  const counted = window as { __confabSidebarRenders?: number };
  counted.__confabSidebarRenders = (counted.__confabSidebarRenders ?? 0) + 1;
}
