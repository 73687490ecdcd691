import { readFileSync } from 'node:fs';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OmniVideoClient } from '../../src/api/client.js';
import { DownloadError, LinkExpiredError } from '../../src/api/errors.js';
import type { Task } from '../../src/api/schemas.js';
import { readMediaInfo } from '../../src/io/media.js';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/server.js';
import { FakeClock, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
const PORTRAIT = readFileSync(new URL('../../src/sandbox/assets/portrait.mp4', import.meta.url));

interface Setup {
  sb: Sandbox;
  client: OmniVideoClient;
  clock: FakeClock;
  task: Task;
  dir: string;
  target: string;
}

async function completedJob(options: SandboxOptions = {}, aspect: '16:9' | '9:16' = '16:9'): Promise<Setup> {
  const sb = await sandbox({ jobSeconds: 0, ...options });
  const clock = new FakeClock(Date.now());
  const client = new OmniVideoClient({ apiKey: TEST_KEY, baseUrl: sb.baseUrl, clock, random: () => 0, downloadIdleTimeoutMs: 300 });
  const { taskId } = await client.submit({ model: 'gemini-omni-flash-preview', prompt: 'x', aspect_ratio: aspect, resolution: '720p' });
  const task = await client.getTask(taskId);
  const dir = tempDir('ov-download-');
  return { sb, client, clock, task, dir, target: join(dir, 'clip.mp4') };
}

/** The offset a resume asked for: where the bytes kept on disk end. */
function resumedFrom(range: unknown): number {
  const start = Number(/^bytes=(\d+)-$/.exec(String(range))?.[1]);
  expect(start, String(range)).toBeGreaterThan(0);
  return start;
}

const fileRequests = (sb: Sandbox) => sb.requests.filter((request) => request.server === 'files');
const taskPolls = (sb: Sandbox) => sb.requests.filter((request) => request.server === 'api' && request.path.startsWith('/v1/tasks/')).length;

describe('downloadResult', () => {
  it('saves the exact file, with no Authorization sent to the file server and no .part left', async () => {
    const { sb, client, task, dir, target } = await completedJob({}, '9:16');
    const saved = await client.downloadResult(task, target);
    expect(saved).toMatchObject({ path: target, bytes: PORTRAIT.length });
    expect((await readFile(target)).equals(PORTRAIT)).toBe(true);
    expect(await readMediaInfo(target)).toMatchObject({ width: 720, height: 1280 });
    expect(await readdir(dir)).toEqual(['clip.mp4']);
    expect(fileRequests(sb).map((request) => request.headers.authorization)).toEqual([undefined]);
    // Identity only: the bytes on disk are the bytes served, so a Range can resume them.
    expect(fileRequests(sb)[0]?.headers).toMatchObject({ 'accept-encoding': 'identity', 'user-agent': 'omni-video' });
  });

  it('resumes a cut transfer with Range + If-Range and ends byte-identical', async () => {
    const { sb, client, clock, task, target } = await completedJob({ faults: { downloadCuts: 1, downloadCutAfterBytes: 10_000 } });
    await client.downloadResult(task, target);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    const [first, second] = fileRequests(sb);
    expect(first?.headers.range).toBeUndefined();
    // Every byte that arrived before the cut was kept.
    expect(resumedFrom(second?.headers.range)).toBe(10_000);
    expect(second?.headers['if-range']).toMatch(/^"/);
    expect(clock.sleeps).toEqual([500]);
  });

  it('starts over when the server ignores Range, and still ends byte-identical', async () => {
    const { sb, client, task, target } = await completedJob({ faults: { downloadCuts: 1, downloadCutAfterBytes: 10_000, downloadIgnoreRange: true } });
    await client.downloadResult(task, target);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(fileRequests(sb)).toHaveLength(2);
  });

  it('catches a stalled transfer with the idle timeout and resumes it', async () => {
    const { sb, client, task, target } = await completedJob({ faults: { stallAfterBytes: 5000 } });
    await client.downloadResult(task, target);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(resumedFrom(fileRequests(sb)[1]?.headers.range)).toBe(5000);
  });

  it('resumes a large file cut twice, ending identical to an undisturbed download', async () => {
    const size = 3 * 1024 * 1024 + 17;
    const { sb, client, task, dir, target } = await completedJob({ largeFileBytes: size });
    const reference = join(dir, 'reference.mp4');
    await client.downloadResult(task, reference);
    sb.faults.downloadCuts = 2;
    sb.faults.downloadCutAfterBytes = 1_000_000;
    await client.downloadResult(task, target);
    const [saved, expected] = await Promise.all([readFile(target), readFile(reference)]);
    expect(saved.length).toBe(size);
    expect(saved.equals(expected)).toBe(true);
    const ranges = fileRequests(sb).map((request) => request.headers.range);
    expect(ranges.slice(0, 2)).toEqual([undefined, undefined]);
    // Each resume starts where the bytes on disk end: at the cut, less what was still in Node's
    // response buffer when the connection closed (its 16 KiB, and our 64 KiB, at most).
    const [first, second] = ranges.slice(2).map(resumedFrom) as [number, number];
    expect(first).toBeGreaterThan(1_000_000 - 80 * 1024);
    expect(first).toBeLessThanOrEqual(1_000_000);
    expect(second).toBeGreaterThan(first + 1_000_000 - 80 * 1024);
    expect(second).toBeLessThanOrEqual(first + 1_000_000);
  });

  it('fetches a fresh link once when the file server answers 403, then succeeds', async () => {
    const { sb, client, task, target } = await completedJob({ faults: { downloadStatus: 403, downloadStatusCount: 1 } });
    const pollsBefore = taskPolls(sb);
    await client.downloadResult(task, target);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(taskPolls(sb) - pollsBefore).toBe(1);
  });

  it('names the expiry time of an expired link after one fresh fetch, and writes nothing', async () => {
    const { sb, client, task, dir, target } = await completedJob();
    sb.faults.expireLinks = true;
    const stale = await client.getTask(task.id);
    const pollsBefore = taskPolls(sb);
    const error = await client.downloadResult(stale, target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LinkExpiredError);
    expect((error as Error).message).toMatch(/expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(taskPolls(sb) - pollsBefore).toBe(1);
    expect(fileRequests(sb)).toHaveLength(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([403, 410])('gives up with the link’s validity when the file server keeps answering %i', async (status) => {
    const { client, task, dir, target } = await completedJob({ faults: { downloadStatus: status, downloadStatusCount: 2 } });
    const error = await client.downloadResult(task, target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LinkExpiredError);
    expect((error as Error).message).toMatch(new RegExp(`was refused \\(the file server answered HTTP ${status}\\), although it should be valid until .* UTC`));
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives up on a file that stays missing (404) after one fresh link, leaving nothing behind', async () => {
    const { client, task, dir, target } = await completedJob({ faults: { downloadStatus: 404, downloadStatusCount: 2 } });
    await expect(client.downloadResult(task, target)).rejects.toBeInstanceOf(DownloadError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives up after bounded attempts when every transfer is cut, leaving neither file nor .part', async () => {
    const { sb, client, clock, task, dir, target } = await completedJob({ faults: { downloadCuts: 10, downloadCutAfterBytes: 0, downloadIgnoreRange: true } });
    const error = await client.downloadResult(task, target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toMatch(/failed after 5 attempts/);
    expect(fileRequests(sb)).toHaveLength(5);
    expect(clock.sleeps).toEqual([500, 1000, 2000, 4000]);
    expect(await readdir(dir)).toEqual([]);
  });
});

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) server.closeAllConnections();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A file server of the test's own on loopback; resolves with its origin. */
async function fileServer(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A completed task whose video is at `url`, and a client that needs no API to fetch it. */
function taskAt(url: string): { client: OmniVideoClient; clock: FakeClock; task: Task; dir: string; target: string } {
  const clock = new FakeClock(Date.now());
  const client = new OmniVideoClient({ apiKey: TEST_KEY, baseUrl: 'http://127.0.0.1:1/v1', clock, random: () => 0, downloadIdleTimeoutMs: 300 });
  const task: Task = { id: 'task_1', status: 'completed', progress: 100, result: { videos: [{ url: [url], expires_at: null }] } } as Task;
  const dir = tempDir('ov-download-');
  return { client, clock, task, dir, target: join(dir, 'clip.mp4') };
}

describe('downloadResult from other file servers', () => {
  it('saves a body sent without Content-Length (chunked) exactly', async () => {
    const origin = await fileServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'video/mp4' });
      response.write(LANDSCAPE.subarray(0, 5000));
      setTimeout(() => response.end(LANDSCAPE.subarray(5000)), 10);
    });
    const { client, task, dir, target } = taskAt(`${origin}/clip.mp4`);
    expect(await client.downloadResult(task, target)).toMatchObject({ bytes: LANDSCAPE.length });
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(await readdir(dir)).toEqual(['clip.mp4']);
  });

  it('follows redirects, relative and to another origin, with no Authorization anywhere; gives up on a loop', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const cdn = await fileServer((request, response) => {
      seen.push(request.headers);
      response.writeHead(200, { 'content-length': LANDSCAPE.length, etag: '"v1"' }).end(LANDSCAPE);
    });
    const hop = await fileServer((request, response) => {
      seen.push(request.headers);
      if (request.url === '/loop') return void response.writeHead(302, { location: '/loop' }).end();
      response.writeHead(302, { location: request.url === '/first' ? '/second' : `${cdn}/clip.mp4` }).end();
    });
    const { client, task, target } = taskAt(`${hop}/first`);
    await client.downloadResult(task, target);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(seen).toHaveLength(3);
    expect(seen.map((headers) => headers.authorization)).toEqual([undefined, undefined, undefined]);

    const looping = taskAt(`${hop}/loop`);
    const error = await looping.client.downloadResult(looping.task, looping.target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toMatch(/failed after 5 attempts: download: Redirected 10 times/);
    expect(await readdir(looping.dir)).toEqual([]);
  });

  it('a server that closes without answering: retried with backoff, then a DownloadError, nothing left', async () => {
    let requests = 0;
    const origin = await fileServer((request) => {
      requests += 1;
      request.socket.destroy();
    });
    const { client, clock, task, dir, target } = taskAt(`${origin}/clip.mp4`);
    const error = await client.downloadResult(task, target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toMatch(/failed after 5 attempts: download: connection reset/);
    expect(requests).toBe(5);
    expect(clock.sleeps).toEqual([500, 1000, 2000, 4000]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('an abort mid-body rejects with its reason and keeps the .part and its validator; the next call resumes it', async () => {
    const ranges: (string | undefined)[] = [];
    let stall = true;
    const origin = await fileServer((request, response) => {
      ranges.push(request.headers.range);
      const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
      const headers = { etag: '"v1"', 'content-length': LANDSCAPE.length - start };
      if (start > 0) response.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${LANDSCAPE.length - 1}/${LANDSCAPE.length}` });
      else response.writeHead(200, headers);
      if (stall) response.write(LANDSCAPE.subarray(0, 30_000));
      else response.end(LANDSCAPE.subarray(start));
    });
    const { client, task, dir, target } = taskAt(`${origin}/clip.mp4`);
    const controller = new AbortController();
    const saving = client.downloadResult(task, target, {
      signal: controller.signal,
      onProgress: (received) => received >= 30_000 && controller.abort(new Error('interrupted')),
    });
    await expect(saving).rejects.toThrow('interrupted');
    expect((await readdir(dir)).sort()).toEqual(['clip.mp4.part', 'clip.mp4.part.json']);
    expect((await readFile(`${target}.part`)).equals(LANDSCAPE.subarray(0, 30_000))).toBe(true);
    expect(JSON.parse(await readFile(`${target}.part.json`, 'utf8'))).toEqual({ task_id: 'task_1', validator: '"v1"', total: LANDSCAPE.length });

    stall = false;
    await client.downloadResult(task, target);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(ranges).toEqual([undefined, 'bytes=30000-']);
    expect(await readdir(dir)).toEqual(['clip.mp4']);
  });

  it('a .part kept for another task is not resumed: that download starts from byte 0', async () => {
    const ranges: (string | undefined)[] = [];
    const origin = await fileServer((request, response) => {
      ranges.push(request.headers.range);
      response.writeHead(200, { etag: '"v1"', 'content-length': LANDSCAPE.length }).end(LANDSCAPE);
    });
    const { client, task, target } = taskAt(`${origin}/clip.mp4`);
    await writeFile(`${target}.part`, LANDSCAPE.subarray(0, 1000));
    await writeFile(`${target}.part.json`, JSON.stringify({ task_id: 'task_other', validator: '"v1"' }));
    await client.downloadResult(task, target);
    expect(ranges).toEqual([undefined]);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
  });

  it('a .part that holds the whole file already (stopped before the rename): a 416 to its Range completes it', async () => {
    const ranges: (string | undefined)[] = [];
    const origin = await fileServer((request, response) => {
      ranges.push(request.headers.range);
      response.writeHead(416, { 'content-range': `bytes */${LANDSCAPE.length}` }).end();
    });
    const { client, task, dir, target } = taskAt(`${origin}/clip.mp4`);
    await writeFile(`${target}.part`, LANDSCAPE);
    await writeFile(`${target}.part.json`, JSON.stringify({ task_id: 'task_1', validator: '"v1"', total: LANDSCAPE.length }));
    await client.downloadResult(task, target);
    expect(ranges).toEqual([`bytes=${LANDSCAPE.length}-`]);
    expect((await readFile(target)).equals(LANDSCAPE)).toBe(true);
    expect(await readdir(dir)).toEqual(['clip.mp4']);
  });
});

describe('flushing to disk while the transfer runs', () => {
  /** FileHandle's prototype, whose datasync the download calls. */
  async function fileHandlePrototype(): Promise<{ datasync(): Promise<void> }> {
    const handle = await open(join(tempDir(), 'probe'), 'w');
    await handle.close();
    return Object.getPrototypeOf(handle) as { datasync(): Promise<void> };
  }

  it('flushes every 8 MiB in the background, one flush at a time, and the file is whole', async () => {
    const size = 20 * 1024 * 1024 + 5;
    const { client, task, target } = await completedJob({ largeFileBytes: size });
    const prototype = await fileHandlePrototype();
    let inFlight = 0;
    let overlapped = false;
    const real = prototype.datasync;
    const spy = vi.spyOn(prototype, 'datasync').mockImplementation(async function (this: { datasync(): Promise<void> }) {
      overlapped ||= inFlight > 0;
      inFlight += 1;
      try {
        return await real.call(this);
      } finally {
        inFlight -= 1;
      }
    });
    let flushes: number;
    try {
      await client.downloadResult(task, target);
      flushes = spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
    expect((await readFile(target)).length).toBe(size);
    // At 8 and 16 MiB at most (a flush still running when 16 MiB are written defers the next).
    expect(flushes).toBeGreaterThanOrEqual(1);
    expect(flushes).toBeLessThanOrEqual(2);
    expect(overlapped).toBe(false);
  });

  it('a flush that fails (a write-back error) fails the download, leaving nothing behind', async () => {
    const { client, task, dir, target } = await completedJob({ largeFileBytes: 20 * 1024 * 1024 });
    const prototype = await fileHandlePrototype();
    const spy = vi.spyOn(prototype, 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    try {
      const error = await client.downloadResult(task, target).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DownloadError);
      expect((error as Error).message).toMatch(/cannot write .*clip\.mp4\.part: EIO/);
    } finally {
      spy.mockRestore();
    }
    expect(await readdir(dir)).toEqual([]);
  });
});

