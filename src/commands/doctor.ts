import { randomBytes } from 'node:crypto';
import { stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_BASE_URL, isSafeOrigin } from '../api/client.js';
import { ConfigurationError, OmniVideoError } from '../api/errors.js';
import { createApiHttp, toConnectionError } from '../api/http-client.js';
import { httpProxyUrl, proxyForUrl } from '../api/proxy.js';
import type { Context } from '../context.js';
import { configPath, maskKey, readConfig, resolveApiKey, type Config } from '../store/config.js';
import { writeJson, type GlobalOptions } from './shared.js';

export const MIN_NODE_MAJOR = 20;

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about a failed check: one command or sentence. */
  fix?: string | undefined;
}

const pass = (name: string, detail: string): Check => ({ name, ok: true, detail });
const failure = (name: string, detail: string, fix: string): Check => ({ name, ok: false, detail, fix });
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

function checkNode(version: string): Check {
  const major = Number(version.split('.')[0]);
  return major >= MIN_NODE_MAJOR
    ? pass('node', `v${version} (${MIN_NODE_MAJOR} or newer needed)`)
    : failure('node', `v${version} is too old (${MIN_NODE_MAJOR} or newer needed)`, `install Node.js ${MIN_NODE_MAJOR} or newer (https://nodejs.org)`);
}

/** Modes first, before anything reads the file: a read by another command would re-tighten it. */
async function checkConfig(dir: string): Promise<{ check: Check; config: Config }> {
  const path = configPath(dir);
  const posix = process.platform !== 'win32';
  const dirStats = await stat(dir).catch(() => undefined);
  if (posix && dirStats && (dirStats.mode & 0o077) !== 0) {
    return { check: failure('config', `${dir} is open to other users (mode ${octal(dirStats.mode)})`, `chmod 700 ${dir}`), config: await readConfig(dir, { tighten: false }).catch(() => ({})) };
  }
  const fileStats = await stat(path).catch(() => undefined);
  if (!fileStats) return { check: pass('config', `no config file yet (${path}); settings come from flags and the environment`), config: {} };
  if (posix && (fileStats.mode & 0o077) !== 0) {
    return { check: failure('config', `${path} is readable by other users (mode ${octal(fileStats.mode)})`, `chmod 600 ${path}`), config: await readConfig(dir, { tighten: false }).catch(() => ({})) };
  }
  try {
    const config = await readConfig(dir, { tighten: false });
    return { check: pass('config', `${path}${posix ? ` (mode ${octal(fileStats.mode)})` : ''}`), config };
  } catch (error) {
    const { message, hint } = error as OmniVideoError;
    return { check: failure('config', message, hint ?? `delete ${path} and set the keys again`), config: {} };
  }
}

type Probe = { response: { status: number }; latencyMs: number } | { error: string } | { refused: string };

/** One GET /balance, no retries: a doctor wants the first answer, and fast. */
async function probeApi(ctx: Context, baseUrl: string, apiKey: string | undefined): Promise<Probe> {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return { refused: `${baseUrl} is not a URL` };
  }
  if (!isSafeOrigin(url)) return { refused: `${baseUrl} is plain http to another machine: the key is never sent over it` };
  const started = ctx.clock.now();
  try {
    const http = createApiHttp({ baseUrl, apiKey, userAgent: 'omni-video', env: ctx.env });
    const answer = await http.get('balance', { signal: ctx.signal, timeout: { response: 10_000 } });
    const response = { status: answer.statusCode };
    return { response, latencyMs: ctx.clock.now() - started };
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return { error: toConnectionError(error, 'GET /balance').message.replace(/^GET \/balance: /, '') };
  }
}

const BASE_URL_FIX = 'check the address (--base-url, OMNI_VIDEO_BASE_URL or config base-url), the network and the proxy settings';

function checkApi(baseUrl: string, probe: Probe): Check {
  if ('refused' in probe) return failure('api', probe.refused, 'use an https:// base URL (plain http only to localhost): omni-video config set base-url https://api.apimart.ai/v1');
  if ('error' in probe) return failure('api', `${baseUrl} is unreachable: ${probe.error}`, BASE_URL_FIX);
  const { status } = probe.response;
  if (status >= 500) return failure('api', `${baseUrl} answers HTTP ${status} (${probe.latencyMs} ms)`, 'the service (or a proxy in front of it) is in trouble: try again later');
  return pass('api', `${baseUrl} reachable (${probe.latencyMs} ms)`);
}

const KEY_FIX = 'omni-video config set api-key (reads it from stdin), or export OMNI_VIDEO_API_KEY';

function checkKey(resolved: ReturnType<typeof resolveApiKey>, probe: Probe): Check {
  if (!resolved) return failure('key', 'no API key (looked in --api-key, OMNI_VIDEO_API_KEY, APIMART_API_KEY, the config file)', KEY_FIX);
  const which = `${maskKey(resolved.key)} from ${resolved.source}`;
  if (!('response' in probe)) return pass('key', `${which} (not verified: the API was not reached)`);
  const { status } = probe.response;
  if (status === 401) return failure('key', `${which} was rejected (HTTP 401)`, `check the key, then ${KEY_FIX}`);
  if (status === 402 || status === 403) return failure('key', `${which} is accepted, but the balance or quota is used up (HTTP ${status})`, 'top up the account, then check with: omni-video balance');
  if (status >= 200 && status < 300) return pass('key', `${which}, accepted`);
  return pass('key', `${which} (not verified: HTTP ${status})`);
}

/** The proxy in effect for the API, with any credentials in it masked. */
function checkProxy(baseUrl: string, env: NodeJS.ProcessEnv): Check {
  let proxy: string | undefined;
  try {
    proxy = proxyForUrl(baseUrl, env);
  } catch {
    return pass('proxy', 'not checked (no valid base URL)');
  }
  if (!proxy) {
    const set = ['HTTPS_PROXY', 'HTTP_PROXY'].some((name) => env[name] || env[name.toLowerCase()]);
    return pass('proxy', set ? `direct: NO_PROXY covers ${new URL(baseUrl).host}` : 'none: direct connections (HTTPS_PROXY, HTTP_PROXY, NO_PROXY are honoured)');
  }
  const url = httpProxyUrl(proxy);
  if (!url) {
    // Not echoed: it may hold a password, and this output is pasted into bug reports.
    return failure('proxy', 'HTTPS_PROXY / HTTP_PROXY is not an http(s) URL', 'export HTTPS_PROXY=http://host:port (or unset it)');
  }
  if (url.username || url.password) {
    url.username = '***';
    url.password = '';
  }
  return pass('proxy', `${new URL(baseUrl).host} through ${url.href.replace(/\/$/, '')}`);
}

/** Writes and removes a probe file where videos will be saved (or its nearest existing parent). */
async function checkOutputDir(dir: string): Promise<Check> {
  let existing = dir;
  let stats = await stat(existing).catch(() => undefined);
  while (!stats && dirname(existing) !== existing) {
    existing = dirname(existing);
    stats = await stat(existing).catch(() => undefined);
  }
  const fix = 'choose another: omni-video config set output-dir <dir>, or pass -o';
  if (!stats?.isDirectory()) return failure('output', `${existing} is not a directory`, fix);
  const probe = join(existing, `.omni-video-doctor-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '');
    await unlink(probe);
  } catch (error) {
    return failure('output', `${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, fix);
  }
  return pass('output', existing === dir ? `${dir} is writable` : `${dir} will be created (${existing} is writable)`);
}

export async function runChecks(ctx: Context, globals: GlobalOptions): Promise<Check[]> {
  const { check: configCheck, config } = await checkConfig(ctx.configDir);
  const resolved = resolveApiKey(globals.apiKey, ctx.env, config);
  const baseUrl = globals.baseUrl ?? ctx.env.OMNI_VIDEO_BASE_URL ?? config['base-url'] ?? DEFAULT_BASE_URL;
  const probe = await probeApi(ctx, baseUrl, resolved?.key);
  return [
    checkNode(process.versions.node),
    configCheck,
    checkKey(resolved, probe),
    checkApi(baseUrl, probe),
    checkProxy(baseUrl, ctx.env),
    await checkOutputDir(resolve(ctx.cwd, config['output-dir'] ?? '.')),
  ];
}

const LABELS: Record<string, string> = { node: 'Node.js', config: 'config', key: 'API key', api: 'API', proxy: 'proxy', output: 'output dir' };

export function formatCheck(check: Check): string {
  const label = `${LABELS[check.name] ?? check.name}:`.padEnd(12);
  return check.ok ? `✔ ${label}${check.detail}` : `✖ ${label}${check.detail} — fix: ${check.fix}`;
}

/** One line per check on stdout (the report is the result); exit 3 when any check fails. */
export async function runDoctor(ctx: Context, globals: GlobalOptions): Promise<void> {
  const checks = await runChecks(ctx, globals);
  if (globals.json) writeJson(ctx, checks);
  else ctx.io.stdout.write(`${checks.map(formatCheck).join('\n')}\n`);
  const failed = checks.filter((check) => !check.ok).length;
  if (failed > 0) {
    throw new ConfigurationError(`${failed} of ${checks.length} checks failed.`, { hint: 'Apply the fix on each line marked ✖, then run omni-video doctor again.' });
  }
}
