import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { run, sandbox } from '../helpers/harness.js';

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

/** A CONNECT proxy on loopback that records what it relays. */
async function startProxy(): Promise<{ url: string; relayed: Relayed[] }> {
  const relayed: Relayed[] = [];
  // hpagent tunnels every target through CONNECT; a plain forward request would be a change worth noticing.
  const proxy = createServer((incoming, outgoing) => {
    relayed.push({ kind: 'forward', target: incoming.url ?? '' });
    outgoing.writeHead(502).end();
  });
  proxy.on('connect', (incoming, client, head) => {
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
  return { url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`, relayed };
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
});
