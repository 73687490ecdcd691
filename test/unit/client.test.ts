import { createServer as createHttpServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { OmniVideoClient, InsecureBaseUrlError } from '../../src/api/client.js';
import {
  APIConnectionError,
  AuthenticationError,
  InsufficientBalanceError,
  MalformedResponseError,
  RateLimitError,
  SubmissionUncertainError,
  TaskNotFoundError,
} from '../../src/api/errors.js';
import type { GenerationRequest } from '../../src/api/schemas.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { FakeClock, sandbox, TEST_KEY } from '../helpers/harness.js';
import { freePort, onFreePort } from '../helpers/net.js';

/** A whole second, so that an HTTP-date Retry-After converts to an exact delay. */
const START = 1_800_000_000_000;
const REQUEST: GenerationRequest = { model: 'gemini-omni-flash-preview', prompt: 'a red apple', aspect_ratio: '16:9', resolution: '720p' };

function clientFor(sb: { baseUrl: string }, clock: FakeClock, log?: string[]) {
  return new OmniVideoClient({ apiKey: TEST_KEY, baseUrl: sb.baseUrl, clock, random: () => 0, log: log ? (line) => log.push(line) : undefined });
}

const polls = (sb: Sandbox) => sb.requests.filter((request) => request.server === 'api' && request.path.startsWith('/v1/tasks/')).length;

async function completedTask(sb: Sandbox): Promise<string> {
  const client = clientFor(sb, new FakeClock(START));
  return (await client.submit(REQUEST)).taskId;
}

describe('idempotent calls', () => {
  it('retry 5xx after 500, 1000, 2000 ms, each retry in the verbose log', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { poll5xx: 3 } });
    const id = await completedTask(sb);
    const clock = new FakeClock(START);
    const log: string[] = [];
    const task = await clientFor(sb, clock, log).getTask(id);
    expect(task.status).toBe('completed');
    expect(clock.sleeps).toEqual([500, 1000, 2000]);
    expect(polls(sb)).toBe(4);
    expect(log.filter((line) => line.includes('retry'))).toEqual([
      expect.stringContaining('retry 1/4 of GET /tasks/{id} in 500 ms'),
      expect.stringContaining('retry 2/4 of GET /tasks/{id} in 1000 ms'),
      expect.stringContaining('retry 3/4 of GET /tasks/{id} in 2000 ms'),
    ]);
    expect(log.join('\n')).not.toContain(TEST_KEY);
  });

  it('retry a dropped connection and an HTML proxy page', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { pollReset: 1, pollHtml: 1 } });
    const id = await completedTask(sb);
    const clock = new FakeClock(START);
    expect((await clientFor(sb, clock).getTask(id)).status).toBe('completed');
    expect(clock.sleeps).toEqual([500, 1000]);
  });

  it('honour Retry-After in seconds exactly', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { poll429: 2, retryAfter: '3' } });
    const id = await completedTask(sb);
    const clock = new FakeClock(START);
    await clientFor(sb, clock).getTask(id);
    expect(clock.sleeps).toEqual([3000, 3000]);
  });

  it('honour Retry-After as an HTTP date', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { poll429: 1, retryAfter: new Date(START + 7000).toUTCString() } });
    const id = await completedTask(sb);
    const clock = new FakeClock(START);
    await clientFor(sb, clock).getTask(id);
    expect(clock.sleeps).toEqual([7000]);
  });

  it('give up after 5 attempts with the last error (429 beyond retries)', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { poll429: 10, retryAfter: '1' } });
    const id = await completedTask(sb);
    const clock = new FakeClock(START);
    await expect(clientFor(sb, clock).getTask(id)).rejects.toBeInstanceOf(RateLimitError);
    expect(clock.sleeps).toEqual([1000, 1000, 1000, 1000]);
    expect(polls(sb)).toBe(5);
  });

  it.each([
    ['pollMalformed', 'invalid JSON'],
    ['pollEmpty', 'an empty body'],
    ['pollBadShape', 'id: '],
  ] as const)('name the endpoint and HTTP status of a malformed answer (%s)', async (fault, what) => {
    const sb = await sandbox({ jobSeconds: 0, faults: { [fault]: 10 } });
    const clock = new FakeClock(START);
    const error = await clientFor(sb, clock).getTask('task_x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toMatch(/^Malformed answer from GET \/tasks\/\{id\} \(HTTP 200\): /);
    expect((error as Error).message).toContain(what);
    expect((error as Error).message).not.toContain('\n');
  });

  it('do not retry an unknown task id, a rejected key or an empty balance', async () => {
    const sb = await sandbox({ jobSeconds: 0, apiKey: 'sk-the-only-right-key' });
    const clock = new FakeClock(START);
    const right = new OmniVideoClient({ apiKey: 'sk-the-only-right-key', baseUrl: sb.baseUrl, clock });
    await expect(right.getTask('task_nope')).rejects.toThrow(TaskNotFoundError);
    await expect(right.getTask('task_nope')).rejects.toThrow(/No such task/);
    await expect(clientFor(sb, clock).balance()).rejects.toBeInstanceOf(AuthenticationError);
    expect(clock.sleeps).toEqual([]);
    expect(sb.requests).toHaveLength(3);
  });
});

describe('the paid submission', () => {
  it('is retried after 429, waiting what Retry-After says, and creates one job', async () => {
    const sb = await sandbox({ faults: { submit429: 2, retryAfter: '2' } });
    const clock = new FakeClock(START);
    const { taskId } = await clientFor(sb, clock).submit(REQUEST);
    expect(sb.tasks.has(taskId)).toBe(true);
    expect(clock.sleeps).toEqual([2000, 2000]);
    expect(sb.submissions()).toHaveLength(3);
    expect(sb.stats.submissions).toBe(1);
  });

  it('is retried after 503 (no job created) with backoff, and creates one job', async () => {
    const sb = await sandbox({ faults: { submit503: 2 } });
    const clock = new FakeClock(START);
    await clientFor(sb, clock).submit(REQUEST);
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(sb.stats.submissions).toBe(1);
  });

  it('is retried when the connection was refused, and goes through once the service listens', async () => {
    // Again on another port if some other process binds this one before the service does.
    await onFreePort(async (port) => {
      let late: Sandbox | undefined;
      // The service comes up during the first backoff.
      const clock = new (class extends FakeClock {
        override async sleep(ms: number, signal?: AbortSignal): Promise<void> {
          await super.sleep(ms, signal);
          late ??= await startSandbox({ port, jobSeconds: 0 });
        }
      })(START);
      try {
        const { taskId } = await clientFor({ baseUrl: `http://127.0.0.1:${port}/v1` }, clock).submit(REQUEST);
        expect(clock.sleeps).toEqual([500]);
        expect(late?.stats.submissions).toBe(1);
        expect(late?.tasks.has(taskId)).toBe(true);
      } finally {
        await late?.stop();
      }
    });
  });

  it('gives up on a refused connection after bounded attempts, saying so', async () => {
    const port = await freePort();
    const clock = new FakeClock(START);
    const error = await clientFor({ baseUrl: `http://127.0.0.1:${port}/v1` }, clock).submit(REQUEST).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as APIConnectionError).neverSent).toBe(true);
    expect((error as Error).message).toBe('POST /videos/generations failed: connection refused');
    expect(clock.sleeps).toEqual([500, 1000, 2000, 4000]);
  });

  it('is never resent when following a redirect of the submission fails: the first request had arrived', async () => {
    const refused = await freePort();
    let posts = 0;
    const server = createHttpServer((request, response) => {
      if (request.method === 'POST') posts += 1;
      request.resume();
      response.writeHead(307, { location: `http://127.0.0.1:${refused}/v1/videos/generations` }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const error = await clientFor({ baseUrl: `http://127.0.0.1:${port}/v1` }, new FakeClock(START)).submit(REQUEST).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SubmissionUncertainError);
      expect(posts).toBe(1);
    } finally {
      server.close();
    }
  });

  it('is never resent once the body may have arrived (reset after the job was created)', async () => {
    const sb = await sandbox({ faults: { submitResetAfterCreate: 1 } });
    const clock = new FakeClock(START);
    const error = await clientFor(sb, clock).submit(REQUEST).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SubmissionUncertainError);
    expect((error as Error).message).toMatch(/may or may not have reached the service/);
    expect((error as SubmissionUncertainError).hint).toMatch(/omni-video jobs/);
    expect(sb.submissions()).toHaveLength(1);
    expect(sb.stats.submissions).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('is never resent after a 200 that cannot be read: the job may exist', async () => {
    let posts = 0;
    const server = createHttpServer((_request, response) => {
      posts += 1;
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>OK</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const clock = new FakeClock(START);
      const error = await clientFor({ baseUrl: `http://127.0.0.1:${port}/v1` }, clock).submit(REQUEST).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SubmissionUncertainError);
      expect((error as Error).message).toContain('Malformed answer from POST /videos/generations (HTTP 200): an HTML page');
      expect(posts).toBe(1);
    } finally {
      server.close();
    }
  });

  it('is not retried on 402, and nothing is charged', async () => {
    const sb = await sandbox({ balance: 0 });
    const clock = new FakeClock(START);
    await expect(clientFor(sb, clock).submit(REQUEST)).rejects.toBeInstanceOf(InsufficientBalanceError);
    expect(sb.submissions()).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });
});

describe('where the key may go', () => {
  it('refuses plain http to anything but this machine, before any connection', () => {
    for (const baseUrl of ['http://example.invalid/v1', 'http://10.0.0.1:8080/v1', 'http://localhost.example.com/v1']) {
      expect(() => new OmniVideoClient({ apiKey: TEST_KEY, baseUrl }), baseUrl).toThrow(InsecureBaseUrlError);
    }
    for (const baseUrl of ['https://api.apimart.ai/v1', 'http://127.0.0.1:4010/v1', 'http://localhost:4010/v1', 'http://[::1]:4010/v1']) {
      expect(() => new OmniVideoClient({ apiKey: TEST_KEY, baseUrl }), baseUrl).not.toThrow();
    }
  });
});
