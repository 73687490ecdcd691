import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMediaInfo } from '../../src/io/media.js';
import { run, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
const PORTRAIT = readFileSync(new URL('../../src/sandbox/assets/portrait.mp4', import.meta.url));
const TASK_LINE = /^task_[0-9A-Z]{26}\n$/;

describe.concurrent('generate', () => {
  it('submits once, waits, and saves ./<task_id>.mp4: stdout is exactly the path', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const result = await run(['generate', 'a red apple on a table'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    const [task] = [...sb.tasks.values()];
    const saved = join(cwd, `${task!.id}.mp4`);
    expect(result.stdout).toBe(`${saved}\n`);
    expect(readFileSync(saved).equals(LANDSCAPE)).toBe(true);
    expect(await readMediaInfo(saved)).toMatchObject({ width: 1280, height: 720 });
    expect(readdirSync(cwd)).toEqual([`${task!.id}.mp4`]);

    const submissions = sb.submissions();
    expect(submissions).toHaveLength(1);
    expect(submissions[0]!.body).toEqual({
      model: 'gemini-omni-flash-preview',
      prompt: 'a red apple on a table',
      aspect_ratio: '16:9',
      resolution: '720p',
    });
    expect(submissions[0]!.headers.authorization).toBe(`Bearer ${TEST_KEY}`);
    const api = sb.requests.filter((request) => request.server === 'api');
    expect(api.every((request) => request.headers.authorization === `Bearer ${TEST_KEY}`)).toBe(true);
    expect(api.some((request) => request.method === 'GET' && request.path.startsWith(`/v1/tasks/${task!.id}`))).toBe(true);
    const files = sb.requests.filter((request) => request.server === 'files');
    expect(files.length).toBeGreaterThan(0);
    // The key belongs to the API alone: the file server never sees it.
    expect(files.every((request) => request.headers.authorization === undefined)).toBe(true);
    expect(result.stderr).toContain(`Submitted ${task!.id}`);
    expect(result.stderr).toMatch(/✔ .*\(77 KiB, 3\.0 s, 1280x720, cost 1\)/);
  });

  it('makes a portrait clip with -a portrait (9:16, 720x1280) into a new directory given with a trailing /', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const result = await run(['generate', 'a blue butterfly', '-a', 'portrait', '-o', 'clips/'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    const [task] = [...sb.tasks.values()];
    const saved = join(cwd, 'clips', `${task!.id}.mp4`);
    expect(result.stdout).toBe(`${saved}\n`);
    expect(readFileSync(saved).equals(PORTRAIT)).toBe(true);
    expect(await readMediaInfo(saved)).toMatchObject({ width: 720, height: 1280 });
    expect(sb.submissions()[0]!.body).toMatchObject({ aspect_ratio: '9:16' });
  });

  it('-o names a file; an existing file is refused before anything is submitted, and --force overwrites it', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const first = await run(['generate', 'a fox', '-o', 'fox.mp4'], { sandbox: sb, cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`${join(cwd, 'fox.mp4')}\n`);

    const refused = await run(['generate', 'a fox', '-o', 'fox.mp4'], { sandbox: sb, cwd });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('already exists; nothing was submitted');
    expect(refused.stderr).toContain('--force');
    expect(sb.submissions()).toHaveLength(1);

    writeFileSync(join(cwd, 'fox.mp4'), 'old');
    const forced = await run(['generate', 'a fox', '-o', 'fox.mp4', '--force', '-a', '9:16'], { sandbox: sb, cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(cwd, 'fox.mp4')).equals(PORTRAIT)).toBe(true);
    expect(sb.submissions()).toHaveLength(2);
  });

  it('-o an existing directory saves <task_id>.mp4 inside it', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    mkdirSync(join(cwd, 'out'));
    const result = await run(['generate', 'a fox', '-o', 'out'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    const [task] = [...sb.tasks.values()];
    expect(result.stdout).toBe(`${join(cwd, 'out', `${task!.id}.mp4`)}\n`);
  });

  it('--no-wait prints only the task id and exits once the job is accepted', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const cwd = tempDir();
    const result = await run(['generate', 'a lighthouse', '--no-wait'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(TASK_LINE);
    expect(sb.tasks.has(result.stdout.trim())).toBe(true);
    expect(sb.requests.filter((request) => request.method === 'GET')).toHaveLength(0);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('--no-download waits and prints the result URL instead of saving', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const result = await run(['generate', 'a lighthouse', '--no-download'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    const [task] = [...sb.tasks.values()];
    expect(result.stdout).toMatch(new RegExp(`^${sb.fileBaseUrl}/files/${task!.id}\\.mp4\\?expires=\\d+&sig=[0-9a-f]+\\n$`));
    expect(readdirSync(cwd)).toEqual([]);
    expect(sb.requests.filter((request) => request.server === 'files')).toHaveLength(0);
  });

  it('--json prints exactly one JSON document with the fields product.md lists', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const result = await run(['generate', 'a fox', '--json'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    const document = JSON.parse(result.stdout) as Record<string, unknown>;
    const [task] = [...sb.tasks.values()];
    expect(document).toMatchObject({
      task_id: task!.id,
      status: 'completed',
      progress: 100,
      files: [join(cwd, `${task!.id}.mp4`)],
      cost: 1,
      credits_cost: 10,
      error: null,
    });
    expect(document.urls).toEqual([expect.stringContaining(`/files/${task!.id}.mp4`)]);
    expect(typeof document.expires_at).toBe('number');
    expect(typeof document.created).toBe('number');
    expect(typeof document.completed).toBe('number');
  });

  it('--dry-run prints the exact body, needs no key, and contacts nobody', async () => {
    const sb = await sandbox();
    const result = await run(['generate', 'a red apple', '-i', 'https://example.com/a.jpg', '-a', 'landscape', '--dry-run'], { sandbox: sb, noKey: true });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      model: 'gemini-omni-flash-preview',
      prompt: 'a red apple',
      image_urls: ['https://example.com/a.jpg'],
      aspect_ratio: '16:9',
      resolution: '720p',
    });
    expect(sb.requests).toHaveLength(0);
  });

  it('reads the prompt from stdin with -, and sends repeated -i images in order', async () => {
    const sb = await sandbox();
    const result = await run(['generate', '-', '-i', 'https://example.com/cat.jpg', '-i', 'http://example.com/yarn.png', '--no-wait'], {
      sandbox: sb,
      stdin: 'the cat plays with the yarn\n',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(sb.submissions()[0]!.body).toMatchObject({
      prompt: 'the cat plays with the yarn',
      image_urls: ['https://example.com/cat.jpg', 'http://example.com/yarn.png'],
    });
  });

  it('takes aspect ratio and output directory defaults from the config store', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const configDir = tempDir();
    expect((await run(['config', 'set', 'aspect-ratio', '9:16'], { configDir })).code).toBe(0);
    expect((await run(['config', 'set', 'output-dir', join(cwd, 'renders')], { configDir })).code).toBe(0);
    const result = await run(['generate', 'a fox'], { sandbox: sb, cwd, configDir });
    expect(result.code, result.stderr).toBe(0);
    const [task] = [...sb.tasks.values()];
    expect(result.stdout).toBe(`${join(cwd, 'renders', `${task!.id}.mp4`)}\n`);
    expect(await readMediaInfo(result.stdout.trim())).toMatchObject({ width: 720, height: 1280 });
  });

  it('a failed job exits 4 with the service message, prints its JSON object, and saves nothing', async () => {
    const sb = await sandbox({ faults: { failJobs: 1, failMessage: 'The content violates the usage policy' } });
    const cwd = tempDir();
    const result = await run(['generate', 'something', '--json'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(4);
    const document = JSON.parse(result.stdout) as { status: string; error: { message: string }; files: string[] };
    expect(document.status).toBe('failed');
    expect(document.error.message).toBe('The content violates the usage policy');
    expect(document.files).toEqual([]);
    expect(result.stderr).toContain('failed: The content violates the usage policy');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('-q prints a failure once and nothing else', async () => {
    const sb = await sandbox({ faults: { failJobs: 1, failMessage: 'policy' } });
    const result = await run(['generate', 'something', '-q'], { sandbox: sb });
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^✖ Task task_\w+ failed: policy\n  Adjust the prompt or inputs and submit again\.\n$/);
  });

  it('a cancelled job exits 4 and says it was cancelled', async () => {
    const sb = await sandbox({ faults: { cancelJobs: 1 } });
    const result = await run(['generate', 'something'], { sandbox: sb });
    expect(result.code, result.stderr).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/task_\w+ was cancelled by the service/);
  });

  it('exits 7 on insufficient balance, 3 on a rejected key, with the service message', async () => {
    const poor = await sandbox({ balance: 0 });
    const broke = await run(['generate', 'a fox'], { sandbox: poor });
    expect(broke.code, broke.stderr).toBe(7);
    expect(broke.stderr).toMatch(/Insufficient balance/i);
    expect(broke.stderr).toContain('omni-video balance');

    const strict = await sandbox({ apiKey: 'sk-the-only-valid-key' });
    const rejected = await run(['generate', 'a fox'], { sandbox: strict });
    expect(rejected.code, rejected.stderr).toBe(3);
    expect(rejected.stderr).toContain('Invalid API key');
    expect(strict.stats.submissions).toBe(0);
  });

  it('records the job before and after submission, so `jobs` lists it with its file', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const configDir = tempDir();
    const generated = await run(['generate', 'a red apple'], { sandbox: sb, cwd, configDir });
    expect(generated.code, generated.stderr).toBe(0);
    const [task] = [...sb.tasks.values()];
    const lines = readFileSync(join(configDir, 'jobs.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'created', prompt: 'a red apple' });
    expect(lines[0]!.task_id).toBeUndefined();
    expect(lines[1]).toMatchObject({ event: 'submitted', task_id: task!.id });
    expect(lines.at(-1)).toMatchObject({ event: 'saved', task_id: task!.id, file: join(cwd, `${task!.id}.mp4`) });
    expect(readFileSync(join(configDir, 'jobs.jsonl'), 'utf8')).not.toContain(TEST_KEY);

    const jobs = await run(['jobs', '--json'], { configDir });
    expect(jobs.code).toBe(0);
    const [job] = JSON.parse(jobs.stdout) as Record<string, unknown>[];
    expect(job).toMatchObject({ task_id: task!.id, prompt: 'a red apple', status: 'completed', cost: 1, file: join(cwd, `${task!.id}.mp4`) });
    const human = await run(['jobs'], { configDir });
    expect(human.stdout).toContain(task!.id);
    expect(human.stdout).toContain('"a red apple"');
    expect(existsSync(join(cwd, `${task!.id}.mp4`))).toBe(true);
  });
});
