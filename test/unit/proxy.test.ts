import { describe, expect, it } from 'vitest';
import { agentsFor, bypassesProxy, proxyForUrl } from '../../src/api/proxy.js';

const PROXY = 'http://proxy.corp:3128';

describe('proxyForUrl', () => {
  it('sends https targets through HTTPS_PROXY, falling back to HTTP_PROXY', () => {
    expect(proxyForUrl('https://api.apimart.ai/v1/balance', { HTTPS_PROXY: PROXY, HTTP_PROXY: 'http://other:1' })).toBe(PROXY);
    expect(proxyForUrl('https://cdn.example.com/a.mp4', { HTTP_PROXY: PROXY })).toBe(PROXY);
  });

  it('sends plain http targets through HTTP_PROXY only', () => {
    expect(proxyForUrl('http://127.0.0.1:4010/v1/balance', { HTTP_PROXY: PROXY })).toBe(PROXY);
    expect(proxyForUrl('http://127.0.0.1:4010/v1/balance', { HTTPS_PROXY: PROXY })).toBeUndefined();
  });

  it('reads the lower-case names too, and ignores empty values', () => {
    expect(proxyForUrl('https://api.apimart.ai/v1', { https_proxy: PROXY })).toBe(PROXY);
    expect(proxyForUrl('https://api.apimart.ai/v1', { HTTPS_PROXY: '  ', HTTP_PROXY: '' })).toBeUndefined();
    expect(proxyForUrl('https://api.apimart.ai/v1', {})).toBeUndefined();
  });

  it('bypasses the proxy for NO_PROXY hosts, for the API and the file server alike', () => {
    const env = { HTTPS_PROXY: PROXY, NO_PROXY: 'apimart.ai' };
    expect(proxyForUrl('https://api.apimart.ai/v1', env)).toBeUndefined();
    expect(proxyForUrl('https://cdn.example.com/a.mp4', env)).toBe(PROXY);
    expect(proxyForUrl('https://cdn.example.com/a.mp4', { HTTPS_PROXY: PROXY, no_proxy: 'example.com' })).toBeUndefined();
  });
});

describe('bypassesProxy', () => {
  const host = (url: string, noProxy: string | undefined) => bypassesProxy(new URL(url), noProxy);

  it('matches exact hosts and their subdomains, never mere suffixes', () => {
    expect(host('https://apimart.ai/', 'apimart.ai')).toBe(true);
    expect(host('https://api.apimart.ai/', 'apimart.ai')).toBe(true);
    expect(host('https://notapimart.ai/', 'apimart.ai')).toBe(false);
  });

  it('reads .domain and *.domain as the domain and everything under it', () => {
    for (const entry of ['.example.com', '*.example.com']) {
      expect(host('https://cdn.example.com/', entry), entry).toBe(true);
      expect(host('https://example.com/', entry), entry).toBe(true);
      expect(host('https://badexample.com/', entry), entry).toBe(false);
    }
  });

  it('honours a port when one is given, the scheme default otherwise', () => {
    expect(host('http://127.0.0.1:4010/', '127.0.0.1:4010')).toBe(true);
    expect(host('http://127.0.0.1:4011/', '127.0.0.1:4010')).toBe(false);
    expect(host('https://api.apimart.ai/', 'api.apimart.ai:443')).toBe(true);
    expect(host('https://api.apimart.ai/', 'api.apimart.ai:80')).toBe(false);
  });

  it('takes lists separated by commas or spaces, `*`, IPv6 literals, any case', () => {
    expect(host('http://127.0.0.1/', 'localhost, 127.0.0.1')).toBe(true);
    expect(host('http://[::1]:8080/', 'localhost ::1')).toBe(true);
    expect(host('http://[::1]:8080/', '[::1]:8080')).toBe(true);
    expect(host('https://API.Apimart.AI/', 'apimart.AI')).toBe(true);
    expect(host('https://anything.example/', '*')).toBe(true);
    expect(host('https://anything.example/', '')).toBe(false);
    expect(host('https://anything.example/', undefined)).toBe(false);
  });
});

describe('agentsFor', () => {
  const api = { carriesKey: true };

  it('never hands the key to a remote proxy over plain http, but to loopback proxies and over https', () => {
    const remote = { HTTP_PROXY: 'http://proxy.example.com:3128' };
    expect(agentsFor('http://127.0.0.1:4010/v1/tasks/x', remote, api)).toEqual({});
    expect(agentsFor('http://127.0.0.1:4010/v1/tasks/x', { HTTP_PROXY: 'http://127.0.0.1:8080' }, api).http).toBeDefined();
    expect(agentsFor('https://api.apimart.ai/v1/tasks/x', { HTTPS_PROXY: 'http://proxy.example.com:3128' }, api).https).toBeDefined();
    expect(agentsFor('https://api.apimart.ai/v1/tasks/x', { HTTPS_PROXY: 'http://proxy.example.com:3128', NO_PROXY: '.apimart.ai' }, api)).toEqual({});
  });

  it('sends a keyless file request through any proxy, with one agent per proxy and protocol', () => {
    const env = { HTTP_PROXY: 'http://proxy.example.com:3128' };
    const first = agentsFor('http://cdn.example.com/a.mp4', env, { carriesKey: false });
    expect(first.http).toBeDefined();
    expect(agentsFor('http://other.example.com/b.mp4', env, { carriesKey: false }).http).toBe(first.http);
    expect(agentsFor('https://cdn.example.com/a.mp4', env, { carriesKey: false }).https).not.toBe(first.http);
  });
});
