import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, commandPaths, run, runInProcess, tempDir } from '../helpers/harness.js';

describe.concurrent('help', () => {
  it('omni-video alone lists the commands and a three-line quick start, exit 0', async () => {
    const result = await runInProcess([]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const command of ['generate', 'extend', 'status', 'download', 'jobs', 'balance', 'config', 'sandbox', 'completion', 'doctor']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    const quickStart = result.stdout.split('Quick start:\n')[1]!.trimEnd().split('\n');
    expect(quickStart).toHaveLength(3);
    // The variable the tool reads, not one a user would have to invent.
    expect(quickStart[0]).toMatch(/^ {2}\$ export OMNI_VIDEO_API_KEY=/);
    expect(quickStart.every((line) => line.startsWith('  $ '))).toBe(true);
    // The first page a user reads fits an 80-column terminal: no comment wrapped onto the next line.
    expect(result.stdout.split('\n').filter((line) => line.length > 80)).toEqual([]);
  });

  for (const path of commandPaths()) {
    it(`${path.join(' ')} --help: a summary, and 2-4 examples`, async () => {
      const result = await runInProcess([...path, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: omni-video ${path.join(' ')} `));
      const [, description] = result.stdout.split('\n\n');
      expect(description?.trim().length, 'one-line summary').toBeGreaterThan(10);
      const examples = result.stdout.split('Examples:\n')[1]?.trimEnd().split('\n') ?? [];
      expect(examples.length, 'examples').toBeGreaterThanOrEqual(2);
      expect(examples.length, 'examples').toBeLessThanOrEqual(4);
      expect(examples.every((line) => /^ {2}\$ .*omni-video/.test(line))).toBe(true);
    });
  }

  it('generate --help shows text-, image- and video-to-video and --no-wait, with defaults and allowed values', async () => {
    const { stdout } = await runInProcess(['generate', '--help']);
    const examples = stdout.split('Examples:\n')[1]!;
    expect(examples).toMatch(/\$ omni-video generate "[^"]+" -a portrait/);
    expect(examples).toMatch(/\$ omni-video generate "[^"]+" -i https:\/\/\S+ -i https:\/\/\S+/);
    expect(examples).toMatch(/\$ omni-video generate "[^"]+" --video \.\/\S+\.mp4/);
    expect(examples).toMatch(/--no-wait/);
    const options = stdout.split('Options:\n')[1]!.split('Examples:')[0]!.replace(/\s+/g, ' ');
    expect(options).toContain('16:9 or 9:16 (also landscape, portrait) (default: 16:9');
    expect(options).toContain('(choices: "720p", default: "720p")');
    expect(options).toContain('(default: 900)');
    expect(options).toContain('at most 16');
    // commander's noise for flags: no "(default: false)" or "(default: [])"
    expect(options).not.toMatch(/default: (false|\[\])/);
  });

  const typos: Array<[string[], string]> = [
    [['generat', 'x'], "✖ unknown command 'generat'\n(Did you mean generate?)\n"],
    [['docter'], "✖ unknown command 'docter'\n(Did you mean doctor?)\n"],
    [['generate', 'x', '--aspect', '9:16'], "✖ unknown option '--aspect'\n(Did you mean --aspect-ratio?)\n"],
    [['generate', 'x', '--aspect-rati', '9:16'], "✖ unknown option '--aspect-rati'\n(Did you mean --aspect-ratio?)\n"],
    [['generate', 'x', '--resolutoin', '720p'], "✖ unknown option '--resolutoin'\n(Did you mean --resolution?)\n"],
    [['download', 'last', '--wiat'], "✖ unknown option '--wiat'\n(Did you mean --wait?)\n"],
    [['generate', 'x', '--no'], "✖ unknown option '--no'\n"],
  ];
  for (const [argv, stderr] of typos) {
    it(`${argv.join(' ')}: suggests the right name (or nothing when ambiguous), exit 2`, async () => {
      const result = await runInProcess(argv);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(stderr);
      expect(result.stdout).toBe('');
    });
  }
});

/** A copy of the package as a fresh clone has it before `npm run build`: no dist/. */
function unbuiltClone(): string {
  const root = tempDir('ov-clone-');
  const from = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
  for (const path of ['bin/omni-video.js', 'package.json']) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    copyFileSync(from(path), join(root, path));
  }
  return root;
}

describe('an unbuilt clone', () => {
  it('option help says what the option does: every --status alias, where download saves by default, what --no-color turns off', async () => {
    const flat = async (args: string[]) => (await run([...args, '--help'])).stdout.replace(/\s+/g, ' ');
    for (const command of ['jobs', 'gallery']) expect(await flat([command])).toContain("(the API's submitted, pending, processing too)");
    expect(await flat(['download'])).toContain('(default: the -o the job was submitted with, if not saved yet; else config output-dir; else ./<task_id>.mp4)');
    expect(await flat([])).toContain('--no-color turn colour off: on stderr, and in JSON on a terminal (also: NO_COLOR=1)');
  });

  it('says in one line to run npm run build, exit 1, no stack trace', async () => {
    const root = unbuiltClone();
    for (const argv of [['--help'], ['--version'], ['status', 'last']]) {
      const result = await run(argv, { bin: join(root, 'bin', 'omni-video.js') });
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`✖ omni-video is not built (no dist/): run npm run build in ${root}/\n`);
    }
  });
});
