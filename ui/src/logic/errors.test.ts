import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { errorText, humanError, serverHost } from './errors';

const err = (code: string, message = 'technical detail') => ({ code, message });

describe('humanError', () => {
  let warn: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => warn.mockRestore());

  it('names the server that does not answer, from the address typed', () => {
    const offline = err('offline', 'offline: error sending request for url (http://127.0.0.1:4000/api/auth/register)');
    expect(humanError(offline, { action: 'register', serverUrl: 'http://127.0.0.1:4000' }))
      .toBe('No Confab server answers at 127.0.0.1:4000. Check the address, or ask whoever runs it.');
    expect(humanError(offline, { action: 'login', serverUrl: ' https://chat.example.org/ ' }))
      .toBe('No Confab server answers at chat.example.org. Check the address, or ask whoever runs it.');
    // The technical message goes to the console, not to the person.
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('error sending request for url'));
  });

  it('without an address, still says the server does not answer', () => {
    expect(humanError(err('offline'), { action: 'chat' })).toMatch(/^The Confab server does not answer\./);
  });

  it('says what unauthorized and conflict mean where they have a meaning', () => {
    expect(humanError(err('unauthorized'), { action: 'login' })).toBe('Wrong username or password.');
    expect(humanError(err('conflict'), { action: 'register' })).toBe('That username is taken.');
    expect(humanError(err('conflict'), { action: 'friends' })).toBe('Something went wrong (conflict). Try again.');
  });

  it('asks to wait when rate limited', () => {
    expect(humanError(err('rate_limited'), { action: 'login' })).toBe('Too many tries. Wait a moment and try again.');
  });

  it("passes the server's own words for invalid_payload", () => {
    expect(humanError(err('invalid_payload', 'Username must be 3 to 32 letters, digits or _.'), { action: 'register' }))
      .toBe('Username must be 3 to 32 letters, digits or _.');
  });

  it('says in a chat what a refusal means, without logging when only shown', () => {
    expect(errorText(err('not_found', 'conversation not found'), { action: 'chat' }))
      .toBe('This conversation or message is gone, or you are no longer in it.');
    expect(errorText(err('forbidden', 'only the sender can edit a message'), { action: 'chat' }))
      .toBe('Only the sender can edit a message.');
    expect(errorText(err('rate_limited', 'slow down'), { action: 'chat' })).toBe('Too many tries. Wait a moment and try again.');
  });

  it('names the code of anything else, also for errors that are not the backend\'s', () => {
    expect(humanError(err('internal'))).toBe('Something went wrong (internal). Try again.');
    expect(humanError(new Error('clipboard denied'))).toBe('Something went wrong (local). Try again.');
    expect(humanError('boom')).toBe('Something went wrong (local). Try again.');
  });
});

describe('serverHost', () => {
  it('takes host and port, also from an address typed without a scheme', () => {
    expect(serverHost('http://127.0.0.1:4000')).toBe('127.0.0.1:4000');
    expect(serverHost('127.0.0.1:4000/api')).toBe('127.0.0.1:4000');
    expect(serverHost('chat.example.org')).toBe('chat.example.org');
    expect(serverHost('localhost:4000/')).toBe('localhost:4000');
  });
});
