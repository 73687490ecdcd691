import { chmodSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Conf from 'conf';
import * as z from 'zod/mini';
import { ConfigurationError, InvalidRequestError } from '../api/errors.js';
import { aspectRatioSchema, MIN_POLL_INTERVAL_SECONDS, MIN_TIMEOUT_SECONDS, secondsForms, secondsSchema } from '../values.js';

export const CONFIG_FILE = 'config.json';

/** `~` and `~/…` as the shell would expand them, for a directory typed in quotes. */
function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/**
 * Every key `config set` accepts, with the rule its value must follow. Values are read as
 * `config set` takes them (`portrait`, `5m`, `~/clips`) and come out as stored (`9:16`, 300, a
 * full path). Each message completes "Invalid value for <key>: ".
 */
export const ConfigSchema = z.object({
  'api-key': z.optional(z.string({ error: 'an API key is text' }).check(z.trim(), z.minLength(8, 'an API key is at least 8 characters'))),
  'base-url': z.optional(z.url({ protocol: /^https?$/, error: 'use an http(s) URL such as https://api.apimart.ai/v1' })),
  'output-dir': z.optional(z.pipe(z.string({ error: 'use a directory path' }).check(z.minLength(1, 'use a directory path')), z.transform(expandHome))),
  'aspect-ratio': z.optional(aspectRatioSchema('use 16:9 (landscape) or 9:16 (portrait)')),
  timeout: z.optional(secondsSchema(MIN_TIMEOUT_SECONDS, `use ${secondsForms(MIN_TIMEOUT_SECONDS)}`)),
  'poll-interval': z.optional(secondsSchema(MIN_POLL_INTERVAL_SECONDS, `use ${secondsForms(MIN_POLL_INTERVAL_SECONDS)}`)),
}, { error: 'it must hold one JSON object of settings' });
export type Config = z.output<typeof ConfigSchema>;
export type ConfigKey = keyof Config;
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as ConfigKey[];

export { defaultConfigDir } from './paths.js';

export function configPath(dir: string): string {
  return join(dir, CONFIG_FILE);
}

/** Takes group and other permissions away again if someone granted them (POSIX only). */
function tighten(path: string, privateMode: 0o600 | 0o700): void {
  if (process.platform === 'win32') return;
  const { mode } = statSync(path);
  if ((mode & 0o077) === 0) return;
  try {
    chmodSync(path, privateMode);
  } catch {
    // Not ours to change (another owner): doctor reports it.
  }
}

/** Creates the directory owner-only, and tightens it back if someone loosened it. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  tighten(dir, 0o700);
}

/**
 * The file's text as the JSON object of settings it must be: one that is not JSON, or is JSON but
 * no object (`[1, 2]`, `"text"`, `null`: conf would take its indexes for keys), is refused and left
 * as it is.
 */
function parseConfigText(path: string, text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw notJson(path, error);
  }
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) return raw as Record<string, unknown>;
  throw new ConfigurationError(`${path} must hold one JSON object of settings; it was left as it is.`, {
    hint: `Fix it in an editor, or delete it and set the keys again.`,
  });
}

/** The config file's text, or undefined when there is none. */
function readConfigFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cannotRead(path, error);
  }
}

function cannotRead(path: string, error: unknown): ConfigurationError {
  return new ConfigurationError(`Cannot read ${path}: ${(error as Error).message}`, { hint: 'Check its permissions.' });
}

function notJson(path: string, error: unknown): ConfigurationError {
  return new ConfigurationError(`${path} is not valid JSON (${(error as Error).message}); it was left as it is.`, {
    hint: `Fix it in an editor, or delete it and set the keys again.`,
  });
}

/**
 * Reads the config for a command, and re-tightens the file to 0600 and its directory to 0700 if
 * loosened (unless `tighten` is false: `doctor` reports modes and changes nothing). A missing file
 * is an empty config. Read here, not through conf: importing conf (through atomically and
 * when-exit) hooks SIGINT and SIGTERM and raises them again, so a second handler run would make
 * the first Ctrl-C of a wait an immediate exit, before the job is recorded and the resume hint
 * printed. conf writes; every read is this one JSON.parse, as conf's own.
 */
export async function readConfig(dir: string, options: { tighten?: boolean } = {}): Promise<Config> {
  const path = configPath(dir);
  const text = readConfigFile(path);
  if (text === undefined) return {};
  if (options.tighten !== false) {
    tighten(path, 0o600);
    // The directory too: it also holds the job history.
    tighten(dir, 0o700);
  }
  const parsed = ConfigSchema.safeParse(parseConfigText(path, text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path.join('.');
    throw new ConfigurationError(`${path}: ${key ? `invalid value for ${key}: ` : ''}${issue?.message ?? 'invalid'}`, {
      hint: 'Fix it with omni-video config set or unset.',
    });
  }
  return parsed.data;
}

export function isConfigKey(key: string): key is ConfigKey {
  return (CONFIG_KEYS as string[]).includes(key);
}

/** Checks one value against its key's rule and returns it as stored; the error names the key. */
export function parseConfigValue<K extends ConfigKey>(key: K, value: string): NonNullable<Config[K]> {
  const parsed = ConfigSchema.shape[key].safeParse(value);
  if (!parsed.success) throw new InvalidRequestError(`Invalid value for ${key}: ${parsed.error.issues[0]?.message ?? 'invalid'}.`);
  return parsed.data as NonNullable<Config[K]>;
}

/**
 * The config file as conf keeps it: in `dir`, written atomically (a temporary file at 0600 renamed
 * over it; a config.json that is a symlink stays one, its target replaced), keys it does not know
 * kept. A file that is not JSON is refused, never cleared. Only `config set` and `unset` open it.
 */
async function openConfigStore(dir: string): Promise<Conf<Record<string, unknown>>> {
  // conf creates a missing directory with the default mode: make it owner-only first.
  await ensurePrivateDir(dir);
  // Refused before conf opens it: conf would rewrite JSON that holds no object as one.
  const path = configPath(dir);
  const text = readConfigFile(path);
  if (text !== undefined) parseConfigText(path, text);
  const { default: Conf } = await import('conf');
  try {
    return new Conf<Record<string, unknown>>({
      cwd: dir,
      configName: 'config',
      configFileMode: 0o600,
      clearInvalidConfig: false,
      // Keys are names such as 'api-key', never paths into nested objects.
      accessPropertiesByDotNotation: false,
    });
  } catch (error) {
    if (error instanceof SyntaxError) throw notJson(path, error);
    throw cannotRead(path, error);
  }
}

/** Stores a value after checking it; returns it as stored (9:16 for portrait, 300 for 5m). */
export async function setConfigValue<K extends ConfigKey>(dir: string, key: K, value: string): Promise<NonNullable<Config[K]>> {
  const parsed = parseConfigValue(key, value);
  (await openConfigStore(dir)).set(key, parsed);
  return parsed;
}

export async function unsetConfigValue(dir: string, key: ConfigKey): Promise<void> {
  (await openConfigStore(dir)).delete(key);
}

/** `sk-…abcd`: enough to recognise a key, never enough to use it. */
export function maskKey(key: string): string {
  if (key.length < 12) return '…' + key.slice(-2);
  const prefix = /^[a-z]{2,4}-/i.exec(key)?.[0] ?? key.slice(0, 3);
  return `${prefix}…${key.slice(-4)}`;
}

export type KeySource = '--api-key' | 'OMNI_VIDEO_API_KEY' | 'APIMART_API_KEY' | 'config';

/** Flag, then environment, then the store: the first that has one wins. */
export function resolveApiKey(flag: string | undefined, env: NodeJS.ProcessEnv, config: Config): { key: string; source: KeySource } | undefined {
  if (flag) return { key: flag, source: '--api-key' };
  if (env.OMNI_VIDEO_API_KEY) return { key: env.OMNI_VIDEO_API_KEY, source: 'OMNI_VIDEO_API_KEY' };
  if (env.APIMART_API_KEY) return { key: env.APIMART_API_KEY, source: 'APIMART_API_KEY' };
  if (config['api-key']) return { key: config['api-key'], source: 'config' };
  return undefined;
}
