// Errors in words for people. The backend answers `{code, message}`: the server's codes, plus
// `offline`, `signed_out` and `local` from the app (src-tauri/src/commands.rs). The message is for
// developers (except `invalid_payload`'s, which the server writes for people); it goes to the console.

export interface ErrorContext {
  /** What the person was doing: the same code means different things on different screens. */
  action?: 'login' | 'register' | 'chat' | 'friends';
  /** The server address they typed, or are signed in to. */
  serverUrl?: string;
}

/** The host (and port) of a server address, as typed: "http://127.0.0.1:4000/" → "127.0.0.1:4000". */
export function serverHost(serverUrl: string): string {
  const typed = serverUrl.trim();
  try {
    // "localhost:4000" parses as a URL of scheme "localhost:": only take hosts of addresses with "//".
    if (typed.includes('//')) return new URL(typed).host || typed;
  } catch {
    // not a URL: cut it by hand
  }
  return typed.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/[/?#].*$/, '');
}

function parts(error: unknown): { code: string; message: string } {
  const body = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof body.code === 'string' ? body.code : 'local';
  const message = typeof body.message === 'string' ? body.message : String(error);
  return { code, message };
}

/** One sentence for people about a failed action. Logs the technical message with console.warn. */
export function humanError(error: unknown, context: ErrorContext = {}): string {
  const { code, message } = parts(error);
  console.warn(`${context.action ?? 'action'} failed: ${code}: ${message}`);
  return errorText(error, context);
}

/** The sentence of `humanError`, without logging (for what is shown on every render, like a message
 * the server refused). */
export function errorText(error: unknown, context: ErrorContext = {}): string {
  const { code, message } = parts(error);
  switch (code) {
    case 'offline': {
      const host = context.serverUrl ? serverHost(context.serverUrl) : '';
      return host
        ? `No Confab server answers at ${host}. Check the address, or ask whoever runs it.`
        : 'The Confab server does not answer. Check your connection, or ask whoever runs it.';
    }
    case 'unauthorized':
      if (context.action === 'login') return 'Wrong username or password.';
      break;
    case 'conflict':
      if (context.action === 'register') return 'That username is taken.';
      break;
    case 'rate_limited':
      return 'Too many tries. Wait a moment and try again.';
    case 'invalid_payload':
      if (message) return message;
      break;
    case 'not_found':
      if (context.action === 'chat') return 'This conversation or message is gone, or you are no longer in it.';
      break;
    case 'forbidden':
      // The server says who may do what in words ("only the sender can edit a message").
      if (context.action === 'chat' && message) return `${message[0].toUpperCase()}${message.slice(1)}.`;
      break;
  }
  return `Something went wrong (${code}). Try again.`;
}
