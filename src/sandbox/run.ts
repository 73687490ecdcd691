/**
 * `omni-video sandbox`: runs the simulator until the signal aborts. stdout gets exactly one line,
 * the base URL (so `BASE=$(omni-video sandbox &)`-style scripts can read it); everything for
 * people goes to stderr.
 */
import type { Writable } from 'node:stream';
import { InvalidRequestError } from '../api/errors.js';
import { sandboxFlags } from './flags.js';
import { startSandbox, type Faults, type SandboxLogEntry, type SandboxOptions } from './server.js';

export interface SandboxRunOptions extends Partial<Faults> {
  port?: number;
  host?: string;
  filePort?: number;
  jobSeconds?: number;
  queueSeconds?: number;
  /** Accept only this key (flag --require-key; --api-key is the CLI's global option). */
  apiKey?: string;
  balance?: number;
  unlimited?: boolean;
  linkTtlSeconds?: number;
  largeFileBytes?: number;
}

/** A bad option value: nothing was started (the CLI maps it to exit code 2). */
export class SandboxUsageError extends InvalidRequestError {}

const SERVER_KEYS = [
  'port',
  'host',
  'filePort',
  'jobSeconds',
  'queueSeconds',
  'apiKey',
  'balance',
  'unlimited',
  'linkTtlSeconds',
  'largeFileBytes',
] as const;

/** Checks and normalises the options (numbers given as strings are accepted). */
export function normaliseSandboxOptions(opts: SandboxRunOptions): SandboxRunOptions {
  const out: Record<string, unknown> = {};
  for (const flag of sandboxFlags) {
    let value = (opts as Record<string, unknown>)[flag.key];
    if (value === undefined) continue;
    const name = flag.flags.split(' ')[0];
    if (flag.parse === 'integer' || flag.parse === 'number') {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (flag.parse === 'integer' && !Number.isInteger(n))) {
        throw new SandboxUsageError(
          `${name} must be a ${flag.parse === 'integer' ? 'whole number' : 'number'} >= 0, got ${JSON.stringify(value)}`,
        );
      }
      value = n;
    } else if (flag.parse === 'boolean') {
      value = value === true || value === 'true';
    } else {
      value = String(value);
    }
    out[flag.key] = value;
  }
  for (const key of ['port', 'filePort'] as const) {
    const p = out[key] as number | undefined;
    if (p !== undefined && p > 65535) throw new SandboxUsageError(`--${key === 'port' ? 'port' : 'file-port'} must be 0-65535, got ${p}`);
  }
  const status = out.downloadStatus as number | undefined;
  if (status !== undefined && (status < 100 || status > 599)) {
    throw new SandboxUsageError(`--download-status must be an HTTP status (100-599), got ${status}`);
  }
  if (status !== undefined && out.downloadStatusCount === undefined) out.downloadStatusCount = 1;
  if (out.apiKey === '') throw new SandboxUsageError('--require-key must not be empty');
  return out as SandboxRunOptions;
}

function clock(): string {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function formatLogLine(e: SandboxLogEntry): string {
  const path = e.path.split('?')[0]; // file links carry a signature: keep the log short
  const status = typeof e.status === 'number' ? String(e.status) : e.status.toUpperCase();
  return `${clock()} ${e.server === 'api' ? 'api  ' : 'files'} ${e.method} ${path} ${status} ${e.ms}ms${e.note ? `  ${e.note}` : ''}`;
}

export async function runSandbox(
  opts: SandboxRunOptions,
  io: { stdout: Writable; stderr: Writable },
  signal: AbortSignal,
): Promise<void> {
  const o = normaliseSandboxOptions(opts);
  const options: SandboxOptions = {
    onResponse: (entry) => {
      io.stderr.write(`${formatLogLine(entry)}\n`);
    },
  };
  for (const key of SERVER_KEYS) {
    if (o[key] !== undefined) (options as Record<string, unknown>)[key] = o[key];
  }
  const faults: Partial<Faults> = {};
  const faultNames: string[] = [];
  for (const flag of sandboxFlags) {
    if (flag.group !== 'fault') continue;
    const value = (o as Record<string, unknown>)[flag.key];
    if (value === undefined) continue;
    (faults as Record<string, unknown>)[flag.key] = value;
    faultNames.push(flag.parse === 'boolean' ? flag.flags : `${flag.flags.split(' ')[0]} ${String(value)}`);
  }
  options.faults = faults;

  if (signal.aborted) return;
  let sandbox;
  try {
    sandbox = await startSandbox(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      throw new SandboxUsageError(`port already in use (${e.message}); choose another with --port, or omit it to use any free port`);
    }
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES') {
      throw new SandboxUsageError(`cannot listen (${e.message}); check --host and --port`);
    }
    throw err;
  }

  const jobSeconds = o.jobSeconds ?? 8;
  const keyHint = o.apiKey !== undefined ? '<the key given to --require-key>' : 'sk-test';
  io.stdout.write(`${sandbox.baseUrl}\n`);
  io.stderr.write(
    [
      `omni-video sandbox: simulated API at ${sandbox.baseUrl} (videos served from ${sandbox.fileBaseUrl})`,
      `Jobs take ${jobSeconds} s; ${o.apiKey !== undefined ? 'only the --require-key key is accepted' : 'any non-empty API key is accepted'}; no credits are spent.`,
      ...(faultNames.length ? [`Simulated faults: ${faultNames.join(', ')}`] : []),
      'Try it in another terminal:',
      `  OMNI_VIDEO_BASE_URL=${sandbox.baseUrl} OMNI_VIDEO_API_KEY=${keyHint} omni-video generate "a red fox running through snow"`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await sandbox.stop();
  io.stderr.write('omni-video sandbox: stopped\n');
}
