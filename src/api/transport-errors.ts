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
