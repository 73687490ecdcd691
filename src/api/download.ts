import { closeSync, openSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import type { Clock } from './clock.js';
import { DownloadError, LinkExpiredError, OutputExistsError } from './errors.js';
import { getFile, type BodyEnd, type FileResponse } from './file-get.js';
import { FileSink } from './file-sink.js';
import { toConnectionError } from './http.js';
import { proxyForUrl } from './proxy.js';
import { backoffDelay, parseRetryAfter, type RetryEvent, type RetryPolicy } from './retry.js';
import { resultLinks, type Task } from './schemas.js';

export interface DownloadOptions {
  clock: Clock;
  env: Record<string, string | undefined>;
  policy: RetryPolicy;
  signal?: AbortSignal | undefined;
  /** Bytes on disk so far and the total when known. */
  onProgress?: ((received: number, total: number | undefined) => void) | undefined;
  onRetry?: ((event: RetryEvent) => void) | undefined;
  log?: ((line: string) => void) | undefined;
  random?: () => number;
  /** Fetches the task again, for a fresh link once the one in hand has expired or is refused. */
  refreshTask?: (() => Promise<Task>) | undefined;
  /** Give up on a connection that delivers no byte for this long (not a total limit). */
  idleTimeoutMs?: number;
  overwrite?: boolean;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  url: string;
}

const REFRESHABLE = new Set([401, 403, 404, 410]);

export function formatExpiry(expiresAt: number): string {
  return new Date(expiresAt * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** True when the first bytes are an ISO BMFF `ftyp` box, as every mp4 starts. */
function startsWithFtyp(head: Buffer): boolean {
  return head.length >= 8 && head.toString('latin1', 4, 8) === 'ftyp';
}

class Attempt {
  constructor(
    readonly kind: 'retry' | 'refresh' | 'expired' | 'fatal',
    readonly message: string,
    readonly retryAfterMs?: number,
  ) {}
}

/**
 * Streams the result to `<destination>.part` with backpressure, resumes a dropped transfer with
 * Range + If-Range (only a 206 for the same file is appended to), checks length and the mp4
 * header, fsyncs and renames into place. A partial file never sits at `destination`.
 */
export async function downloadToFile(initialTask: Task, destination: string, options: DownloadOptions): Promise<DownloadResult> {
  const { clock, policy, signal, log } = options;
  const part = `${destination}.part`;
  if (!options.overwrite && (await exists(destination))) {
    throw new OutputExistsError(`${destination} already exists.`, { hint: 'Use --force to overwrite it, or -o to choose another path.' });
  }
  let task = initialTask;
  let refreshed = false;
  const refresh = async (why: string): Promise<boolean> => {
    if (refreshed || !options.refreshTask) return false;
    refreshed = true;
    log?.(`  fetching a fresh link: ${why}`);
    task = await options.refreshTask();
    return true;
  };

  let links = resultLinks(task);
  if (links.expiresAt !== null && links.expiresAt * 1000 <= clock.now()) {
    await refresh('the link has expired');
    links = resultLinks(task);
    if (links.expiresAt !== null && links.expiresAt * 1000 <= clock.now()) throw expiredError(task.id, links.expiresAt, clock.now());
  }
  if (links.urls.length === 0) throw new DownloadError(`Task ${task.id} has no result link.`, { hint: 'Check it with: omni-video status ' + task.id });

  let received = 0;
  let total: number | undefined;
  let validator: string | undefined;
  let urlIndex = 0;
  let failures = 0;
  await rm(part, { force: true });
  try {
    await transfer();
    await checkAndSync();
  } catch (error) {
    // Nothing half-written is left behind: a later run starts over anyway.
    await rm(part, { force: true });
    throw error;
  }
  if (!options.overwrite && (await exists(destination))) {
    await rm(part, { force: true });
    throw new OutputExistsError(`${destination} already exists.`, { hint: 'Use --force to overwrite it.' });
  }
  await renameWithRetry(part, destination, clock);
  return { path: destination, bytes: received, url: links.urls[urlIndex % links.urls.length] as string };

  async function transfer(): Promise<void> {
    for (;;) {
      const url = links.urls[urlIndex % links.urls.length] as string;
      const outcome = await fetchOnce(url);
      if (outcome === 'done') break;
      if (outcome.kind === 'refresh' && (await refresh(outcome.message))) {
        links = resultLinks(task);
        received = 0;
        continue;
      }
      if (outcome.kind === 'expired' || outcome.kind === 'refresh') {
        if (links.expiresAt !== null && (outcome.kind === 'expired' || links.expiresAt * 1000 <= clock.now() || /\b(403|410)\b/.test(outcome.message))) {
          throw expiredError(task.id, links.expiresAt, clock.now(), outcome.message);
        }
        throw new DownloadError(`Download of task ${task.id} failed: ${outcome.message}`, { hint: `Try again with: omni-video download ${task.id}` });
      }
      if (outcome.kind === 'fatal') {
        throw new DownloadError(`Download of task ${task.id} failed: ${outcome.message}`, { hint: `Try again with: omni-video download ${task.id}` });
      }
      failures += 1;
      if (failures >= policy.maxAttempts) {
        throw new DownloadError(`Download of task ${task.id} failed after ${failures} attempts: ${outcome.message}`, {
          hint: `Try again with: omni-video download ${task.id}`,
        });
      }
      const delayMs = outcome.retryAfterMs === undefined ? backoffDelay(failures, policy, options.random) : Math.min(outcome.retryAfterMs, policy.maxRetryAfterMs);
      options.onRetry?.({ attempt: failures, delayMs, error: new Error(outcome.message) });
      log?.(`  retry ${failures}/${policy.maxAttempts - 1} of download in ${delayMs} ms (${received} bytes kept): ${outcome.message}`);
      urlIndex += 1;
      await clock.sleep(delayMs, signal);
    }
  }

  /** Length, the mp4 header, then fsync, so what gets renamed into place is whole and on disk. */
  async function checkAndSync(): Promise<void> {
    const handle = await open(part, 'r+');
    try {
      const { size } = await handle.stat();
      if (size === 0) throw new DownloadError(`Download of task ${task.id} produced an empty file.`);
      if (total !== undefined && size !== total) throw new DownloadError(`Download of task ${task.id} is incomplete: ${size} of ${total} bytes.`);
      const head = Buffer.alloc(12);
      await handle.read(head, 0, 12, 0);
      if (!startsWithFtyp(head)) throw new DownloadError(`The file served for task ${task.id} is not an mp4 video (no ftyp box).`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async function fetchOnce(url: string): Promise<'done' | Attempt> {
    const resuming = received > 0 && validator !== undefined;
    const headers: Record<string, string> = { 'user-agent': 'omni-video' };
    if (resuming) {
      headers.range = `bytes=${received}-`;
      headers['if-range'] = validator as string;
    }
    log?.(`→ GET ${url.replace(/\?.*$/, '?…')}${resuming ? ` (resuming at ${received})` : ''}`);
    // No Authorization here, ever: the file server is another origin and signed URLs need none.
    let response: FileResponse;
    try {
      response = await getFile(url, {
        headers,
        proxyFor: (target) => proxyForUrl(target, options.env),
        signal,
        idleTimeoutMs: options.idleTimeoutMs,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return new Attempt('retry', toConnectionError(error, 'download').message);
    }
    const { status, headers: responseHeaders } = response;
    log?.(`← ${status} download${responseHeaders['content-length'] ? ` (${responseHeaders['content-length']} bytes)` : ''}`);
    if (status !== 200 && status !== 206) {
      response.discard();
      if (REFRESHABLE.has(status)) return new Attempt('refresh', `the file server answered HTTP ${status}`);
      if (status === 429 || status >= 500) return new Attempt('retry', `the file server answered HTTP ${status}`, parseRetryAfter(responseHeaders, clock.now()));
      return new Attempt('fatal', `the file server answered HTTP ${status}`);
    }
    let start = 0;
    if (status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(responseHeaders['content-range'] ?? '');
      if (!range || Number(range[1]) !== received) {
        response.discard();
        received = 0;
        validator = undefined;
        return new Attempt('retry', 'the server answered a range that does not match; starting over');
      }
      start = received;
      if (range[3] !== '*') total = Number(range[3]);
    } else {
      // A 200 is the whole file from byte 0: appending it to what we have would corrupt the video.
      const length = responseHeaders['content-length'];
      total = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
      validator = responseHeaders.etag ?? responseHeaders['last-modified'];
      received = 0;
    }
    let fd: number;
    try {
      fd = openSync(part, start > 0 ? 'r+' : 'w');
    } catch (error) {
      response.discard();
      return new Attempt('fatal', `cannot write ${part}: ${(error as Error).message}`);
    }
    const sink = new FileSink(fd, start);
    const progress = setInterval(() => options.onProgress?.(start + sink.written, total), 200);
    let outcome: BodyEnd;
    try {
      outcome = await response.readBody((bytes) => sink.write(bytes));
      await sink.settle();
    } catch (error) {
      await sink.settle().catch(() => undefined);
      return new Attempt('fatal', `cannot write ${part}: ${(error as Error).message}`);
    } finally {
      clearInterval(progress);
      closeSync(fd);
    }
    if (signal?.aborted) throw signal.reason;
    received = start + sink.written;
    options.onProgress?.(received, total);
    if (outcome.sourceError !== undefined) return new Attempt('retry', toConnectionError(outcome.sourceError, 'download interrupted').message);
    if (total !== undefined && received < total) return new Attempt('retry', `connection closed after ${received} of ${total} bytes`);
    return 'done';
  }
}

/** Past its expiry, or refused (403/410) by the file server even after a fresh link: either way, gone. */
function expiredError(taskId: string, expiresAt: number | null, nowMs: number, detail?: string): LinkExpiredError {
  const hint = 'Result links last about 24 h after completion; generate the clip again.';
  if (expiresAt !== null && expiresAt * 1000 <= nowMs) {
    return new LinkExpiredError(`The result link of task ${taskId} expired at ${formatExpiry(expiresAt)}${detail ? ` (${detail})` : ''}.`, { hint });
  }
  const until = expiresAt === null ? '' : `, although it should be valid until ${formatExpiry(expiresAt)}`;
  return new LinkExpiredError(`The result link of task ${taskId} was refused${detail ? ` (${detail})` : ''}${until}.`, { hint });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Windows can refuse a rename for a moment while a scanner holds the file. */
async function renameWithRetry(from: string, to: string, clock: Clock): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY') || attempt >= 5) throw error;
      await clock.sleep(100 * attempt);
    }
  }
}
