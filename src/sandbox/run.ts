/**
 * `omni-video sandbox`: runs the simulator until the signal aborts. stdout gets exactly one line,
 * the base URL (so scripts can read it); everything for people goes to stderr: a banner saying
 * what is simulated (unless --quiet), and with --verbose one line per request. Without --verbose
 * the sandbox is silent after its banner, so it can run in the background of the terminal a
 * client draws its progress in.
 */
import type { Writable } from 'node:stream';
import type * as z from 'zod/mini';
import { InvalidRequestError } from '../api/errors.js';
import { faultFlags, flagName, serverFlags, type SandboxFlag, type SandboxFlagValues } from './flags.js';
import { defaultFaults, faultsSchema, serverOptionsSchema, type Faults, type ServerOptions } from './options.js';
import { startSandbox, type SandboxLogEntry, type SandboxOptions } from './server.js';

/** A bad option value: nothing was started (the CLI maps it to exit code 2). */
export class SandboxUsageError extends InvalidRequestError {}

export interface SandboxOutput {
  /** Log every request on stderr. */
  verbose?: boolean | undefined;
  /** No banner: only the base URL, on stdout. */
  quiet?: boolean | undefined;
}

function parseGroup<S extends z.ZodMiniType>(schema: S, table: Record<string, SandboxFlag>, given: Record<string, string | boolean | undefined>): z.infer<S> {
  const result = schema.safeParse(given);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = String(issue.path[0]);
  const flag = table[key];
  throw new SandboxUsageError(`${flag ? flagName(flag) : key} ${issue.message}, got ${JSON.stringify(given[key])}`);
}

/**
 * The switches that modify another act on their own as a user would expect: --download-cut-after
 * cuts the next download, --fail-message fails the next job, --download-status answers one
 * request. The modifiers that cannot act alone are refused.
 */
function implied(given: SandboxFlagValues['faults'], faults: Faults): Faults {
  const out = { ...faults };
  if (given.downloadCutAfterBytes !== undefined && given.downloadCuts === undefined) out.downloadCuts = 1;
  if (given.failMessage !== undefined && given.failJobs === undefined) out.failJobs = 1;
  if (given.downloadStatus !== undefined && given.downloadStatusCount === undefined) out.downloadStatusCount = 1;
  if (given.downloadStatusCount !== undefined && given.downloadStatus === undefined) {
    throw new SandboxUsageError('--download-status-count says how many requests get --download-status: give --download-status too');
  }
  if (given.retryAfter !== undefined && given.submit429 === undefined && given.poll429 === undefined) {
    throw new SandboxUsageError('--retry-after is the Retry-After of 429 answers: give --submit-429 or --poll-429 too');
  }
  return out;
}

/** Validates the flags into startSandbox's options; the faults given (or implied), for the banner. */
export function sandboxOptionsFrom(values: SandboxFlagValues): { options: ServerOptions & { faults: Faults }; faultsInForce: string[] } {
  const server = parseGroup(serverOptionsSchema, serverFlags, values.server);
  const faults = implied(values.faults, parseGroup(faultsSchema, faultFlags, values.faults));
  const defaults = defaultFaults();
  const faultsInForce = (Object.keys(faultFlags) as (keyof Faults)[])
    .filter((key) => values.faults[key] !== undefined || faults[key] !== defaults[key])
    .map((key) => (typeof faults[key] === 'boolean' ? flagName(faultFlags[key]) : `${flagName(faultFlags[key])} ${JSON.stringify(faults[key]).replace(/^"(\S+)"$/, '$1')}`));
  return { options: { ...server, faults }, faultsInForce };
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

const MIB = 1024 * 1024;

/** The settings a user chose that change what clients see, in words. */
function settingsInWords(o: ServerOptions): string[] {
  const words = [`jobs take ${o.jobSeconds ?? 8} s${o.queueSeconds !== undefined ? ` (${o.queueSeconds} s pending)` : ''}`];
  words.push(o.apiKey !== undefined ? 'only the --require-key key is accepted' : 'any non-empty API key is accepted');
  words.push(o.unlimited ? 'the balance is unlimited' : `the balance is ${o.balance ?? 100} (1 a job)`);
  if (o.linkTtlSeconds !== undefined) words.push(`result links expire ${o.linkTtlSeconds} s after a job completes`);
  if (o.largeFileBytes !== undefined) words.push(`every video is a generated file of ${o.largeFileBytes} bytes`);
  if (o.downloadBytesPerSecond !== undefined) {
    const rate = o.downloadBytesPerSecond;
    words.push(`downloads are sent at ${rate >= MIB ? `${(rate / MIB).toFixed(1)} MiB/s` : `${rate} bytes/s`}`);
  }
  return words;
}

export async function runSandbox(values: SandboxFlagValues, io: { stdout: Writable; stderr: Writable }, signal: AbortSignal, output: SandboxOutput = {}): Promise<void> {
  const { options: parsed, faultsInForce } = sandboxOptionsFrom(values);
  const options: SandboxOptions = { ...parsed };
  if (output.verbose) options.onResponse = (entry) => io.stderr.write(`${formatLogLine(entry)}\n`);

  if (signal.aborted) return;
  let sandbox;
  try {
    sandbox = await startSandbox(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      throw new SandboxUsageError(`port already in use (${e.message}); choose another with --port, or omit it to use any free port`);
    }
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
      throw new SandboxUsageError(`cannot listen (${e.message}); check --host and --port`);
    }
    throw err;
  }

  const keyHint = parsed.apiKey !== undefined ? '<the key given to --require-key>' : 'sk-test';
  io.stdout.write(`${sandbox.baseUrl}\n`);
  if (!output.quiet) {
    io.stderr.write(
      [
        `omni-video sandbox: simulated API at ${sandbox.baseUrl} (videos served from ${sandbox.fileBaseUrl})`,
        `Settings: ${settingsInWords(parsed).join('; ')}; no credits are spent.`,
        ...(faultsInForce.length ? [`Simulated faults: ${faultsInForce.join(', ')}`] : []),
        output.verbose ? 'Requests are logged below.' : 'Requests are not logged (add --verbose to log them).',
        'Try it:',
        `  OMNI_VIDEO_BASE_URL=${sandbox.baseUrl} OMNI_VIDEO_API_KEY=${keyHint} omni-video generate "a red fox running through snow"`,
        'Stop it with Ctrl-C (or kill %1 if you started it with & in this shell).',
        '',
      ].join('\n'),
    );
  }

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await sandbox.stop();
  if (!output.quiet) io.stderr.write('omni-video sandbox: stopped\n');
}
