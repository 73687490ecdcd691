/**
 * A real TLS service (the fixtures in test/fixtures/tls, see its README) reached by the CLI as a
 * subprocess: a certificate that the handshake refuses is a request that was never sent — no
 * retry, no `uncertain` job, nothing received — and a trusted one works, through a proxy too.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const KEY = readFileSync(join(TLS, 'localhost.key'));
const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
const FAST = { OMNI_VIDEO_TEST_RETRY_MS: '5' };

const servers: (Server | HttpServer)[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** The API and its file server on one https origin, as small as the CLI needs; records each request. */
async function tlsService(certificate: string): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer({ key: KEY, cert: readFileSync(join(TLS, certificate)) }, (request, response) => {
    requests.push(`${request.method} ${request.url}`);
    request.resume();
    const origin = `https://${request.headers.host}`;
    const json = (body: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.method === 'POST') return json({ code: 200, data: [{ task_id: 'task_tls', status: 'submitted' }] });
    if (request.url === '/v1/tasks/task_tls') {
      const now = Math.floor(Date.now() / 1000);
      return json({ code: 200, data: { id: 'task_tls', status: 'completed', progress: 100, created: now, completed: now, result: { videos: [{ url: [`${origin}/clip.mp4`], expires_at: now + 3600 }] } } });
    }
    response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': LANDSCAPE.length, etag: '"v1"' }).end(LANDSCAPE);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, requests };
}

/** A CONNECT proxy on loopback; records the targets it tunnelled to. */
async function tunnel(): Promise<{ url: string; targets: string[] }> {
  const targets: string[] = [];
  const proxy = createHttpServer((_request, response) => response.writeHead(502).end());
  proxy.on('connect', (request, client, head) => {
    targets.push(request.url ?? '');
    const upstream = connect(Number(request.url?.split(':')[1]), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  servers.push(proxy);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { url: `http://localhost:${(proxy.address() as { port: number }).port}`, targets };
}

async function history(configDir: string): Promise<string> {
  return readFile(join(configDir, 'jobs.jsonl'), 'utf8');
}

describe('a certificate the TLS handshake refuses: never sent, exit 6, no uncertain job', () => {
  it.each([
    ['not signed by a trusted CA', 'localhost.crt', 'localhost', undefined, /the certificate of localhost:\d+ is not signed by a CA this machine trusts \(DEPTH_ZERO_SELF_SIGNED_CERT\)/],
    ['expired', 'expired.crt', 'localhost', 'expired.crt', /the certificate of localhost:\d+ has expired/],
    ['for another name', 'localhost.crt', '127.0.0.1', 'localhost.crt', /the certificate of 127\.0\.0\.1:\d+ is for another name \(DNS:localhost\)/],
  ])('%s', async (_what, certificate, host, trusted, message) => {
    const service = await tlsService(certificate);
    const configDir = tempDir('ov-config-');
    const env = { ...FAST, OMNI_VIDEO_BASE_URL: `https://${host}:${service.port}/v1`, NODE_EXTRA_CA_CERTS: trusted && join(TLS, trusted) };
    const result = await run(['generate', 'a red apple', '--verbose'], { configDir, env });
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toMatch(new RegExp(`^✖ POST /videos/generations failed: ${message.source}$`, 'm'));
    expect(result.stderr).toContain('Nothing was sent. If your network uses its own CA (a company proxy, a private gateway), add it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem');
    expect(result.stderr).not.toMatch(/may or may not have reached/);
    // Not retried: the same certificate would be refused again.
    expect(result.stderr).not.toMatch(/retry/);
    expect(service.requests).toEqual([]);
    const jobs = await history(configDir);
    expect(jobs).not.toContain('uncertain');
    expect(jobs).toContain('"status":"rejected"');
    const { stdout } = await run(['jobs', '--json'], { configDir });
    expect(JSON.parse(stdout)).toMatchObject([{ prompt: 'a red apple', status: 'rejected' }]);
  });

  it('status (an idempotent call) is not retried on a refused certificate either: one line, exit 6', async () => {
    const service = await tlsService('localhost.crt');
    const result = await run(['status', 'task_tls', '--verbose'], { env: { ...FAST, OMNI_VIDEO_BASE_URL: `https://localhost:${service.port}/v1` } });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^✖ GET \/tasks\/\{id\} failed: the certificate of localhost:\d+ is not signed by a CA this machine trusts/m);
    expect(result.stderr).not.toMatch(/retry/);
  });
});

describe('a trusted certificate (NODE_EXTRA_CA_CERTS)', () => {
  it('generates and saves the exact file, directly and through a CONNECT proxy', async () => {
    const service = await tlsService('localhost.crt');
    const proxy = await tunnel();
    const env = { OMNI_VIDEO_BASE_URL: `https://localhost:${service.port}/v1`, NODE_EXTRA_CA_CERTS: join(TLS, 'localhost.crt') };
    for (const extra of [{}, { HTTPS_PROXY: proxy.url }]) {
      const result = await run(['generate', 'a red apple'], { env: { ...env, ...extra } });
      expect(result.code, result.stderr).toBe(0);
      expect((await readFile(result.stdout.trim())).equals(LANDSCAPE)).toBe(true);
    }
    expect(service.requests.filter((request) => request === 'GET /clip.mp4')).toHaveLength(2);
    expect(new Set(proxy.targets)).toEqual(new Set([`localhost:${service.port}`]));
  });

  it('a server that closes the connection during the TLS handshake (a plain http port, a firewall): never sent, exit 6, no uncertain job', async () => {
    const plain = await sandbox();
    const sockets = new Set<Socket>();
    const closing = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end());
    });
    // Answers in plain text at once, as a plain http server that does not hang up does.
    const talking = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => talking.listen(0, '127.0.0.1', resolve));
    const cases = [
      [plain.port, 'closed the connection during the TLS handshake'],
      [(closing.address() as { port: number }).port, 'closed the connection during the TLS handshake'],
      [(talking.address() as { port: number }).port, 'failed (wrong version number)'],
    ] as const;
    for (const [port, failure] of cases) {
      const configDir = tempDir('ov-config-');
      const result = await run(['generate', 'a red apple'], { configDir, env: { ...FAST, OMNI_VIDEO_BASE_URL: `https://127.0.0.1:${port}/v1` } });
      expect(result.code, result.stderr).toBe(6);
      const said = failure.startsWith('failed') ? `the TLS handshake with 127.0.0.1:${port} ${failure}` : `127.0.0.1:${port} ${failure}`;
      expect(result.stderr).toContain(`✖ POST /videos/generations failed: ${said}\n  Nothing was sent.`);
      expect(result.stderr).not.toMatch(/may or may not have reached/);
      const jobs = await history(configDir);
      expect(jobs).not.toContain('uncertain');
      expect(jobs).toContain('"status":"rejected"');
    }
    for (const socket of sockets) socket.destroy();
    closing.close();
    talking.close();
    expect(plain.stats.submissions).toBe(0);
  });

  it('a reset after a finished handshake stays uncertain: the request had left', async () => {
    const requests: string[] = [];
    const server = createServer({ key: KEY, cert: readFileSync(join(TLS, 'localhost.crt')) }, (request) => {
      requests.push(`${request.method} ${request.url}`);
      request.socket.destroy();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const configDir = tempDir('ov-config-');
    const env = { ...FAST, NODE_EXTRA_CA_CERTS: join(TLS, 'localhost.crt'), OMNI_VIDEO_BASE_URL: `https://localhost:${(server.address() as { port: number }).port}/v1` };
    const result = await run(['generate', 'a red apple'], { configDir, env });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/may or may not have reached the service/);
    expect(requests).toEqual(['POST /v1/videos/generations']);
    expect(await history(configDir)).toContain('"status":"uncertain"');
  });

  it('through a proxy, a service that never answers the TLS handshake: never sent, so not uncertain; exit 6', async () => {
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const proxy = await tunnel();
    const configDir = tempDir('ov-config-');
    const port = (silent.address() as { port: number }).port;
    const env = { ...FAST, OMNI_VIDEO_TEST_TUNNEL_TIMEOUT_MS: '300', OMNI_VIDEO_BASE_URL: `https://localhost:${port}/v1`, HTTPS_PROXY: proxy.url };
    const result = await run(['generate', 'a red apple'], { configDir, env });
    for (const socket of sockets) socket.destroy();
    silent.close();
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toMatch(/^✖ POST \/videos\/generations failed: the TLS handshake with localhost:\d+ through the proxy did not finish in time$/m);
    expect(result.stderr).not.toMatch(/may or may not have reached/);
    expect(new Set(proxy.targets)).toEqual(new Set([`localhost:${port}`]));
    const jobs = await history(configDir);
    expect(jobs).not.toContain('uncertain');
    expect(jobs).toContain('"status":"rejected"');
  });

  it('through a proxy, the certificate is checked against the target, not the proxy: 127.0.0.1 is refused', async () => {
    const service = await tlsService('localhost.crt');
    const proxy = await tunnel();
    const configDir = tempDir('ov-config-');
    const env = { ...FAST, OMNI_VIDEO_BASE_URL: `https://127.0.0.1:${service.port}/v1`, NODE_EXTRA_CA_CERTS: join(TLS, 'localhost.crt'), HTTPS_PROXY: proxy.url };
    const result = await run(['generate', 'a red apple'], { configDir, env });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/failed: the certificate of 127\.0\.0\.1:\d+ is for another name \(DNS:localhost\)$/m);
    expect(proxy.targets).toEqual([`127.0.0.1:${service.port}`]);
    expect(service.requests).toEqual([]);
    expect(await history(configDir)).not.toContain('uncertain');
  });
});
