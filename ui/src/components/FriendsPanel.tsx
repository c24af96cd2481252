import { useCallback, useEffect, useState } from 'react';

import { backend } from '../backend';
import { useBackendEvents } from '../hooks';
import { humanError } from '../logic/errors';
import { type Presence, isLagged, isOnline } from '../logic/store';
import type { ClientEvent, Friend, FriendRequests, Id, User } from '../types';

/** Search users, send/accept/decline requests, see friends and their presence, start a chat. The
 * friends and requests are read when the panel opens and when the server says they changed;
 * presence comes from the store (the core's presence events), without reading them again. */
export function FriendsPanel({ presence, onChat, onGroup }: {
  presence: Record<Id, Presence>;
  onChat: (friendId: Id) => void;
  onGroup: (memberIds: Id[], title: string) => Promise<void>;
}) {
  const [friends, setFriends] = useState<Friend[]>([]);
  const [requests, setRequests] = useState<FriendRequests>({ incoming: [], outgoing: [] });
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<User[]>([]);
  const [error, setError] = useState('');
  const [groupTitle, setGroupTitle] = useState('');
  const [groupMembers, setGroupMembers] = useState<Set<Id>>(new Set());

  const refresh = useCallback(() => {
    backend.friends().then(setFriends).catch((e) => setError(humanError(e, { action: 'friends' })));
    backend.friendRequests().then(setRequests).catch(() => {});
  }, []);
  useEffect(refresh, [refresh]);
  useBackendEvents(
    useCallback((event: ClientEvent) => {
      // After a reconnect too (changes made while this app was offline came as no event), and when
      // events were lost.
      if (event.type === 'friendsChanged' || event.type === 'synced' || isLagged(event)) refresh();
    }, [refresh]),
  );

  useEffect(() => {
    const prefix = query.trim();
    if (!prefix) return setResults([]);
    const timer = setTimeout(() => backend.searchUsers(prefix).then(setResults).catch(() => setResults([])), 200);
    return () => clearTimeout(timer);
  }, [query]);

  const act = (action: Promise<unknown>) => action.then(refresh).catch((e) => setError(humanError(e, { action: 'friends' })));

  return (
    <div className="friends" data-testid="friends-panel">
      <input placeholder="Find people by username" value={query} onChange={(e) => setQuery(e.target.value)} data-testid="user-search" />
      {results.map((u) => (
        <div className="row" key={u.id}>
          <span>{u.displayName} <small>@{u.username}</small></span>
          <button onClick={() => act(backend.requestFriend(u.username)).then(() => setQuery(''))} data-testid={`add-${u.username}`}>Add</button>
        </div>
      ))}
      {error && <p className="error" onClick={() => setError('')}>{error}</p>}
      {requests.incoming.length > 0 && <h3>Requests</h3>}
      {requests.incoming.map((r) => (
        <div className="row" key={r.id} data-testid={`request-${r.from.username}`}>
          <span>{r.from.displayName}</span>
          <span>
            <button onClick={() => act(backend.acceptFriend(r.id))} data-testid={`accept-${r.from.username}`}>Accept</button>
            <button className="link" onClick={() => act(backend.declineFriend(r.id))}>Decline</button>
          </span>
        </div>
      ))}
      {requests.outgoing.map((r) => (
        <div className="row muted" key={r.id}>
          <span>{r.to.displayName} — request sent</span>
          <button className="link" onClick={() => act(backend.declineFriend(r.id))}>Cancel</button>
        </div>
      ))}
      <h3>Friends</h3>
      {friends.length === 0 && <p className="hint">No friends yet.</p>}
      {friends.map((f) => (
        <div className="row" key={f.id} data-testid={`friend-${f.username}`}>
          <label className="pick" title="Add to a new group">
            <input type="checkbox" checked={groupMembers.has(f.id)} data-testid={`pick-${f.username}`}
              onChange={() => {
                const next = new Set(groupMembers);
                if (!next.delete(f.id)) next.add(f.id);
                setGroupMembers(next);
              }} />
            <span className={isOnline(presence, f.id, f.online) ? 'dot on' : 'dot'} data-testid="friend-presence"
              data-online={isOnline(presence, f.id, f.online)} /> {f.displayName}
          </label>
          <span>
            <button onClick={() => onChat(f.id)} data-testid={`chat-${f.username}`}>Chat</button>
            <button className="link" onClick={() => act(backend.removeFriend(f.id))}>Remove</button>
          </span>
        </div>
      ))}
      {groupMembers.size > 0 && (
        <form className="new-group" data-testid="new-group" onSubmit={(e) => {
          e.preventDefault();
          act(onGroup([...groupMembers], groupTitle).then(() => {
            setGroupMembers(new Set());
            setGroupTitle('');
          }));
        }}>
          <input placeholder="Group name" value={groupTitle} onChange={(e) => setGroupTitle(e.target.value)} data-testid="group-title" />
          <button type="submit" disabled={!groupTitle.trim()} data-testid="create-group">New group ({groupMembers.size + 1})</button>
        </form>
      )}
    </div>
  );
}
