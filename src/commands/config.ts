import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { InterruptedError, InvalidRequestError } from '../api/errors.js';
import type { Context } from '../context.js';
import {
  CONFIG_KEYS,
  configPath,
  isConfigKey,
  maskKey,
  parseConfigValue,
  readConfig,
  resolveApiKey,
  setConfigValue,
  unsetConfigValue,
  type ConfigKey,
} from '../store/config.js';
import { readStdinText, writeJson, type GlobalOptions } from './shared.js';

function checkKey(key: string): ConfigKey {
  if (!isConfigKey(key)) {
    throw new InvalidRequestError(`Unknown config key '${key}'.`, { hint: `Keys: ${CONFIG_KEYS.join(', ')}` });
  }
  return key;
}

/** What a hint suggests for a key: what it takes, and a value that works. */
const EXAMPLES: Record<Exclude<ConfigKey, 'api-key'>, [what: string, value: string]> = {
  'base-url': ['an https URL', 'https://api.apimart.ai/v1'],
  'output-dir': ['a directory', "'~/clips'"],
  'aspect-ratio': ['16:9 or 9:16, also landscape or portrait', 'portrait'],
  timeout: ['a number of seconds, or 90s, 5m, 1h', '5m'],
  'poll-interval': ['a number of seconds, at least 0.5, or 30s, 1m', '2s'],
};

/** The hint for a key to set: the key alone for api-key (it asks for it), else what it takes and an example, the command last. */
function setHint(key: ConfigKey, lead: string): string {
  if (key === 'api-key') return `${lead} with: omni-video config set api-key`;
  const [what, value] = EXAMPLES[key];
  return `${lead} (${what}), for example: omni-video config set ${key} ${value}`;
}

function shown(key: ConfigKey, value: unknown): string {
  return key === 'api-key' ? maskKey(String(value)) : String(value);
}

/** In JSON a value keeps its type (120, not "120"); only the key is shown masked. */
function jsonValue(key: ConfigKey, value: unknown): unknown {
  return key === 'api-key' ? maskKey(String(value)) : value;
}

/** Asks on the terminal without echoing what is typed. */
async function promptHidden(ctx: Context, question: string): Promise<string> {
  ctx.io.stderr.write(question);
  const silent = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const rl = createInterface({ input: ctx.io.stdin, output: silent, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      // In raw mode Ctrl-C reaches readline, not the process: treat it as the interrupt it is.
      rl.once('SIGINT', () => reject(new InterruptedError('SIGINT')));
      rl.once('close', () => reject(new InvalidRequestError('No key entered.')));
    });
  } finally {
    rl.close();
    ctx.io.stderr.write('\n');
  }
}

export async function runConfigSet(ctx: Context, rawKey: string, value: string | undefined, globals: GlobalOptions = {}): Promise<void> {
  const key = checkKey(rawKey);
  let text = value;
  if (text === undefined || text === '-') {
    if (key !== 'api-key' && text === undefined) throw new InvalidRequestError(`config set ${key} needs a value.`, { hint: setHint(key, 'Give it a value') });
    // Keys come from stdin so they stay out of shell history and process lists.
    const instead = 'Run omni-video config set api-key to type it hidden, or pipe it in: echo "$KEY" | omni-video config set api-key';
    text = ctx.io.stdinIsTTY && text === undefined ? await promptHidden(ctx, 'API key: ') : (await readStdinText(ctx, 'the value', instead)).trim();
    if (!text) throw new InvalidRequestError('Nothing was read from stdin.', { hint: 'echo "$KEY" | omni-video config set api-key' });
  }
  if (key === 'base-url') await refuseInsecureBaseUrl(parseConfigValue(key, text.trim()));
  const stored = await setConfigValue(ctx.configDir, key, text.trim());
  ctx.io.stderr.write(`Saved ${key} = ${shown(key, stored)} in ${configPath(ctx.configDir)}\n`);
  if (globals.json) writeJson(ctx, { [key]: jsonValue(key, stored) });
}

/** Refused when set, as it would be at every use: plain http would carry the key to another machine. */
async function refuseInsecureBaseUrl(baseUrl: string): Promise<void> {
  const { isSafeOrigin, InsecureBaseUrlError } = await import('../api/client.js');
  const url = new URL(baseUrl);
  if (!isSafeOrigin(url)) {
    throw new InsecureBaseUrlError(`Refusing to store a plain http base URL to ${url.host}: the API key would be sent over it unencrypted.`, {
      hint: 'Use an https:// base URL (plain http is allowed only to localhost, e.g. the sandbox).',
    });
  }
}

export async function runConfigGet(ctx: Context, rawKey: string, globals: GlobalOptions): Promise<void> {
  const key = checkKey(rawKey);
  const config = await readConfig(ctx.configDir);
  const value = config[key];
  // Not set is an error with or without --json (as `git config --get` and gh's unknown keys), so
  // that `$(omni-video config get timeout --json)` never hands a script a null to misread.
  if (value === undefined) throw new InvalidRequestError(`${key} is not set.`, { hint: setHint(key, 'Set it') });
  if (globals.json) {
    writeJson(ctx, { [key]: jsonValue(key, value) });
    return;
  }
  ctx.io.stdout.write(`${shown(key, value)}\n`);
}

export async function runConfigUnset(ctx: Context, rawKey: string, globals: GlobalOptions = {}): Promise<void> {
  const key = checkKey(rawKey);
  await unsetConfigValue(ctx.configDir, key);
  ctx.io.stderr.write(`Removed ${key}\n`);
  if (globals.json) writeJson(ctx, { [key]: null });
}

/** Every key set, then where the API key in use comes from: on stdout, which is what was asked for. */
export async function runConfigList(ctx: Context, globals: GlobalOptions): Promise<void> {
  const config = await readConfig(ctx.configDir);
  const keys = CONFIG_KEYS.filter((key) => config[key] !== undefined);
  const active = resolveApiKey(globals.apiKey, ctx.env, config);
  if (globals.json) {
    writeJson(ctx, { ...Object.fromEntries(keys.map((key) => [key, jsonValue(key, config[key])])), api_key_source: active?.source ?? null });
    return;
  }
  const lines = keys.length > 0 ? keys.map((key) => `${key}=${shown(key, config[key])}`) : [`Nothing is set in ${configPath(ctx.configDir)}.`];
  if (!active) lines.push('No API key is set: omni-video config set api-key (reads it from stdin), or export OMNI_VIDEO_API_KEY.');
  else lines.push(`The API key in use comes from ${active.source === 'config' ? 'the config store' : active.source} (${maskKey(active.key)}).`);
  ctx.io.stdout.write(`${lines.join('\n')}\n`);
}

export async function runConfigPath(ctx: Context, globals: GlobalOptions = {}): Promise<void> {
  if (globals.json) writeJson(ctx, { path: configPath(ctx.configDir) });
  else ctx.io.stdout.write(`${configPath(ctx.configDir)}\n`);
}
