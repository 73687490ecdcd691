import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { assertNoKey, BIN, cliEnv, commandPaths, run, runInProcess, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';
import { freePort } from '../helpers/net.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const PIPELINE_SECTIONS = ['Try it without a key: the sandbox', 'Scripting and pipelines', 'Batch'];
/** The port the README gives `omni-video sandbox`; each run gets a free one instead, so parallel runs never meet. */
const README_PORT = '4010';
const CI_SECTION = 'Rendering in CI (GitHub Actions)';

/** The body of a `## ` section of the README. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section "${title}"`);
  const end = README.indexOf('\n## ', start + 4);
  return README.slice(start, end < 0 ? undefined : end);
}

function fencedBlocks(text: string, language: string): string[] {
  return [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1] as string);
}

/** `omni-video` on PATH, as after `npm install -g`: the built CLI of this checkout. */
function shimDir(): string {
  const dir = tempDir('ov-bin-');
  writeFileSync(join(dir, 'omni-video'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  return dir;
}
const BIN_DIR = shimDir();

interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a script with bash, strict (-euo pipefail), as a CI step or a careful user would. A
 * background job the script leaves running (a sandbox it started and did not stop) fails it.
 */
async function bash(script: string, options: { cwd: string; sandbox: Sandbox; configDir: string; env?: Record<string, string> }): Promise<ShellResult> {
  // Only for a script that names the port: a port taken and let go is one another test may be about to bind.
  const port = script.includes(README_PORT) ? String(await freePort()) : README_PORT;
  return new Promise((resolvePromise, reject) => {
    const env = cliEnv({ sandbox: options.sandbox, configDir: options.configDir, cwd: options.cwd, env: options.env });
    env.PATH = `${BIN_DIR}:${env.PATH}`;
    // A group of its own, so whatever the script starts can be ended with it.
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script.replaceAll(README_PORT, port)], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    let stdout = '';
    let stderr = '';
    let leftBehind = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(killGroup, 40_000);
    // Its output closes when the last process holding it ends: soon after bash, unless one was left running.
    let lingering: NodeJS.Timeout | undefined;
    child.on('exit', () => {
      lingering = setTimeout(() => {
        leftBehind = true;
        killGroup();
      }, 3_000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(lingering);
      try {
        assertNoKey(stdout, stderr);
        if (leftBehind) throw new Error(`the script left a process running:\n${script}`);
        resolvePromise({ code, stdout, stderr });
      } catch (error) {
        reject(error);
      }
    });
  });
}

function startsWithFtyp(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    return readSync(fd, head, 0, 8, 0) === 8 && head.toString('latin1', 4, 8) === 'ftyp';
  } finally {
    closeSync(fd);
  }
}

/** What a user of these examples has in the current directory. */
function workspace(prompts: number): { cwd: string; configDir: string } {
  const cwd = tempDir('ov-pipe-');
  writeFileSync(join(cwd, 'prompts.txt'), `${Array.from({ length: prompts }, (_, index) => `scene ${index + 1}: waves on a pebble beach`).join('\n')}\n`);
  writeFileSync(
    join(cwd, 'jobs.jsonl'),
    `${[JSON.stringify({ prompt: 'a red fox running through snow' }), JSON.stringify({ prompt: 'a wide landscape', aspect_ratio: '16:9', output: 'wide/landscape.mp4', id: 'wide' })].join('\n')}\n`,
  );
  return { cwd, configDir: tempDir('ov-config-') };
}

async function fastPolling(configDir: string): Promise<void> {
  // The README's commands carry no polling flags: the sandbox's short jobs are polled fast by config.
  const set = await run(['config', 'set', 'poll-interval', '0.5'], { configDir });
  expect(set.code, set.stderr).toBe(0);
}

const pipelineBlocks = PIPELINE_SECTIONS.flatMap((title) => fencedBlocks(section(title), 'sh').map((script, index) => ({ title, index, script })));

describe.concurrent('README pipelines', () => {
  it('the README shows the pipelines of the contract', () => {
    const all = pipelineBlocks.map(({ script }) => script).join('\n');
    expect(all).toContain('omni-video status - --wait --json');
    expect(all).toContain('omni-video download - --wait');
    expect(all).toContain('omni-video batch prompts.txt');
  });

  // Each block runs as one script, verbatim, in a directory holding prompts.txt (3 lines) and jobs.jsonl (2 jobs).
  it.each(pipelineBlocks)('$title, block $index', async ({ title, script }) => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const { cwd, configDir } = workspace(3);
    await fastPolling(configDir);
    const result = await bash(script, { cwd, sandbox: sb, configDir });
    expect(result.code, `${script}\n${result.stderr}`).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const cells = line.split('\t');
      // Not a path: the base URL of a sandbox, a job's status alone, or a tab-separated row: task id, status, maybe a file.
      if (cells.length === 1 && !line.endsWith('.mp4')) expect(line).toMatch(/^(completed|http:\/\/127\.0\.0\.1:\d+\/v1)$/);
      if (cells.length > 1) expect(cells.slice(0, 2).join(' '), line).toMatch(/^task_\w+ (completed|submitted)$/);
      // Whatever names a video names a saved, whole mp4.
      for (const path of cells.filter((cell) => cell.endsWith('.mp4')).map((cell) => resolve(cwd, cell))) {
        expect(existsSync(path), path).toBe(true);
        expect(startsWithFtyp(path), path).toBe(true);
      }
    }
    // The batch block runs prompts.txt twice: the second run submits nothing.
    if (title === 'Batch') expect(sb.stats.submissions).toBe(5);
  });

  it('every command prints exactly one JSON document with --json, and nothing but results with -q', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const { cwd, configDir } = workspace(1);
    const json = async (args: string[], stdin?: string) => {
      const result = await run([...args, '--json'], { sandbox: sb, cwd, configDir, stdin });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout) as Record<string, unknown>;
    };
    expect(await json(['config', 'set', 'poll-interval', '0.5'])).toEqual({ 'poll-interval': 0.5 });
    expect(await json(['config', 'get', 'poll-interval'])).toEqual({ 'poll-interval': 0.5 });
    expect(await json(['config', 'path'])).toEqual({ path: join(configDir, 'config.json') });
    expect(await json(['config', 'list'])).toMatchObject({ 'poll-interval': 0.5, api_key_source: 'OMNI_VIDEO_API_KEY' });
    expect(await json(['balance'])).toMatchObject({ remain_balance: 100 });
    const submitted = await json(['generate', 'a kite', '--no-wait']);
    expect(submitted).toMatchObject({ task_id: expect.stringMatching(/^task_/), status: 'submitted' });
    const saved = await json(['download', '-', '--wait', '-q'], JSON.stringify(submitted, null, 2));
    expect(saved).toMatchObject({ task_id: submitted.task_id, status: 'completed', files: [join(cwd, `${String(submitted.task_id)}.mp4`)] });
    expect(await json(['status', String(submitted.task_id)])).toMatchObject({ status: 'completed', files: [] });
    expect(await json(['jobs'])).toHaveLength(1);
    expect(await json(['config', 'unset', 'poll-interval'])).toEqual({ 'poll-interval': null });

    const quiet = await run(['batch', 'prompts.txt', '-q', '--poll-interval', '0.5'], { sandbox: sb, cwd, configDir });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(JSON.parse(quiet.stdout)).toMatchObject({ line: 1, status: 'completed' });
  });

  it('the GitHub Actions matrix, shard by shard with its exact command, renders every line of prompts.txt exactly once', async () => {
    const yaml = fencedBlocks(section(CI_SECTION), 'yaml')[0];
    expect(yaml, 'a yaml workflow in the CI section').toBeDefined();
    const shards = /shard: \[([\d, ]+)\]/.exec(yaml!)?.[1]?.split(',').map((value) => value.trim());
    expect(shards).toEqual(['1', '2', '3', '4']);
    const step = /run: (omni-video batch .*)/.exec(yaml!)?.[1];
    expect(step).toContain('--shard ${{ matrix.shard }}/4');

    const sb = await sandbox({ jobSeconds: 0.3 });
    const total = 12;
    // Each matrix job runs on its own runner: its own checkout, config and clips directory.
    const results = await Promise.all(
      shards!.map(async (shard) => {
        const { cwd, configDir } = workspace(total);
        await fastPolling(configDir);
        const command = step!.replaceAll('${{ matrix.shard }}', shard);
        const result = await bash(command, { cwd, sandbox: sb, configDir });
        expect(result.code, `${command}\n${result.stderr}`).toBe(0);
        const lines = readFileSync(join(cwd, `clips-${shard}.jsonl`), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { line: number; files: string[] });
        for (const line of lines) expect(startsWithFtyp(line.files[0]!)).toBe(true);
        return lines.map((line) => line.line);
      }),
    );
    expect(results.every((lines) => lines.length > 0)).toBe(true);
    expect(results.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, index) => index + 1));
    expect(sb.stats.submissions).toBe(total);
  });
});

/*
 * Every example the tool shows: each `$ …` line of every command's --help (the commands walked
 * from commander's tree, so a command added later is covered too) and every `sh` block of the
 * README. Each runs in bash against the sandbox, in a workspace holding what a user who followed
 * the README has. What cannot run as written is adapted by a rule below, named here.
 */

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MEDIA = (name: string) => fileURLToPath(new URL(`../fixtures/media/${name}`, import.meta.url));
/** The task id the examples show, standing for one of the user's own. */
const EXAMPLE_TASK_ID = 'task_01KS1H7ZYSJWH1N779S2FSHTKA';

interface Adaptation {
  name: string;
  /** Rewrites a script; returns it unchanged when the rule does not apply. */
  adapt: (script: string) => string;
}

const ADAPTATIONS: Adaptation[] = [
  {
    name: 'npx / npm install -g: this checkout, built and on PATH, stands for the published package',
    adapt: (script) => script.replace(/^npx omni-video /gm, 'omni-video ').replace(/^npm install -g omni-video\b/gm, 'command -v omni-video'),
  },
  {
    name: 'npm ci && npm run demo / npm test: the install and build are done (this suite is `npm test`); the demo runs what `npm run demo` runs after its build',
    adapt: (script) => script.replace(/^npm ci && npm run demo\b/gm, `node '${REPO}dist/demo.js'`).replace(/^npm ci && npm test\b/gm, 'true'),
  },
  {
    name: '`config set api-key` with no value asks on the terminal: the key is piped in instead, as its help says',
    adapt: (script) => script.replace(/^omni-video config set api-key(\s*(#.*)?)$/gm, 'echo "$KEY" | omni-video config set api-key$1'),
  },
  {
    name: 'a sandbox started in the foreground runs until stopped: it runs in the background until it prints its URL, then is stopped',
    adapt: (script) =>
      script.replace(
        /^(omni-video sandbox\b[^&\n]*?)(\s*#.*)?$/gm,
        '$1 > .sandbox-url & sandbox_pid=$!; until grep -q "^http" .sandbox-url; do kill -0 $sandbox_pid; sleep 0.1; done; kill $sandbox_pid; wait $sandbox_pid || true',
      ),
  },
  {
    name: 'an example that talks to the sandbox of another example (port 4010) gets one started there first, and stopped after',
    adapt: (script) =>
      /127\.0\.0\.1:4010/.test(script) && !/^omni-video sandbox/m.test(script)
        ? `omni-video sandbox --port 4010 --job-seconds 0.3 > .sandbox-url & sandbox_pid=$!; until grep -q "^http" .sandbox-url; do sleep 0.1; done\n${script}\nkill $sandbox_pid; wait $sandbox_pid || true`
        : script,
  },
  {
    name: 'an example that shows the clips directory of a batch (`gallery clips`) has one: the batch of prompts.txt rendered into clips/ first',
    adapt: (script) =>
      /^omni-video gallery clips\b/m.test(script) && !/--output-dir clips\b/.test(script) ? `omni-video batch prompts.txt --output-dir clips -q > /dev/null\n${script}` : script,
  },
  {
    name: `the example task id (${EXAMPLE_TASK_ID}) stands for one of the user's: the workspace's completed job`,
    adapt: (script) => script.replaceAll(EXAMPLE_TASK_ID, '"$SEEDED_TASK"'),
  },
];

function adapt(script: string): { script: string; applied: string[] } {
  const applied: string[] = [];
  for (const adaptation of ADAPTATIONS) {
    const next = adaptation.adapt(script);
    if (next !== script) applied.push(adaptation.name);
    script = next;
  }
  return { script, applied };
}

/** The `$ …` lines of every help text (its Examples, and the program's Quick start), each once. */
async function helpExamples(): Promise<{ command: string; help: string }[]> {
  const seen = new Map<string, string>();
  for (const path of [[], ...commandPaths()]) {
    const { stdout, code } = await runInProcess([...path, '--help']);
    if (code !== 0) throw new Error(`omni-video ${path.join(' ')} --help exited ${code}`);
    for (const match of stdout.matchAll(/^ {2}\$ (.+)$/gm)) if (!seen.has(match[1]!)) seen.set(match[1]!, ['omni-video', ...path].join(' '));
  }
  return [...seen].map(([command, help]) => ({ command, help }));
}

const HELP_EXAMPLES = await helpExamples();
const README_BLOCKS = [...README.matchAll(/\n## ([^\n]+)\n/g)]
  .map((match) => match[1]!)
  .flatMap((title) => fencedBlocks(section(title), 'sh').map((script, index) => ({ title, index, script })))
  .filter(({ title }) => !PIPELINE_SECTIONS.includes(title));

/**
 * A workspace as a user who followed the README's setup has it: a key and an output directory
 * stored, one completed job in the history (its video not downloaded), prompts.txt, jobs.jsonl,
 * a long clip (holiday.mp4) and, unless the script cuts it from that one, a short one (mirror.mp4)
 * in the current directory.
 */
async function seededWorkspace(sb: Sandbox, script: string): Promise<{ cwd: string; configDir: string; env: Record<string, string> }> {
  const { cwd, configDir } = workspace(3);
  if (!/^ffmpeg .* mirror\.mp4$/m.test(script)) copyFileSync(MEDIA('clip-2s.mp4'), join(cwd, 'mirror.mp4'));
  copyFileSync(MEDIA('holiday.mp4'), join(cwd, 'holiday.mp4'));
  const env = { OMNI_VIDEO_BASE_URL: sb.baseUrl };
  for (const [args, stdin] of [[['config', 'set', 'api-key'], `${TEST_KEY}\n`], [['config', 'set', 'output-dir', cwd]], [['config', 'set', 'poll-interval', '0.5']]] as const) {
    const result = await runInProcess([...args], { configDir, cwd, env, stdin });
    expect(result.code, result.stderr).toBe(0);
  }
  const seeded = await runInProcess(['generate', 'a seed clip', '--no-download', '--json', '-q'], { configDir, cwd, env });
  expect(seeded.code, seeded.stderr).toBe(0);
  return { cwd, configDir, env: { SEEDED_TASK: (JSON.parse(seeded.stdout) as { task_id: string }).task_id, KEY: TEST_KEY, APIMART_KEY: TEST_KEY } };
}

/** What any example must leave: exit 0, no error shown, and every video it names saved whole. */
function expectFinished(result: ShellResult, script: string, cwd: string): void {
  expect(result.code, `${script}\n${result.stderr}`).toBe(0);
  expect(result.stderr.split('\n').filter((line) => line.includes('✖')), script).toEqual([]);
  // The tool prints a saved file alone on its line (or as a tab-separated cell of a jq row).
  const named = result.stdout.split('\n').flatMap((line) => line.split('\t')).filter((cell) => /^\S+\.mp4$/.test(cell));
  for (const path of named.map((cell) => resolve(cwd, cell))) {
    expect(existsSync(path), path).toBe(true);
    expect(startsWithFtyp(path), path).toBe(true);
  }
}

describe.concurrent('every example the tool shows runs', () => {
  it('the help walk finds every command, each with examples; download --help reads the jobs array with .[]', () => {
    expect(commandPaths().length).toBeGreaterThanOrEqual(15);
    expect(HELP_EXAMPLES.length).toBeGreaterThanOrEqual(30);
    const downloadPipe = HELP_EXAMPLES.find(({ command }) => command.startsWith('omni-video jobs --status completed --limit 0 --json |'));
    expect(downloadPipe?.command).toContain("jq -r '.[] |");
  });

  it("download --help's 'every completed job not saved yet' saves every one, beyond the 20 that jobs lists by default", async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir('ov-pipe-');
    const configDir = tempDir('ov-config-');
    const env = { OMNI_VIDEO_BASE_URL: sb.baseUrl };
    const submitted = await Promise.all(Array.from({ length: 21 }, (_, index) => runInProcess(['generate', `clip ${index + 1}`, '--no-wait'], { configDir, cwd, env })));
    const ids = submitted.map((result) => result.stdout.trim());
    expect(ids.every((id) => /^task_\w+$/.test(id)), submitted.map((result) => result.stderr).join('')).toBe(true);
    // A wait records each end in the history: 21 completed jobs, none saved.
    const waited = await runInProcess(['status', ...ids, '--wait', '-q'], { configDir, cwd, env });
    expect(waited.code, waited.stderr).toBe(0);
    const example = HELP_EXAMPLES.find(({ command }) => command.includes('# every completed job not saved yet'))!.command;
    const result = await bash(example, { cwd, sandbox: sb, configDir });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(cwd).sort()).toEqual(ids.map((id) => `${id}.mp4`).sort());
  });

  it('every adaptation applies to some example (none is left behind when an example changes)', () => {
    const scripts = [...HELP_EXAMPLES.map(({ command }) => command), ...README_BLOCKS.map(({ script }) => script)];
    const used = new Set(scripts.flatMap((script) => adapt(script).applied));
    expect(ADAPTATIONS.map(({ name }) => name).filter((name) => !used.has(name))).toEqual([]);
  });

  it.each(HELP_EXAMPLES)('$help --help: $command', async ({ command }) => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const { cwd, configDir, env } = await seededWorkspace(sb, command);
    const { script } = adapt(command);
    expectFinished(await bash(script, { cwd, sandbox: sb, configDir, env }), script, cwd);
  });

  it.each(README_BLOCKS)('README, $title, block $index', async ({ script: written }) => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const { cwd, configDir, env } = await seededWorkspace(sb, written);
    const { script } = adapt(written);
    expectFinished(await bash(script, { cwd, sandbox: sb, configDir, env }), script, cwd);
  });
});
