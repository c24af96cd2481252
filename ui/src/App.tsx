import { useCallback, useEffect, useMemo, useReducer, useState } from 'react';

import { backend } from './backend';
import { CallLayer, useCalls } from './components/Calls';
import { Chat } from './components/Chat';
import { ConnectionBanner } from './components/ConnectionBanner';
import { FriendsPanel } from './components/FriendsPanel';
import { Login } from './components/Login';
import { SettingsPanel } from './components/Settings';
import { Sidebar } from './components/Sidebar';
import { useBackendEvents, useStable } from './hooks';
import { presenceStale } from './logic/presence';
import { sidebarRows } from './logic/sidebar';
import { initialStore, isLagged, isStoreEvent, reduce } from './logic/store';
import type { ClientEvent, ConnectionState, Conversation, Id, SessionInfo } from './types';

export function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [connection, setConnection] = useState<ConnectionState>({ state: 'connecting' });
  // The chat state, fed by the core's events; read from the backend only at sign-in (the list) and
  // by the chat (a conversation's first page and outbox, older pages).
  const [store, dispatch] = useReducer(reduce, initialStore);
  const [panel, setPanel] = useState<'chats' | 'friends' | 'settings'>('chats');
  const calls = useCalls();
  const openId = store.open?.id ?? null;
  const me = session?.user.id ?? 0;
  const rows = useStable(useMemo(() => sidebarRows(store.conversations, store.presence, me, openId), [store.conversations, store.presence, me, openId]));

  useEffect(() => {
    backend.session().then(setSession);
    backend.connectionState().then(setConnection);
  }, []);

  useEffect(() => {
    if (session) backend.conversations().then((conversations) => dispatch({ type: 'conversations', conversations })).catch(() => {});
  }, [session]);

  // Opening tells the shell in `open` below; closing (sign-out, reset) here.
  useEffect(() => {
    if (openId === null) backend.setOpenConversation(null).catch(() => {});
  }, [openId]);

  useBackendEvents(
    useCallback((event: ClientEvent) => {
      if (event.type === 'connection') {
        const { type: _type, ...state } = event;
        setConnection(state as ConnectionState);
        if (state.state === 'signedOut') {
          setSession(null);
          dispatch({ type: 'reset' });
        }
      } else if (isStoreEvent(event)) {
        dispatch(event);
      } else if (isLagged(event)) {
        backend.conversations().then((conversations) => dispatch({ type: 'reread', conversations })).catch(() => {});
      }
    }, []),
  );

  // The shell learns of the open conversation before the chat asks for its first page: of a burst
  // into a conversation not open it forwards only the last message (src-tauri/src/lib.rs,
  // `for_the_webview`), so the first read must hold what it left out.
  const open = useCallback((conversationId: Id) => {
    backend.setOpenConversation(conversationId).catch(() => {});
    dispatch({ type: 'open', conversationId });
  }, []);
  function openNew(conversation: Conversation) {
    dispatch({ type: 'created', conversation });
    setPanel('chats');
    open(conversation.id);
  }

  if (session === undefined) return <div className="splash">Confab</div>;
  if (session === null) return <Login onSignedIn={() => backend.session().then(setSession)} />;

  const conversation = store.conversations.find((c) => c.id === openId) ?? null;
  const stale = presenceStale(connection);
  return (
    <div className="app">
      <ConnectionBanner connection={connection} />
      <div className="main">
        <aside className="sidebar">
          <header className="me">
            <span data-testid="me">{session.user.displayName}</span>
            <button className="link" onClick={() => backend.logout().then(() => {
              setSession(null);
              dispatch({ type: 'reset' });
            })}>Sign out</button>
          </header>
          <nav className="tabs">
            <button className={panel === 'chats' ? 'active' : ''} onClick={() => setPanel('chats')} data-testid="tab-chats">Chats</button>
            <button className={panel === 'friends' ? 'active' : ''} onClick={() => setPanel('friends')} data-testid="tab-friends">Friends</button>
            <button className={panel === 'settings' ? 'active' : ''} onClick={() => setPanel('settings')} data-testid="tab-settings">Settings</button>
          </nav>
          {panel !== 'friends' ? (
            <Sidebar rows={rows} onOpen={open} stale={stale} />
          ) : (
            <FriendsPanel
              presence={store.presence}
              onChat={async (friendId) => openNew(await backend.createConversation([friendId]))}
              onGroup={async (memberIds, title) => openNew(await backend.createConversation(memberIds, title))}
            />
          )}
        </aside>
        {panel === 'settings' ? (
          <SettingsPanel />
        ) : conversation && store.open ? (
          <Chat key={conversation.id} conversation={conversation} open={store.open} presence={store.presence} dispatch={dispatch}
            me={session.user} calls={calls} connection={connection} />
        ) : (
          <section className="empty">Pick a conversation, or start one from Friends.</section>
        )}
      </div>
      <CallLayer calls={calls} />
    </div>
  );
}
