// Reaction chips: one per emoji, with its count and whether it is mine (click toggles).

import type { Id } from '../types';

export interface Chip {
  emoji: string;
  count: number;
  mine: boolean;
  /** The users who reacted, for a tooltip. */
  userIds: Id[];
}

export const QUICK_EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉', '🙏', '🔥'];

/** Chips by count (most first), ties in the order the server lists them. */
export function reactionChips(reactions: Record<string, Id[]>, me: Id): Chip[] {
  return Object.entries(reactions)
    .filter(([, users]) => users.length > 0)
    .map(([emoji, users], index) => ({ emoji, count: users.length, mine: users.includes(me), userIds: users, index }))
    .sort((a, b) => b.count - a.count || a.index - b.index)
    .map(({ index: _index, ...chip }) => chip);
}

/** Clicking a chip (or picking an emoji) adds it, unless it is already mine: then it removes it. */
export function toggleAction(reactions: Record<string, Id[]>, emoji: string, me: Id): { emoji: string; add: boolean } {
  return { emoji, add: !(reactions[emoji] ?? []).includes(me) };
}
