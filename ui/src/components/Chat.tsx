import { useVirtualizer } from '@tanstack/react-virtual';
import { type Dispatch, type KeyboardEvent, type ReactNode, memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';

import { backend } from '../backend';
import { useBackendEvents } from '../hooks';
import { callRecordIcon, callRecordText } from '../logic/calls';
import { errorText, humanError } from '../logic/errors';
import { groupTimeline } from '../logic/grouping';
import { fitInside, intersect } from '../logic/menu';
import { STALE_TITLE, presenceStale, presenceText } from '../logic/presence';
import { QUICK_EMOJI, reactionChips, toggleAction } from '../logic/reactions';
import { type OpenConversation, type Presence, type StoreAction, WINDOW, isLagged } from '../logic/store';
import { type Row, timelineRows } from '../logic/timeline';
import { TypingTracker, typingText } from '../logic/typing';
import { conversationName, formatTime } from '../names';
import type { ClientEvent, ConnectionState, Conversation, Id, Message, Pending, User } from '../types';
import { CallButtons, type CallControls } from './Calls';

const PAGE = 50;
/** The list's padding above the first row and below the last (in place of the stylesheet's, which
 * the virtualiser cannot see). */
const LIST_PAD = 8;
/** Within this many pixels of the bottom the list follows new messages. */
const BOTTOM_SLACK = 40;
/** "I am typing" is re-sent at most this often while typing continues. */
const TYPING_REPEAT_MS = 2000;
/** "I stopped typing" after this long without a keystroke. */
const TYPING_IDLE_MS = 3000;

/** The open conversation. Its messages and outbox live in the store (`open`), which the core's
 * events keep current; the chat reads the backend only for its first page and outbox, for older
 * pages, and for its mute flag. */
export function Chat({ conversation, open, presence, dispatch, me, calls, connection }: {
  conversation: Conversation; open: OpenConversation; presence: Record<Id, Presence>; dispatch: Dispatch<StoreAction>;
  me: User; calls: CallControls; connection: ConnectionState;
}) {
  const { messages, pending } = open;
  const [hasOlder, setHasOlder] = useState(true);
  const [typing] = useState(() => new TypingTracker());
  const [typists, setTypists] = useState<string[]>([]);
  const [showPins, setShowPins] = useState(false);
  const [muted, setMuted] = useState(false);
  const [error, setError] = useState('');
  const listRef = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const loadingOlder = useRef(false);
  const id = conversation.id;

  // The latest page and the outbox: on opening, and again if events were lost.
  const read = useCallback((reread: boolean) => {
    Promise.all([backend.messages(id, null, PAGE), backend.outbox(id)])
      .then(([latest, outbox]) => dispatch({ type: 'opened', conversationId: id, messages: latest, pending: outbox, reread }))
      .catch((e) => setError(humanError(e, { action: 'chat' })));
  }, [id, dispatch]);
  useEffect(() => {
    read(false);
    backend.isMuted(id).then(setMuted).catch(() => {});
  }, [id, read]);

  // Typing indicator expiry.
  useEffect(() => {
    const next = typing.nextExpiry();
    if (next === null) return;
    const timer = setTimeout(() => {
      typing.expire(Date.now());
      setTypists(typing.names());
    }, Math.max(0, next - Date.now()) + 10);
    return () => clearTimeout(timer);
  }, [typists, typing]);

  useBackendEvents(
    useCallback(
      (event: ClientEvent) => {
        if (event.type === 'message' && event.message.conversationId === id) {
          if (typing.messageFrom(event.message.senderId)) setTypists(typing.names());
        } else if (event.type === 'typing' && event.conversationId === id && event.userId !== me.id) {
          if (typing.seen(event.userId, event.username, event.isTyping, Date.now()) || event.isTyping) setTypists(typing.names());
        } else if (isLagged(event)) {
          read(true);
        }
      },
      [id, me.id, typing, read],
    ),
  );

  // Read state: everything shown is read. Only others' messages count as unread (here and on the
  // server), so your own message moves nothing: sending costs no mark_read. The request goes once
  // per seq; the cursor comes back in the conversation's summary.
  const lastSeq = messages.at(-1)?.seq ?? 0;
  const lastFromOthers = useMemo(() => lastWhere(messages, (m) => m.senderId !== me.id)?.seq ?? 0, [messages, me.id]);
  const myCursor = conversation.members.find((m) => m.id === me.id)?.lastReadSeq ?? 0;
  const markedUpTo = useRef(0);
  useEffect(() => {
    if (lastFromOthers <= Math.max(myCursor, markedUpTo.current)) return;
    markedUpTo.current = lastSeq;
    backend.markRead(id, lastSeq).catch(() => (markedUpTo.current = 0));
  }, [id, lastFromOthers, lastSeq, myCursor]);

  const days = useMemo(() => groupTimeline(messages, pending, me, Date.now()), [messages, pending, me]);
  const rows = useMemo(() => timelineRows(days, me.id), [days, me.id]);
  // Only the rows on screen are in the DOM. The virtualiser measures each one as drawn and keeps the
  // list's place: anchored at the end, rows put in front (an older page) leave the row at the top
  // where it was, and while the list is at the bottom it follows rows added there and rows that grow.
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => listRef.current,
    getItemKey: useCallback((i: number) => rows[i].key, [rows]),
    estimateSize: useCallback((i: number) => 36 + (rows[i].day ? 33 : 0) + (rows[i].sender ? 22 : 0), [rows]),
    overscan: 6,
    paddingStart: LIST_PAD,
    paddingEnd: LIST_PAD,
    anchorTo: 'end',
    followOnAppend: true,
    scrollEndThreshold: BOTTOM_SLACK,
  });
  const toBottom = useCallback(() => {
    stickToBottom.current = true;
    virtualizer.scrollToEnd();
  }, [virtualizer]);

  // The newest message in view when the first read arrives, and when the typing line changes the
  // list's height while it was at the bottom.
  const firstRead = messages.length > 0 || open.loaded;
  useLayoutEffect(() => {
    if (firstRead) toBottom();
  }, [firstRead, toBottom]);
  useLayoutEffect(() => {
    if (stickToBottom.current) virtualizer.scrollToEnd();
  }, [typists, virtualizer]);

  // At the bottom with more than the window loaded, the oldest beyond it are let go (the cache
  // brings them back on the way up).
  const trim = useCallback(() => {
    if (stickToBottom.current && !loadingOlder.current && messages.length > WINDOW + PAGE) {
      dispatch({ type: 'trim', conversationId: id });
      setHasOlder(true);
    }
  }, [messages.length, dispatch, id]);
  useEffect(trim, [trim]);

  async function loadOlder() {
    const oldest = messages[0]?.seq;
    if (!oldest) return setHasOlder(false);
    loadingOlder.current = true;
    try {
      // The cache first; the server (into the cache) when the cache has nothing older.
      let older = await backend.messages(id, oldest, PAGE);
      if (older.length === 0) {
        setHasOlder(await backend.loadOlder(id, oldest).catch(() => true));
        older = await backend.messages(id, oldest, PAGE);
      }
      stickToBottom.current = false;
      dispatch({ type: 'older', conversationId: id, messages: older });
    } catch (e) {
      setError(humanError(e, { action: 'chat' }));
    } finally {
      loadingOlder.current = false;
    }
  }

  const others = conversation.members.filter((m) => m.id !== me.id);
  const otherCursor = conversation.kind === 'direct' ? (others[0]?.lastReadSeq ?? 0) : 0;
  const myLastSent = lastWhere(messages, (m) => m.senderId === me.id);
  const pins = messages.filter((m) => m.pinned);
  const act = (p: Promise<unknown>) => p.catch((e) => setError(humanError(e, { action: 'chat' })));
  const canLoadOlder = hasOlder && messages.length >= PAGE;
  const rowContent = (row: Row) => row.kind === 'message' ? (
    <MessageView message={row.message} me={me} seen={row.message.id === myLastSent?.id && otherCursor >= row.message.seq} onError={setError} />
  ) : (
    <PendingView pending={row.pending} />
  );

  return (
    <section className="chat" data-testid="chat">
      <header className="chat-header">
        <div>
          <h2 data-testid="chat-title">{conversationName(conversation, me.id)}</h2>
          <small data-testid="chat-presence" className={presenceStale(connection) ? 'stale' : undefined}
            title={presenceStale(connection) ? STALE_TITLE : undefined}>
            {presenceText(conversation, me.id, connection, presence)}
          </small>
        </div>
        <div>
          {conversation.kind === 'direct' && others[0] && (
            <CallButtons conversation={conversation} calls={calls} />
          )}
          <button className="link" onClick={() => setShowPins(!showPins)} data-testid="pins-toggle">📌 {pins.length}</button>
          <button className="link" onClick={() => act(backend.setMuted(id, !muted).then(() => setMuted(!muted)))} data-testid="mute">
            {muted ? 'Unmute' : 'Mute'}
          </button>
        </div>
      </header>
      {showPins && (
        <div className="pins" data-testid="pins">
          {pins.length === 0 ? <p className="hint">No pinned messages.</p> : pins.map((m) => (
            <div key={m.id} className="pin">📌 <b>{m.senderUsername}</b>: {m.content}</div>
          ))}
        </div>
      )}
      {error && <p className="error" onClick={() => setError('')} data-testid="chat-error">{error}</p>}
      <div className="messages" ref={listRef} data-testid="messages" data-loaded={messages.length} data-has-older={String(canLoadOlder)}
        style={{ paddingTop: 0, paddingBottom: 0 }}
        onScroll={(e) => {
          const el = e.currentTarget;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK;
          if (atBottom && !stickToBottom.current) {
            stickToBottom.current = true;
            trim();
          }
          stickToBottom.current = atBottom;
          // Older pages load as the user scrolls to the top.
          if (el.scrollTop < 30 && canLoadOlder && !loadingOlder.current) loadOlder();
        }}>
        <div style={{ position: 'relative', height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((v) => (
            <TimelineRow key={v.key} row={rows[v.index]} index={v.index} top={v.start} measure={virtualizer.measureElement}>
              {v.index === 0 && canLoadOlder && <button className="link older" onClick={loadOlder}>Load older messages</button>}
              {rowContent(rows[v.index])}
            </TimelineRow>
          ))}
        </div>
      </div>
      <div className="typing" data-testid="typing">{typingText(typists)}</div>
      <Composer conversationId={id} onError={setError} onSent={toBottom} />
    </section>
  );
}

/** The last message that `test` accepts. */
function lastWhere(messages: Message[], test: (m: Message) => boolean): Message | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (test(messages[i])) return messages[i];
  return undefined;
}

/** One row of the list, placed by the virtualiser (`top`, not a transform: a transform would make
 * each row a stacking context, and the next row would cover an open message menu). The row's margins
 * stay inside it (`flow-root`) so that its measured height is all the room it takes. */
function TimelineRow({ row, index, top, measure, children }: {
  row: Row; index: number; top: number; measure: (el: HTMLElement | null) => void; children: ReactNode;
}) {
  return (
    <div data-index={index} ref={measure} style={{ position: 'absolute', top, left: 0, width: '100%', display: 'flow-root' }}>
      {row.day && <div className="day">{row.day}</div>}
      <div className={row.mine ? 'group mine' : 'group'} style={{ margin: `${row.sender ? 6 : 0}px 0 0` }}>
        {row.sender && <div className="sender">{row.sender}</div>}
        {children}
      </div>
    </div>
  );
}

/** One message; memoized: the store keeps a message's object while it does not change. */
const MessageView = memo(function MessageView({ message, me, seen, onError }: {
  message: Message; me: User; seen: boolean; onError: (e: string) => void;
}) {
  const [menu, setMenu] = useState(false);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content ?? '');
  const mine = message.senderId === me.id;
  const act = (p: Promise<unknown>) => p.catch((e) => onError(humanError(e, { action: 'chat' }))).finally(() => setMenu(false));
  const menuRef = useRef<HTMLDivElement>(null);
  const menuButtonRef = useRef<HTMLButtonElement>(null);

  // The menu opens below the ⋯ button, towards the middle of the list (rightwards from an incoming
  // bubble, leftwards from mine: styles.css); if it is still cut off by the list or the window, it
  // moves inside before it is painted.
  useLayoutEffect(() => {
    const el = menuRef.current;
    const list = el?.closest<HTMLElement>('[data-testid="messages"]');
    if (!el || !list || !menuButtonRef.current) return;
    el.style.transform = '';
    const outer = list.getBoundingClientRect();
    const left = outer.left + list.clientLeft;
    const top = outer.top + list.clientTop;
    const inset = 4;
    const bounds = intersect(
      { left: left + inset, top: top + inset, right: left + list.clientWidth - inset, bottom: top + list.clientHeight - inset },
      { left: inset, top: inset, right: window.innerWidth - inset, bottom: window.innerHeight - inset },
    );
    const { dx, dy } = fitInside(el.getBoundingClientRect(), bounds, menuButtonRef.current.getBoundingClientRect().top);
    if (dx || dy) el.style.transform = `translate(${dx}px, ${dy}px)`;
  }, [menu]);

  if (message.deletedAt) {
    return <div className="message deleted" data-testid="message" data-id={message.id} data-deleted="true">Message deleted</div>;
  }
  if (message.type === 'call') {
    const text = message.call ? callRecordText(message.call, me.id) : (message.content ?? 'Call');
    return (
      <div className="message call" data-testid="message" data-id={message.id}>
        <span data-testid="call-record" data-outcome={message.call?.outcome ?? ''} data-content={text}>
          {message.call ? callRecordIcon(message.call) : '📞'} {text}
        </span>
        <span className="meta">{formatTime(message.timestamp)}</span>
      </div>
    );
  }
  const chips = reactionChips(message.reactions, me.id);
  return (
    <div className={message.pinned ? 'message pinned' : 'message'} data-testid="message" data-id={message.id}
      data-content={message.content ?? ''} onMouseLeave={() => setMenu(false)}>
      {editing ? (
        <textarea className="edit" value={draft} autoFocus data-testid="edit-input" onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') setEditing(false);
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              act(backend.editMessage(message.id, draft)).then(() => setEditing(false));
            }
          }} />
      ) : (
        <span className="content" data-testid="content">{message.content}</span>
      )}
      <span className="meta">
        {message.pinned && <span title="pinned">📌 </span>}
        {formatTime(message.timestamp)}
        {message.editedAt && <span className="edited" data-testid="edited"> · edited</span>}
        {seen && <span className="seen" data-testid="seen"> · Seen</span>}
      </span>
      <button className="menu-button" ref={menuButtonRef} onClick={() => setMenu(!menu)} data-testid="message-menu" aria-label="Message actions">⋯</button>
      {menu && (
        <div className="menu" ref={menuRef} data-testid="menu">
          <div className="emoji-picker">
            {QUICK_EMOJI.map((emoji) => {
              const { add } = toggleAction(message.reactions, emoji, me.id);
              return <button key={emoji} onClick={() => act(backend.react(message.id, emoji, add))} data-testid={`react-${emoji}`}>{emoji}</button>;
            })}
          </div>
          {mine && <button onClick={() => { setDraft(message.content ?? ''); setEditing(true); setMenu(false); }} data-testid="edit">Edit</button>}
          {mine && <button onClick={() => act(backend.deleteMessage(message.id))} data-testid="delete">Delete</button>}
          <button onClick={() => act(backend.pin(message.id, !message.pinned))} data-testid="pin">{message.pinned ? 'Unpin' : 'Pin'}</button>
          <button onClick={() => act(navigator.clipboard.writeText(message.content ?? ''))}>Copy</button>
        </div>
      )}
      {chips.length > 0 && (
        <div className="chips">
          {chips.map((chip) => (
            <button key={chip.emoji} className={chip.mine ? 'chip mine' : 'chip'} data-testid="chip" data-emoji={chip.emoji}
              onClick={() => act(backend.react(message.id, chip.emoji, !chip.mine))}>
              {chip.emoji} {chip.count}
            </button>
          ))}
        </div>
      )}
    </div>
  );
});

function PendingView({ pending }: { pending: Pending }) {
  const failed = pending.state === 'failed' || pending.error !== null;
  return (
    <div className={failed ? 'message failed' : 'message pending'} data-testid="pending" data-content={pending.content}
      data-state={pending.state}>
      <span className="content">{pending.content}</span>
      {failed ? (
        <span className="meta error">
          Not sent{pending.error ? `: ${errorText(pending.error, { action: 'chat' })}` : ''}{' '}
          <button className="link" onClick={() => backend.retryMessage(pending.clientMsgId)} data-testid="retry">Retry</button>
          <button className="link" onClick={() => backend.discardMessage(pending.clientMsgId)}>Discard</button>
        </span>
      ) : (
        <span className="meta">{pending.state === 'queued' ? 'waiting to send…' : 'sending…'}</span>
      )}
    </div>
  );
}

function Composer({ conversationId, onError, onSent }: {
  conversationId: number; onError: (e: string) => void; onSent: () => void;
}) {
  const [text, setText] = useState('');
  const lastTypingSent = useRef(0);
  const idleTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const stopTyping = useCallback(() => {
    clearTimeout(idleTimer.current);
    if (lastTypingSent.current) {
      lastTypingSent.current = 0;
      backend.setTyping(conversationId, false);
    }
  }, [conversationId]);
  useEffect(() => stopTyping, [stopTyping]);

  function changed(value: string) {
    setText(value);
    if (!value.trim()) return stopTyping();
    const now = Date.now();
    if (now - lastTypingSent.current > TYPING_REPEAT_MS) {
      lastTypingSent.current = now;
      backend.setTyping(conversationId, true);
    }
    clearTimeout(idleTimer.current);
    idleTimer.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function keyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key !== 'Enter' || e.shiftKey) return;
    e.preventDefault();
    const content = text.trim();
    if (!content) return;
    // The message itself ends "typing" on the other side (logic/typing.ts): no "stopped" to send.
    clearTimeout(idleTimer.current);
    lastTypingSent.current = 0;
    setText('');
    onSent();
    backend.sendMessage(conversationId, content).catch((err) => {
      setText(content);
      onError(humanError(err, { action: 'chat' }));
    });
  }

  return (
    <textarea className="composer" placeholder="Write a message — Enter sends, Shift+Enter for a new line" value={text}
      onChange={(e) => changed(e.target.value)} onKeyDown={keyDown} rows={2} data-testid="composer" />
  );
}
