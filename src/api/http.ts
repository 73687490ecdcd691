import got, { type Headers, type Method, RequestError, TimeoutError } from 'got';
import { APIConnectionError, APITimeoutError } from './errors.js';
import { SocketTimeoutError } from './file-get.js';
import { agentsFor } from './proxy.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpRequest {
  method: Method;
  url: string;
  headers?: Headers;
  json?: unknown;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/** Errors raised before the request could have reached the server. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);
const NEVER_SENT_TIMEOUTS = new Set(['lookup', 'connect', 'secureConnect']);

export function toConnectionError(error: unknown, what: string): APIConnectionError {
  if (error instanceof TimeoutError) {
    const neverSent = NEVER_SENT_TIMEOUTS.has(error.event);
    return new APITimeoutError(`${what}: timed out (${error.event})`, { code: error.code, neverSent, cause: error });
  }
  if (error instanceof SocketTimeoutError) {
    return new APITimeoutError(`${what}: ${error.message}`, { code: 'ETIMEDOUT', neverSent: error.phase === 'connect', cause: error });
  }
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (error instanceof Error && !(error instanceof RequestError) && typeof errno === 'string') {
    return new APIConnectionError(`${what}: ${describeCode(errno, error.message)}`, { code: errno, neverSent: NEVER_SENT_CODES.has(errno), cause: error });
  }
  if (error instanceof RequestError) {
    const code = error.code;
    return new APIConnectionError(`${what}: ${describeCode(code, error.message)}`, {
      code,
      neverSent: NEVER_SENT_CODES.has(code),
      cause: error,
    });
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
 * status-code exceptions (errors.ts decides). The proxy is chosen per target URL.
 */
export async function httpRequest(request: HttpRequest, env: Record<string, string | undefined>, apiOrigin: string): Promise<HttpResponse> {
  const response = await got(request.url, {
    method: request.method,
    headers: { 'accept-encoding': 'identity', ...request.headers },
    ...(request.json === undefined ? {} : { json: request.json }),
    signal: request.signal,
    agent: agentsFor(request.url, env, { carriesKey: true }),
    throwHttpErrors: false,
    retry: { limit: 0 },
    responseType: 'text',
    // Identity asked for explicitly (with no Accept-Encoding any coding would be allowed): the
    // API's answers are a few hundred bytes, and zlib stays unloaded.
    decompress: false,
    timeout: { lookup: 10_000, connect: 15_000, secureConnect: 15_000, send: 120_000, response: request.timeoutMs ?? 60_000 },
    hooks: {
      beforeRedirect: [
        (options) => {
          // The key belongs to the API origin alone: never carry it across a redirect elsewhere.
          const target = options.url instanceof URL ? options.url.origin : undefined;
          if (target !== apiOrigin) delete options.headers.authorization;
        },
      ],
    },
  });
  return { status: response.statusCode, headers: response.headers, body: response.body };
}
