import type { Conversation, Id } from './types';

/** A conversation's display name: its title, or the other member's name. */
export function conversationName(c: Conversation, me: Id): string {
  if (c.title) return c.title;
  const others = c.members.filter((m) => m.id !== me);
  return others.map((m) => m.displayName).join(', ') || 'Just you';
}

export function formatTime(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function preview(c: Conversation): string {
  const m = c.lastMessage;
  if (!m) return 'No messages yet';
  if (m.deletedAt) return 'Message deleted';
  return `${m.senderUsername}: ${m.content ?? ''}`;
}
