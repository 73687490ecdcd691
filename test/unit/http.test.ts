import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const HTTP = new URL('../../dist/api/http.js', import.meta.url).href;
const FILE_GET = new URL('../../dist/api/file-get.js', import.meta.url).href;

/** Runs a script with the built modules; resolves with its output and how long the process lived. */
async function lifetime(script: string): Promise<{ stdout: string; ms: number }> {
  const started = Date.now();
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
  return { stdout: stdout.trim(), ms: Date.now() - started };
}

describe('no request leaves the process waiting once it has settled', () => {
  it('an answer that comes before a large body is all sent (a 401 to an upload)', async () => {
    const server = createServer((request, response) => {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}');
      request.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const { stdout, ms } = await lifetime(`
        import { httpRequest } from ${JSON.stringify(HTTP)};
        const response = await httpRequest({ method: 'POST', url: 'http://127.0.0.1:${port}/v1/videos/generations', json: { video: 'x'.repeat(16 * 1024 * 1024) } }, {}, 'http://127.0.0.1:${port}');
        console.log(response.status);
      `);
      expect(stdout).toBe('401');
      // The response timer (60 s) used to start once the body finished sending, after the answer.
      expect(ms).toBeLessThan(10_000);
    } finally {
      server.close();
    }
  });

  it('a download aborted while its TLS handshake hangs', async () => {
    // Accepts the connection and never answers the ClientHello.
    const silent = (await import('node:net')).createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const { stdout, ms } = await lifetime(`
        import { getFile } from ${JSON.stringify(FILE_GET)};
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('interrupted')), 200);
        console.log(await getFile('https://localhost:${port}/clip.mp4', { signal: controller.signal }).then(() => 'answered', (error) => error.message));
      `);
      expect(stdout).toBe('interrupted');
      // The connect timer (15 s) used to outlive the abort.
      expect(ms).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });
});
