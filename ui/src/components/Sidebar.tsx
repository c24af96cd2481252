import { STALE_TITLE, groupCountText, presenceStale } from '../logic/presence';
import { conversationName, preview } from '../names';
import type { ConnectionState, Conversation, Id } from '../types';

/** The conversation list: name, presence (marked stale while the connection is down), last message,
 * unread badge; most recent first. */
export function Sidebar({ conversations, me, openId, onOpen, connection }: {
  conversations: Conversation[]; me: Id; openId: Id | null; onOpen: (id: Id) => void; connection: ConnectionState;
}) {
  const stale = presenceStale(connection);
  const title = stale ? STALE_TITLE : undefined;
  if (conversations.length === 0) return <p className="hint">No conversations yet. Add a friend to start one.</p>;
  return (
    <ul className="conversations" data-testid="conversations">
      {conversations.map((c) => {
        const online = c.members.some((m) => m.id !== me && m.online);
        return (
          <li key={c.id}>
            <button className={c.id === openId ? 'conversation open' : 'conversation'} onClick={() => onOpen(c.id)}
              data-testid={`conversation-${c.id}`} data-name={conversationName(c, me)}>
              <span className="title">
                {c.kind === 'direct' ? (
                  <span className={`dot${online ? ' on' : ''}${stale ? ' stale' : ''}`} title={title ?? (online ? 'online' : 'offline')}
                    data-testid="presence" data-online={online} />
                ) : (
                  <span className={stale ? 'count stale' : 'count'} title={title ?? 'online'} data-testid="group-online">
                    {groupCountText(c, me)}
                  </span>
                )}
                {conversationName(c, me)}
              </span>
              <span className="preview">{preview(c)}</span>
              {c.unreadCount > 0 && c.id !== openId && <span className="badge" data-testid="unread">{c.unreadCount}</span>}
            </button>
          </li>
        );
      })}
    </ul>
  );
}
