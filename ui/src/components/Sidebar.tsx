import { conversationName, preview } from '../names';
import type { Conversation, Id } from '../types';

/** The conversation list: name, presence, last message, unread badge; most recent first. */
export function Sidebar({ conversations, me, openId, onOpen }: {
  conversations: Conversation[]; me: Id; openId: Id | null; onOpen: (id: Id) => void;
}) {
  if (conversations.length === 0) return <p className="hint">No conversations yet. Add a friend to start one.</p>;
  return (
    <ul className="conversations" data-testid="conversations">
      {conversations.map((c) => {
        const others = c.members.filter((m) => m.id !== me);
        const online = others.filter((m) => m.online).length;
        return (
          <li key={c.id}>
            <button className={c.id === openId ? 'conversation open' : 'conversation'} onClick={() => onOpen(c.id)}
              data-testid={`conversation-${c.id}`} data-name={conversationName(c, me)}>
              <span className="title">
                {c.kind === 'direct' ? (
                  <span className={online ? 'dot on' : 'dot'} data-testid="presence" data-online={online > 0} />
                ) : (
                  <span className="count" title="online">{online}/{others.length}</span>
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
