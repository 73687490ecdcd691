import { InvalidRequestError, ConfigurationError } from '../api/errors.js';
import { TASK_ID_PATTERN } from '../api/schemas.js';
import type { ClientOptions, OmniVideoClient } from '../api/client.js';
import type { Context } from '../context.js';
import { colorsFor } from '../io/colors.js';
import { formatJson } from '../io/json.js';
import { noteAboveLiveLines } from '../io/progress.js';
import { ConfigSchema, readConfig, resolveApiKey, type Config, type KeySource } from '../store/config.js';
import { findLastJob, type Job } from '../store/history.js';
import * as z from 'zod/mini';
import { MIN_POLL_INTERVAL_SECONDS, MIN_TIMEOUT_SECONDS, secondsForms, secondsSchema } from '../values.js';

/** Options every command accepts (commander's globals); a key and a base URL follow the config store's rules. */
const GlobalOptionsSchema = z.object({
  apiKey: ConfigSchema.shape['api-key'],
  baseUrl: ConfigSchema.shape['base-url'],
  json: z.optional(z.boolean()),
  quiet: z.optional(z.boolean()),
  verbose: z.optional(z.boolean()),
});
export type GlobalOptions = z.output<typeof GlobalOptionsSchema>;

/** commander's globals checked, the first problem a usage error (`--base-url: use an http(s) URL …`). */
export function parseGlobals(raw: unknown): GlobalOptions {
  return parseOptions(GlobalOptionsSchema, raw);
}

export interface Settings {
  config: Config;
  apiKey: string | undefined;
  keySource: KeySource | undefined;
  baseUrl: string | undefined;
}

export async function loadSettings(ctx: Context, globals: GlobalOptions): Promise<Settings> {
  const config = await readConfig(ctx.configDir);
  const resolved = resolveApiKey(globals.apiKey, ctx.env, config);
  return {
    config,
    apiKey: resolved?.key,
    keySource: resolved?.source,
    baseUrl: globals.baseUrl ?? ctx.env.OMNI_VIDEO_BASE_URL ?? config['base-url'],
  };
}

/** Prints a line to stderr with --verbose, the key replaced wherever it might appear. */
function verboseLogger(ctx: Context, globals: GlobalOptions, apiKey: string | undefined): ((line: string) => void) | undefined {
  if (!globals.verbose) return undefined;
  const colors = colorsFor(ctx.io);
  return (line) => {
    const safe = apiKey ? line.split(apiKey).join('***') : line;
    ctx.io.stderr.write(`${colors.dim(safe)}\n`);
  };
}

/**
 * One stderr line per retry wait, on a terminal (above the live line) and in a CI log alike, so
 * a slow answer is never silent. Not with -q; --verbose traces each retry itself.
 */
function retryNotice(ctx: Context, globals: GlobalOptions): ClientOptions['onRetry'] {
  if (globals.quiet || globals.verbose) return undefined;
  const colors = colorsFor(ctx.io);
  return ({ error, attempt, delayMs }) =>
    noteAboveLiveLines(ctx.io, `${colors.yellow('!')} ${(error as Error).message}; trying again in ${(delayMs / 1000).toFixed(1)} s (retry ${attempt})`);
}

export async function createApiClient(
  ctx: Context,
  globals: GlobalOptions,
  settings?: Settings,
  extra: Pick<ClientOptions, 'onRetry'> = {},
): Promise<{ client: OmniVideoClient; settings: Settings }> {
  const resolved = settings ?? (await loadSettings(ctx, globals));
  const notice = retryNotice(ctx, globals);
  if (!resolved.apiKey) {
    throw new ConfigurationError('No API key found.', {
      hint: 'Run `omni-video config set api-key` (reads it from stdin), or set OMNI_VIDEO_API_KEY.',
    });
  }
  // Node refuses such a header before connecting; caught here, it is not mistaken for a request that may have been charged.
  if (/[^\t\x20-\x7e\x80-\xff]/.test(resolved.apiKey)) {
    throw new ConfigurationError(`The API key from ${resolved.keySource === 'config' ? 'the config store' : resolved.keySource} contains a control character (a line break or carriage return?), which cannot be sent.`, {
      hint: 'Set it again without it (a key file saved with Windows line endings ends in one): omni-video config set api-key, or OMNI_VIDEO_API_KEY.',
    });
  }
  const client = await ctx.createClient({
    apiKey: resolved.apiKey,
    baseUrl: resolved.baseUrl,
    clock: ctx.clock,
    env: ctx.env,
    log: verboseLogger(ctx, globals, resolved.apiKey),
    onRetry: (event) => {
      notice?.(event);
      extra.onRetry?.(event);
    },
  });
  return { client, settings: resolved };
}

/**
 * All of stdin as text; refuses to wait on a terminal, where nobody is typing into a pipe, with
 * `instead`: what to run instead, a command that works.
 */
export async function readStdinText(ctx: Context, what: string, instead: string): Promise<string> {
  if (ctx.io.stdinIsTTY) {
    throw new InvalidRequestError(`Expected ${what} on stdin, but stdin is a terminal.`, { hint: instead });
  }
  // Ctrl-C or SIGTERM stops the read: a pipe that stays open and silent must not hold the command.
  const { signal } = ctx;
  if (signal?.aborted) throw signal.reason;
  const stop = () => ctx.io.stdin.destroy();
  signal?.addEventListener('abort', stop, { once: true });
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of ctx.io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  if (signal?.aborted) throw signal.reason;
  return Buffer.concat(chunks).toString('utf8');
}


/** Task ids become file names, so only plain ids are accepted (no path can be smuggled in). */
function checkTaskId(id: string): string {
  if (!TASK_ID_PATTERN.test(id)) {
    throw new InvalidRequestError(`'${id}' is not a task id.`, { hint: 'Task ids look like task_01KS1H7ZYSJWH1N779S2FSHTKA; omni-video jobs lists yours.' });
  }
  return id;
}

/** The base URL requests go to, spelled as the client spells it (and as the job history records it). */
export async function baseUrlInUse(ctx: Context, settings: Settings): Promise<string> {
  return (await ctx.createClient({ baseUrl: settings.baseUrl, env: ctx.env })).baseUrl;
}

/**
 * The newest job of this machine sent to the service at `baseUrl`: a job sent to the sandbox is
 * never `last` for the real API, nor the other way round.
 */
export async function findLast(ctx: Context, baseUrl: string): Promise<Job & { task_id: string }> {
  const warn = (message: string) => ctx.io.stderr.write(`! ${message}\n`);
  const job = await findLastJob(ctx.configDir, baseUrl, warn);
  if (job?.task_id) return job as Job & { task_id: string };
  const elsewhere = await findLastJob(ctx.configDir, undefined, () => undefined);
  if (!elsewhere?.task_id) throw new InvalidRequestError('No job in the local history yet, so there is no `last`.', { hint: 'Submit one with: omni-video generate "a red apple on a table"' });
  throw new InvalidRequestError(`No job in the local history was sent to ${baseUrl}, so there is no \`last\` there.`, {
    hint: elsewhere.base_url
      ? `The newest job, ${elsewhere.task_id}, went to ${elsewhere.base_url}: name its task id, or use that --base-url.`
      : `The newest job, ${elsewhere.task_id}, has no base URL recorded: name its task id.`,
  });
}

/**
 * `last` (the newest job of this machine for the base URL in use), `-` (ids from stdin), or ids
 * as given. The base URL is asked for only when `last` needs it.
 */
export async function resolveTaskIds(ctx: Context, args: string[], options: { single?: boolean; baseUrl: () => Promise<string> }): Promise<string[]> {
  const ids: string[] = [];
  for (const arg of args) {
    if (arg === '-') {
      ids.push(
        ...idsFromText(await readStdinText(ctx, 'task ids', 'Name the task ids, or pipe them in: omni-video generate "a lighthouse at dusk" --no-wait | omni-video status -')),
      );
    } else if (arg === 'last') {
      ids.push((await findLast(ctx, await options.baseUrl())).task_id);
    } else {
      ids.push(arg);
    }
  }
  if (ids.length === 0) throw new InvalidRequestError('No task id given.', { hint: 'Pass a task id, `last`, or `-` to read ids from stdin.' });
  if (options.single && ids.length > 1) throw new InvalidRequestError(`Expected one task id, got ${ids.length}.`);
  return ids.map(checkTaskId);
}

/**
 * Task ids from what another command printed: plain ids (one per line or word), or its --json
 * output — one document (even pretty-printed), an array, or JSON Lines — taking each `task_id`.
 */
function idsFromText(text: string): string[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return trimmed.split(/\s+/).filter(Boolean);
  let documents: unknown[];
  try {
    documents = [JSON.parse(trimmed)];
  } catch {
    try {
      documents = trimmed.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as unknown);
    } catch {
      throw new InvalidRequestError('stdin holds neither task ids nor JSON with a task_id.', { hint: 'Pipe task ids, one per line, or the --json output of omni-video.' });
    }
  }
  const ids = documents
    .flat()
    .map((value) => (value && typeof value === 'object' ? (value as { task_id?: unknown }).task_id : undefined))
    .filter((id): id is string => typeof id === 'string');
  if (ids.length === 0) throw new InvalidRequestError('The JSON on stdin has no task_id.', { hint: 'A job that was never submitted has none; omni-video jobs shows them.' });
  return ids;
}

/** Validates raw options with a zod schema; the first problem becomes a usage error. */
export function parseOptions<S extends z.ZodMiniType>(schema: S, raw: unknown): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const message = issue?.message ?? 'invalid options';
    const flag = issue?.path[0] !== undefined ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : undefined;
    // A refusal a schema words itself (a custom issue, `--limit takes a whole number`, `Unsupported
    // aspect ratio '4:3'`) is said as worded, with its hint; zod's own messages name no flag.
    const own = issue?.code === 'custom';
    const hint = own ? (issue.params as { hint?: string } | undefined)?.hint : undefined;
    throw new InvalidRequestError(flag === undefined || own || message.startsWith(flag) ? message : `${flag}: ${message}`, { hint });
  }
  return result.data;
}

/**
 * The one way a command prints JSON on stdout: indented and coloured on a terminal, one compact
 * line per document on a pipe; `lines` (batch, status of several ids or of `-`) is always one line
 * per document. Colour follows the streams' decision (off for NO_COLOR, --no-color, a pipe).
 */
export function writeJson(ctx: Context, value: unknown, lines = false): void {
  ctx.io.stdout.write(`${formatJson(value, { terminal: ctx.io.stdoutIsTTY, color: ctx.io.stdoutIsTTY && ctx.io.color, lines })}\n`);
}

const DEFAULT_TIMEOUT_SECONDS = 900;
/** A flag that takes a number of seconds, at least `min`, in the forms the config store takes too. */
function secondsFlag(flag: string, min: number) {
  return secondsSchema(min, `${flag} takes ${secondsForms(min)}`);
}

export const timeoutFlag = secondsFlag('--timeout', MIN_TIMEOUT_SECONDS);
export const pollIntervalFlag = secondsFlag('--poll-interval', MIN_POLL_INTERVAL_SECONDS);

/** How long to wait and how often to look: the flag, else the config, else the defaults. */
export function waitLimits(flags: { timeout?: number | undefined; pollInterval?: number | undefined }, config: Config): { timeoutMs: number; pollIntervalMs: number | undefined } {
  const pollInterval = flags.pollInterval ?? config['poll-interval'];
  return {
    timeoutMs: (flags.timeout ?? config.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    pollIntervalMs: pollInterval === undefined ? undefined : pollInterval * 1000,
  };
}

/** A word a POSIX shell reads back as itself: as it is when plain, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What the user chose that a command telling them what to run next must keep. */
export interface ResumeChoices {
  output?: string | undefined;
  force?: boolean | undefined;
  /** Only when given as a flag: the environment and the config still hold for the next run. */
  baseUrl?: string | undefined;
}

/** `omni-video status <id…> --wait [--base-url url]`, ready to paste: waits, and prints the links. */
export function statusWaitCommand(taskIds: string[], baseUrl: string | undefined): string {
  const words = ['omni-video', 'status', ...taskIds, '--wait', ...(baseUrl ? ['--base-url', baseUrl] : [])];
  return words.map(shellQuote).join(' ');
}

/** `omni-video download <id> [--wait] [-o path] [--force] [--base-url url]`, ready to paste. */
export function downloadCommand(taskId: string, choices: ResumeChoices, wait: boolean): string {
  const words = ['omni-video', 'download', taskId];
  if (wait) words.push('--wait');
  if (choices.output) words.push('-o', choices.output);
  if (choices.force) words.push('--force');
  if (choices.baseUrl) words.push('--base-url', choices.baseUrl);
  return words.map(shellQuote).join(' ');
}
