import { chmodSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readFile, realpath, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { ConfigurationError, InvalidRequestError } from '../api/errors.js';
import { ASPECT_RATIOS } from '../api/schemas.js';

export const CONFIG_FILE = 'config.json';

/** Every key `config set` accepts, with the rule its value must follow. */
export const ConfigSchema = z.object({
  'api-key': z.optional(z.string().check(z.trim(), z.minLength(8, 'an API key is at least 8 characters'))),
  'base-url': z.optional(z.url({ protocol: /^https?$/ })),
  'output-dir': z.optional(z.string().check(z.minLength(1))),
  'aspect-ratio': z.optional(z.enum(ASPECT_RATIOS)),
  timeout: z.optional(z.coerce.number().check(z.positive())),
  'poll-interval': z.optional(z.coerce.number().check(z.gte(0.5))),
});
export type Config = z.infer<typeof ConfigSchema>;
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
 * Reads the config synchronously (a file of a few hundred bytes: no thread-pool round trip, no
 * fs/promises), and
 * re-tightens the file to 0600 and its directory to 0700 if loosened (unless `tighten` is false: `doctor`
 * reports modes and changes nothing). A missing file is an empty config.
 */
export async function readConfig(dir: string, options: { tighten?: boolean } = {}): Promise<Config> {
  const path = configPath(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigurationError(`Cannot read ${path}: ${(error as Error).message}`, { hint: 'Check its permissions.' });
  }
  if (options.tighten !== false) {
    tighten(path, 0o600);
    // The directory too: it also holds the job history.
    tighten(dir, 0o700);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigurationError(`${path} is not valid JSON.`, { hint: `Fix or delete it; omni-video config list shows what it holds.` });
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigurationError(`${path}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim(), {
      hint: 'Fix it with omni-video config set or unset.',
    });
  }
  return parsed.data;
}

export function isConfigKey(key: string): key is ConfigKey {
  return (CONFIG_KEYS as string[]).includes(key);
}

/** Checks one value against its key's rule; the error names the key. */
export function parseConfigValue(key: ConfigKey, value: string): Config[ConfigKey] {
  const field = ConfigSchema.shape[key];
  const parsed = field.safeParse(value);
  if (!parsed.success) {
    throw new InvalidRequestError(`Invalid value for ${key}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * Changes the stored config: the file is replaced in one step (written aside at 0600, flushed,
 * renamed over it), so a crash or a reader meanwhile never sees half a file. Keys it does not
 * know are kept.
 */
async function updateConfigFile(dir: string, change: (stored: Record<string, unknown>) => void): Promise<void> {
  await ensurePrivateDir(dir);
  // A config.json that links elsewhere (a dotfiles repository) stays a link: its target is replaced.
  const path = await realpath(configPath(dir)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return configPath(dir);
    throw error;
  });
  let stored: Record<string, unknown> = {};
  try {
    stored = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigurationError(`Cannot update ${path}: ${(error as Error).message}`, { hint: 'Fix or delete it; omni-video config list shows what it holds.' });
    }
  }
  change(stored);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(stored, null, '\t')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Stores a value after checking it; returns it as stored (a number for timeout, say). */
export async function setConfigValue(dir: string, key: ConfigKey, value: string): Promise<Config[ConfigKey]> {
  const parsed = parseConfigValue(key, value);
  await updateConfigFile(dir, (stored) => {
    stored[key] = parsed;
  });
  return parsed;
}

export async function unsetConfigValue(dir: string, key: ConfigKey): Promise<void> {
  await updateConfigFile(dir, (stored) => {
    delete stored[key];
  });
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
