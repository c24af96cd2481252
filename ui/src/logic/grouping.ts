// The timeline of a chat: server messages and pending ones, grouped by day and by sender.

import type { Id, Message, Pending } from '../types';

export type TimelineItem =
  | { kind: 'message'; message: Message }
  | { kind: 'pending'; pending: Pending };

export interface SenderGroup {
  senderId: Id;
  senderName: string;
  items: TimelineItem[];
}

export interface DayGroup {
  /** Local date key, e.g. "2026-11-26". */
  day: string;
  label: string;
  groups: SenderGroup[];
}

/** Consecutive messages of one sender less than this apart share a group. */
export const GROUP_GAP_MS = 5 * 60 * 1000;

function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function dayLabel(ts: number, now: number): string {
  const key = dayKey(ts);
  if (key === dayKey(now)) return 'Today';
  if (key === dayKey(now - 24 * 3600 * 1000)) return 'Yesterday';
  return new Date(ts).toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
}

function meta(item: TimelineItem, me: { id: Id; username: string }) {
  return item.kind === 'message'
    ? { sender: item.message.senderId, name: item.message.senderUsername, ts: item.message.timestamp }
    : { sender: me.id, name: me.username, ts: item.pending.createdAt };
}

/** Groups server messages (any order) followed by pending ones (written order) into days and runs. */
export function groupTimeline(
  messages: Message[],
  pending: Pending[],
  me: { id: Id; username: string },
  now: number,
): DayGroup[] {
  const items: TimelineItem[] = [
    ...[...messages].sort((a, b) => a.seq - b.seq).map((message) => ({ kind: 'message' as const, message })),
    ...pending.map((p) => ({ kind: 'pending' as const, pending: p })),
  ];
  const days: DayGroup[] = [];
  let lastTs = 0;
  for (const item of items) {
    const { sender, name, ts } = meta(item, me);
    // Pending messages are "now": never before the last sent one.
    const at = Math.max(ts, item.kind === 'pending' ? lastTs : 0);
    const key = dayKey(at);
    let day = days.at(-1);
    if (!day || day.day !== key) {
      day = { day: key, label: dayLabel(at, now), groups: [] };
      days.push(day);
    }
    const group = day.groups.at(-1);
    const calls = item.kind === 'message' && item.message.type === 'call';
    if (group && group.senderId === sender && at - lastTs < GROUP_GAP_MS && !calls) {
      group.items.push(item);
    } else {
      day.groups.push({ senderId: sender, senderName: name, items: [item] });
    }
    lastTs = at;
  }
  return days;
}
