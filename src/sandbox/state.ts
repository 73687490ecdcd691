/**
 * What the parts of a running sandbox share: the settings fixed when it starts, the fault
 * switches (live: tests change them between calls), and everything it has received and created.
 */
import type { Faults } from './options.js';
import type { SandboxLogEntry } from './respond.js';
import type { SandboxTask } from './tasks.js';

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

/** The options of startSandbox with their defaults applied. */
export interface SandboxSettings {
  /** Time from creation to the outcome, for every job. */
  durationMs: number;
  /** Time spent pending. */
  queueMs: number;
  /** estimated_time reported for every job, in seconds. */
  estimatedSeconds: number;
  linkTtlSeconds: number;
  costPerJob: number;
  creditsPerJob: number;
  maxBodyBytes: number;
  /** The only key accepted; any non-empty key when undefined. */
  apiKey: string | undefined;
  /** The pace of every download; as fast as possible when undefined. */
  downloadBytesPerSecond: number | undefined;
}

export interface SandboxState {
  readonly settings: SandboxSettings;
  readonly faults: Faults;
  readonly tasks: Map<string, SandboxTask>;
  readonly requests: RecordedRequest[];
  readonly stats: { submissions: number; maxInFlight: number };
  /** Current balance of the key (the user/account balance is reported ×10). */
  readonly balance: { remain: number; used: number; unlimited: boolean };
  /** The jobs' clock (ms since the epoch). */
  readonly clock: () => number;
  /** Key of the HMAC that signs result links. */
  readonly linkSecret: Buffer;
  /** `http://127.0.0.1:${filePort}`, set once the file server listens. */
  fileBaseUrl: string;
  readonly onResponse: ((entry: SandboxLogEntry) => void) | undefined;
  /** True once stop() was called. */
  isStopped(): boolean;
  /** Runs fn after ms, unless the sandbox stops first (the timer never keeps the process alive). */
  later(ms: number, fn: () => void): void;
}
