import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const LIBRARY = new URL('../../dist/index.js', import.meta.url).href;

/** Runs a script with the built library; resolves with its output and how long the process lived. */
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
        import { OmniVideoClient } from ${JSON.stringify(LIBRARY)};
        const client = new OmniVideoClient({ apiKey: 'sk-x', baseUrl: 'http://127.0.0.1:${port}/v1' });
        const video = 'data:video/mp4;base64,' + 'A'.repeat(16 * 1024 * 1024);
        const request = { model: 'gemini-omni-flash-preview', prompt: 'x', aspect_ratio: '16:9', resolution: '720p', video_urls: [video] };
        console.log(await client.submit(request).then(() => 'accepted', (error) => error.constructor.name + ' ' + error.status));
      `);
      expect(stdout).toBe('AuthenticationError 401');
      // No timer (the 60 s wait for an answer, the 120 s for sending) outlives the answer.
      expect(ms).toBeLessThan(10_000);
    } finally {
      server.close();
    }
  });

  it('a download aborted while its TLS handshake hangs', async () => {
    // Accepts the connection and never answers the ClientHello.
    const silent = createTcpServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const { stdout, ms } = await lifetime(`
        import { OmniVideoClient } from ${JSON.stringify(LIBRARY)};
        const client = new OmniVideoClient({ apiKey: 'sk-x', baseUrl: 'http://127.0.0.1:1/v1' });
        const task = { id: 'task_1', status: 'completed', progress: 100, result: { videos: [{ url: ['https://localhost:${port}/clip.mp4'], expires_at: null }] } };
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('interrupted')), 200);
        const target = (await import('node:os')).tmpdir() + '/ov-never-' + process.pid + '.mp4';
        console.log(await client.downloadResult(task, target, { signal: controller.signal }).then(() => 'saved', (error) => error.message));
      `);
      expect(stdout).toBe('interrupted');
      // The handshake's 15 s timer does not outlive the abort.
      expect(ms).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });
});

describe('one HTTP client', () => {
  it('no module under src/ but the sandbox opens sockets itself (node:net, node:tls): every request goes through got', () => {
    const src = fileURLToPath(new URL('../../src/', import.meta.url));
    const offenders = (readdirSync(src, { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts') && !file.startsWith('sandbox'))
      .filter((file) => /from ['"](node:)?(net|tls)['"]/.test(readFileSync(`${src}${file}`, 'utf8')));
    expect(offenders).toEqual([]);
  });
});

