import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';

/** hpagent loads https and tls as it starts; most runs use no proxy, so it is loaded for one. */
const loadHpagent = () => createRequire(import.meta.url)('hpagent') as typeof import('hpagent');

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
  return target.protocol === 'https:' ? envValue(env, 'HTTPS_PROXY') ?? envValue(env, 'HTTP_PROXY') : envValue(env, 'HTTP_PROXY');
}

const agents = new Map<string, HttpAgent | HttpsAgent>();

/** localhost, 127.x.x.x or ::1: this machine. */
export function isLoopbackHost(hostname: string): boolean {
  return /^(localhost|127(?:\.\d{1,3}){3}|\[?::1\]?)$/i.test(hostname);
}

/**
 * The proxy's agent for an API call to this URL, or undefined for none: one per proxy and
 * protocol, so every call reuses its tunnels (Node does not honour HTTPS_PROXY by itself).
 * Plain http goes through a loopback proxy only: a remote one would carry the key in clear text.
 */
export function proxyAgentFor(url: string, env: Env): HttpAgent | HttpsAgent | undefined {
  const proxy = proxyForUrl(url, env);
  if (!proxy) return undefined;
  const https = new URL(url).protocol === 'https:';
  if (!https && !isLoopbackHost(new URL(proxy).hostname)) return undefined;
  const key = `${https ? 'https' : 'http'} ${proxy}`;
  let agent = agents.get(key);
  if (!agent) {
    const options = { proxy, keepAlive: true, keepAliveMsecs: 1000, maxSockets: 64, maxFreeSockets: 8, scheduling: 'lifo' as const };
    const { HttpProxyAgent, HttpsProxyAgent } = loadHpagent();
    agent = https ? new HttpsProxyAgent(options) : new HttpProxyAgent(options);
    agents.set(key, agent);
  }
  return agent;
}
