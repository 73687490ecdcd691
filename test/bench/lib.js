/**
 * Helpers of the benchmark harness (`npm run bench`): interleaved timing of commands, medians,
 * peak memory via /usr/bin/time, and the sandbox in a process of its own, so that it never
 * competes with the measured process inside one event loop.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'omni-video.js');
export const KEY = 'sk-bench-0123456789';
const TIME = '/usr/bin/time';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function tempDir(prefix = 'ov-bench-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The environment of every measured command and of its baseline, built from nothing. It leaves
 * out NODE_EXTRA_CA_CERTS, which this machine's shells set: Node reads that CA bundle at every
 * start (~40 ms here), which would pad a command and its baseline alike and flatter the ratios.
 */
export function cliEnv(extra = {}) {
  return { PATH: process.env.PATH, HOME: tmpdir(), CI: 'true', NO_COLOR: '1', OMNI_VIDEO_API_KEY: KEY, ...extra };
}

/**
 * Runs one command to its end; returns wall ms, and with `measure` (needs /usr/bin/time) peak RSS
 * in MB and CPU seconds. Fails loudly on a non-zero exit: a broken run is not a fast run.
 */
export function timed(argv, { env = cliEnv(), cwd = tmpdir(), measure = false } = {}) {
  const statsFile = measure ? join(tempDir(), 'time.txt') : undefined;
  const command = measure ? [TIME, '-f', '%M %U %S', '-o', statsFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command[0], command.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) {
        reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.slice(-500)}`));
        return;
      }
      const result = { ms, stdout, stderr };
      if (statsFile) {
        const [rssKb, user, system] = readFileSync(statsFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
        removeDir(join(statsFile, '..'));
        Object.assign(result, { rssMb: rssKb / 1024, cpuS: user + system });
      }
      resolve(result);
    });
  });
}

export const canMeasureMemory = () => existsSync(TIME);

/**
 * Runs each variant `runs` times, interleaved (A B C A B C …) so that a noisy neighbour slows all
 * of them alike; one warm-up round first is thrown away (disk cache, compile cache).
 */
export async function interleaved(variants, runs, options = {}) {
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (let round = -1; round < runs; round++) {
    for (const [name, variant] of Object.entries(variants)) {
      const result = await variant(options);
      if (round >= 0) samples[name].push(result);
    }
  }
  return samples;
}

/** `omni-video sandbox` in its own process; resolves once it prints its base URL. */
export function startSandboxProcess(flags = []) {
  const child = spawn(process.execPath, [BIN, 'sandbox', ...flags], { env: cliEnv(), stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`sandbox exited ${code}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (!out.includes('\n')) return;
      const baseUrl = out.trim();
      resolve({
        baseUrl,
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill('SIGINT');
          }),
      });
    });
  });
}

/** Submits one job to a sandbox over plain HTTP; returns its task id. */
export async function submitJob(baseUrl, prompt = 'bench') {
  const response = await fetch(`${baseUrl}/videos/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gemini-omni-flash-preview', prompt, aspect_ratio: '16:9', resolution: '720p' }),
  });
  const body = await response.json();
  return body.data[0].task_id;
}

/** Waits until the sandbox reports the task completed; returns the task. */
export async function completedTask(baseUrl, taskId) {
  for (;;) {
    const response = await fetch(`${baseUrl}/tasks/${taskId}`, { headers: { authorization: `Bearer ${KEY}` } });
    const { data } = await response.json();
    if (data.status === 'completed') return data;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One line of the report: a figure against its target. */
export function check(name, value, { max, min, unit = '', detail = '' }) {
  const pass = (max === undefined || value <= max) && (min === undefined || value >= min);
  const target = max !== undefined ? `<= ${max}${unit}` : `>= ${min}${unit}`;
  return { name, value: Number(value.toFixed(3)), unit, target, pass, detail };
}
