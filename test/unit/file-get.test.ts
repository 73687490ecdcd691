import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkedDecoder, getFile, type FileResponse } from '../../src/api/file-get.js';
import { HttpProtocolError, SocketTimeoutError } from '../../src/api/transport.js';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

interface RawServer {
  url: string;
  port: number;
  /** Every request head received, in order. */
  requests: string[];
  /** Sockets the server saw close. */
  closed: () => number;
}

/** A TCP server that answers each request head by hand: the bytes on the wire are the test's. */
async function rawServer(answer: (socket: Socket, request: string, index: number) => void): Promise<RawServer> {
  const requests: string[] = [];
  let closed = 0;
  const server: Server = createServer((socket) => {
    let head = '';
    socket.on('close', () => (closed += 1));
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      requests.push(head);
      answer(socket, head, requests.length - 1);
      head = '';
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/files/clip.mp4?sig=abc`, port, requests, closed: () => closed };
}

async function readAll(response: FileResponse): Promise<{ body: Buffer; sourceError?: Error }> {
  const pieces: Buffer[] = [];
  // Copied: a piece is valid only during the call.
  const end = await response.readBody((bytes) => pieces.push(Buffer.from(bytes)));
  return { body: Buffer.concat(pieces), ...end };
}

const waitFor = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('getFile', () => {
  it('sends one plain GET with the given headers and hands over a Content-Length body exactly', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\nETag: "v1"\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n`);
      socket.write(data);
    });
    const response = await getFile(server.url, { headers: { 'user-agent': 'omni-video', range: 'bytes=0-' } });
    expect(response.status).toBe(200);
    expect(response.headers).toMatchObject({ 'content-length': String(data.length), etag: '"v1"', 'x-twice': 'a, b' });
    const { body, sourceError } = await readAll(response);
    expect(sourceError).toBeUndefined();
    expect(body.equals(data)).toBe(true);
    expect(server.requests).toEqual([
      `GET /files/clip.mp4?sig=abc HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\naccept-encoding: identity\r\nconnection: close\r\nuser-agent: omni-video\r\nrange: bytes=0-\r\n\r\n`,
    ]);
  });

  it('reads a head that arrives a byte at a time, after a 103 Early Hints', async () => {
    const server = await rawServer(async (socket) => {
      for (const byte of 'HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello') {
        socket.write(byte);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const response = await getFile(server.url);
    expect(response.status).toBe(200);
    expect((await readAll(response)).body.toString()).toBe('hello');
  });

  it('a body that came whole with the head, read later, is handed over whole', async () => {
    const server = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'));
    const response = await getFile(server.url);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await readAll(response)).toEqual({ body: Buffer.from('hello') });
  });

  it('decodes a chunked body, and a body delimited by the connection closing', async () => {
    const chunked = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      socket.write('5;ext=1\r\nhello\r\n');
      setTimeout(() => socket.end('6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n'), 10);
    });
    expect((await readAll(await getFile(chunked.url))).body.toString()).toBe('hello world');
    const closeDelimited = await rawServer((socket) => {
      socket.write('HTTP/1.0 200 OK\r\n\r\nuntil ');
      setTimeout(() => socket.end('the end'), 10);
    });
    expect(await readAll(await getFile(closeDelimited.url))).toEqual({ body: Buffer.from('until the end') });
  });

  it('a connection cut mid-body: every byte that arrived is handed over, then the cut is reported', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      socket.end(Buffer.alloc(40_000, 1));
    });
    const { body, sourceError } = await readAll(await getFile(server.url));
    expect(body.length).toBe(40_000);
    expect(sourceError?.message).toBe('the connection closed early');
  });

  it('a stalled body ends with the idle timeout', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const { body, sourceError } = await readAll(await getFile(server.url, { idleTimeoutMs: 100 }));
    expect(body.toString()).toBe('abc');
    expect(sourceError).toBeInstanceOf(SocketTimeoutError);
    expect((sourceError as SocketTimeoutError).phase).toBe('idle');
  });

  it('follows redirects to the final answer, relative ones too, and stops after 10', async () => {
    const target = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const hop = await rawServer((socket, request) => {
      const location = request.startsWith('GET /second') ? target.url : '/second';
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`);
    });
    const response = await getFile(hop.url);
    expect(response.url).toBe(target.url);
    expect((await readAll(response)).body.toString()).toBe('ok');
    expect(hop.requests.map((request) => request.split(' ')[1])).toEqual(['/files/clip.mp4?sig=abc', '/second']);
    const loop = await rawServer((socket) => socket.end('HTTP/1.1 307 Temporary Redirect\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n'));
    await expect(getFile(loop.url)).rejects.toThrow('more than 10 redirects');
    expect(loop.requests).toHaveLength(11);
  });

  it('rejects what is not HTTP, a server that closes without answering, and a refused connection', async () => {
    const garbage = await rawServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    await expect(getFile(garbage.url)).rejects.toBeInstanceOf(HttpProtocolError);
    const silent = await rawServer((socket) => socket.end());
    await expect(getFile(silent.url)).rejects.toThrow('the server closed the connection without an answer');
    const gone = await rawServer(() => undefined);
    servers.pop()?.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(getFile(gone.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a reader that throws fails readBody with its error and drops the connection', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n');
      socket.write(Buffer.alloc(1_000_000));
    });
    const response = await getFile(server.url);
    const disk = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await expect(
      response.readBody(() => {
        throw disk;
      }),
    ).rejects.toBe(disk);
    await waitFor(() => server.closed() === 1);
    expect(server.closed()).toBe(1);
  });

  it('an abort before the answer rejects with its reason; during the body it ends the read', async () => {
    const silent = await rawServer(() => undefined);
    const before = new AbortController();
    const pending = getFile(silent.url, { signal: before.signal });
    await waitFor(() => silent.requests.length === 1);
    before.abort(new Error('interrupted'));
    await expect(pending).rejects.toThrow('interrupted');

    const slow = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab'));
    const during = new AbortController();
    const response = await getFile(slow.url, { signal: during.signal });
    const reading = readAll(response);
    setTimeout(() => during.abort(new Error('interrupted')), 20);
    const { body, sourceError } = await reading;
    expect(body.toString()).toBe('ab');
    expect(sourceError?.message).toBe('interrupted');
  });
});

describe('getFile through a proxy', () => {
  it('tunnels with CONNECT, with the proxy URL\'s credentials, and reads the body through the tunnel', async () => {
    const origin = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nthrough'));
    const connects: string[] = [];
    const proxy = await rawServer((socket, request) => {
      connects.push(request);
      const target = connect(Number(/^CONNECT [^:]+:(\d+) /.exec(request)?.[1]), '127.0.0.1', () => {
        socket.removeAllListeners('data');
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        target.pipe(socket).pipe(target);
      });
    });
    const response = await getFile(origin.url, { proxyFor: () => `http://user:p%40ss@127.0.0.1:${proxy.port}` });
    expect((await readAll(response)).body.toString()).toBe('through');
    expect(connects).toEqual([
      `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nhost: 127.0.0.1:${origin.port}\r\nproxy-authorization: Basic ${Buffer.from('user:p@ss').toString('base64')}\r\n\r\n`,
    ]);
  });

  it('a proxy that refuses the tunnel: rejected with its status', async () => {
    const proxy = await rawServer((socket) => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n'));
    await expect(getFile('http://127.0.0.1:9/clip.mp4', { proxyFor: () => `http://127.0.0.1:${proxy.port}` })).rejects.toThrow('the proxy answered HTTP 407 to CONNECT 127.0.0.1:9');
  });
});

describe('getFile over TLS', () => {
  it('verifies the certificate (for localhost only) and reads the body, directly and through a CONNECT proxy', async () => {
    const tlsDir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
    const data = randomBytes(2 * 1024 * 1024);
    const server = createHttpsServer({ key: readFileSync(`${tlsDir}localhost.key`), cert: readFileSync(`${tlsDir}localhost.crt`) }, (request, response) => {
      response.setHeader('content-length', data.length);
      response.end(data);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const tunnels: string[] = [];
    const proxy = await rawServer((socket, request) => {
      const authority = /^CONNECT (\S+) /.exec(request)?.[1] ?? '';
      tunnels.push(authority);
      const port = authority.split(':')[1];
      const target = connect(Number(port), '127.0.0.1', () => {
        socket.removeAllListeners('data');
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        target.pipe(socket).pipe(target);
      });
    });
    const port = (server.address() as { port: number }).port;
    // The fixture's CA is trusted the only way Node takes one for a whole process: at start-up.
    const script = `
      import { getFile } from ${JSON.stringify(new URL('../../dist/api/file-get.js', import.meta.url).href)};
      import { createHash } from 'node:crypto';
      const digest = async (options) => {
        const response = await getFile('https://localhost:${port}/clip.mp4', options);
        const hash = createHash('sha256');
        const end = await response.readBody((bytes) => hash.update(bytes));
        return response.status + ' ' + hash.digest('hex') + ' ' + (end.sourceError?.message ?? 'whole');
      };
      console.log(await digest({}));
      console.log(await digest({ proxyFor: () => 'http://127.0.0.1:${proxy.port}' }));
      console.log(await getFile('https://127.0.0.1:${port}/clip.mp4').then(() => 'accepted', (error) => error.code));
      // Through a tunnel too, the certificate is checked against the target, not the proxy's name.
      console.log(await getFile('https://127.0.0.1:${port}/clip.mp4', { proxyFor: () => 'http://localhost:${proxy.port}' }).then(() => 'accepted', (error) => error.code));
    `;
    const run = (env: NodeJS.ProcessEnv) =>
      promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } }).catch((error: { stdout: string; stderr: string }) => error);
    const expected = `200 ${(await import('node:crypto')).createHash('sha256').update(data).digest('hex')} whole`;
    const trusted = await run({ NODE_EXTRA_CA_CERTS: `${tlsDir}localhost.crt` });
    expect(trusted.stdout.trim().split('\n')).toEqual([expected, expected, 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_INVALID']);
    expect(tunnels).toEqual([`localhost:${port}`, `127.0.0.1:${port}`]);
    // Not trusted: refused, nothing read.
    const untrusted = await run({ NODE_EXTRA_CA_CERTS: '' });
    expect(untrusted.stdout).toBe('');
    expect(untrusted.stderr).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT|self.signed certificate/i);
  });
});

describe('ChunkedDecoder', () => {
  it('decodes the same stream split at every byte', () => {
    const encoded = Buffer.from('4\r\nWiki\r\n5;name=v\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n');
    for (let cut = 0; cut <= encoded.length; cut++) {
      const decoder = new ChunkedDecoder();
      const out: Buffer[] = [];
      const first = decoder.feed(encoded.subarray(0, cut), (bytes) => out.push(Buffer.from(bytes)));
      const done = decoder.feed(encoded.subarray(cut), (bytes) => out.push(Buffer.from(bytes)));
      expect(first, `cut at ${cut}`).toBe(cut === encoded.length);
      expect(done || first).toBe(true);
      expect(Buffer.concat(out).toString(), `cut at ${cut}`).toBe('Wikipedia in\r\n\r\nchunks.');
    }
  });

  it('refuses a bad size line and a chunk longer than its size', () => {
    expect(() => new ChunkedDecoder().feed(Buffer.from('zz\r\n'), () => undefined)).toThrow(HttpProtocolError);
    expect(() => new ChunkedDecoder().feed(Buffer.from('2\r\nabc\r\n'), () => undefined)).toThrow('a chunk is longer than its size');
  });
});
