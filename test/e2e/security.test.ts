import { chmodSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A throwaway loopback server; its origin is `http://127.0.0.1:<port>`. */
async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function taskJson(id: string, fileUrl?: string) {
  const now = Math.floor(Date.now() / 1000);
  const data = fileUrl
    ? { id, status: 'completed', progress: 100, created: now - 5, completed: now, result: { videos: [{ url: [fileUrl], expires_at: now + 3600 }] } }
    : { id, status: 'processing', progress: 40, created: now - 5, estimated_time: 60 };
  return JSON.stringify({ code: 200, data });
}

describe('the config store', () => {
  it('is 0600 in a 0700 directory, and tightened back when loosened', async () => {
    if (process.platform === 'win32') return;
    const configDir = join(tempDir('ov-home-'), 'omni-video');
    expect((await run(['config', 'set', 'api-key'], { configDir, stdin: `${TEST_KEY}\n` })).code).toBe(0);
    const file = join(configDir, 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toContain(TEST_KEY);

    chmodSync(file, 0o644);
    chmodSync(configDir, 0o755);
    const sb = await sandbox();
    expect((await run(['balance'], { configDir, sandbox: sb, noKey: true })).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
  });
});

describe('the API key', () => {
  it('goes to the API only: never to the file server, never into the job history or the verbose trace', async () => {
    const sb = await sandbox({ faults: { downloadCuts: 1, poll5xx: 1 } });
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'x', '--verbose'], { sandbox: sb, configDir, env: { OMNI_VIDEO_TEST_RETRY_MS: '5' } });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('authorization: Bearer ***');
    const api = sb.requests.filter((request) => request.server === 'api');
    const files = sb.requests.filter((request) => request.server === 'files');
    expect(api.length).toBeGreaterThan(2);
    expect(api.every((request) => request.headers.authorization === `Bearer ${TEST_KEY}`)).toBe(true);
    expect(files).toHaveLength(2);
    expect(files.map((request) => request.headers.authorization)).toEqual([undefined, undefined]);
    expect(await readFile(join(configDir, 'jobs.jsonl'), 'utf8')).not.toContain(TEST_KEY);
  });

  it('echoed back in a service error (HTTP 401 "Invalid token: <key>") is printed and recorded as ***, never as itself', async () => {
    const origin = await serve((request, response) => {
      const key = String(request.headers.authorization).replace(/^Bearer /, '');
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { message: `Invalid token: ${key}`, type: 'invalid_request_error' } }));
    });
    const configDir = tempDir('ov-config-');
    // run() itself fails the test when the key appears on stdout or stderr.
    const result = await run(['generate', 'x', '--base-url', `${origin}/v1`], { configDir });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^✖ The API key was rejected \(HTTP 401\): Invalid token: \*\*\*$/m);
    const history = await readFile(join(configDir, 'jobs.jsonl'), 'utf8');
    expect(history).toContain('Invalid token: ***');
    expect(history).not.toContain(TEST_KEY);
  });

  it('is not carried across a redirect to another origin, and is kept on a same-origin one', async () => {
    const seen: Record<string, IncomingHttpHeaders> = {};
    const elsewhere = await serve((request, response) => {
      seen.elsewhere = request.headers;
      response.setHeader('content-type', 'application/json').end(taskJson('task_moved'));
    });
    const api = await serve((request, response) => {
      if (request.url === '/v1/tasks/task_moved') return void response.writeHead(302, { location: `${elsewhere}/v1/tasks/task_moved` }).end();
      if (request.url === '/v1/tasks/task_here') return void response.writeHead(307, { location: '/v1/tasks-v2/task_here' }).end();
      seen.same = request.headers;
      response.setHeader('content-type', 'application/json').end(taskJson('task_here'));
    });
    for (const id of ['task_moved', 'task_here']) {
      const result = await run(['status', id], { env: { OMNI_VIDEO_BASE_URL: `${api}/v1` } });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(id);
    }
    expect(seen.elsewhere).toBeDefined();
    expect(seen.elsewhere?.authorization).toBeUndefined();
    expect(seen.same?.authorization).toBe(`Bearer ${TEST_KEY}`);
  });

  it('is never sent over plain http to another machine: refused (exit 2) before any connection', async () => {
    let connections = 0;
    const proxy = await serve((_request, response) => {
      connections += 1;
      response.end();
    });
    const configDir = tempDir('ov-config-');
    for (const args of [['balance'], ['generate', 'x'], ['status', 'task_1']]) {
      const started = Date.now();
      const result = await run([...args, '--base-url', 'http://example.invalid/v1'], { configDir, env: { HTTP_PROXY: proxy } });
      expect(result.code, args[0]).toBe(2);
      expect(result.stderr).toMatch(/^✖ Refusing to send the API key over plain http to example\.invalid\.$/m);
      expect(result.stderr).not.toMatch(/not found|ENOTFOUND|EAI_AGAIN/);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    expect(connections).toBe(0);
    expect(await readdir(configDir)).not.toContain('jobs.jsonl');
  });

  it('with a character no HTTP header can carry (a key file saved with CRLF): refused as configuration (exit 3), nothing submitted, nothing said charged', async () => {
    const sb = await sandbox();
    const configDir = tempDir('ov-config-');
    const key = `${TEST_KEY}\r`;
    const result = await run(['generate', 'a fox'], { sandbox: sb, configDir, env: { OMNI_VIDEO_API_KEY: key } });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^✖ The API key from OMNI_VIDEO_API_KEY contains a control character \(a line break or carriage return\?\), which cannot be sent\.$/m);
    expect(result.stderr).not.toContain('charged');
    expect(sb.requests).toEqual([]);
    expect(await readdir(configDir)).not.toContain('jobs.jsonl');
    // Fixed, the same request is submitted: nothing stands in its way.
    const again = await run(['generate', 'a fox', '--no-wait'], { sandbox: sb, configDir });
    expect(again.code, again.stderr).toBe(0);
    expect(sb.submissions()).toHaveLength(1);
  });
});

describe('paths', () => {
  it('refuses task ids that are not plain ids, before contacting anyone (exit 2)', async () => {
    const sb = await sandbox();
    for (const args of [['download', '../../x'], ['status', '../etc/passwd'], ['extend', '..\\..\\x', 'more'], ['download', '/tmp/x']]) {
      const result = await run(args, { sandbox: sb });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/is not a task id/);
    }
    expect(sb.requests).toHaveLength(0);
  });

  it('keeps a server-given task id with path parts inside the output directory', async () => {
    const evil = '../../escape';
    const origin = await serve((request, response) => {
      if (request.method === 'POST') return void response.setHeader('content-type', 'application/json').end(JSON.stringify({ code: 200, data: [{ task_id: evil, status: 'submitted' }] }));
      if (request.url?.startsWith('/v1/tasks/')) return void response.setHeader('content-type', 'application/json').end(taskJson(evil, `${origin}/video.mp4`));
      response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': LANDSCAPE.length }).end(LANDSCAPE);
    });
    const root = tempDir('ov-root-');
    const cwd = join(root, 'a', 'b');
    await mkdir(cwd, { recursive: true });
    const result = await run(['generate', 'x'], { cwd, env: { OMNI_VIDEO_BASE_URL: `${origin}/v1` } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().startsWith(`${cwd}/`)).toBe(true);
    expect(await readdir(cwd)).toEqual(['escape.mp4']);
    expect(await readdir(root)).toEqual(['a']);
    expect(await readFile(join(cwd, 'escape.mp4'))).toEqual(LANDSCAPE);
  });
});
