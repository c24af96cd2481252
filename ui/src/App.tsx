import { useCallback, useEffect, useState } from 'react';

import { backend } from './backend';
import { CallLayer, useCalls } from './components/Calls';
import { Chat } from './components/Chat';
import { ConnectionBanner } from './components/ConnectionBanner';
import { FriendsPanel } from './components/FriendsPanel';
import { Login } from './components/Login';
import { SettingsPanel } from './components/Settings';
import { Sidebar } from './components/Sidebar';
import { useBackendEvents } from './hooks';
import type { ClientEvent, ConnectionState, Conversation, Id, SessionInfo } from './types';

export function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [connection, setConnection] = useState<ConnectionState>({ state: 'connecting' });
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [openId, setOpenId] = useState<Id | null>(null);
  const [panel, setPanel] = useState<'chats' | 'friends' | 'settings'>('chats');
  const calls = useCalls();

  const refreshConversations = useCallback(() => {
    backend.conversations().then(setConversations).catch(() => {});
  }, []);

  useEffect(() => {
    backend.session().then(setSession);
    backend.connectionState().then(setConnection);
  }, []);

  useEffect(() => {
    if (session) refreshConversations();
  }, [session, refreshConversations]);

  useEffect(() => {
    backend.setOpenConversation(openId).catch(() => {});
  }, [openId]);

  useBackendEvents(
    useCallback(
      (event: ClientEvent) => {
        switch (event.type) {
          case 'connection': {
            const { type: _type, ...state } = event;
            setConnection(state as ConnectionState);
            if (state.state === 'signedOut') {
              setSession(null);
              setOpenId(null);
            }
            break;
          }
          case 'message':
          case 'conversationsChanged':
          case 'synced':
          case 'presence':
          case 'read':
            refreshConversations();
            break;
        }
      },
      [refreshConversations],
    ),
  );

  function openNew(conversation: Conversation) {
    refreshConversations();
    setPanel('chats');
    setOpenId(conversation.id);
  }

  if (session === undefined) return <div className="splash">Confab</div>;
  if (session === null) return <Login onSignedIn={() => backend.session().then(setSession)} />;

  const open = conversations.find((c) => c.id === openId) ?? null;
  return (
    <div className="app">
      <ConnectionBanner connection={connection} />
      <div className="main">
        <aside className="sidebar">
          <header className="me">
            <span data-testid="me">{session.user.displayName}</span>
            <button className="link" onClick={() => backend.logout().then(() => setSession(null))}>Sign out</button>
          </header>
          <nav className="tabs">
            <button className={panel === 'chats' ? 'active' : ''} onClick={() => setPanel('chats')} data-testid="tab-chats">Chats</button>
            <button className={panel === 'friends' ? 'active' : ''} onClick={() => setPanel('friends')} data-testid="tab-friends">Friends</button>
            <button className={panel === 'settings' ? 'active' : ''} onClick={() => setPanel('settings')} data-testid="tab-settings">Settings</button>
          </nav>
          {panel !== 'friends' ? (
            <Sidebar conversations={conversations} me={session.user.id} openId={openId} onOpen={setOpenId} connection={connection} />
          ) : (
            <FriendsPanel
              onChat={async (friendId) => openNew(await backend.createConversation([friendId]))}
              onGroup={async (memberIds, title) => openNew(await backend.createConversation(memberIds, title))}
            />
          )}
        </aside>
        {panel === 'settings' ? (
          <SettingsPanel />
        ) : open ? (
          <Chat key={open.id} conversation={open} me={session.user} calls={calls} connection={connection} />
        ) : (
          <section className="empty">Pick a conversation, or start one from Friends.</section>
        )}
      </div>
      <CallLayer calls={calls} />
    </div>
  );
}
