// The chat's timeline as rows for the virtualised list: one row per message or pending entry, in the
// order groupTimeline gives. A row carries what shows above its bubble: the day separator when it is
// the day's first, the sender's name when it starts a sender run. Only the rows on screen are in the
// DOM (Chat.tsx); each row's key is its message's (or pending entry's) own, so a row keeps its
// measured height and the list keeps its place when older pages are put in front.

import type { Id, Message, Pending } from '../types';
import type { DayGroup } from './grouping';

export type Row = {
  key: string;
  /** The day separator's label, on the day's first row. */
  day: string | null;
  /** The sender's name, on the first row of a sender run. */
  sender: string | null;
  /** The run is mine (bubbles on the right). */
  mine: boolean;
} & ({ kind: 'message'; message: Message } | { kind: 'pending'; pending: Pending });

export function timelineRows(days: DayGroup[], me: Id): Row[] {
  const rows: Row[] = [];
  for (const day of days) {
    let first = true;
    for (const group of day.groups) {
      group.items.forEach((item, i) => {
        const common = { day: first ? day.label : null, sender: i === 0 ? group.senderName : null, mine: group.senderId === me };
        first = false;
        rows.push(item.kind === 'message'
          ? { ...common, key: `m${item.message.id}`, kind: 'message', message: item.message }
          : { ...common, key: `p${item.pending.clientMsgId}`, kind: 'pending', pending: item.pending });
      });
    }
  }
  return rows;
}
