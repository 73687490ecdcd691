import http from 'node:http';
import https from 'node:https';
import { APIConnectionError, APITimeoutError } from './errors.js';
import { HttpProtocolError, redirectTarget, RedirectFollowError, SocketTimeoutError } from './transport.js';
import { proxyAgentFor } from './proxy.js';

export type Method = 'GET' | 'POST';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpRequest {
  method: Method;
  url: string;
  headers?: Record<string, string>;
  json?: unknown;
  signal?: AbortSignal | undefined;
  /** For the answer, once the request is sent (default 60 s). */
  timeoutMs?: number;
}

/** Errors raised before the request could have reached the server. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);
const CONNECT_TIMEOUT_MS = 15_000;
/** A large inline video is sent in one body; on a slow uplink that takes a while. */
const SEND_TIMEOUT_MS = 120_000;

export function toConnectionError(error: unknown, what: string): APIConnectionError {
  if (error instanceof RedirectFollowError) {
    // Whatever it says, the request that was redirected had reached the server.
    const inner = toConnectionError(error.cause, what);
    const Kind = inner instanceof APITimeoutError ? APITimeoutError : APIConnectionError;
    return new Kind(inner.message, { code: inner.code, neverSent: false, cause: error.cause });
  }
  if (error instanceof SocketTimeoutError) {
    return new APITimeoutError(`${what}: ${error.message}`, { code: 'ETIMEDOUT', neverSent: error.phase === 'connect', cause: error });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') {
    return new APIConnectionError(`${what}: ${describeCode(code, (error as Error).message)}`, { code, neverSent: NEVER_SENT_CODES.has(code), cause: error });
  }
  return new APIConnectionError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { neverSent: false, cause: error });
}

function describeCode(code: string, message: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return message;
  }
}

/**
 * One HTTP exchange, no retries (they live in retry.ts, with an injectable clock) and no
 * status-code exceptions (errors.ts decides). node:http itself, not a client library: a status
 * call is mostly start-up, and got's loading and per-request set-up were a third of it. Redirects
 * are followed as got did (303 becomes a GET), the key dropped on any that leaves `apiOrigin`;
 * the proxy is chosen per target URL.
 */
export async function httpRequest(request: HttpRequest, env: Record<string, string | undefined>, apiOrigin: string): Promise<HttpResponse> {
  let url = new URL(request.url);
  let method: Method = request.method;
  let body = request.json === undefined ? undefined : JSON.stringify(request.json);
  // Identity asked for explicitly (with no Accept-Encoding any coding would be allowed): the
  // API's answers are a few hundred bytes, and zlib stays unloaded.
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...request.headers };
  for (let redirects = 0; ; redirects++) {
    let response: HttpResponse;
    try {
      response = await exchange(url, method, headers, body, request, env);
    } catch (error) {
      throw redirects > 0 ? new RedirectFollowError(error) : error;
    }
    const next = redirectTarget(response.status, response.headers.location, url, redirects);
    if (next === undefined) return response;
    url = next;
    // The key belongs to the API origin alone: never carried across a redirect elsewhere.
    if (url.origin !== apiOrigin) delete headers.authorization;
    if (response.status === 303) {
      method = 'GET';
      body = undefined;
    }
  }
}

function exchange(url: URL, method: Method, headers: Record<string, string>, body: string | undefined, request: HttpRequest, env: Record<string, string | undefined>): Promise<HttpResponse> {
  const transport = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (transport === undefined) return Promise.reject(new HttpProtocolError(`cannot call a ${url.protocol} URL`));
  const { signal } = request;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(url, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      agent: proxyAgentFor(url.href, env),
    });
    // Not http.request's own `signal` option: its stream plumbing was ~1.5 ms of a status call.
    const onAbort = () => outgoing.destroy(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    /** What a timer destroyed the request with: a cut that follows is that timeout, not a reset. */
    let timedOut: SocketTimeoutError | undefined;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const expire = (name: SocketTimeoutError['phase']) => () => outgoing.destroy((timedOut = new SocketTimeoutError(name)));
    let timer = setTimeout(expire('connect'), CONNECT_TIMEOUT_MS);
    const phase = (name: 'send' | 'response', ms: number) => {
      // A server may answer before the body is all sent (a 401 to a large upload): no timer then.
      if (settled) return;
      clearTimeout(timer);
      timer = setTimeout(expire(name), ms);
    };
    outgoing.on('socket', (socket) => {
      // A kept-alive socket is connected already.
      if (!socket.connecting) phase('send', SEND_TIMEOUT_MS);
      else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => phase('send', SEND_TIMEOUT_MS));
    });
    outgoing.on('finish', () => phase('response', request.timeoutMs ?? 60_000));
    outgoing.on('error', (error) => {
      settle();
      reject(error);
    });
    outgoing.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', (error) => {
        settle();
        reject(error);
      });
      // Cut before its end: Node 20 may report neither 'end' nor an error.
      incoming.on('close', () => {
        settle();
        if (!incoming.complete) reject(timedOut ?? Object.assign(new Error('connection reset'), { code: 'ECONNRESET' }));
      });
      incoming.on('end', () => {
        settle();
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    outgoing.end(body);
  });
}
