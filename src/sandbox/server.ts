/**
 * A local simulator of APIMart's Gemini Omni Flash video API (see api-reference.md), built on
 * node:http only. Two servers: the API (`/v1/...`, routes.ts) and a separate file server (a
 * separate origin, like the CDN of the real service, files.ts) that serves signed, expiring links
 * to real mp4 files. This module starts and stops them; tasks.ts is the task life cycle,
 * faults.ts the fault switches.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { handleFiles } from './files.js';
import { loadMedia } from './media.js';
import { defaultFaults, type Faults, type ServerOptions } from './options.js';
import { apiError, beginExchange, sendJson, type SandboxLogEntry } from './respond.js';
import { handleApi } from './routes.js';
import type { RecordedRequest, SandboxState } from './state.js';
import { statusAt, type SandboxTask, type TaskStatus } from './tasks.js';

export type { Faults, ServerOptions } from './options.js';
export type { SandboxLogEntry } from './respond.js';
export type { RecordedRequest } from './state.js';
export type { SandboxTask, TaskOutcome, TaskStatus } from './tasks.js';

/** The options of `omni-video sandbox` (ServerOptions), and what only a program can give. */
export interface SandboxOptions extends ServerOptions {
  /** Reported estimated_time = max(1, round(jobSeconds * factor)); default 1. */
  estimateFactor?: number;
  /** Cost charged per created job; default 1.0. */
  costPerJob?: number;
  /** Credits reported per job; default 10. */
  creditsPerJob?: number;
  /** Request bodies above this many bytes get 413; default 64 MB. */
  maxBodyBytes?: number;
  /** Initial fault switches (all off by default); `sandbox.faults` stays live and mutable. */
  faults?: Partial<Faults>;
  /** Called once per request when it ends (answered, reset, cut or stalled): for logging. */
  onResponse?: (entry: SandboxLogEntry) => void;
  /** The jobs' clock (ms since the epoch); default Date.now. Tests pin it to read a status at an exact age. */
  now?: () => number;
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

const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

function urlHost(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const host = options.host ?? '127.0.0.1';
  const jobSeconds = options.jobSeconds ?? 8;
  if (!(jobSeconds >= 0)) throw new RangeError('jobSeconds must be >= 0');
  const durationMs = Math.round(jobSeconds * 1000);
  const media = loadMedia(options.largeFileBytes);

  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let stopped = false;
  const state: SandboxState = {
    settings: {
      durationMs,
      queueMs: Math.min(durationMs, Math.round((options.queueSeconds ?? Math.min(1, 0.15 * jobSeconds)) * 1000)),
      estimatedSeconds: Math.max(1, Math.round(jobSeconds * (options.estimateFactor ?? 1))),
      linkTtlSeconds: options.linkTtlSeconds ?? 86_400,
      costPerJob: options.costPerJob ?? 1,
      creditsPerJob: options.creditsPerJob ?? 10,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      apiKey: options.apiKey,
      downloadBytesPerSecond: options.downloadBytesPerSecond,
    },
    faults: { ...defaultFaults(), ...options.faults },
    tasks: new Map(),
    requests: [],
    stats: { submissions: 0, maxInFlight: 0 },
    balance: { remain: options.balance ?? 100, used: 0, unlimited: options.unlimited ?? false },
    clock: options.now ?? Date.now,
    linkSecret: randomBytes(32),
    fileBaseUrl: '',
    onResponse: options.onResponse,
    isStopped: () => stopped,
    later(ms, fn) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) fn();
      }, ms);
      t.unref();
      timers.add(t);
    },
  };

  function makeServer(kind: 'api' | 'files'): Server {
    const server = createServer((req, res) => {
      const exchange = beginExchange(state, kind, req, res);
      const handled = kind === 'api' ? handleApi(state, req, res, exchange) : handleFiles(state, media, req, res, exchange);
      handled.catch(() => {
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, apiError('Internal sandbox error', 'server_error'));
        else res.destroy();
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
  state.fileBaseUrl = `http://${urlHost(host, filePort)}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopped = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    stopping = Promise.all([apiServer, fileServer].map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined);
    for (const socket of sockets) socket.destroy();
    apiServer.closeAllConnections();
    fileServer.closeAllConnections();
    return stopping;
  };

  return {
    baseUrl: `http://${urlHost(host, apiPort)}/v1`,
    fileBaseUrl: state.fileBaseUrl,
    port: apiPort,
    filePort,
    requests: state.requests,
    faults: state.faults,
    tasks: state.tasks,
    stats: state.stats,
    balance: state.balance,
    submissions: () =>
      state.requests.filter((r) => r.server === 'api' && r.method === 'POST' && r.path.split('?')[0]!.replace(/\/+$/, '') === '/v1/videos/generations'),
    statusOf: (taskId) => {
      const task = state.tasks.get(taskId);
      return task ? statusAt(task, state.clock()).status : undefined;
    },
    stop,
  };
}
