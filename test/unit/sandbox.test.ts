import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { declareSandboxFlags, faultFlags, flagName, serverFlags, type SandboxFlag, type SandboxFlagValues } from '../../src/sandbox/flags.js';
import { parseBytes } from '../../src/sandbox/options.js';
import { runSandbox, sandboxOptionsFrom, SandboxUsageError } from '../../src/sandbox/run.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
const PORTRAIT = readFileSync(new URL('../../src/sandbox/assets/portrait.mp4', import.meta.url));
const MODEL = 'gemini-omni-flash-preview';
const KEY = 'sk-test';

let running: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(running.map((s) => s.stop()));
  running = [];
});

async function start(options: SandboxOptions = {}): Promise<Sandbox> {
  const sb = await startSandbox({ jobSeconds: 0.3, ...options });
  running.push(sb);
  return sb;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function call(
  sb: Sandbox,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; key?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== null) headers.authorization = `Bearer ${opts.key ?? KEY}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${sb.baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const submit = (sb: Sandbox, body: Record<string, unknown>, key?: string | null) =>
  call(sb, 'POST', '/videos/generations', { body: { model: MODEL, ...body }, key });

async function submitOk(sb: Sandbox, body: Record<string, unknown> = { prompt: 'a fox' }): Promise<string> {
  const r = await submit(sb, body);
  expect(r.status).toBe(200);
  return r.json.data[0].task_id as string;
}

const poll = (sb: Sandbox, id: string, query = '') => call(sb, 'GET', `/tasks/${id}${query}`);

/** Moves a task's creation back so it is `elapsedMs` old: deterministic status without sleeping. */
function age(sb: Sandbox, id: string, elapsedMs: number): void {
  sb.tasks.get(id)!.createdMs = Date.now() - elapsedMs;
}

async function completedUrl(sb: Sandbox, body?: Record<string, unknown>): Promise<{ id: string; url: string }> {
  const id = await submitOk(sb, body);
  age(sb, id, 60_000);
  const r = await poll(sb, id);
  expect(r.json.data.status).toBe('completed');
  const u = r.json.data.result.videos[0].url;
  return { id, url: Array.isArray(u) ? u[0] : u };
}

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
}

/** GET/HEAD with node:http, reporting a cut connection instead of throwing. */
function raw(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let done = false;
      const finish = (complete: boolean) => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(res.complete));
      res.on('error', () => finish(false));
      res.on('aborted', () => finish(false));
      res.on('close', () => finish(res.complete));
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('submit', () => {
  it('accepts a valid job, answers the documented shape, charges it and records the request', async () => {
    const sb = await start({ balance: 5, costPerJob: 1.5, creditsPerJob: 15 });
    const r = await submit(sb, { prompt: 'a blue butterfly', aspect_ratio: '9:16', resolution: '720p' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.json).toEqual({ code: 200, data: [{ status: 'submitted', task_id: expect.any(String) }] });
    const id = r.json.data[0].task_id as string;
    expect(id).toMatch(/^task_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(sb.tasks.get(id)).toMatchObject({ aspectRatio: '9:16', outcome: 'completed', cost: 1.5, creditsCost: 15 });
    expect(sb.stats.submissions).toBe(1);
    expect(sb.balance).toMatchObject({ remain: 3.5, used: 1.5 });
    const [rec] = sb.submissions();
    expect(rec).toMatchObject({ server: 'api', method: 'POST', path: '/v1/videos/generations' });
    expect(rec!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(rec!.body).toEqual({ model: MODEL, prompt: 'a blue butterfly', aspect_ratio: '9:16', resolution: '720p' });
  });

  it.each([
    ['missing model', { model: undefined, prompt: 'x' }, /^model: required/],
    ['wrong model', { model: 'veo-3', prompt: 'x' }, /^model: unsupported model "veo-3"/],
    ['nothing to generate from', { prompt: '  ' }, /at least one is required/],
    ['17 images', { image_urls: Array.from({ length: 17 }, (_, i) => `https://e.com/${i}.jpg`) }, /^image_urls: at most 16 images$/],
    ['a local image path', { prompt: 'x', image_urls: ['/home/me/cat.jpg'] }, /^image_urls\[0\]: must be an http/],
    ['a file: image URL', { prompt: 'x', image_urls: ['https://e.com/a.jpg', 'file:///cat.jpg'] }, /^image_urls\[1\]/],
    ['an image URL with a space', { prompt: 'x', image_urls: ['https://e.com/a b.jpg'] }, /^image_urls\[0\]: must be an http/],
    ['17 images, one of them bad: the count first', { image_urls: [...Array.from({ length: 16 }, (_, i) => `https://e.com/${i}.jpg`), 'bad'] }, /^image_urls: at most 16 images$/],
    ['a prompt of spaces with a bad resolution: nothing to generate from first', { prompt: ' ', resolution: '1080p' }, /^prompt, image_urls or video_urls: at least one is required$/],
    ['a non-string prompt and a bad image: the types first', { prompt: 42, image_urls: ['bad'] }, /^prompt: must be a string$/],
    ['an empty extend_from_task_id', { prompt: 'x', extend_from_task_id: '' }, /^extend_from_task_id: must be a task id$/],
    ['image_urls not an array', { image_urls: 'https://e.com/a.jpg' }, /^image_urls: must be an array/],
    ['two videos', { video_urls: ['https://e.com/a.mp4', 'https://e.com/b.mp4'] }, /^video_urls: at most 1 video$/],
    ['an ftp video', { video_urls: ['ftp://e.com/a.mp4'] }, /^video_urls\[0\]/],
    ['an image data URL as video', { video_urls: ['data:image/png;base64,AAAA'] }, /^video_urls\[0\]/],
    ['an empty video data URL', { video_urls: ['data:video/mp4;base64,'] }, /^video_urls\[0\]/],
    ['resolution 1080p', { prompt: 'x', resolution: '1080p' }, /^resolution: "1080p" is not supported/],
    ['unknown extend_from_task_id', { prompt: 'x', extend_from_task_id: 'task_NOPE' }, /^extend_from_task_id: task not found: task_NOPE$/],
    ['a non-string prompt', { prompt: 42 }, /^prompt: must be a string$/],
  ])('refuses %s with 400 and creates nothing', async (_name, body, message) => {
    const sb = await start();
    const r = await submit(sb, body);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_parameter' });
    expect(r.json.error.message).toMatch(message);
    expect(sb.tasks.size).toBe(0);
    expect(sb.balance.used).toBe(0);
  });

  it('refuses a body that is not JSON, or not an object', async () => {
    const sb = await start();
    const a = await call(sb, 'POST', '/videos/generations', { raw: '{"model":' });
    expect(a.status).toBe(400);
    expect(a.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    expect(sb.requests[0]!.body).toBe('{"model":'); // raw text when it does not parse
    const b = await call(sb, 'POST', '/videos/generations', { body: [{ model: MODEL }] });
    expect(b.status).toBe(400);
    expect(sb.tasks.size).toBe(0);
  });

  it('accepts 16 images, an http(s) video, a video data URL, and an existing extend_from_task_id', async () => {
    const sb = await start();
    await submitOk(sb, { image_urls: Array.from({ length: 16 }, (_, i) => `http://e.com/${i}.png`) });
    await submitOk(sb, { video_urls: ['https://e.com/clip.mp4'] });
    const id = await submitOk(sb, { prompt: 'ripple', video_urls: ['data:video/mp4;base64,AAAAIGZ0eXBpc29t'] });
    const ext = await submitOk(sb, { prompt: 'now make it snow', extend_from_task_id: id });
    expect(sb.tasks.get(ext)!.extendFromTaskId).toBe(id);
    expect(sb.stats.submissions).toBe(4);
  });

  it('keeps each task\'s request as it took it: the documented fields, aspect_ratio as read', async () => {
    const sb = await start();
    const id = await submitOk(sb, { prompt: 'x', aspect_ratio: 'portrait', image_urls: ['https://e.com/a.jpg'], unknown_field: 1 });
    expect(sb.tasks.get(id)!.request).toEqual({ model: MODEL, prompt: 'x', image_urls: ['https://e.com/a.jpg'], aspect_ratio: '16:9' });
  });

  it('silently treats any aspect_ratio other than 9:16 as 16:9, as the service does', async () => {
    const sb = await start();
    const cases: [unknown, string][] = [['9:16', '9:16'], ['16:9', '16:9'], ['4:3', '16:9'], ['portrait', '16:9'], [undefined, '16:9'], [916, '16:9']];
    for (const [given, expected] of cases) {
      const id = await submitOk(sb, { prompt: 'x', aspect_ratio: given });
      expect(sb.tasks.get(id)!.aspectRatio).toBe(expected);
    }
  });

  it('answers 413 to a body over the limit', async () => {
    const sb = await start({ maxBodyBytes: 1000 });
    const r = await submit(sb, { prompt: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect(r.json.error.message).toMatch(/too large/);
    expect(sb.tasks.size).toBe(0);
    expect(sb.submissions()).toHaveLength(1);
  });

  it('charges until the balance runs out, then answers 402 insufficient_quota', async () => {
    const sb = await start({ balance: 1.5 });
    await submitOk(sb);
    const bal = await call(sb, 'GET', '/balance');
    expect(bal.json).toEqual({ success: true, remain_balance: 0.5, used_balance: 1, unlimited_quota: false });
    const user = await call(sb, 'GET', '/user/balance');
    expect(user.json).toEqual({ success: true, remain_balance: 5, used_balance: 10, unlimited_quota: false });
    const r = await submit(sb, { prompt: 'again' });
    expect(r.status).toBe(402);
    expect(r.json.error.type).toBe('insufficient_quota');
    expect(r.json.error.message).toMatch(/^Insufficient balance/);
    expect(sb.tasks.size).toBe(1);
  });

  it('never refuses for balance when unlimited, and reports remain_balance -1', async () => {
    const sb = await start({ unlimited: true, balance: 0 });
    await submitOk(sb);
    await submitOk(sb);
    const bal = await call(sb, 'GET', '/balance');
    expect(bal.json).toEqual({ success: true, remain_balance: -1, used_balance: 2, unlimited_quota: true });
  });

  it('tracks the most jobs in flight at once', async () => {
    const sb = await start({ jobSeconds: 5 });
    const ids = [await submitOk(sb), await submitOk(sb), await submitOk(sb)];
    expect(sb.stats.maxInFlight).toBe(3);
    for (const id of ids) age(sb, id, 10_000);
    await submitOk(sb);
    expect(sb.stats).toEqual({ submissions: 4, maxInFlight: 3 });
  });
});

describe('task status', () => {
  it('goes pending -> processing (rising progress) -> completed, computed from timestamps', async () => {
    let now = Date.now();
    const sb = await start({ jobSeconds: 10, queueSeconds: 1, now: () => now });
    const id = await submitOk(sb, { prompt: 'x' });
    const createdMs = sb.tasks.get(id)!.createdMs;
    expect(createdMs).toBe(now);
    const p0 = await poll(sb, id);
    expect(p0.status).toBe(200);
    expect(p0.json.code).toBe(200);
    expect(p0.json.data).toMatchObject({ id, status: 'pending', progress: 0, estimated_time: 10, cost: 1, credits_cost: 10 });
    expect(p0.json.data.created).toBe(Math.floor(sb.tasks.get(id)!.createdMs / 1000));
    expect(p0.json.data).not.toHaveProperty('result');
    expect(p0.json.data).not.toHaveProperty('completed');

    now = createdMs + 3_000;
    const p1 = (await poll(sb, id)).json.data;
    now = createdMs + 7_000;
    const p2 = (await poll(sb, id)).json.data;
    now = createdMs + 9_990;
    const p3 = (await poll(sb, id)).json.data;
    expect([p1.status, p2.status, p3.status]).toEqual(['processing', 'processing', 'processing']);
    expect(Number.isInteger(p1.progress)).toBe(true);
    expect(p1.progress).toBeGreaterThan(0);
    expect(p2.progress).toBeGreaterThan(p1.progress);
    expect(p3.progress).toBe(99);

    now = createdMs + 10_000;
    const done = (await poll(sb, id)).json.data;
    const task = sb.tasks.get(id)!;
    expect(done).toMatchObject({ status: 'completed', progress: 100, model: MODEL });
    expect(done.completed).toBe(Math.floor((task.createdMs + 10_000) / 1000));
    expect(done.actual_time).toBe(done.completed - done.created);
    expect(done.result.videos).toHaveLength(1);
    expect(done.result.videos[0].expires_at).toBe(done.completed + 86_400);
    expect(done.result.videos[0].url).toEqual([expect.stringMatching(new RegExp(`^${sb.fileBaseUrl}/files/${id}\\.mp4\\?expires=\\d+&sig=[0-9a-f]{64}$`))]);
    expect(done).not.toHaveProperty('error');
    expect(sb.statusOf(id)).toBe('completed');
  });

  it('completes in real time with a short jobSeconds', async () => {
    const sb = await start({ jobSeconds: 0.3 });
    const id = await submitOk(sb);
    expect(['pending', 'processing']).toContain((await poll(sb, id)).json.data.status);
    await sleep(350);
    expect((await poll(sb, id)).json.data.status).toBe('completed');
  });

  it('reports estimated_time = max(1, round(jobSeconds * estimateFactor))', async () => {
    const a = await start({ jobSeconds: 8, estimateFactor: 1.5 });
    expect((await poll(a, await submitOk(a))).json.data.estimated_time).toBe(12);
    const b = await start({ jobSeconds: 0.2 });
    expect((await poll(b, await submitOk(b))).json.data.estimated_time).toBe(1);
  });

  it('answers 404 with the service message for an unknown id, in the requested language', async () => {
    const sb = await start();
    const r = await poll(sb, 'task_01KS1H7ZYSJWH1N779S2FSHTKA');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ code: 404, message: 'task not found: task_01KS1H7ZYSJWH1N779S2FSHTKA' });
    const zh = await poll(sb, 'task_x', '?language=zh');
    expect(zh.json.message).toBe('任务不存在: task_x');
    expect(sb.requests.at(-1)!.path).toBe('/v1/tasks/task_x?language=zh');
  });

  it('ends failed jobs with an error object and cancelled jobs without a result', async () => {
    const sb = await start({ faults: { failJobs: 1, cancelJobs: 1 } });
    const failed = await submitOk(sb);
    const cancelled = await submitOk(sb);
    const fine = await submitOk(sb);
    expect(sb.faults).toMatchObject({ failJobs: 0, cancelJobs: 0 });
    expect((await poll(sb, failed)).json.data.status).not.toBe('failed'); // only at the moment it would complete
    for (const id of [failed, cancelled, fine]) age(sb, id, 60_000);
    const f = (await poll(sb, failed)).json.data;
    expect(f).toMatchObject({ status: 'failed', error: { message: 'The content violates the usage policy', code: 'generation_failed' } });
    expect(f).not.toHaveProperty('result');
    expect(f).not.toHaveProperty('completed');
    const c = (await poll(sb, cancelled)).json.data;
    expect(c.status).toBe('cancelled');
    expect(c).not.toHaveProperty('result');
    expect(c).not.toHaveProperty('error');
    expect((await poll(sb, fine)).json.data.status).toBe('completed');
    sb.faults.failJobs = 1;
    sb.faults.failMessage = 'Custom failure';
    const other = await submitOk(sb);
    age(sb, other, 60_000);
    expect((await poll(sb, other)).json.data.error.message).toBe('Custom failure');
  });

  it('can report the result URL as a single string', async () => {
    const sb = await start({ faults: { urlAsString: true } });
    const id = await submitOk(sb);
    age(sb, id, 60_000);
    const url = (await poll(sb, id)).json.data.result.videos[0].url;
    expect(typeof url).toBe('string');
    expect(url.startsWith(`${sb.fileBaseUrl}/files/${id}.mp4?`)).toBe(true);
  });
});

describe('auth and routes', () => {
  it('answers 401 to a missing, empty or non-Bearer key', async () => {
    const sb = await start();
    for (const headers of [{}, { authorization: 'Bearer ' }, { authorization: 'Basic abc' }]) {
      const r = await call(sb, 'POST', '/videos/generations', { key: null, headers, body: { model: MODEL, prompt: 'x' } });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ error: { message: 'Invalid API key', type: 'authentication_error', code: 'invalid_api_key' } });
    }
    expect((await call(sb, 'GET', '/tasks/task_x', { key: null })).status).toBe(401);
    const bal = await call(sb, 'GET', '/balance', { key: null });
    expect(bal.status).toBe(401);
    expect(bal.json).toEqual({ success: false, message: 'Invalid API key' });
    expect(sb.tasks.size).toBe(0);
  });

  it('accepts only the configured key when apiKey is set', async () => {
    const sb = await start({ apiKey: 'sk-right' });
    expect((await submit(sb, { prompt: 'x' }, 'sk-wrong')).status).toBe(401);
    expect((await submit(sb, { prompt: 'x' }, 'sk-right')).status).toBe(200);
    expect((await call(sb, 'GET', '/user/balance', { key: 'sk-wrong' })).json.success).toBe(false);
  });

  it('answers 404 to unknown routes and 405 to a wrong method', async () => {
    const sb = await start();
    const r = await call(sb, 'GET', '/nope');
    expect(r.status).toBe(404);
    expect(r.json.error.message).toMatch(/Not found/);
    const m = await call(sb, 'GET', '/videos/generations');
    expect(m.status).toBe(405);
    expect(m.headers.get('allow')).toBe('POST');
  });
});

describe('file server', () => {
  it('serves the landscape or portrait clip by aspect ratio, on its own origin, without needing a key', async () => {
    const sb = await start();
    expect(new URL(sb.fileBaseUrl).origin).not.toBe(new URL(sb.baseUrl).origin);
    const land = await completedUrl(sb, { prompt: 'x' });
    const port = await completedUrl(sb, { prompt: 'x', aspect_ratio: '9:16' });
    const a = await raw(land.url);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('video/mp4');
    expect(a.headers['content-length']).toBe(String(LANDSCAPE.length));
    expect(a.headers['accept-ranges']).toBe('bytes');
    expect(a.headers.etag).toMatch(/^".+"$/);
    expect(a.headers['last-modified']).toBeTruthy();
    expect(a.body.equals(LANDSCAPE)).toBe(true);
    const b = await raw(port.url);
    expect(b.body.equals(PORTRAIT)).toBe(true);
    const fileReqs = sb.requests.filter((r) => r.server === 'files');
    expect(fileReqs).toHaveLength(2);
    expect(fileReqs.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(fileReqs[0]!.path).toBe(land.url.slice(sb.fileBaseUrl.length));
  });

  it('answers HEAD with the headers only', async () => {
    const sb = await start();
    const { url } = await completedUrl(sb);
    const h = await raw(url, {}, 'HEAD');
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe(String(LANDSCAPE.length));
    expect(h.body.length).toBe(0);
  });

  it('honours Range (a-, a-b, suffix) with 206 and Content-Range, and 416 when unsatisfiable', async () => {
    const sb = await start();
    const { url } = await completedUrl(sb);
    const size = LANDSCAPE.length;
    const open = await raw(url, { range: 'bytes=1000-' });
    expect(open.status).toBe(206);
    expect(open.headers['content-range']).toBe(`bytes 1000-${size - 1}/${size}`);
    expect(open.headers['content-length']).toBe(String(size - 1000));
    expect(open.body.equals(LANDSCAPE.subarray(1000))).toBe(true);
    const closed = await raw(url, { range: 'bytes=10-19' });
    expect(closed.status).toBe(206);
    expect(closed.body.equals(LANDSCAPE.subarray(10, 20))).toBe(true);
    const past = await raw(url, { range: `bytes=0-${size + 100}` });
    expect(past.headers['content-range']).toBe(`bytes 0-${size - 1}/${size}`);
    const suffix = await raw(url, { range: 'bytes=-100' });
    expect(suffix.body.equals(LANDSCAPE.subarray(size - 100))).toBe(true);
    const bad = await raw(url, { range: `bytes=${size}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${size}`);
  });

  it('honours If-Range only when it matches the ETag or Last-Modified', async () => {
    const sb = await start();
    const { url } = await completedUrl(sb);
    const { headers } = await raw(url, {}, 'HEAD');
    const etag = headers.etag!;
    const lm = headers['last-modified']!;
    expect((await raw(url, { range: 'bytes=100-', 'if-range': etag })).status).toBe(206);
    expect((await raw(url, { range: 'bytes=100-', 'if-range': lm })).status).toBe(206);
    const stale = await raw(url, { range: 'bytes=100-', 'if-range': '"something-else"' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(LANDSCAPE)).toBe(true);
    expect((await raw(url, { range: 'bytes=100-', 'if-range': 'Thu, 01 Jan 2015 00:00:00 GMT' })).status).toBe(200);
  });

  it('answers 404 to a bad signature or an unknown file, and 403 (S3-like XML) to an expired link', async () => {
    const sb = await start({ linkTtlSeconds: 3600 });
    const { id, url } = await completedUrl(sb);
    const bad = await raw(url.replace(/sig=[0-9a-f]/, (m) => (m.endsWith('0') ? 'sig=1' : 'sig=0')));
    expect(bad.status).toBe(404);
    expect(bad.body.toString()).toMatch(/<Code>NoSuchKey<\/Code>/);
    expect((await raw(url.replace(`expires=`, 'expires=9'))).status).toBe(404);
    expect((await raw(`${sb.fileBaseUrl}/files/task_nope.mp4`)).status).toBe(404);
    age(sb, id, 2 * 3600_000); // completed two hours ago, with a one-hour link
    const stale = (await poll(sb, id)).json.data.result.videos[0];
    expect(stale.expires_at).toBeLessThan(Date.now() / 1000);
    const expired = await raw(stale.url[0]);
    expect(expired.status).toBe(403);
    expect(expired.headers['content-type']).toBe('application/xml');
    expect(expired.body.toString()).toMatch(/<Code>AccessDenied<\/Code><Message>Request has expired/);
  });

  it('expireLinks: results carry a past expires_at and every link answers 403', async () => {
    const sb = await start();
    const { url } = await completedUrl(sb);
    sb.faults.expireLinks = true;
    expect((await raw(url)).status).toBe(403);
    const { id } = await completedUrl(sb);
    const v = (await poll(sb, id)).json.data.result.videos[0];
    expect(v.expires_at).toBeLessThan(Date.now() / 1000);
    expect((await raw(v.url[0])).status).toBe(403);
  });

  it('largeFileBytes: a generated mp4-headed file, consistent across Range requests', async () => {
    const size = 3 * 1024 * 1024 + 17;
    const sb = await start({ largeFileBytes: size });
    const { url } = await completedUrl(sb, { prompt: 'x', aspect_ratio: '9:16' });
    const full = await raw(url);
    expect(full.status).toBe(200);
    expect(full.body.length).toBe(size);
    const ftypSize = LANDSCAPE.readUInt32BE(0);
    expect(full.body.subarray(0, ftypSize).equals(LANDSCAPE.subarray(0, ftypSize))).toBe(true);
    expect(full.body.toString('latin1', ftypSize + 4, ftypSize + 8)).toBe('free');
    expect(full.body.readUInt32BE(ftypSize)).toBe(size - ftypSize);
    const part = await raw(url, { range: 'bytes=1234567-2345678' });
    expect(part.status).toBe(206);
    expect(part.body.equals(full.body.subarray(1234567, 2345679))).toBe(true);
    const again = await raw(url);
    expect(again.body.equals(full.body)).toBe(true);
  });
});

describe('faults', () => {
  it('submit429: 429 with Retry-After (seconds or HTTP date) and no job, then normal', async () => {
    const sb = await start({ faults: { submit429: 1 } });
    const r = await submit(sb, { prompt: 'x' });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.json.error.type).toBe('rate_limit_error');
    expect(sb.tasks.size).toBe(0);
    const date = new Date(Date.now() + 2000).toUTCString();
    Object.assign(sb.faults, { submit429: 1, retryAfter: date });
    expect((await submit(sb, { prompt: 'x' })).headers.get('retry-after')).toBe(date);
    await submitOk(sb);
    expect(sb.stats.submissions).toBe(1);
    expect(sb.submissions()).toHaveLength(3);
  });

  it('submit503: 503 and no job', async () => {
    const sb = await start({ faults: { submit503: 2 } });
    expect((await submit(sb, { prompt: 'x' })).status).toBe(503);
    expect((await submit(sb, { prompt: 'x' })).status).toBe(503);
    await submitOk(sb);
    expect(sb.tasks.size).toBe(1);
    expect(sb.balance.used).toBe(1);
  });

  it('submitResetAfterCreate: the job is created and charged, the connection dropped unanswered', async () => {
    const sb = await start({ faults: { submitResetAfterCreate: 1 } });
    await expect(submit(sb, { prompt: 'x' })).rejects.toThrow();
    expect(sb.tasks.size).toBe(1);
    expect(sb.stats.submissions).toBe(1);
    expect(sb.balance.used).toBe(1);
    expect(sb.faults.submitResetAfterCreate).toBe(0);
  });

  it('submitDelayMs: the job exists before the late answer', async () => {
    const sb = await start({ faults: { submitDelayMs: 150 } });
    const t0 = Date.now();
    let answered = false;
    const pending = submit(sb, { prompt: 'x' }).finally(() => (answered = true));
    await until(() => sb.tasks.size === 1);
    expect(answered).toBe(false);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('poll faults: 502 JSON, 502 HTML, malformed JSON, empty body, 429, reset — each consumed once', async () => {
    const sb = await start();
    const id = await submitOk(sb);
    sb.faults.poll5xx = 1;
    const a = await poll(sb, id);
    expect([a.status, a.json?.code]).toEqual([502, 502]);
    sb.faults.pollHtml = 1;
    const b = await poll(sb, id);
    expect(b.status).toBe(502);
    expect(b.headers.get('content-type')).toMatch(/text\/html/);
    expect(b.text).toMatch(/<h1>502 Bad Gateway<\/h1>/);
    sb.faults.pollMalformed = 1;
    const c = await poll(sb, id);
    expect(c.status).toBe(200);
    expect(c.json).toBeUndefined();
    expect(c.text.length).toBeGreaterThan(0);
    sb.faults.pollEmpty = 1;
    const d = await poll(sb, id);
    expect([d.status, d.text]).toEqual([200, '']);
    sb.faults.poll429 = 1;
    sb.faults.retryAfter = '3';
    const e = await poll(sb, id);
    expect([e.status, e.headers.get('retry-after')]).toEqual([429, '3']);
    sb.faults.pollReset = 1;
    await expect(poll(sb, id)).rejects.toThrow();
    expect((await poll(sb, id)).json.data.id).toBe(id);
    expect(sb.requests.filter((r) => r.path.startsWith('/v1/tasks/'))).toHaveLength(7);
  });

  it('downloadCuts: the body stops after downloadCutAfterBytes; the next download is whole', async () => {
    const sb = await start({ faults: { downloadCuts: 1, downloadCutAfterBytes: 5000 } });
    const { url } = await completedUrl(sb);
    const cut = await raw(url);
    expect(cut.status).toBe(200);
    expect(cut.headers['content-length']).toBe(String(LANDSCAPE.length));
    expect(cut.complete).toBe(false);
    expect(cut.body.length).toBe(5000);
    expect(cut.body.equals(LANDSCAPE.subarray(0, 5000))).toBe(true);
    const whole = await raw(url);
    expect(whole.complete).toBe(true);
    expect(whole.body.equals(LANDSCAPE)).toBe(true);
  });

  it('downloadIgnoreRange: Range is ignored and the whole file comes back with 200', async () => {
    const sb = await start({ faults: { downloadIgnoreRange: true } });
    const { url } = await completedUrl(sb);
    const r = await raw(url, { range: 'bytes=100-' });
    expect(r.status).toBe(200);
    expect(r.headers['accept-ranges']).toBeUndefined();
    expect(r.body.equals(LANDSCAPE)).toBe(true);
  });

  it('downloadStatus: the next N file requests answer that status', async () => {
    const sb = await start({ faults: { downloadStatus: 410, downloadStatusCount: 2 } });
    const { url } = await completedUrl(sb);
    expect((await raw(url)).status).toBe(410);
    expect((await raw(url, {}, 'HEAD')).status).toBe(410);
    expect((await raw(url)).status).toBe(200);
  });

  it('stallAfterBytes: the download stalls with the socket open, and stop() ends it promptly', async () => {
    const sb = await start({ faults: { stallAfterBytes: 2000 } });
    const { url } = await completedUrl(sb);
    const got = raw(url);
    await until(() => sb.faults.stallAfterBytes === 0); // one-shot: consumed by this download
    await sleep(100);
    let settled = false;
    void got.then(() => (settled = true));
    await sleep(50);
    expect(settled).toBe(false);
    const t0 = Date.now();
    await sb.stop();
    const r = await got;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.complete).toBe(false);
    expect(r.body.length).toBe(2000);
  });
});

describe('lifecycle', () => {
  it('records requests on both servers, in order, with their parsed bodies', async () => {
    const sb = await start();
    const { url } = await completedUrl(sb);
    await raw(url);
    expect(sb.requests.map((r) => `${r.server} ${r.method} ${r.path.split('?')[0]}`)).toEqual([
      'api POST /v1/videos/generations',
      `api GET /v1/tasks/${sb.tasks.keys().next().value}`,
      `files GET /files/${sb.tasks.keys().next().value}.mp4`,
    ]);
    expect(sb.requests.every((r) => typeof r.at === 'number')).toBe(true);
    expect(sb.requests[1]!.body).toBeUndefined();
  });

  it('stop() closes keep-alive connections, is idempotent, and frees the port', async () => {
    const sb = await startSandbox({ jobSeconds: 0.3, faults: { submitDelayMs: 10_000 } });
    const answer = submit(sb, { prompt: 'x' }).catch((e: unknown) => e);
    await sleep(50);
    const t0 = Date.now();
    await Promise.all([sb.stop(), sb.stop()]);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await answer).toBeInstanceOf(Error);
    await expect(fetch(`${sb.baseUrl}/balance`)).rejects.toThrow();
  });
});

describe('runSandbox (the CLI command)', () => {
  function io() {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const seen = { out: '', err: '' };
    stdout.on('data', (c) => (seen.out += c));
    stderr.on('data', (c) => (seen.err += c));
    return { stdout, stderr, seen };
  }

  it('prints only the base URL on stdout, a banner and (with --verbose) one line per request on stderr, and stops on abort', async () => {
    const { stdout, stderr, seen } = io();
    const ac = new AbortController();
    const done = runSandbox({ server: { jobSeconds: '0.3' }, faults: { failJobs: '1' } }, { stdout, stderr }, ac.signal, { verbose: true });
    await until(() => seen.out.includes('\n'));
    const baseUrl = seen.out.trim();
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(seen.err).toContain(`OMNI_VIDEO_BASE_URL=${baseUrl} OMNI_VIDEO_API_KEY=sk-test omni-video generate`);
    expect(seen.err).toContain('Simulated faults: --fail-jobs 1\n');
    const r = await fetch(`${baseUrl}/videos/generations`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'x' }),
    });
    expect(r.status).toBe(200);
    await until(() => seen.err.includes('POST /v1/videos/generations'));
    expect(seen.err).toMatch(/api {3}POST \/v1\/videos\/generations 200 \d+ms {2}created task_\w+ \(16:9, will be failed\)/);
    ac.abort();
    await done;
    expect(seen.out).toBe(`${baseUrl}\n`);
    expect(seen.err).toMatch(/stopped\n$/);
    await expect(fetch(`${baseUrl}/balance`)).rejects.toThrow();
  });

  it('logs no request without --verbose, and prints no banner with --quiet', async () => {
    for (const output of [{}, { quiet: true }]) {
      const { stdout, stderr, seen } = io();
      const ac = new AbortController();
      const done = runSandbox({ server: {}, faults: {} }, { stdout, stderr }, ac.signal, output);
      await until(() => seen.out.includes('\n'));
      expect((await fetch(`${seen.out.trim()}/balance`, { headers: { authorization: 'Bearer sk-test' } })).status).toBe(200);
      ac.abort();
      await done;
      if (output.quiet) expect(seen.err).toBe('');
      else expect(seen.err).toContain('Requests are not logged (add --verbose to log them).');
      expect(seen.err).not.toContain('/v1/balance');
    }
  });

  it('refuses bad option values, and modifiers without what they modify, before starting anything', async () => {
    const { stdout, stderr, seen } = io();
    const signal = new AbortController().signal;
    const refused = (values: Partial<SandboxFlagValues>) => runSandbox({ server: {}, faults: {}, ...values }, { stdout, stderr }, signal);
    await expect(refused({ server: { jobSeconds: '-1' } })).rejects.toThrow(new SandboxUsageError('--job-seconds takes a number >= 0, got "-1"'));
    await expect(refused({ server: { port: '70000' } })).rejects.toThrow('--port takes a port number (0-65535), got "70000"');
    await expect(refused({ server: { apiKey: ' ' } })).rejects.toThrow('--require-key must not be empty');
    await expect(refused({ server: { downloadBytesPerSecond: '40X' } })).rejects.toThrow('--download-rate takes bytes per second, e.g. 500000, 512k, 40M or 1G, got "40X"');
    await expect(refused({ server: { largeFileBytes: '10' } })).rejects.toThrow(/^--large-file-bytes takes a size of at least 1024 bytes/);
    await expect(refused({ faults: { downloadStatus: '42' } })).rejects.toThrow('--download-status takes an HTTP status (100-599), got "42"');
    await expect(refused({ faults: { submit429: '1.5' } })).rejects.toThrow('--submit-429 takes a whole number >= 0, got "1.5"');
    await expect(refused({ faults: { retryAfter: 'soon', submit429: '1' } })).rejects.toThrow('--retry-after takes seconds or an HTTP date, got "soon"');
    await expect(refused({ faults: { retryAfter: '5' } })).rejects.toThrow(/^--retry-after is the Retry-After of 429 answers/);
    await expect(refused({ faults: { downloadStatusCount: '2' } })).rejects.toThrow(/give --download-status too/);
    expect(seen.out).toBe('');
  });

  it('reads rates and sizes as curl does: k, M, G are powers of 1024', () => {
    expect(parseBytes('40M')).toBe(40 * 1024 * 1024);
    expect(parseBytes('512k')).toBe(512 * 1024);
    expect(parseBytes('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes(' 1000000 ')).toBe(1_000_000);
    expect(parseBytes('0.5k')).toBe(512);
    for (const bad of ['', 'M', '-1', '40 MB', '1e6', '40T']) expect(parseBytes(bad), bad).toBeUndefined();
  });

  it('a modifier alone acts on the next request; the banner lists every fault in force', () => {
    const { options, faultsInForce } = sandboxOptionsFrom({
      server: {},
      faults: { downloadCutAfterBytes: '500', failMessage: 'quota exceeded', downloadStatus: '410', expireLinks: true },
    });
    expect(options.faults).toMatchObject({ downloadCuts: 1, downloadCutAfterBytes: 500, failJobs: 1, failMessage: 'quota exceeded', downloadStatus: 410, downloadStatusCount: 1, expireLinks: true });
    expect(faultsInForce).toEqual(['--fail-jobs 1', '--fail-message "quota exceeded"', '--download-cuts 1', '--download-cut-after 500', '--download-status 410', '--download-status-count 1', '--expire-links']);
  });

  it('every flag reaches its option through commander (the value filed under the option\'s own name)', () => {
    const command = new Command('sandbox').exitOverride();
    const read = declareSandboxFlags(command);
    const argv: string[] = [];
    const expected: Record<string, string | boolean> = {};
    for (const table of [serverFlags, faultFlags] as Record<string, SandboxFlag>[]) {
      for (const [key, flag] of Object.entries(table)) {
        const takesValue = flag.flags.includes('<');
        argv.push(flagName(flag), ...(takesValue ? [`v-${key}`] : []));
        expected[key] = takesValue ? `v-${key}` : true;
      }
    }
    command.parse(argv, { from: 'user' });
    const values = read();
    expect({ ...values.server, ...values.faults }).toEqual(expected);
    expect(Object.keys(values.server)).toEqual(Object.keys(serverFlags));
    expect(argv).not.toContain('--api-key'); // the CLI's global option
  });
});
