/** What the two HTTP transports (http.ts for the API, file-get.ts for files) share. */

/** A connection or exchange that timed out; `phase` says whether a request can have been sent. */
export class SocketTimeoutError extends Error {
  constructor(readonly phase: 'connect' | 'send' | 'response' | 'idle') {
    super(`timed out (${phase})`);
    this.name = 'SocketTimeoutError';
  }
}

/** The server's answer broke HTTP/1.1, or led nowhere (a redirect loop). */
export class HttpProtocolError extends Error {
  override name = 'HttpProtocolError';
}

/** A failure while following a redirect: the request before it had reached the server. */
export class RedirectFollowError extends Error {
  override name = 'RedirectFollowError';
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/**
 * Where a redirect answer sends the request next (relative to `from`), or undefined when the
 * answer is not one; refuses to follow an eleventh.
 */
export function redirectTarget(status: number, location: string | string[] | undefined, from: URL, followed: number): URL | undefined {
  if (!REDIRECT_STATUSES.has(status) || typeof location !== 'string') return undefined;
  if (followed === MAX_REDIRECTS) throw new HttpProtocolError(`more than ${MAX_REDIRECTS} redirects`);
  return new URL(location, from);
}
