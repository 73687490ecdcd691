import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'got';
import { hasFtypBox, mp4EndsWhole } from '../io/media.js';
import type { Clock } from './clock.js';
import { DownloadError, LinkExpiredError, OutputExistsError } from './errors.js';
import { createFileHttp, fileAgents, toConnectionError } from './http-client.js';
import { BackgroundFlush, readPartState, removePart, writePartState } from './part-file.js';
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

class Attempt {
  constructor(
    readonly kind: 'retry' | 'refresh' | 'expired' | 'fatal',
    readonly message: string,
    readonly retryAfterMs?: number,
  ) {}
}

/** Where the bytes of a download to `destination` gather until it is whole. */
export const partPath = (destination: string): string => `${destination}.part`;

/** What the body's buffer holds before the socket is paused. */
const BODY_BUFFER_BYTES = 64 * 1024;
/** What the .part's write stream holds before it pauses the body: queued pieces go to disk in one writev. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** Default for DownloadOptions.idleTimeoutMs. */
const IDLE_TIMEOUT_MS = 30_000;

/**
 * Streams the result to `<destination>.part`, resumes a dropped transfer with Range + If-Range
 * (only a 206 for the same file is appended to), checks length and the mp4 header, fsyncs and
 * renames into place. A partial file never sits at `destination`. An interrupted download (the
 * signal, or the process killed) keeps its .part and what validates it (part-file.ts): the next
 * call for the same task and destination resumes it. Any other failure removes both.
 */
export async function downloadToFile(initialTask: Task, destination: string, options: DownloadOptions): Promise<DownloadResult> {
  const { clock, policy, signal, log } = options;
  const part = partPath(destination);
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

  const files = createFileHttp({ env: options.env, idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS });
  const kept = await readPartState(part, task.id);
  let received = kept?.received ?? 0;
  let total = kept?.total;
  let validator = kept?.validator;
  if (kept) log?.(`  resuming ${part}: ${received} bytes kept`);
  else await removePart(part);
  let urlIndex = 0;
  let failures = 0;
  try {
    await transfer();
    await checkAndSync();
  } catch (error) {
    // Interrupted: the .part stays for the next run. Anything else: nothing half-written is left.
    if (!signal?.aborted) await removePart(part);
    throw error;
  }
  if (!options.overwrite && (await exists(destination))) {
    await removePart(part);
    throw new OutputExistsError(`${destination} already exists.`, { hint: 'Use --force to overwrite it.' });
  }
  await renameWithRetry(part, destination, clock);
  await removePart(part);
  return { path: destination, bytes: received, url: links.urls[urlIndex % links.urls.length] as string };

  async function transfer(): Promise<void> {
    for (;;) {
      const url = links.urls[urlIndex % links.urls.length] as string;
      const outcome = await fetchOnce(url);
      if (outcome === 'done') break;
      if (outcome.kind === 'refresh' && (await refresh(outcome.message))) {
        links = resultLinks(task);
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
      if (!hasFtypBox(head)) throw new DownloadError(`The file served for task ${task.id} is not an mp4 video (no ftyp box).`);
      if (total === undefined && !(await mp4EndsWhole(handle, size))) {
        throw new DownloadError(`Download of task ${task.id} is incomplete: the video ends before its last part (${size} bytes arrived, no length was announced).`);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async function fetchOnce(url: string): Promise<'done' | Attempt> {
    const resuming = received > 0 && validator !== undefined;
    log?.(`→ GET ${url.replace(/\?.*$/, '?…')}${resuming ? ` (resuming at ${received})` : ''}`);
    let agent;
    try {
      agent = fileAgents(url, options.env);
    } catch (error) {
      // A malformed proxy setting: the job is done and paid, so the error keeps the command to fetch it.
      return new Attempt('fatal', (error as Error).message);
    }
    // No Authorization here, ever: the file server is another origin and signed URLs need none.
    const stream = files.stream(url, {
      headers: resuming ? { range: `bytes=${received}-`, 'if-range': validator } : {},
      agent,
      signal,
    });
    // Read from the start, into a buffer of its own, and ended (not failed) at a cut or an abort:
    // bytes that arrive while the .part is being opened are kept, and the pipeline below then
    // ends the file normally with every byte that arrived (a failing one would drop its buffer).
    const body = new PassThrough({ highWaterMark: BODY_BUFFER_BYTES });
    let cut: unknown;
    stream.on('error', (error) => {
      cut ??= error;
      body.end();
    });
    stream.pipe(body);
    let response: Response;
    try {
      response = await responseOf(stream);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return new Attempt('retry', toConnectionError(error, 'download').message);
    }
    const { statusCode: status, headers } = response;
    log?.(`← ${status} download${headers['content-length'] ? ` (${headers['content-length']} bytes)` : ''}`);
    if (status !== 200 && status !== 206) {
      stream.destroy();
      if (status === 416 && resuming && contentRangeTotal(headers['content-range']) === received) {
        // Every byte was here already (a run stopped between the last byte and the rename).
        total = received;
        return 'done';
      }
      if (status === 416) return startOver('the server cannot serve the rest of the file; starting over');
      if (REFRESHABLE.has(status)) return new Attempt('refresh', `the file server answered HTTP ${status}`);
      if (status === 429 || status >= 500) return new Attempt('retry', `the file server answered HTTP ${status}`, parseRetryAfter(headers, clock.now()));
      return new Attempt('fatal', `the file server answered HTTP ${status}`);
    }
    let start = 0;
    if (status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headers['content-range'] ?? '');
      if (!range || Number(range[1]) !== received) {
        stream.destroy();
        return startOver('the server answered a range that does not match; starting over');
      }
      // A length or validator other than those the kept bytes came from: another file (If-Range ignored), never to be appended.
      const served = ifRangeValidator(headers.etag, headers['last-modified']);
      if ((range[3] !== '*' && total !== undefined && Number(range[3]) !== total) || (served !== undefined && validator !== undefined && served !== validator)) {
        stream.destroy();
        return startOver('the file on the server changed (another length or validator); starting over');
      }
      start = received;
      if (range[3] !== '*') total = Number(range[3]);
    } else {
      // A 200 is the whole file from byte 0: appending it to what we have would corrupt the video.
      const length = headers['content-length'];
      total = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
      validator = ifRangeValidator(headers.etag, headers['last-modified']);
      received = 0;
    }
    let handle: FileHandle;
    try {
      handle = await openPart(start, status === 200 ? validator : undefined);
    } catch (error) {
      stream.destroy();
      return new Attempt('fatal', `cannot write ${part}: ${(error as Error).message}`);
    }
    const sink = handle.createWriteStream({ start, highWaterMark: WRITE_BUFFER_BYTES });
    const flusher = new BackgroundFlush(handle, sink);
    stream.on('downloadProgress', flusher.check);
    const progress = setInterval(() => options.onProgress?.(start + sink.bytesWritten, total), 200);
    let writeError: unknown;
    try {
      await pipeline(body, sink);
    } catch (error) {
      writeError = error;
    } finally {
      clearInterval(progress);
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
    }
    received = start + sink.bytesWritten;
    options.onProgress?.(received, total);
    if (signal?.aborted) throw signal.reason;
    writeError ??= flusher.error;
    if (writeError !== undefined) {
      stream.destroy();
      return new Attempt('fatal', `cannot write ${part}: ${(writeError as Error).message}`);
    }
    if (cut !== undefined) return new Attempt('retry', toConnectionError(cut, 'download interrupted').message);
    if (total !== undefined && received < total) return new Attempt('retry', `connection closed after ${received} of ${total} bytes`);
    return 'done';
  }

  function startOver(message: string): Attempt {
    received = 0;
    validator = undefined;
    return new Attempt('retry', message);
  }

  /**
   * The .part opened for bytes from `start`. From byte 0 it is emptied first and then, when the
   * answer can be resumed, its validator written beside it: killed at any point in between, the
   * next run finds either nothing to resume or bytes that match the validator.
   */
  async function openPart(start: number, newValidator: string | undefined): Promise<FileHandle> {
    if (start === 0) await removePart(part);
    const handle = await open(part, start > 0 ? 'r+' : 'w');
    try {
      if (start === 0 && newValidator !== undefined) await writePartState(part, { task_id: task.id, validator: newValidator, total });
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle;
  }
}

/** Resolves with the response head (after redirects), or rejects with what stopped it first. */
function responseOf(stream: Request): Promise<Response> {
  return new Promise((resolve, reject) => {
    const onResponse = (response: Response) => {
      stream.off('error', onError);
      resolve(response);
    };
    const onError = (error: Error) => {
      stream.off('response', onResponse);
      reject(error);
    };
    stream.once('response', onResponse);
    stream.once('error', onError);
  });
}

/** The total that a 416 names in its Content-Range (`bytes *\/N`), if it does. */
function contentRangeTotal(header: string | undefined): number | undefined {
  const match = /^bytes \*\/(\d+)$/.exec(header ?? '');
  return match ? Number(match[1]) : undefined;
}

/** If-Range takes a strong ETag or a date (RFC 9110 13.1.5); without either a cut starts over. */
function ifRangeValidator(etag: string | undefined, lastModified: string | undefined): string | undefined {
  if (etag !== undefined && etag.startsWith('"')) return etag;
  return lastModified;
}

/** Past its expiry, or refused (403/410) by the file server even after a fresh link: either way, gone. */
function expiredError(taskId: string, expiresAt: number | null, nowMs: number, detail?: string): LinkExpiredError {
  if (expiresAt !== null && expiresAt * 1000 <= nowMs) {
    return new LinkExpiredError(`The result link of task ${taskId} expired at ${formatExpiry(expiresAt)}${detail ? ` (${detail})` : ''}.`, {
      hint: 'Result links last about 24 h after completion; only a new (paid) job can make the clip again.',
      pastExpiry: true,
    });
  }
  const until = expiresAt === null ? '' : `, although it should be valid until ${formatExpiry(expiresAt)}`;
  return new LinkExpiredError(`The result link of task ${taskId} was refused${detail ? ` (${detail})` : ''}${until}.`, {
    hint: `The link should still be valid: try again later with: omni-video download ${taskId}`,
    pastExpiry: false,
  });
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
