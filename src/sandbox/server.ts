/**
 * A local simulator of APIMart's Gemini Omni Flash video API (see api-reference.md), built on
 * node:http only. Two servers: the API (`/v1/...`) and a separate file server (a separate origin,
 * like the CDN of the real service) that serves signed, expiring links to real mp4 files.
 *
 * Job status is computed from timestamps on every poll, never driven by timers, so a sandbox
 * holds no timers that outlive a request and stop() leaves nothing running.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const SANDBOX_MODEL = 'gemini-omni-flash-preview';
const MAX_IMAGES = 16;
const MAX_VIDEOS = 1;
const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface SandboxOptions {
  /** Interface to listen on; default '127.0.0.1'. */
  host?: string;
  /** API server port, 0 = ephemeral (default 0). */
  port?: number;
  /** File server port (a separate http server = separate origin), 0 = ephemeral (default 0). */
  filePort?: number;
  /** Seconds from submission to the final state; default 8 (fractions allowed). */
  jobSeconds?: number;
  /** Seconds spent 'pending' before 'processing'; default min(1, 0.15 * jobSeconds). */
  queueSeconds?: number;
  /** Reported estimated_time = max(1, round(jobSeconds * factor)); default 1. */
  estimateFactor?: number;
  /** If set, only this Bearer key is accepted; otherwise any non-empty key. */
  apiKey?: string;
  /** expires_at = completed + ttl; default 86400. */
  linkTtlSeconds?: number;
  /** Starting remain_balance; default 100. */
  balance?: number;
  /** Unlimited quota: remain_balance is -1 and nothing is ever refused for balance. */
  unlimited?: boolean;
  /** Cost charged per created job; default 1.0. */
  costPerJob?: number;
  /** Credits reported per job; default 10. */
  creditsPerJob?: number;
  /**
   * When set, every result file is this many bytes: the ftyp box of landscape.mp4, a `free` box
   * header, then deterministic filler generated while streaming (never held in memory).
   */
  largeFileBytes?: number;
  /** Request bodies above this many bytes get 413; default 64 MB. */
  maxBodyBytes?: number;
  /** Initial fault switches (all off by default); `sandbox.faults` stays live and mutable. */
  faults?: Partial<Faults>;
  /** Called once per request when it ends (answered, reset, cut or stalled): for logging. */
  onResponse?: (entry: SandboxLogEntry) => void;
  /** The jobs' clock (ms since the epoch); default Date.now. Tests pin it to read a status at an exact age. */
  now?: () => number;
}

export interface Faults {
  /** Answer submissions this late (the job is created on receipt). */
  submitDelayMs: number;
  /** Next N submissions: 429 + Retry-After, no job created. */
  submit429: number;
  /** Value of Retry-After for 429s (seconds, or an HTTP date); default '1'. */
  retryAfter: string;
  /** Next N submissions: 503, no job created. */
  submit503: number;
  /** Next N submissions: the job IS created (and charged), then the socket is destroyed. */
  submitResetAfterCreate: number;
  /** Next N GET /tasks/:id: 502 with a JSON error. */
  poll5xx: number;
  /** Next N GET /tasks/:id: 502 with an HTML page. */
  pollHtml: number;
  /** Next N GET /tasks/:id: 200 with invalid JSON. */
  pollMalformed: number;
  /** Next N GET /tasks/:id: 200 with an empty body. */
  pollEmpty: number;
  /** Next N GET /tasks/:id: 200 with valid JSON of the wrong shape (no id, status a number). */
  pollBadShape: number;
  /** Next N GET /tasks/:id: socket destroyed, no response. */
  pollReset: number;
  /** Next N GET /tasks/:id: 429 with Retry-After. */
  poll429: number;
  /** Next N created jobs end 'failed' (when they would have completed). */
  failJobs: number;
  /** Message of those failures; default 'The content violates the usage policy'. */
  failMessage: string;
  /** Next N created jobs end 'cancelled'. */
  cancelJobs: number;
  /** Next N file downloads (GET) are cut after downloadCutAfterBytes body bytes. */
  downloadCuts: number;
  /** Body bytes sent before a cut; default 10000. */
  downloadCutAfterBytes: number;
  /** The file server ignores Range (always 200 with the full body, no Accept-Ranges). */
  downloadIgnoreRange: boolean;
  /** Status answered by the next downloadStatusCount file requests (e.g. 403, 404, 410). */
  downloadStatus: number;
  downloadStatusCount: number;
  /** Results carry expires_at in the past and the file server answers 403 for every link. */
  expireLinks: boolean;
  /** result.videos[].url as a single string instead of an array. */
  urlAsString: boolean;
  /** If > 0: the next download sends this many body bytes, then stalls until the client gives up (one-shot: reset to 0 when used). */
  stallAfterBytes: number;
}

/** The faults that count down: each applies to the next N requests of its kind. */
type CountedFault = 'submit429' | 'submit503' | 'poll5xx' | 'pollHtml' | 'pollMalformed' | 'pollEmpty' | 'pollReset' | 'poll429' | 'pollBadShape';

export interface RecordedRequest {
  server: 'api' | 'files';
  method: string;
  /** Path including the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** API requests: parsed JSON when it parses, else the raw text; absent when there is no body. */
  body?: unknown;
  at: number;
}

export type TaskOutcome = 'completed' | 'failed' | 'cancelled';
export type TaskStatus = 'pending' | 'processing' | TaskOutcome;

export interface SandboxTask {
  id: string;
  /** The submitted JSON body. */
  request: Record<string, unknown>;
  aspectRatio: '16:9' | '9:16';
  /** The clock (Date.now unless `now` is given) at creation; tests may move it back to age a job. */
  createdMs: number;
  /** Time spent pending. */
  queueMs: number;
  /** Time from creation to the outcome. */
  durationMs: number;
  outcome: TaskOutcome;
  /** Set when outcome is 'failed'. */
  failMessage?: string;
  cost: number;
  creditsCost: number;
  /** estimated_time reported for this job, in seconds. */
  estimatedSeconds: number;
  extendFromTaskId?: string;
}

export interface SandboxLogEntry {
  server: 'api' | 'files';
  method: string;
  path: string;
  /** HTTP status, or what happened instead of a complete answer. */
  status: number | 'reset' | 'cut' | 'stalled' | 'aborted';
  ms: number;
  /** E.g. the task id created by a submission, or the fault that was applied. */
  note?: string;
}

export interface Sandbox {
  /** `http://127.0.0.1:${port}/v1` */
  baseUrl: string;
  /** `http://127.0.0.1:${filePort}` */
  fileBaseUrl: string;
  port: number;
  filePort: number;
  requests: RecordedRequest[];
  /** Live and mutable: tests set fields between calls. */
  faults: Faults;
  tasks: Map<string, SandboxTask>;
  stats: { submissions: number; maxInFlight: number };
  /** Current balance of the key (the user/account balance is reported ×10). */
  balance: { remain: number; used: number; unlimited: boolean };
  /** POST /v1/videos/generations requests received. */
  submissions(): RecordedRequest[];
  /** Status of a task as a poll would report it now. */
  statusOf(taskId: string): TaskStatus | undefined;
  /** Closes both servers and all sockets (including stalled downloads) promptly. Idempotent. */
  stop(): Promise<void>;
}

export function defaultFaults(): Faults {
  return {
    submitDelayMs: 0,
    submit429: 0,
    retryAfter: '1',
    submit503: 0,
    submitResetAfterCreate: 0,
    poll5xx: 0,
    pollHtml: 0,
    pollMalformed: 0,
    pollEmpty: 0,
    pollBadShape: 0,
    pollReset: 0,
    poll429: 0,
    failJobs: 0,
    failMessage: 'The content violates the usage policy',
    cancelJobs: 0,
    downloadCuts: 0,
    downloadCutAfterBytes: 10_000,
    downloadIgnoreRange: false,
    downloadStatus: 0,
    downloadStatusCount: 0,
    expireLinks: false,
    urlAsString: false,
    stallAfterBytes: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Assets

interface Asset {
  path: string;
  size: number;
  etag: string;
}

function findAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/sandbox/assets when run from source (vitest, tsx); from dist/sandbox, tsc does not copy
  // binary files, so fall back to the source tree shipped beside it.
  const candidates = [join(here, 'assets'), join(here, '..', '..', 'src', 'sandbox', 'assets')];
  for (const dir of candidates) {
    if (existsSync(join(dir, 'landscape.mp4')) && existsSync(join(dir, 'portrait.mp4'))) return dir;
  }
  throw new Error(`sandbox assets not found (looked in ${candidates.join(', ')})`);
}

function loadAsset(path: string): { asset: Asset; bytes: Buffer } {
  const bytes = readFileSync(path);
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
  return { asset: { path, size: bytes.length, etag: `"${hash}"` }, bytes };
}

/** The leading ftyp box of an mp4 file. */
function ftypBox(mp4: Buffer): Buffer {
  const size = mp4.readUInt32BE(0);
  if (mp4.toString('latin1', 4, 8) !== 'ftyp' || size < 8 || size > mp4.length) {
    throw new Error('landscape.mp4 does not start with an ftyp box');
  }
  return Buffer.from(mp4.subarray(0, size));
}

/** Deterministic content of the large generated file: header, then a repeating pattern. */
class LargeFile {
  static readonly PERIOD = 65_521; // prime, so a misaligned resume shows up as different bytes
  readonly header: Buffer;
  readonly etag: string;
  private readonly pattern: Buffer; // the period twice, so any window <= PERIOD is contiguous

  constructor(readonly size: number, ftyp: Buffer) {
    const rest = size - ftyp.length;
    if (rest < 16) throw new RangeError(`largeFileBytes must be at least ${ftyp.length + 16}`);
    let box: Buffer;
    if (rest > 0xffffffff) {
      box = Buffer.alloc(16);
      box.writeUInt32BE(1, 0);
      box.write('free', 4, 'latin1');
      box.writeBigUInt64BE(BigInt(rest), 8);
    } else {
      box = Buffer.alloc(8);
      box.writeUInt32BE(rest, 0);
      box.write('free', 4, 'latin1');
    }
    this.header = Buffer.concat([ftyp, box]);
    const period = LargeFile.PERIOD;
    this.pattern = Buffer.alloc(period * 2);
    let x = 0x9e3779b9;
    for (let i = 0; i < period; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.pattern[i] = x & 0xff;
      this.pattern[i + period] = x & 0xff;
    }
    this.etag = `"large-${size}-${createHash('sha256').update(this.header).digest('base64url').slice(0, 10)}"`;
  }

  /** A stream of bytes [start, end] (inclusive), generated chunk by chunk on demand. */
  stream(start: number, end: number): Readable {
    let pos = start;
    const stop = end + 1;
    const header = this.header;
    const pattern = this.pattern;
    const period = LargeFile.PERIOD;
    return new Readable({
      highWaterMark: 64 * 1024,
      read(size) {
        if (pos >= stop) {
          this.push(null);
          return;
        }
        const want = Math.min(Math.max(size, 16 * 1024), 64 * 1024, stop - pos);
        const chunk = Buffer.allocUnsafe(want);
        let filled = 0;
        while (filled < want) {
          const at = pos + filled;
          if (at < header.length) {
            filled += header.copy(chunk, filled, at, Math.min(header.length, at + want - filled));
          } else {
            const off = (at - header.length) % period;
            const n = Math.min(want - filled, period);
            filled += pattern.copy(chunk, filled, off, off + n);
          }
        }
        pos += want;
        this.push(chunk);
      },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `task_` + 26 Crockford base32 characters: 10 of time, 16 random (ULID-like). */
function newTaskId(nowMs: number): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  let rand = '';
  for (const b of rnd) rand += CROCKFORD[b & 31]!;
  return `task_${time}${rand}`;
}

const sec = (ms: number): number => Math.floor(ms / 1000);
const money = (n: number): number => Math.round(n * 1e6) / 1e6;

const LANGS = ['en', 'zh', 'ko', 'ja'] as const;
type Lang = (typeof LANGS)[number];
const NOT_FOUND: Record<Lang, string> = {
  en: 'task not found: ',
  zh: '任务不存在: ',
  ko: '작업을 찾을 수 없습니다: ',
  ja: 'タスクが見つかりません: ',
};
const DEFAULT_FAIL: Record<Lang, string> = {
  en: 'The content violates the usage policy',
  zh: '内容违反使用政策',
  ko: '콘텐츠가 사용 정책을 위반합니다',
  ja: 'コンテンツが利用ポリシーに違反しています',
};

function langOf(value: string | null): Lang {
  return (LANGS as readonly string[]).includes(value ?? '') ? (value as Lang) : 'en';
}

function isHttpUrl(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function isVideoDataUrl(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const m = /^data:video\/[\w.+-]+;base64,/i.exec(s);
  if (!m) return false;
  const payload = s.slice(m[0].length);
  return payload.length > 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(payload);
}

function urlHost(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

function xmlError(code: string, message: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>\n`
  );
}

const XML_CODES: Record<number, [string, string]> = {
  400: ['InvalidRequest', 'Bad request'],
  401: ['AccessDenied', 'Unauthorized'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  410: ['Gone', 'The resource is no longer available.'],
  429: ['SlowDown', 'Please reduce your request rate.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  502: ['BadGateway', 'Bad gateway.'],
  503: ['SlowDown', 'Please reduce your request rate.'],
};

function waitDrainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

// ---------------------------------------------------------------------------------------------

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const host = options.host ?? '127.0.0.1';
  const jobSeconds = options.jobSeconds ?? 8;
  if (!(jobSeconds >= 0)) throw new RangeError('jobSeconds must be >= 0');
  const durationMs = Math.round(jobSeconds * 1000);
  const queueMs = Math.min(
    durationMs,
    Math.round((options.queueSeconds ?? Math.min(1, 0.15 * jobSeconds)) * 1000),
  );
  const estimatedSeconds = Math.max(1, Math.round(jobSeconds * (options.estimateFactor ?? 1)));
  const linkTtlSeconds = options.linkTtlSeconds ?? 86_400;
  const costPerJob = options.costPerJob ?? 1;
  const creditsPerJob = options.creditsPerJob ?? 10;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const onResponse = options.onResponse;
  const clock = options.now ?? Date.now;

  const assetsDir = findAssetsDir();
  const landscape = loadAsset(join(assetsDir, 'landscape.mp4'));
  const portrait = loadAsset(join(assetsDir, 'portrait.mp4'));
  const large =
    options.largeFileBytes !== undefined
      ? new LargeFile(options.largeFileBytes, ftypBox(landscape.bytes))
      : undefined;

  const secret = randomBytes(32);
  const sign = (taskId: string, expires: number): string =>
    createHmac('sha256', secret).update(`${taskId}.mp4\n${expires}`).digest('hex');

  const faults: Faults = { ...defaultFaults(), ...options.faults };
  const requests: RecordedRequest[] = [];
  const tasks = new Map<string, SandboxTask>();
  const stats = { submissions: 0, maxInFlight: 0 };
  const balance = {
    remain: options.balance ?? 100,
    used: 0,
    unlimited: options.unlimited ?? false,
  };
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let stopped = false;
  let fileBaseUrl = '';

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    t.unref();
    timers.add(t);
  };

  // ---- task state, computed from timestamps ----

  function statusAt(task: SandboxTask, now: number): { status: TaskStatus; progress: number } {
    const elapsed = now - task.createdMs;
    if (elapsed >= task.durationMs) {
      return { status: task.outcome, progress: task.outcome === 'completed' ? 100 : 99 };
    }
    if (elapsed < task.queueMs) return { status: 'pending', progress: 0 };
    const span = Math.max(1, task.durationMs - task.queueMs);
    const progress = Math.min(99, Math.max(0, Math.floor(((elapsed - task.queueMs) / span) * 100)));
    return { status: 'processing', progress };
  }

  function fileUrl(task: SandboxTask, now: number): { url: string; expires: number } {
    const completedSec = sec(task.createdMs + task.durationMs);
    const expires = faults.expireLinks ? sec(now) - 3600 : completedSec + linkTtlSeconds;
    const url = `${fileBaseUrl}/files/${task.id}.mp4?expires=${expires}&sig=${sign(task.id, expires)}`;
    return { url, expires };
  }

  function taskView(task: SandboxTask, now: number, lang: Lang): Record<string, unknown> {
    const { status, progress } = statusAt(task, now);
    const created = sec(task.createdMs);
    const data: Record<string, unknown> = { id: task.id, status, progress, created };
    if (status === 'completed') {
      const completed = sec(task.createdMs + task.durationMs);
      data.completed = completed;
      data.actual_time = completed - created;
    }
    data.estimated_time = task.estimatedSeconds;
    data.cost = task.cost;
    data.credits_cost = task.creditsCost;
    if (status === 'completed') {
      const { url, expires } = fileUrl(task, now);
      data.result = { videos: [{ url: faults.urlAsString ? url : [url], expires_at: expires }] };
    }
    if (status === 'failed') {
      const message =
        task.failMessage === DEFAULT_FAIL.en ? DEFAULT_FAIL[lang] : (task.failMessage ?? 'failed');
      data.error = { message, code: 'generation_failed' };
    }
    // A field clients do not know about, as the service adds fields without notice.
    data.model = SANDBOX_MODEL;
    return data;
  }

  function inFlight(now: number): number {
    let n = 0;
    for (const t of tasks.values()) if (t.createdMs + t.durationMs > now) n++;
    return n;
  }

  /** Uses up one request of a "next N requests" fault; true when this request gets it. */
  function takeFault(name: CountedFault, meta: Meta): boolean {
    if (faults[name] <= 0) return false;
    faults[name]--;
    meta.note = `fault ${name}`;
    return true;
  }

  // ---- response helpers ----

  interface Meta {
    start: number;
    server: 'api' | 'files';
    method: string;
    path: string;
    note?: string;
    outcome?: SandboxLogEntry['status'];
    logged: boolean;
  }

  function log(meta: Meta, status: SandboxLogEntry['status']): void {
    if (meta.logged || !onResponse) return;
    meta.logged = true;
    const entry: SandboxLogEntry = {
      server: meta.server,
      method: meta.method,
      path: meta.path,
      status,
      ms: Date.now() - meta.start,
    };
    if (meta.note !== undefined) entry.note = meta.note;
    try {
      onResponse(entry);
    } catch {
      // logging must never break the simulator
    }
  }

  function trackResponse(res: ServerResponse, meta: Meta): void {
    res.on('close', () => {
      log(meta, meta.outcome ?? (res.writableFinished ? res.statusCode : 'aborted'));
    });
  }

  function sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    sendRaw(res, status, 'application/json; charset=utf-8', JSON.stringify(body), headers);
  }

  function sendRaw(
    res: ServerResponse,
    status: number,
    contentType: string,
    text: string,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed) return;
    res.writeHead(status, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  const apiError = (message: string, type: string, code?: string) => ({
    error: code === undefined ? { message, type } : { message, type, code },
  });
  const invalid = (res: ServerResponse, message: string, code = 'invalid_parameter') =>
    sendJson(res, 400, apiError(message, 'invalid_request_error', code));

  function reset(req: IncomingMessage, meta: Meta): void {
    meta.outcome = 'reset';
    req.socket.destroy();
  }

  // ---- API server ----

  function bearer(req: IncomingMessage): string | undefined {
    const h = req.headers.authorization;
    if (typeof h !== 'string') return undefined;
    const m = /^Bearer\s+(.*)$/i.exec(h.trim());
    const key = m?.[1]?.trim();
    return key ? key : undefined;
  }

  function authorized(req: IncomingMessage): boolean {
    const key = bearer(req);
    if (key === undefined) return false;
    if (options.apiKey === undefined) return true;
    const a = Buffer.from(key);
    const b = Buffer.from(options.apiKey);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Reads the body up to maxBodyBytes; beyond that it is drained and discarded. */
  function readBody(req: IncomingMessage): Promise<{ text: string; tooLarge: boolean }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let tooLarge = Number(req.headers['content-length'] ?? 0) > maxBodyBytes;
      req.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBodyBytes) tooLarge = true;
        if (tooLarge) {
          chunks.length = 0;
          if (total > maxBodyBytes * 4) req.socket.destroy(); // not draining gigabytes
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve({ text: tooLarge ? '' : Buffer.concat(chunks).toString('utf8'), tooLarge }));
      req.on('error', reject);
      req.on('close', () => {
        if (!req.complete) reject(new Error('request aborted'));
      });
    });
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, meta: Meta): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';

    let body: { text: string; tooLarge: boolean };
    try {
      body = await readBody(req);
    } catch {
      meta.outcome = 'aborted';
      return;
    }
    const record: RecordedRequest = {
      server: 'api',
      method,
      path: req.url ?? '/',
      headers: { ...req.headers },
      at: Date.now(),
    };
    let parsed: unknown;
    let parses = false;
    if (body.text !== '') {
      try {
        parsed = JSON.parse(body.text);
        parses = true;
      } catch {
        parsed = body.text;
      }
      record.body = parsed;
    }
    requests.push(record);
    if (stopped) return;

    if (body.tooLarge) {
      sendJson(
        res,
        413,
        apiError(`Request body too large (limit ${maxBodyBytes} bytes)`, 'invalid_request_error', 'request_too_large'),
        { connection: 'close' },
      );
      return;
    }

    const taskMatch = /^\/v1\/tasks\/([^/]+)$/.exec(path);
    const known =
      path === '/v1/videos/generations' ||
      path === '/v1/balance' ||
      path === '/v1/user/balance' ||
      taskMatch !== null;
    if (!known) {
      sendJson(res, 404, apiError(`Not found: ${method} ${path}`, 'invalid_request_error', 'not_found'));
      return;
    }
    const wanted = path === '/v1/videos/generations' ? 'POST' : 'GET';
    if (method !== wanted) {
      sendJson(res, 405, apiError(`Method ${method} not allowed on ${path}`, 'invalid_request_error', 'method_not_allowed'), {
        allow: wanted,
      });
      return;
    }

    if (path === '/v1/videos/generations') return submit(req, res, meta, parsed, parses);
    if (taskMatch) return poll(req, res, meta, decodeURIComponent(taskMatch[1]!), url);
    return sendBalance(req, res, path === '/v1/user/balance');
  }

  function sendBalance(req: IncomingMessage, res: ServerResponse, user: boolean): void {
    if (!authorized(req)) {
      sendJson(res, 401, { success: false, message: 'Invalid API key' });
      return;
    }
    const factor = user ? 10 : 1;
    sendJson(res, 200, {
      success: true,
      remain_balance: balance.unlimited ? -1 : money(balance.remain * factor),
      used_balance: money(balance.used * factor),
      unlimited_quota: balance.unlimited,
    });
  }

  function validate(b: Record<string, unknown>): string | undefined {
    if (b.model === undefined) return `model: required, use "${SANDBOX_MODEL}"`;
    if (b.model !== SANDBOX_MODEL) return `model: unsupported model ${JSON.stringify(b.model)}, use "${SANDBOX_MODEL}"`;
    if (b.prompt !== undefined && typeof b.prompt !== 'string') return 'prompt: must be a string';
    for (const field of ['image_urls', 'video_urls'] as const) {
      const v = b[field];
      if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) {
        return `${field}: must be an array of strings`;
      }
    }
    const images = (b.image_urls as string[] | undefined) ?? [];
    const videos = (b.video_urls as string[] | undefined) ?? [];
    const prompt = typeof b.prompt === 'string' ? b.prompt.trim() : '';
    if (prompt === '' && images.length === 0 && videos.length === 0) {
      return 'prompt, image_urls or video_urls: at least one is required';
    }
    if (images.length > MAX_IMAGES) return `image_urls: at most ${MAX_IMAGES} images`;
    const badImage = images.findIndex((s) => !isHttpUrl(s));
    if (badImage >= 0) return `image_urls[${badImage}]: must be an http:// or https:// URL`;
    if (videos.length > MAX_VIDEOS) return `video_urls: at most ${MAX_VIDEOS} video`;
    const badVideo = videos.findIndex((s) => !isHttpUrl(s) && !isVideoDataUrl(s));
    if (badVideo >= 0) {
      return `video_urls[${badVideo}]: must be an http(s):// URL or a data:video/...;base64, URL`;
    }
    if (b.resolution !== undefined && b.resolution !== '720p') {
      return `resolution: ${JSON.stringify(b.resolution)} is not supported, only "720p"`;
    }
    if (b.extend_from_task_id !== undefined) {
      if (typeof b.extend_from_task_id !== 'string' || b.extend_from_task_id === '') {
        return 'extend_from_task_id: must be a task id';
      }
      if (!tasks.has(b.extend_from_task_id)) {
        return `extend_from_task_id: task not found: ${b.extend_from_task_id}`;
      }
    }
    return undefined;
  }

  function submit(
    req: IncomingMessage,
    res: ServerResponse,
    meta: Meta,
    body: unknown,
    parses: boolean,
  ): void {
    if (takeFault('submit429', meta)) {
      sendJson(res, 429, apiError('Rate limit exceeded, please retry later', 'rate_limit_error', 'rate_limit_exceeded'), {
        'retry-after': faults.retryAfter,
      });
      return;
    }
    if (takeFault('submit503', meta)) {
      sendJson(res, 503, apiError('Service temporarily unavailable, please retry later', 'server_error', 'service_unavailable'));
      return;
    }
    if (!authorized(req)) {
      sendJson(res, 401, apiError('Invalid API key', 'authentication_error', 'invalid_api_key'));
      return;
    }
    if (!parses) {
      invalid(res, 'Request body must be valid JSON', 'invalid_json');
      return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      invalid(res, 'Request body must be a JSON object', 'invalid_json');
      return;
    }
    const b = body as Record<string, unknown>;
    const problem = validate(b);
    if (problem !== undefined) {
      invalid(res, problem);
      return;
    }
    if (!balance.unlimited && balance.remain < costPerJob) {
      sendJson(
        res,
        402,
        apiError(
          `Insufficient balance: ${money(balance.remain)} left, this job costs ${costPerJob}. Top up your account.`,
          'insufficient_quota',
          'insufficient_balance',
        ),
      );
      return;
    }

    // Create the job.
    const now = clock();
    let outcome: TaskOutcome = 'completed';
    if (faults.failJobs > 0) {
      faults.failJobs--;
      outcome = 'failed';
    } else if (faults.cancelJobs > 0) {
      faults.cancelJobs--;
      outcome = 'cancelled';
    }
    const task: SandboxTask = {
      id: newTaskId(now),
      request: b,
      aspectRatio: b.aspect_ratio === '9:16' ? '9:16' : '16:9',
      createdMs: now,
      queueMs,
      durationMs,
      outcome,
      cost: costPerJob,
      creditsCost: creditsPerJob,
      estimatedSeconds,
    };
    if (outcome === 'failed') task.failMessage = faults.failMessage;
    if (typeof b.extend_from_task_id === 'string') task.extendFromTaskId = b.extend_from_task_id;
    tasks.set(task.id, task);
    stats.submissions++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight(now));
    if (!balance.unlimited) balance.remain = money(balance.remain - costPerJob);
    balance.used = money(balance.used + costPerJob);
    meta.note = `created ${task.id} (${task.aspectRatio}${outcome === 'completed' ? '' : `, will be ${outcome}`})`;

    if (faults.submitResetAfterCreate > 0) {
      faults.submitResetAfterCreate--;
      meta.note += ', fault submitResetAfterCreate';
      reset(req, meta);
      return;
    }
    const answer = () =>
      sendJson(res, 200, { code: 200, data: [{ status: 'submitted', task_id: task.id }] });
    if (faults.submitDelayMs > 0) later(faults.submitDelayMs, answer);
    else answer();
  }

  function poll(req: IncomingMessage, res: ServerResponse, meta: Meta, id: string, url: URL): void {
    if (takeFault('pollReset', meta)) {
      reset(req, meta);
      return;
    }
    if (takeFault('poll429', meta)) {
      sendJson(res, 429, apiError('Too many requests', 'rate_limit_error', 'rate_limit_exceeded'), {
        'retry-after': faults.retryAfter,
      });
      return;
    }
    if (takeFault('poll5xx', meta)) {
      sendJson(res, 502, { code: 502, message: 'Bad gateway: upstream service unavailable' });
      return;
    }
    if (takeFault('pollHtml', meta)) {
      sendRaw(
        res,
        502,
        'text/html',
        '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
      );
      return;
    }
    if (takeFault('pollMalformed', meta)) {
      sendRaw(res, 200, 'application/json; charset=utf-8', `{"code":200,"data":{"id":"${id}","status":"proc`);
      return;
    }
    if (takeFault('pollEmpty', meta)) {
      sendRaw(res, 200, 'application/json; charset=utf-8', '');
      return;
    }
    if (takeFault('pollBadShape', meta)) {
      sendJson(res, 200, { code: 200, data: { status: 3, progress: 'half' } });
      return;
    }
    if (!authorized(req)) {
      sendJson(res, 401, apiError('Invalid API key', 'authentication_error', 'invalid_api_key'));
      return;
    }
    const lang = langOf(url.searchParams.get('language'));
    const task = tasks.get(id);
    if (!task) {
      sendJson(res, 404, { code: 404, message: `${NOT_FOUND[lang]}${id}` });
      return;
    }
    const data = taskView(task, clock(), lang);
    meta.note = `${data.status} ${data.progress}%`;
    sendJson(res, 200, { code: 200, data });
  }

  // ---- file server ----

  async function handleFiles(req: IncomingMessage, res: ServerResponse, meta: Meta): Promise<void> {
    const method = req.method ?? 'GET';
    requests.push({
      server: 'files',
      method,
      path: req.url ?? '/',
      headers: { ...req.headers },
      at: Date.now(),
    });
    req.resume();
    const xml = (status: number, code?: string, message?: string, headers: Record<string, string> = {}) => {
      const [c, m] = XML_CODES[status] ?? ['Error', `HTTP ${status}`];
      const text = xmlError(code ?? c, message ?? m);
      if (method === 'HEAD') {
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), ...headers });
        res.end();
      } else {
        sendRaw(res, status, 'application/xml', text, headers);
      }
    };
    if (method !== 'GET' && method !== 'HEAD') {
      xml(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { allow: 'GET, HEAD' });
      return;
    }
    if (faults.downloadStatusCount > 0 && faults.downloadStatus > 0) {
      faults.downloadStatusCount--;
      meta.note = `fault downloadStatus ${faults.downloadStatus}`;
      xml(faults.downloadStatus);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://files.invalid');
    const m = /^\/files\/([^/]+)\.mp4$/.exec(url.pathname);
    const task = m ? tasks.get(decodeURIComponent(m[1]!)) : undefined;
    const expiresText = url.searchParams.get('expires') ?? '';
    const sig = url.searchParams.get('sig') ?? '';
    const expires = /^-?\d+$/.test(expiresText) ? Number(expiresText) : NaN;
    const now = clock();
    if (
      !task ||
      !Number.isFinite(expires) ||
      !/^[0-9a-f]{64}$/.test(sig) ||
      !timingSafeEqual(Buffer.from(sig, 'hex'), Buffer.from(sign(task.id, expires), 'hex')) ||
      statusAt(task, now).status !== 'completed'
    ) {
      xml(404);
      return;
    }
    if (faults.expireLinks || expires < sec(now)) {
      meta.note = 'expired link';
      xml(403, 'AccessDenied', 'Request has expired');
      return;
    }

    const asset = task.aspectRatio === '9:16' ? portrait.asset : landscape.asset;
    const size = large ? large.size : asset.size;
    const etag = large ? large.etag : asset.etag;
    const lastModified = new Date(sec(task.createdMs + task.durationMs) * 1000).toUTCString();
    const open = (start: number, end: number): Readable =>
      large ? large.stream(start, end) : createReadStream(asset.path, { start, end, highWaterMark: 16 * 1024 });

    const headers: Record<string, string | number> = {
      'content-type': 'video/mp4',
      etag,
      'last-modified': lastModified,
      'cache-control': 'private, max-age=86400',
    };
    if (!faults.downloadIgnoreRange) headers['accept-ranges'] = 'bytes';

    let status = 200;
    let start = 0;
    let end = size - 1;
    const range = req.headers.range;
    if (!faults.downloadIgnoreRange && typeof range === 'string' && size > 0) {
      const ifRange = req.headers['if-range'];
      let honour = true;
      if (typeof ifRange === 'string' && ifRange !== '') {
        if (ifRange.startsWith('"') || ifRange.startsWith('W/')) honour = ifRange === etag;
        else honour = Date.parse(ifRange) === Date.parse(lastModified);
      }
      const r = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (honour && r && (r[1] !== '' || r[2] !== '')) {
        let a: number;
        let b: number;
        if (r[1] === '') {
          const suffix = Number(r[2]);
          a = Math.max(0, size - suffix);
          b = suffix === 0 ? -1 : size - 1;
        } else {
          a = Number(r[1]);
          b = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
        }
        if (a >= size || b < a) {
          if (r[2] === '' || r[1] === '' || a >= size) {
            meta.note = `unsatisfiable ${range}`;
            xml(416, 'InvalidRange', 'The requested range is not satisfiable', { 'content-range': `bytes */${size}` });
            return;
          }
          // b < a with both given: a syntactically invalid range, ignored (RFC 9110 14.2).
        } else {
          status = 206;
          start = a;
          end = b;
          headers['content-range'] = `bytes ${a}-${b}/${size}`;
        }
      }
    }
    headers['content-length'] = end - start + 1;

    if (method === 'HEAD') {
      res.writeHead(status, headers);
      res.end();
      return;
    }

    let cutAfter: number | undefined;
    let stallAfter: number | undefined;
    if (faults.downloadCuts > 0) {
      faults.downloadCuts--;
      cutAfter = Math.max(0, faults.downloadCutAfterBytes);
      meta.note = `fault downloadCut after ${cutAfter} bytes`;
    } else if (faults.stallAfterBytes > 0) {
      stallAfter = faults.stallAfterBytes;
      faults.stallAfterBytes = 0;
      meta.note = `fault stall after ${stallAfter} bytes`;
    }

    res.writeHead(status, headers);
    const limit = cutAfter ?? stallAfter ?? Infinity;
    const source = open(start, end);
    let sent = 0;
    try {
      if (limit === 0) res.flushHeaders();
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (res.destroyed || stopped) break;
        let buf = chunk;
        if (sent + buf.length > limit) buf = buf.subarray(0, limit - sent);
        sent += buf.length;
        if (buf.length > 0 && !res.write(buf)) await waitDrainOrClose(res);
        if (sent >= limit) break;
      }
    } catch {
      // the file could not be read, or the client went away: drop the connection below
      if (!res.destroyed) {
        meta.outcome = 'reset';
        res.destroy();
      }
      return;
    } finally {
      source.destroy();
    }
    if (res.destroyed || stopped) return;
    if (cutAfter !== undefined && sent < end - start + 1) {
      meta.outcome = 'cut';
      // end (not destroy) so the bytes already written reach the client before the close
      res.socket?.end();
      later(2000, () => res.socket?.destroy());
      return;
    }
    if (stallAfter !== undefined && sent < end - start + 1) {
      meta.outcome = 'stalled';
      log(meta, 'stalled');
      return; // keep the socket open, send nothing more; stop() or the client ends it
    }
    res.end();
  }

  // ---- servers ----

  function makeServer(kind: 'api' | 'files'): Server {
    const server = createServer((req, res) => {
      const meta: Meta = {
        start: Date.now(),
        server: kind,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        logged: false,
      };
      trackResponse(res, meta);
      const handler = kind === 'api' ? handleApi : handleFiles;
      handler(req, res, meta).catch(() => {
        if (!res.headersSent && !res.destroyed) {
          sendJson(res, 500, apiError('Internal sandbox error', 'server_error'));
        } else {
          res.destroy();
        }
      });
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      if (stopped) socket.destroy();
    });
    server.on('clientError', (_err, socket) => {
      socket.destroy();
    });
    return server;
  }

  const listen = (server: Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });

  const apiServer = makeServer('api');
  const fileServer = makeServer('files');
  let apiPort: number;
  let filePort: number;
  try {
    apiPort = await listen(apiServer, options.port ?? 0);
    filePort = await listen(fileServer, options.filePort ?? 0);
  } catch (err) {
    apiServer.close();
    fileServer.close();
    throw err;
  }
  fileBaseUrl = `http://${urlHost(host, filePort)}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopped = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    const closed = Promise.all(
      [apiServer, fileServer].map(
        (server) => new Promise<void>((resolve) => server.close(() => resolve())),
      ),
    ).then(() => undefined);
    for (const socket of sockets) socket.destroy();
    apiServer.closeAllConnections();
    fileServer.closeAllConnections();
    stopping = closed;
    return stopping;
  };

  return {
    baseUrl: `http://${urlHost(host, apiPort)}/v1`,
    fileBaseUrl,
    port: apiPort,
    filePort,
    requests,
    faults,
    tasks,
    stats,
    balance,
    submissions: () =>
      requests.filter(
        (r) => r.server === 'api' && r.method === 'POST' && r.path.split('?')[0]!.replace(/\/+$/, '') === '/v1/videos/generations',
      ),
    statusOf: (taskId) => {
      const task = tasks.get(taskId);
      return task ? statusAt(task, clock()).status : undefined;
    },
    stop,
  };
}
