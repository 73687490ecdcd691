import got, { RequestError, TimeoutError, type Got } from 'got';
import { APIConnectionError, APITimeoutError, CertificateError, ProxyAuthenticationError, ProxyRefusedError } from './errors.js';
import { agentsFor, isHandshakeTimeout, isTunnelTimeout, tunnelRefusal } from './proxy.js';

type Env = Record<string, string | undefined>;

/**
 * got for every request of the client: one instance for the API (the key, JSON, the verbose
 * trace) and one for files (no key, raw bytes, an idle timeout). Neither retries: retries live in
 * retry.ts and download.ts, with an injectable clock. Neither throws for an HTTP status: the API
 * client picks the error class by status (errors.ts), downloads decide per status.
 */

/** Per phase; the connecting ones short, sending long enough for a large inline video on a slow uplink. */
const API_TIMEOUTS = { lookup: 15_000, connect: 15_000, secureConnect: 15_000, send: 120_000, response: 60_000, read: 60_000 };

export interface ApiHttpOptions {
  /** The base URL every path is relative to (`https://api.apimart.ai/v1`). */
  baseUrl: string;
  apiKey?: string | undefined;
  userAgent: string;
  env: Env;
  /** Verbose trace: one line per request, redirect and response, the key redacted. */
  log?: ((line: string) => void) | undefined;
}

/** What a call tells the trace hooks: the endpoint's name (`GET /tasks/{id}`). */
export interface CallContext extends Record<string, unknown> {
  endpoint: string;
}

/** Large inline videos (`data:` URLs) shortened in the trace. */
function redactBody(json: unknown): string {
  return JSON.stringify(json, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith('data:') && value.length > 80 ? `${value.slice(0, 40)}…(${value.length} chars)` : value,
  );
}

/**
 * The got instance for API calls. Redirects are got's (303 becomes a GET); the key is dropped on
 * any that leaves the API's origin (got itself keeps it across a change of scheme alone), and the
 * proxy is chosen again for the new target.
 */
export function createApiHttp(options: ApiHttpOptions): Got {
  const { env, log } = options;
  const apiOrigin = new URL(options.baseUrl).origin;
  const endpoint = (context: Record<string, unknown>) => (typeof context.endpoint === 'string' ? context.endpoint : '');
  return got.extend({
    prefixUrl: options.baseUrl,
    headers: {
      'user-agent': options.userAgent,
      accept: 'application/json',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    },
    agent: agentsFor(options.baseUrl, env, { carriesKey: true }),
    timeout: API_TIMEOUTS,
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'text',
    hooks: {
      beforeRequest: [
        (request) => {
          log?.(`→ ${request.method} ${String(request.url)}${request.json === undefined ? '' : ` ${redactBody(request.json)}`}`);
          if (request.headers.authorization !== undefined) log?.('  authorization: Bearer ***');
        },
      ],
      beforeRedirect: [
        (next, response) => {
          const target = new URL(String(next.url));
          if (target.origin !== apiOrigin) delete next.headers.authorization;
          next.agent = agentsFor(target, env, { carriesKey: next.headers.authorization !== undefined });
          log?.(`↪ ${response.statusCode} to ${target.href}`);
        },
      ],
      afterResponse: [
        (response) => {
          const ms = response.timings.phases.total ?? Date.now() - response.timings.start;
          log?.(`← ${response.statusCode} ${endpoint(response.request.options.context)} (${ms} ms) ${String(response.body).slice(0, 2000)}`);
          return response;
        },
      ],
    },
  });
}

export interface FileHttpOptions {
  env: Env;
  /** A transfer that delivers no byte for this long is dropped (not a limit on the whole transfer). */
  idleTimeoutMs: number;
}

/**
 * The got instance for result files: no Authorization (signed links need none, and the file
 * server is another origin), identity encoding (the bytes on disk are the bytes served, so a
 * Range resumes them). The caller gives the proxy's agents for the link (`fileAgents`); they
 * are chosen again after each redirect.
 */
export function createFileHttp(options: FileHttpOptions): Got {
  const { env } = options;
  return got.extend({
    headers: { 'user-agent': 'omni-video', 'accept-encoding': 'identity' },
    decompress: false,
    timeout: { lookup: API_TIMEOUTS.lookup, connect: API_TIMEOUTS.connect, secureConnect: API_TIMEOUTS.secureConnect, socket: options.idleTimeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    hooks: {
      beforeRedirect: [(next) => void (next.agent = fileAgents(String(next.url), env))],
    },
  });
}

/** The agents for a file link: the proxy chosen for it, if any. */
export function fileAgents(url: string, env: Env) {
  return agentsFor(url, env, { carriesKey: false });
}

/** Errors raised before the request could have reached the server. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);
/** got's timeout phases that end before a byte of the request is sent. */
const CONNECTING_PHASES = new Set(['lookup', 'connect', 'secureConnect']);
/** OpenSSL's verdicts on a chain that leads to no CA this machine trusts. */
const UNTRUSTED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'INVALID_CA',
]);
const CERTIFICATE_CODES = new Set([
  ...UNTRUSTED_CODES,
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Node's error when the peer closes the connection before the TLS handshake ends. */
const HANDSHAKE_CUT = 'Client network socket disconnected before secure TLS connection was established';

/**
 * True when the exchange failed on a TLS connection whose handshake never ended, so no request
 * had left: a finished handshake leaves `authorized` true (got verifies every certificate, even
 * with NODE_TLS_REJECT_UNAUTHORIZED=0), a refused certificate an `authorizationError`.
 */
function handshakeUnfinished(error: unknown): boolean {
  const socket = error instanceof RequestError ? (error.request?.socket as { encrypted?: boolean; authorized?: boolean; authorizationError?: unknown } | undefined) : undefined;
  return socket?.encrypted === true && socket.authorized !== true && !socket.authorizationError;
}

const CERTIFICATE_HINT = 'Nothing was sent. If your network uses its own CA (a company proxy, a private gateway), add it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem; otherwise check the address.';

function describeCertificate(code: string, host: string, cause: Error & { cert?: { subjectaltname?: string } }): string {
  if (code === 'CERT_HAS_EXPIRED') return `the certificate of ${host} has expired`;
  if (code === 'CERT_NOT_YET_VALID') return `the certificate of ${host} is not valid yet`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    const names = cause.cert?.subjectaltname;
    return `the certificate of ${host} is for another name${names ? ` (${names})` : ''}`;
  }
  if (UNTRUSTED_CODES.has(code)) return `the certificate of ${host} is not signed by a CA this machine trusts (${code})`;
  return `the certificate of ${host} was refused (${code})`;
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

function describeRefusal(status: number, host: string): { message: string; hint: string } {
  if (status === 407) {
    return {
      message: `the proxy refused its credentials (HTTP 407 to CONNECT ${host}); nothing was sent`,
      hint: 'Check the user name and password in HTTPS_PROXY / HTTP_PROXY (http://user:password@host:port, special characters %-encoded).',
    };
  }
  if (status === 403) {
    return {
      message: `the proxy refused to connect to ${host} (HTTP 403 to CONNECT); nothing was sent`,
      hint: `Ask whoever runs the proxy to allow ${host}, or add it to NO_PROXY if it can be reached directly.`,
    };
  }
  return {
    message: `the proxy could not open a connection to ${host} (HTTP ${status} to CONNECT); nothing was sent`,
    hint: 'Check the network and HTTPS_PROXY / HTTP_PROXY, then try again.',
  };
}

/**
 * A failed exchange as the client's error, with `neverSent` true only when the request provably
 * never reached the server: no connection (refused, no such host, a TLS handshake that refused
 * the certificate or that the server cut, a proxy that would not open the tunnel) or a timeout before it was sent. Once
 * a redirect was followed, the request before it had arrived, whatever failed next.
 */
export function toConnectionError(error: unknown, what: string): APIConnectionError {
  const redirected = error instanceof RequestError && (error.request?.redirectUrls.length ?? 0) > 0;
  const cause = error instanceof RequestError && error.cause instanceof Error ? error.cause : error;
  const url = error instanceof RequestError ? error.options?.url : undefined;
  const host = url === undefined ? 'the server' : new URL(String(url)).host;
  if (error instanceof TimeoutError) {
    return new APITimeoutError(`${what}: timed out (${error.event})`, { code: 'ETIMEDOUT', neverSent: !redirected && CONNECTING_PHASES.has(error.event), cause: error });
  }
  if (redirected) {
    const code = (error as NodeJS.ErrnoException).code;
    return new APIConnectionError(`${what}: ${describeCode(code ?? '', (error as Error).message)}`, { code, neverSent: false, cause: error });
  }
  const refusal = tunnelRefusal(cause);
  if (refusal !== undefined) {
    const { message, hint } = describeRefusal(refusal, host);
    const Kind = refusal === 407 ? ProxyAuthenticationError : ProxyRefusedError;
    return new Kind(`${what}: ${message}`, { status: refusal, cause: error, hint });
  }
  if (isTunnelTimeout(cause)) {
    return new APITimeoutError(`${what}: the proxy did not open a connection to ${host} in time`, { code: 'ETIMEDOUT', neverSent: true, cause: error });
  }
  if (isHandshakeTimeout(cause)) {
    return new APITimeoutError(`${what}: the TLS handshake with ${host} through the proxy did not finish in time`, { code: 'ETIMEDOUT', neverSent: true, cause: error });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && CERTIFICATE_CODES.has(code)) {
    return new CertificateError(`${what}: ${describeCertificate(code, host, cause as Error)}`, { code, neverSent: true, cause: error, hint: CERTIFICATE_HINT });
  }
  if (handshakeUnfinished(error)) {
    // OpenSSL's own words (`wrong version number`: a plain-text answer), else the code.
    const reason = /:SSL routines:[^:]*:([^:]+):/.exec((cause as Error).message)?.[1] ?? code ?? 'no reason given';
    const failure = (cause as Error).message === HANDSHAKE_CUT ? `${host} closed the connection during the TLS handshake` : `the TLS handshake with ${host} failed (${reason})`;
    return new APIConnectionError(`${what}: ${failure}`, {
      code,
      neverSent: true,
      cause: error,
      hint: 'Nothing was sent. Check the address: an https:// URL must lead to a TLS service, not a plain http port; a firewall may also cut such connections.',
    });
  }
  if (typeof code === 'string') {
    return new APIConnectionError(`${what}: ${describeCode(code, (error as Error).message)}`, { code, neverSent: NEVER_SENT_CODES.has(code), cause: error });
  }
  return new APIConnectionError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { neverSent: false, cause: error });
}
