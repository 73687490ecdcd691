import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, runCli } from '../../src/cli.js';
import { OmniVideoClient } from '../../src/api/client.js';
import type { Clock, Context } from '../../src/context.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.js';

/** Every CLI run of the suite is checked for this key in its output: it must never appear. */
export const TEST_KEY = 'sk-test-DO-NOT-PRINT-9f3a7c1e';
export const BIN = fileURLToPath(new URL('../../bin/omni-video.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  configDir?: string;
  stdin?: string;
  /** Base URL of the API; the sandbox's when a sandbox is given. */
  sandbox?: Sandbox;
  /** Omit the test key from the environment. */
  noKey?: boolean;
  timeoutMs?: number;
  /** Called with the child once it is spawned (to send signals). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
  /** Another copy of the bin to run (default: this repository's). */
  bin?: string;
}

const dirs: string[] = [];

export function tempDir(prefix = 'ov-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const sandboxes: Sandbox[] = [];

/**
 * A sandbox of its own for the calling test. They are stopped when the file ends, not the test:
 * concurrent tests cannot tell whose test just finished.
 */
export async function sandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const started = await startSandbox({ jobSeconds: 0.8, ...options });
  sandboxes.push(started);
  return started;
}

/** Throws when the output holds the key: checked on every run, whatever it printed. */
export function assertNoKey(...outputs: string[]): void {
  if (outputs.some((output) => output.includes(TEST_KEY))) throw new Error('The API key appeared in the output of omni-video');
}

afterAll(async () => {
  await Promise.all(sandboxes.splice(0).map((running) => running.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The environment of a CLI run: isolated config, no proxies or colour from the host, CI-like. */
export function cliEnv(options: RunOptions): Record<string, string> {
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: options.cwd ?? tmpdir(),
    OMNI_VIDEO_CONFIG_DIR: options.configDir ?? tempDir('ov-config-'),
    OMNI_VIDEO_API_KEY: options.noKey ? undefined : TEST_KEY,
    OMNI_VIDEO_BASE_URL: options.sandbox?.baseUrl,
    NO_COLOR: '1',
    CI: 'true',
    ...options.env,
  };
  return Object.fromEntries(Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** Runs the built CLI as a subprocess, as a user's shell would. */
export function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
      cwd: options.cwd ?? tempDir('ov-cwd-'),
      env: cliEnv(options),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`omni-video ${args.join(' ')} did not finish in ${options.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      try {
        // The key must never be printed, whatever the command and however it ended.
        assertNoKey(stdout, stderr);
        resolve({ code, signal, stdout, stderr });
      } catch (error) {
        reject(error);
      }
    });
    options.onSpawn?.(child);
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
  });
}

/** Every command path the program declares ('generate', 'config set', …), read from commander itself. */
export function commandPaths(): string[][] {
  const ctx = { io: { stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]) } } as unknown as Context;
  const walk = (command: Command, prefix: string[]): string[][] =>
    command.commands.flatMap((sub) => [[...prefix, sub.name()], ...walk(sub, [...prefix, sub.name()])]);
  return walk(buildProgram(ctx), []);
}

/** A clock whose sleeps return at once and are recorded, so delays can be asserted. */
export class FakeClock implements Clock {
  nowMs: number;
  readonly sleeps: number[] = [];
  constructor(start = 1_800_000_000_000) {
    this.nowMs = start;
  }
  now(): number {
    return this.nowMs;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.nowMs += ms;
  }
}

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in-process on fake streams (gh style): fast, and the clock can be faked. */
export async function runInProcess(
  argv: string[],
  options: { env?: Record<string, string | undefined>; configDir?: string; cwd?: string; stdin?: string | Readable; stdinIsTTY?: boolean; clock?: Clock; signal?: AbortSignal } = {},
): Promise<InProcessResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const env = { OMNI_VIDEO_API_KEY: TEST_KEY, ...options.env };
  const ctx: Context = {
    io: {
      stdin: options.stdin instanceof Readable ? options.stdin : Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
      stdout,
      stderr,
      stdinIsTTY: options.stdinIsTTY ?? false,
      stdoutIsTTY: false,
      stderrIsTTY: false,
      color: false,
      columns: 80,
    },
    env,
    clock: options.clock ?? { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
    cwd: options.cwd ?? tempDir('ov-cwd-'),
    configDir: options.configDir ?? tempDir('ov-config-'),
    signal: options.signal ?? new AbortController().signal,
    createClient: async (clientOptions) => new OmniVideoClient(clientOptions),
  };
  const code = await runCli(argv, ctx);
  assertNoKey(out, err);
  return { code, stdout: out, stderr: err };
}
