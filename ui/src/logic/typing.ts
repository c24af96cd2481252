// Who is typing: an entry lives 3 s after the last typing event, and ends at once with "stopped"
// or when that user's message arrives.

import type { Id } from '../types';

export const TYPING_TTL_MS = 3000;

export class TypingTracker {
  private until = new Map<Id, { name: string; until: number }>();

  /** Records a typing event; returns true if the visible list changed. */
  seen(userId: Id, name: string, isTyping: boolean, now: number): boolean {
    if (!isTyping) return this.until.delete(userId);
    const had = this.until.has(userId);
    this.until.set(userId, { name, until: now + TYPING_TTL_MS });
    return !had;
  }

  /** A message from the user arrived: they stopped typing. */
  messageFrom(userId: Id): boolean {
    return this.until.delete(userId);
  }

  /** Drops expired entries; returns true if any was dropped. */
  expire(now: number): boolean {
    let changed = false;
    for (const [id, entry] of this.until) {
      if (entry.until <= now) {
        this.until.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  /** When the next entry expires, if any. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const { until } of this.until.values()) next = next === null ? until : Math.min(next, until);
    return next;
  }

  names(): string[] {
    return [...this.until.values()].map((e) => e.name);
  }
}

export function typingText(names: string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}
