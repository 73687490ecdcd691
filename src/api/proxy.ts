import type { RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Agents } from 'got';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { ConfigurationError } from './errors.js';

type Env = Record<string, string | undefined>;

function envValue(env: Env, name: string): string | undefined {
  const value = env[name] ?? env[name.toLowerCase()];
  return value?.trim() ? value.trim() : undefined;
}

/** True when NO_PROXY names this host (exact, a domain suffix, host:port, or `*`), as curl reads it. */
export function bypassesProxy(target: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true;
      // `[::1]:8080`, `host:8080`, or a bare IPv6 literal such as `::1` (all colons, no port).
      const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? (entry.split(':').length > 2 ? [entry, entry] : /^(.*?)(?::(\d+))?$/.exec(entry));
      const pattern = (match?.[1] ?? '').toLowerCase().replace(/^\*?\./, '.');
      if (match?.[2] && match[2] !== port) return false;
      if (pattern.startsWith('.')) return host.endsWith(pattern) || host === pattern.slice(1);
      return host === pattern || host.endsWith(`.${pattern}`);
    });
}

/** The proxy to use for this URL, from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, or undefined. */
export function proxyForUrl(url: string, env: Env): string | undefined {
  const target = new URL(url);
  if (bypassesProxy(target, envValue(env, 'NO_PROXY'))) return undefined;
  const proxy = target.protocol === 'https:' ? envValue(env, 'HTTPS_PROXY') ?? envValue(env, 'HTTP_PROXY') : envValue(env, 'HTTP_PROXY');
  // `proxy.corp:3128` is an http proxy, as curl reads it (URL would take `proxy.corp:` for a scheme).
  return proxy === undefined || proxy.includes('://') ? proxy : `http://${proxy}`;
}

/** The proxy setting as a URL when it is an http(s) one, the only kind hpagent tunnels through; else undefined. */
export function httpProxyUrl(proxy: string): URL | undefined {
  const url = URL.canParse(proxy) ? new URL(proxy) : undefined;
  return url?.protocol === 'http:' || url?.protocol === 'https:' ? url : undefined;
}

const agents = new Map<string, HttpProxyAgent | HttpsProxyAgent>();

/** localhost, 127.x.x.x or ::1: this machine. */
export function isLoopbackHost(hostname: string): boolean {
  return /^(localhost|127(?:\.\d{1,3}){3}|\[?::1\]?)$/i.test(hostname);
}

/** How long a proxy may take to connect and answer CONNECT; and the TLS handshake through it. */
const TUNNEL_TIMEOUT_MS = 15_000;

const HANDSHAKE_TIMEOUT = 'TLS handshake through the proxy timed out';

/**
 * hpagent's tunnel, with a limit on the TLS handshake over it: got times the handshake of a
 * connection it opens (secureConnect), not of one an agent hands it, so a service that never
 * answered the handshake held a submission until the send timeout, then left it `uncertain`,
 * though TLS sends no request before the handshake ends.
 */
class TunnelAgent extends HttpsProxyAgent {
  override createConnection(options: RequestOptions, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    return super.createConnection(options, (error, socket) => {
      if (!error && socket) {
        const timer = setTimeout(() => socket.destroy(new Error(HANDSHAKE_TIMEOUT)), options.timeout ?? TUNNEL_TIMEOUT_MS);
        socket.once('secureConnect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      }
      callback?.(error, socket);
    });
  }
}

/**
 * The agents for got for a request to this URL: hpagent's tunnel through the proxy chosen for it,
 * or none (Node's own agent, a direct connection). One agent per proxy and protocol, so calls
 * reuse their tunnels. The certificate of an https target is checked against the target's name:
 * hpagent opens TLS over the tunnel with the request's own host. With `carriesKey`, plain http
 * goes through a loopback proxy only: a remote one would see the key in clear text.
 */
export function agentsFor(url: string | URL, env: Env, options: { carriesKey: boolean }): Agents {
  const target = new URL(url);
  const proxy = proxyForUrl(target.href, env);
  if (!proxy) return {};
  const proxyUrl = httpProxyUrl(proxy);
  if (!proxyUrl) {
    // Not echoed: it may hold a password.
    throw new ConfigurationError(`The proxy for ${target.host} (HTTPS_PROXY / HTTP_PROXY) is not an http(s) URL; nothing was sent.`, {
      hint: 'Set it as http://host:port (credentials as http://user:password@host:port, special characters %-encoded), or unset it.',
    });
  }
  const https = target.protocol === 'https:';
  if (!https && options.carriesKey && !isLoopbackHost(proxyUrl.hostname)) return {};
  const key = `${https ? 'https' : 'http'} ${proxy}`;
  let agent = agents.get(key);
  if (!agent) {
    // OMNI_VIDEO_TEST_TUNNEL_TIMEOUT_MS: for the tests, as client.ts's; undocumented for users on purpose.
    const timeout = Number(env.OMNI_VIDEO_TEST_TUNNEL_TIMEOUT_MS) || TUNNEL_TIMEOUT_MS;
    const settings = { proxy, keepAlive: true, maxSockets: 64, maxFreeSockets: 8, scheduling: 'lifo' as const, timeout };
    agent = https ? new TunnelAgent(settings) : new HttpProxyAgent(settings);
    agents.set(key, agent);
  }
  return https ? { https: agent as HttpsProxyAgent } : { http: agent };
}

/**
 * The proxy's answer when it refused to open the tunnel, from hpagent's error (it reports a
 * CONNECT answered with anything but 200 as `Bad response: <status>`), else undefined.
 */
export function tunnelRefusal(error: unknown): number | undefined {
  const match = error instanceof Error ? /^Bad response: (\d{3})$/.exec(error.message) : null;
  return match ? Number(match[1]) : undefined;
}

/** True when the TLS handshake with the service, through the tunnel, did not end in time. */
export function isHandshakeTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === HANDSHAKE_TIMEOUT;
}

/** True for hpagent's error when the proxy did not answer CONNECT within TUNNEL_TIMEOUT_MS. */
export function isTunnelTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Proxy timeout';
}
