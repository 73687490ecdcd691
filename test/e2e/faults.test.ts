/**
 * The fault matrix of README "When things go wrong": each fault injected through the sandbox's
 * switches, each outcome checked as a user meets it (exit code, stderr, the saved bytes, what the
 * service received). OMNI_VIDEO_TEST_RETRY_MS shrinks the backoff so retries cost milliseconds.
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
const PORTRAIT = readFileSync(new URL('../../src/sandbox/assets/portrait.mp4', import.meta.url));
const FAST = { OMNI_VIDEO_TEST_RETRY_MS: '5', OMNI_VIDEO_TEST_IDLE_TIMEOUT_MS: '300' };

async function generate(sb: Sandbox, extra: string[] = [], configDir = tempDir('ov-config-')) {
  const cwd = tempDir('ov-cwd-');
  const result = await run(['generate', 'a red apple', ...extra], { sandbox: sb, cwd, configDir, env: FAST });
  return { ...result, cwd, configDir };
}

async function history(configDir: string) {
  const { stdout } = await run(['jobs', '--limit', '0', '--json'], { configDir });
  return JSON.parse(stdout) as Array<Record<string, unknown>>;
}

const fileRequests = (sb: Sandbox) => sb.requests.filter((request) => request.server === 'files');

describe('submission faults', () => {
  it('a reset after the job was created: says it may have been submitted, records it, does not resubmit, exit 6', async () => {
    const sb = await sandbox({ faults: { submitResetAfterCreate: 1 } });
    const result = await generate(sb);
    expect(result.code).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/may or may not have reached the service.*not resent, to avoid paying twice/);
    expect(result.stderr).toContain('may have been created and charged');
    expect(result.stderr).toContain("Check the provider's dashboard");
    expect(result.stderr).toContain('--new');
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(sb.submissions()).toHaveLength(1);
    expect(sb.stats.submissions).toBe(1);
    const [job] = await history(result.configDir);
    expect(job).toMatchObject({ prompt: 'a red apple', status: 'uncertain', last_event: 'uncertain' });
  });

  it('429 then 503: retried as the service asks, each retry shown with --verbose, one job, the exact file', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { submit429: 1, retryAfter: '0', submit503: 1 } });
    const result = await generate(sb, ['--verbose']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/retry 1\/4 of POST \/videos\/generations in 0 ms: Rate limited by the service \(HTTP 429\)/);
    expect(result.stderr).toMatch(/retry 2\/4 of POST \/videos\/generations in \d+ ms: The service is unavailable \(HTTP 503/);
    expect(sb.submissions()).toHaveLength(3);
    expect(sb.stats.submissions).toBe(1);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
  });

  it('429 beyond retries: exit 6 and nothing created', async () => {
    const sb = await sandbox({ faults: { submit429: 10, retryAfter: '0' } });
    const result = await generate(sb);
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^✖ Rate limited by the service \(HTTP 429\)/m);
    expect(sb.submissions()).toHaveLength(5);
    expect(sb.stats.submissions).toBe(0);
  });
});

describe('status faults', () => {
  it('5xx, a dropped connection and an HTML page while waiting are retried; the clip is saved', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { poll5xx: 2, pollReset: 1, pollHtml: 1 } });
    const result = await generate(sb, ['--verbose']);
    expect(result.code).toBe(0);
    expect(result.stderr.match(/retry \d\/4 of GET \/tasks\/\{id\}/g)).toHaveLength(4);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
  });

  it('the service failing every retry of a status look while waiting: the paid job is not given up, the wait looks again in 5 s, and the clip is saved', async () => {
    // 5 failed attempts end one look; the next look's first 2 fail too, then the service is back.
    const sb = await sandbox({ jobSeconds: 0, faults: { poll5xx: 7 } });
    const result = await generate(sb);
    expect(result.code, result.stderr).toBe(0);
    const taskId = /Submitted (task_\w+)/.exec(result.stderr)?.[1];
    expect(result.stderr).toContain(`task ${taskId} keeps running on the service, so the wait goes on: next look in 5 s`);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
  });

  it.each([
    ['pollMalformed', 'invalid JSON'],
    ['pollEmpty', 'an empty body'],
    ['pollBadShape', 'data.id'],
  ] as const)('a malformed answer (%s) that persists: one line naming endpoint and status, exit 6, no stack', async (fault, what) => {
    // The sandbox applies status faults before looking the task up, so no job is needed.
    const sb = await sandbox({ faults: { [fault]: 100 } });
    const result = await run(['status', 'task_01KS1H7ZYSJWH1N779S2FSHTKA'], { sandbox: sb, env: FAST });
    expect(result.code).toBe(6);
    const lines = result.stderr.trimEnd().split('\n');
    // One line per retry wait, then the error.
    expect(lines.filter((line) => line.startsWith('! Malformed answer')).length).toBe(4);
    const [first, ...rest] = lines.filter((line) => !line.startsWith('! '));
    expect(first).toMatch(new RegExp(`^✖ Malformed answer from GET /tasks/\\{id\\} \\(HTTP 200\\): .*${what}`));
    expect(rest.length).toBeLessThanOrEqual(1);
    expect(sb.requests).toHaveLength(5);
  });

  it('the stack trace of a malformed answer shows with --verbose only', async () => {
    const sb = await sandbox({ faults: { pollMalformed: 100 } });
    const verbose = await run(['status', 'task_01KS1H7ZYSJWH1N779S2FSHTKA', '--verbose'], { sandbox: sb, env: FAST });
    expect(verbose.code).toBe(6);
    expect(verbose.stderr).toMatch(/Malformed answer[\s\S]*\n\s+at /);
  });

  it('an HTML error page that persists: exit 6 naming endpoint and status, no HTML shown', async () => {
    const sb = await sandbox({ faults: { pollHtml: 100 } });
    const result = await run(['status', 'task_01KS1H7ZYSJWH1N779S2FSHTKA'], { sandbox: sb, env: FAST });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^✖ The service is unavailable \(HTTP 502 from GET \/tasks\/\{id\}\)$/m);
    expect(result.stderr).not.toContain('<');
  });

  it('an unknown task id: exit 2, "No such task"', async () => {
    const sb = await sandbox();
    for (const command of ['status', 'download']) {
      const result = await run([command, 'task_01KS1H7ZYSJWH1N779S2FSHTKA'], { sandbox: sb, env: FAST });
      expect(result.code, command).toBe(2);
      expect(result.stderr, command).toMatch(/No such task/);
    }
    expect(sb.requests.filter((request) => request.path.startsWith('/v1/tasks/'))).toHaveLength(2);
  });
});

describe('waiting', () => {
  it('--timeout: exit 5 with the task id and the command to resume; the job is left running', async () => {
    const sb = await sandbox({ jobSeconds: 60 });
    const result = await generate(sb, ['--timeout', '1']);
    expect(result.code).toBe(5);
    const [taskId] = [...sb.tasks.keys()];
    expect(result.stderr).toContain(`Resume with: omni-video download ${taskId} --wait`);
    expect(sb.statusOf(taskId as string)).not.toBe('cancelled');
    const [job] = await history(result.configDir);
    expect(job).toMatchObject({ task_id: taskId, last_event: 'timeout' });
  });
});

describe('download faults', () => {
  it('a transfer cut part-way resumes with Range + If-Range; the file is byte-identical', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { downloadCuts: 1, downloadCutAfterBytes: 20_000 } });
    const result = await generate(sb);
    expect(result.code).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
    expect(fileRequests(sb)[1]?.headers).toMatchObject({ range: expect.stringMatching(/^bytes=[1-9]\d*-$/), 'if-range': expect.stringMatching(/^"/) });
    expect(await readdir(result.cwd)).toEqual([expect.stringMatching(/^task_\w+\.mp4$/)]);
  });

  it('a server that ignores Range: starts over, byte-identical', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { downloadCuts: 1, downloadIgnoreRange: true } });
    const result = await generate(sb);
    expect(result.code).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
  });

  it('a stalled transfer: dropped after the idle timeout and resumed, byte-identical', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { stallAfterBytes: 4096 } });
    const result = await generate(sb);
    expect(result.code).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
    expect(fileRequests(sb)[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('an expired link: one fresh link fetched, then the expiry time, exit 4, no file', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { expireLinks: true } });
    const result = await generate(sb);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^✖ The result link of task task_\w+ expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$/m);
    expect(fileRequests(sb)).toHaveLength(0);
    expect(await readdir(result.cwd)).toEqual([]);
  });

  it('403 once from the file server: a fresh link, then the exact file', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { downloadStatus: 403, downloadStatusCount: 1 } });
    const result = await generate(sb);
    expect(result.code).toBe(0);
    expect(await readFile(result.stdout.trim())).toEqual(LANDSCAPE);
  });

  it('410 again after a fresh link: exit 4 naming the link’s validity, nothing at the target', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { downloadStatus: 410, downloadStatusCount: 2 } });
    const result = await generate(sb, ['-o', 'clip.mp4']);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/was refused \(the file server answered HTTP 410\), although it should be valid until .* UTC/);
    // The job is paid for and its link not yet expired: the hint saves it later, it does not send the user to pay again.
    const taskId = /Submitted (task_\w+)/.exec(result.stderr)?.[1];
    expect(result.stderr).toContain(`The link should still be valid: try again later with: omni-video download ${taskId} -o clip.mp4\n`);
    expect(result.stderr).not.toContain('generate the clip again');
    expect(await readdir(result.cwd)).toEqual([]);
  });

  /** The same length as LANDSCAPE, another byte among the first ones (before any cut): only the ETag tells it apart. */
  const RETOUCHED = Buffer.from(LANDSCAPE);
  RETOUCHED[1000] = (RETOUCHED[1000] as number) ^ 0xff;

  it.each([
    ['another length', PORTRAIT],
    ['the same length, another ETag', RETOUCHED],
  ])('a resume answered 206 with another file (a server that ignores If-Range; %s): starts over, never appends it', async (_what, changed) => {
    // The file at the link changes after a cut: the resume gets a 206 of the new file, whose length or ETag tells it apart.
    const CUT = 20_000;
    const taskId = `task_01CHANGEDFILE${changed.length}`;
    let fileRequestsSeen = 0;
    const server: Server = createServer((request, response) => {
      const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      if (request.url === `/v1/tasks/${taskId}`) {
        const now = Math.floor(Date.now() / 1000);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ code: 200, data: { id: taskId, status: 'completed', progress: 100, created: now - 9, completed: now, result: { videos: [{ url: [`${origin}/files/clip.mp4`], expires_at: now + 3600 }] } } }));
        return;
      }
      fileRequestsSeen += 1;
      const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
      if (fileRequestsSeen === 1) {
        response.writeHead(200, { 'content-length': LANDSCAPE.length, etag: '"v1"' });
        response.write(LANDSCAPE.subarray(0, CUT), () => response.destroy());
      } else if (range) {
        const start = Number(range[1]);
        response.writeHead(206, { 'content-length': changed.length - start, 'content-range': `bytes ${start}-${changed.length - 1}/${changed.length}`, etag: '"v2"' });
        response.end(changed.subarray(start));
      } else {
        response.writeHead(200, { 'content-length': changed.length, etag: '"v2"' });
        response.end(changed);
      }
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cwd = tempDir('ov-cwd-');
    const result = await run(['download', taskId, '-o', 'clip.mp4', '--base-url', `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`], { cwd, env: FAST });
    expect(result.code, result.stderr).toBe(0);
    expect((await readFile(join(cwd, 'clip.mp4'))).equals(changed)).toBe(true);
    expect(await readdir(cwd)).toEqual(['clip.mp4']);
  });

  it.each([
    [30_000, 'ends early: exit 6, nothing at the target'],
    [LANDSCAPE.length, 'is whole: saved as it is'],
  ])('a transfer with no announced length (the server closes the connection at its end) that sends %i bytes %s', async (sent) => {
    const taskId = `task_01NOLENGTHANNOUNCED${sent}`;
    // Raw HTTP/1.1: neither Content-Length nor chunked, so the body ends where the connection does.
    const server = createTcpServer((socket) => {
      socket.once('data', (head: Buffer) => {
        if (head.toString('latin1').startsWith(`GET /v1/tasks/${taskId} `)) {
          const now = Math.floor(Date.now() / 1000);
          const { port } = server.address() as { port: number };
          const body = JSON.stringify({ code: 200, data: { id: taskId, status: 'completed', progress: 100, created: now - 9, completed: now, result: { videos: [{ url: [`http://127.0.0.1:${port}/files/clip.mp4`], expires_at: now + 3600 }] } } });
          socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        } else {
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\n\r\n');
          socket.end(LANDSCAPE.subarray(0, sent));
        }
      });
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cwd = tempDir('ov-cwd-');
    const result = await run(['download', taskId, '-o', 'clip.mp4', '--base-url', `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`], { cwd, env: FAST });
    if (sent === LANDSCAPE.length) {
      expect(result.code, result.stderr).toBe(0);
      expect((await readFile(join(cwd, 'clip.mp4'))).equals(LANDSCAPE)).toBe(true);
      return;
    }
    expect(result.code).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`✖ Download of task ${taskId} is incomplete: the video ends before its last part (30000 bytes arrived, no length was announced).`);
    expect(result.stderr).toContain(`Try again with: omni-video download ${taskId} -o clip.mp4`);
    expect(await readdir(cwd)).toEqual([]);
  });
});
