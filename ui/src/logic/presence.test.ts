import { describe, expect, it } from 'vitest';

import type { ConnectionState, Conversation, Member } from '../types';
import { groupCountText, groupOnline, presenceStale, presenceText } from './presence';

const member = (id: number, online: boolean): Member =>
  ({ id, username: `u${id}`, displayName: `U${id}`, online, lastReadSeq: 0 });
const conversation = (kind: 'direct' | 'group', members: Member[]): Conversation =>
  ({ id: 1, kind, title: kind === 'group' ? 'Team' : null, members, lastMessage: null, unreadCount: 0, lastSeq: 0, createdAt: 0 });

const connected: ConnectionState = { state: 'connected' };
const reconnecting: ConnectionState = { state: 'reconnecting', attempt: 1, retryInMs: 1000, lastError: 'refused' };

describe('group online count', () => {
  it('counts yourself as online, out of all members, the same in the header and the list', () => {
    // The server may not mark you online in your own copy: you count anyway.
    const group = conversation('group', [member(1, false), member(2, true), member(3, false)]);
    expect(groupOnline(group, 1)).toEqual({ online: 2, total: 3 });
    expect(presenceText(group, 1, connected)).toBe('2 of 3 online');
    expect(groupCountText(group, 1)).toBe('2/3');
  });

  it('a group of two with the other offline reads 1 of 2 and 1/2', () => {
    const group = conversation('group', [member(1, true), member(2, false)]);
    expect(presenceText(group, 1, connected)).toBe('1 of 2 online');
    expect(groupCountText(group, 1)).toBe('1/2');
  });
});

describe('presence text', () => {
  it('says online or offline for a direct chat', () => {
    expect(presenceText(conversation('direct', [member(1, true), member(2, true)]), 1, connected)).toBe('online');
    expect(presenceText(conversation('direct', [member(1, true), member(2, false)]), 1, connected)).toBe('offline');
  });

  it('says "last known" while the connection is down', () => {
    const direct = conversation('direct', [member(1, true), member(2, true)]);
    expect(presenceText(direct, 1, reconnecting)).toBe('online (last known)');
    expect(presenceText(conversation('direct', [member(1, true), member(2, false)]), 1, { state: 'connecting' }))
      .toBe('offline (last known)');
    expect(presenceText(conversation('group', [member(1, true), member(2, true)]), 1, reconnecting)).toBe('2 of 2 online (last known)');
  });

  it('is stale unless connected', () => {
    expect(presenceStale(connected)).toBe(false);
    expect(presenceStale(reconnecting)).toBe(true);
    expect(presenceStale({ state: 'connecting' })).toBe(true);
  });
});
