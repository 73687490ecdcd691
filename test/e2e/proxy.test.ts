import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));

interface Relayed {
  kind: 'forward' | 'connect';
  target: string;
}

const proxies: Server[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) proxy.closeAllConnections();
  await Promise.all(proxies.map((proxy) => new Promise((resolve) => proxy.close(resolve))));
});

interface ProxyOptions {
  /** `user:password` that Proxy-Authorization must carry, else 407. */
  credentials?: string;
  /** The status every CONNECT is answered with, instead of a tunnel. */
  refuse?: number;
}

/** A CONNECT proxy on loopback that records what it relays (and what it refused). */
async function startProxy(options: ProxyOptions = {}): Promise<{ url: string; relayed: Relayed[]; refused: string[] }> {
  const relayed: Relayed[] = [];
  const refused: string[] = [];
  // hpagent tunnels every target through CONNECT; a plain forward request would be a change worth noticing.
  const proxy = createServer((incoming, outgoing) => {
    relayed.push({ kind: 'forward', target: incoming.url ?? '' });
    outgoing.writeHead(502).end();
  });
  proxy.on('connect', (incoming, client, head) => {
    const expected = options.credentials && `Basic ${Buffer.from(options.credentials).toString('base64')}`;
    const status = options.refuse ?? (expected && incoming.headers['proxy-authorization'] !== expected ? 407 : undefined);
    if (status !== undefined) {
      refused.push(incoming.url ?? '');
      client.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${status === 407 ? 'Proxy-Authenticate: Basic realm="test"\r\n' : ''}Content-Length: 0\r\n\r\n`);
      return;
    }
    relayed.push({ kind: 'connect', target: incoming.url ?? '' });
    const [host, port] = (incoming.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  proxies.push(proxy);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`, relayed, refused };
}

describe('proxies', () => {
  it('HTTP_PROXY carries the API calls and the download alike; the file still byte-identical', async () => {
    const sb = await sandbox();
    const proxy = await startProxy();
    const result = await run(['generate', 'x'], { sandbox: sb, env: { HTTP_PROXY: proxy.url } });
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
    // One tunnel per connection: both origins must have gone through it, and nothing else.
    const targets = new Set(proxy.relayed.map((entry) => `${entry.kind} ${entry.target}`));
    expect([...targets].sort()).toEqual([`connect 127.0.0.1:${sb.port}`, `connect 127.0.0.1:${sb.filePort}`].sort());
  });

  it('a proxy given without a scheme (host:port) is an http proxy, as curl reads it', async () => {
    const sb = await sandbox();
    const proxy = await startProxy();
    const port = new URL(proxy.url).port;
    for (const host of ['localhost', '127.0.0.1']) {
      const result = await run(['balance'], { sandbox: sb, env: { HTTP_PROXY: `${host}:${port}` } });
      expect(result.code, result.stderr).toBe(0);
    }
    expect(proxy.relayed).toEqual([
      { kind: 'connect', target: `127.0.0.1:${sb.port}` },
      { kind: 'connect', target: `127.0.0.1:${sb.port}` },
    ]);
  });

  it('a proxy that is no http(s) URL: exit 3 naming the variables, its value (a password) not shown, nothing sent', async () => {
    const sb = await sandbox();
    const configDir = tempDir('ov-config-');
    for (const value of ['socks5://me:s3cret@127.0.0.1:1080', 'http://me:s3cret@[bad host]:1']) {
      const result = await run(['generate', 'a red apple'], { sandbox: sb, configDir, env: { HTTP_PROXY: value } });
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toBe(
        `✖ The proxy for 127.0.0.1:${sb.port} (HTTPS_PROXY / HTTP_PROXY) is not an http(s) URL; nothing was sent.\n` +
          '  Set it as http://host:port (credentials as http://user:password@host:port, special characters %-encoded), or unset it.\n',
      );
    }
    expect(sb.requests).toEqual([]);
  });

  it('a malformed proxy for the file server only: the paid job\'s download fails with the command that fetches it', async () => {
    const sb = await sandbox();
    const cwd = tempDir('ov-proxy-');
    const result = await run(['generate', 'a red apple', '-o', 'apple.mp4'], { sandbox: sb, cwd, env: { NO_PROXY: `127.0.0.1:${sb.port}`, HTTP_PROXY: 'socks5://me:s3cret@127.0.0.1:1080' } });
    const [taskId] = [...sb.tasks.keys()];
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toContain(`✖ Download of task ${taskId} failed: The proxy for 127.0.0.1:${sb.filePort} (HTTPS_PROXY / HTTP_PROXY) is not an http(s) URL; nothing was sent.\n`);
    expect(result.stderr).toContain(`omni-video download ${taskId}`);
    expect(result.stderr).not.toContain('s3cret');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('NO_PROXY=127.0.0.1 bypasses it', async () => {
    const sb = await sandbox();
    const proxy = await startProxy();
    const result = await run(['generate', 'x'], { sandbox: sb, env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
    expect(proxy.relayed).toEqual([]);
    expect(sb.requests.length).toBeGreaterThan(2);
  });

  it('a proxy that refuses connections: the idempotent call retries, then exit 6 naming the network', async () => {
    const sb = await sandbox();
    const proxy = await startProxy();
    proxies.splice(0).forEach((server) => server.close());
    const result = await run(['balance'], { sandbox: sb, env: { HTTP_PROXY: proxy.url, OMNI_VIDEO_TEST_RETRY_MS: '5' } });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^✖ GET \/balance failed: connection refused$/m);
    expect(sb.requests).toHaveLength(0);
  });

  it('a proxy with credentials in HTTP_PROXY (%-encoded) carries the API calls and the download', async () => {
    const sb = await sandbox();
    const proxy = await startProxy({ credentials: 'me:p@ss word' });
    const result = await run(['generate', 'x'], { sandbox: sb, env: { HTTP_PROXY: proxy.url.replace('//', '//me:p%40ss%20word@') } });
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
    expect(result.stderr).not.toContain('p@ss');
    expect(new Set(proxy.relayed.map((entry) => entry.target))).toEqual(new Set([`127.0.0.1:${sb.port}`, `127.0.0.1:${sb.filePort}`]));
    expect(proxy.refused).toEqual([]);
  });
});

/** A proxy that will not open the tunnel: the request never left, so it is never `uncertain`. */
describe('a proxy that refuses the tunnel', () => {
  async function refusedGenerate(options: ProxyOptions, userinfo = '') {
    const sb = await sandbox();
    const proxy = await startProxy(options);
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'a red apple', '--verbose'], {
      sandbox: sb,
      configDir,
      env: { HTTP_PROXY: proxy.url.replace('//', `//${userinfo}`), OMNI_VIDEO_TEST_RETRY_MS: '5' },
    });
    const jobs = await readFile(join(configDir, 'jobs.jsonl'), 'utf8');
    return { sb, proxy, result, jobs };
  }

  it('407 to wrong credentials: exit 3, says the proxy refused its credentials, not retried, nothing sent, no uncertain job', async () => {
    const { sb, proxy, result, jobs } = await refusedGenerate({ credentials: 'me:right' }, 'me:wrong@');
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^✖ POST \/videos\/generations failed: the proxy refused its credentials \(HTTP 407 to CONNECT 127\.0\.0\.1:\d+\); nothing was sent$/m);
    expect(result.stderr).toContain('Check the user name and password in HTTPS_PROXY / HTTP_PROXY');
    expect(result.stderr).not.toContain('me:wrong');
    expect(proxy.refused).toHaveLength(1);
    expect(sb.requests).toEqual([]);
    expect(jobs).not.toContain('uncertain');
    expect(jobs).toContain('"status":"rejected"');
  });

  it('403 to CONNECT: exit 6, says the proxy refused to connect to the service, not retried, no uncertain job', async () => {
    const { sb, proxy, result, jobs } = await refusedGenerate({ refuse: 403 });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^✖ POST \/videos\/generations failed: the proxy refused to connect to 127\.0\.0\.1:\d+ \(HTTP 403 to CONNECT\); nothing was sent$/m);
    expect(proxy.refused).toHaveLength(1);
    expect(sb.requests).toEqual([]);
    expect(jobs).not.toContain('uncertain');
  });

  it('502 to CONNECT: the paid submission is resent (it never left), then exit 6, no uncertain job', async () => {
    const { sb, proxy, result, jobs } = await refusedGenerate({ refuse: 502 });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^✖ POST \/videos\/generations failed: the proxy could not open a connection to 127\.0\.0\.1:\d+ \(HTTP 502 to CONNECT\); nothing was sent$/m);
    expect(result.stderr.match(/retry \d\/4 of POST \/videos\/generations/g)).toHaveLength(4);
    expect(proxy.refused).toHaveLength(5);
    expect(sb.requests).toEqual([]);
    expect(jobs).not.toContain('uncertain');
  });
});

