import { execFile, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { GalleryEntry } from '../../src/gallery/entries.js';
import type { Sandbox } from '../../src/sandbox/server.js';
import { BIN, cliEnv, run, sandbox, tempDir } from '../helpers/harness.js';
import { interruptWhen } from '../helpers/signals.js';

const FAST = ['--poll-interval', '0.5'];
const FAIL_MESSAGE = 'Refused: <b>policy</b> & "safety"';
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Four jobs: portrait, landscape, one in a subdirectory with a name that needs encoding, and one the service fails. */
const JOBS = [
  { prompt: 'a red fox running through snow', aspect_ratio: '9:16', id: 'fox' },
  { prompt: 'waves on a pebble beach', aspect_ratio: '16:9', id: 'waves' },
  { prompt: 'a paper boat', aspect_ratio: 'portrait', output: 'boats/paper boat #1.mp4', id: 'boat' },
  { prompt: 'this one fails', id: 'fails' },
];

/** A batch run to its end with --gallery: one job failed (the first one the sandbox creates, so line 1 at concurrency 1). */
async function renderedBatch(): Promise<{ sb: Sandbox; cwd: string; configDir: string; clips: string; batch: Awaited<ReturnType<typeof run>> }> {
  const sb = await sandbox({ jobSeconds: 0.3, faults: { failJobs: 1, failMessage: FAIL_MESSAGE } });
  const cwd = realpathSync(tempDir('ov-gallery-'));
  const configDir = tempDir('ov-config-');
  writeFileSync(join(cwd, 'jobs.jsonl'), `${[JOBS[3], ...JOBS.slice(0, 3)].map((job) => JSON.stringify(job)).join('\n')}\n`);
  const batch = await run(['batch', 'jobs.jsonl', '--output-dir', 'clips', '--gallery', '--concurrency', '1', ...FAST], { sandbox: sb, cwd, configDir });
  return { sb, cwd, configDir, clips: join(cwd, 'clips'), batch };
}

async function galleryJson(args: string[], options: { cwd: string; configDir: string }): Promise<GalleryEntry[]> {
  const result = await run(['gallery', ...args, '--json'], options);
  expect(result.code, result.stderr).toBe(0);
  // One document, on one line: stdout is a pipe.
  expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(result.stdout) as GalleryEntry[];
}

/** Runs a line with bash, strict, `omni-video` on PATH as after `npm install -g`. */
async function bash(script: string, options: { cwd: string; configDir: string; sandbox: Sandbox }) {
  const shims = tempDir('ov-bin-');
  writeFileSync(join(shims, 'omni-video'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  const env = cliEnv(options);
  env.PATH = `${shims}:${env.PATH}`;
  return promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { cwd: options.cwd, env, timeout: 40_000 });
}

describe.concurrent('gallery', () => {
  it('batch --gallery writes clips/index.html, names it in the summary, and lists every line: 3 videos of both orientations, the failure with its message', async () => {
    const { clips, batch } = await renderedBatch();
    expect(batch.code, batch.stderr).toBe(4);
    expect(batch.stderr).toContain(`Batch done in `);
    expect(batch.stderr).toContain(`\nGallery: ${join(clips, 'index.html')}\n`);
    const html = readFileSync(join(clips, 'index.html'), 'utf8');
    expect(html.match(/<video controls preload="metadata" muted loop/g)).toHaveLength(3);
    expect(html).toContain('src="boats/paper%20boat%20%231.mp4" width="720" height="1280"');
    expect(html).toContain('<dt>frame</dt><dd>1280×720</dd>');
    expect(html).toContain('<p class="prompt">this one fails</p>');
    expect(html).toContain('<p class="message">Refused: &#60;b&#62;policy&#60;/b&#62; &#38; &#34;safety&#34;</p>');
    expect(readdirSync(clips).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('gallery --json lists the clips of the page; --status and --limit (the n newest) filter it; an unknown status is refused with the list', async () => {
    const { cwd, configDir, clips, sb } = await renderedBatch();
    const all = await galleryJson(['clips'], { cwd, configDir });
    expect(all.map((entry) => [entry.line, entry.status, entry.file, entry.file_exists, entry.width, entry.height])).toEqual([
      [1, 'failed', null, false, null, null],
      [2, 'completed', '002-a-red-fox-running-through-snow.mp4', true, 720, 1280],
      [3, 'completed', '003-waves-on-a-pebble-beach.mp4', true, 1280, 720],
      [4, 'completed', 'boats/paper boat #1.mp4', true, 720, 1280],
    ]);
    expect(all[0]).toMatchObject({ prompt: 'this one fails', error: { message: FAIL_MESSAGE }, task_id: expect.stringMatching(/^task_/) });
    expect(all[3]).toMatchObject({ prompt: 'a paper boat', aspect_ratio: '9:16', duration_seconds: 3, cost: 1, credits_cost: 10, created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(new Set(all.map((entry) => entry.task_id))).toEqual(new Set(sb.tasks.keys()));

    expect((await galleryJson(['clips', '--status', 'failed'], { cwd, configDir })).map((entry) => entry.line)).toEqual([1]);
    // The two newest (the batch ran one job at a time), shown in line order.
    expect((await galleryJson(['clips', '--status', 'completed', '--limit', '2'], { cwd, configDir })).map((entry) => entry.line)).toEqual([3, 4]);
    expect((await galleryJson(['clips', '--status', 'failed,not_run,completed', '--limit', '0'], { cwd, configDir })).map((entry) => entry.line)).toEqual([1, 2, 3, 4]);

    const page = await run(['gallery', 'clips', '--status', 'completed', '--limit', '1'], { cwd, configDir });
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout).toBe(`${join(clips, 'index.html')}\n`);
    expect(page.stderr).toBe('✔ Gallery of 1 of 4 clips (1 completed): open it in a browser.\n');
    const html = readFileSync(join(clips, 'index.html'), 'utf8');
    expect(html.match(/<article /g)).toHaveLength(1);
    expect(html).toContain('Showing 1 of 4: status completed, the 1 newest.');

    const unknown = await run(['gallery', 'clips', '--status', 'done'], { cwd, configDir });
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe(
      "✖ --status 'done' is not a job state: use queued, generating, completed, failed, cancelled, interrupted, uncertain, rejected, not_run.\n" +
        "  The API's words work too: submitted (queued), pending (queued), processing (generating).\n",
    );
    const badLimit = await run(['gallery', 'clips', '--limit', 'ten'], { cwd, configDir });
    expect([badLimit.code, badLimit.stderr]).toEqual([2, '✖ --limit: expected a whole number (0 for all)\n']);
  });

  it('one vocabulary: the page and --status speak of queued, generating and interrupted as jobs does; --json keeps the status beside the state', async () => {
    const cwd = tempDir('ov-gallery-');
    const configDir = tempDir('ov-config-');
    const at = '2026-01-01T00:00:00.000Z';
    copyFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url), join(cwd, '005-saved.mp4'));
    const history = [
      ['b1', 'pending'],
      ['b2', 'processing'],
      ['b3', 'processing', 'interrupted'],
    ].flatMap(([job, status, last]) => [
      { job, at, event: 'created', prompt: `prompt ${job}` },
      { job, at, event: 'status', task_id: `task_${job}`, status },
      ...(last ? [{ job, at, event: last }] : []),
    ]);
    writeFileSync(join(configDir, 'jobs.jsonl'), history.map((line) => `${JSON.stringify(line)}\n`).join(''));
    const state = [
      ...['b1', 'b2', 'b3'].flatMap((job, index) => [
        { key: `k${index + 1}`, event: 'submitting', line: index + 1, job, at },
        { key: `k${index + 1}`, event: 'submitted', task_id: `task_${job}`, at },
      ]),
      { key: 'k4', event: 'submitting', line: 4, job: 'b4', at },
      { key: 'k5', event: 'saved', line: 5, task_id: 'task_b5', file: join(cwd, '005-saved.mp4'), result: { status: 'completed' }, at },
    ];
    writeFileSync(join(cwd, '.omni-video-batch.jsonl'), state.map((line) => `${JSON.stringify(line)}\n`).join(''));

    const all = await galleryJson([], { cwd, configDir });
    expect(all.map((entry) => [entry.line, entry.status, entry.state])).toEqual([
      [1, 'pending', 'queued'],
      [2, 'processing', 'generating'],
      [3, 'processing', 'interrupted'],
      [4, 'uncertain', 'uncertain'],
      [5, 'completed', 'completed'],
    ]);
    const lines = async (states: string) => (await galleryJson(['--status', states], { cwd, configDir })).map((entry) => entry.line);
    expect(await lines('queued')).toEqual([1]);
    expect(await lines('pending')).toEqual([1]);
    expect(await lines('processing,interrupted')).toEqual([2, 3]);
    expect(await lines('Generating, completed')).toEqual([2, 5]);

    const page = await run(['gallery'], { cwd, configDir });
    expect(page.code, page.stderr).toBe(0);
    expect(page.stderr).toBe('✔ Gallery of 5 clips (1 queued, 1 generating, 1 interrupted, 1 uncertain, 1 completed): open it in a browser.\n');
    const html = readFileSync(join(cwd, 'index.html'), 'utf8');
    expect(html.match(/<span class="badge \w+">[^<]*<\/span>/g)).toEqual([
      '<span class="badge wait">queued</span>',
      '<span class="badge wait">generating</span>',
      '<span class="badge wait">interrupted</span>',
      '<span class="badge warn">uncertain</span>',
      '<span class="badge ok">completed</span>',
    ]);
    expect(html).toContain('5 clips · <span class="tally wait">1 queued</span> · <span class="tally wait">1 generating</span> · <span class="tally wait">1 interrupted</span>');
    expect(html).not.toMatch(/\b(pending|processing)\b/);
  });

  it('a batch made on another machine (its folder moved, another config dir): gallery --json shows its prompts from the state file, which holds no inline video', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir('ov-gallery-');
    const clip = readFileSync(new URL('../../src/sandbox/assets/portrait.mp4', import.meta.url));
    writeFileSync(join(cwd, 'clip.mp4'), clip);
    const lines = [{ prompt: 'a heron in the reeds' }, { prompt: 'make it rain', video_urls: ['clip.mp4'] }];
    writeFileSync(join(cwd, 'jobs.jsonl'), lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    const batch = await run(['batch', 'jobs.jsonl', '--output-dir', 'clips', '--concurrency', '1', ...FAST], { sandbox: sb, cwd, configDir: tempDir('ov-config-') });
    expect(batch.code, batch.stderr).toBe(0);
    const state = readFileSync(join(cwd, 'clips', '.omni-video-batch.jsonl'), 'utf8');
    expect(state).not.toContain(clip.subarray(0, 600).toString('base64'));

    // The artifact, unpacked elsewhere and looked at with a job history that never saw it.
    const elsewhere = tempDir('ov-artifact-');
    renameSync(join(cwd, 'clips'), join(elsewhere, 'clips'));
    const entries = await galleryJson(['clips'], { cwd: elsewhere, configDir: tempDir('ov-config-') });
    expect(entries.map((entry) => [entry.line, entry.state, entry.prompt, entry.file_exists])).toEqual([
      [1, 'completed', 'a heron in the reeds', true],
      [2, 'completed', 'make it rain', true],
    ]);
  });

  it('a failed line submitted again shows the new attempt, not the earlier failure: its own message, no earlier cost', async () => {
    const cwd = tempDir('ov-gallery-');
    const configDir = tempDir('ov-config-');
    writeFileSync(join(cwd, 'prompts.txt'), 'a heron\n');
    const failing = await sandbox({ jobSeconds: 0.3, faults: { failJobs: 1, failMessage: FAIL_MESSAGE } });
    expect((await run(['batch', 'prompts.txt', '--output-dir', 'clips', ...FAST], { sandbox: failing, cwd, configDir })).code).toBe(4);
    // Run again: submitted anew, and the connection drops once the service made the job.
    const dropping = await sandbox({ jobSeconds: 0.3, faults: { submitResetAfterCreate: 1 } });
    const again = await run(['batch', 'prompts.txt', '--output-dir', 'clips', ...FAST], { sandbox: dropping, cwd, configDir });
    expect(again.code, again.stderr).toBe(6);
    const [entry] = await galleryJson(['clips'], { cwd, configDir });
    expect(entry).toMatchObject({ line: 1, state: 'uncertain', task_id: null, cost: null, credits_cost: null });
    expect(entry!.error?.message).toMatch(/^The submission may or may not have reached the service/);
    const page = await run(['gallery', 'clips'], { cwd, configDir });
    expect(page.code, page.stderr).toBe(0);
    expect(readFileSync(join(cwd, 'clips', 'index.html'), 'utf8')).not.toContain('policy');
  });

  it('a clip whose file is gone shows "file missing", not a player; with no dir it is the current directory', async () => {
    const { configDir, clips } = await renderedBatch();
    rmSync(join(clips, '003-waves-on-a-pebble-beach.mp4'));
    const result = await run(['gallery'], { cwd: clips, configDir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${join(clips, 'index.html')}\n`);
    expect(result.stderr).toBe('✔ Gallery of 4 clips (3 completed, 1 failed, 1 file missing): open it in a browser.\n');
    const html = readFileSync(join(clips, 'index.html'), 'utf8');
    expect(html.match(/<video /g)).toHaveLength(2);
    expect(html).toContain('<strong>file missing</strong><p class="message">003-waves-on-a-pebble-beach.mp4 is not in this folder.</p>');
    expect(html).not.toContain('src="003-waves');
    const entries = await galleryJson([], { cwd: clips, configDir });
    expect(entries.find((entry) => entry.line === 3)).toMatchObject({ status: 'completed', file: '003-waves-on-a-pebble-beach.mp4', file_exists: false, width: null });
  });

  it('clips saved by generate count too; the page is never written over someone else\'s index.html; a missing directory is refused', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir('ov-gallery-');
    const configDir = tempDir('ov-config-');
    const generated = await run(['generate', 'a lighthouse at dusk', '-o', 'shots/', ...FAST], { sandbox: sb, cwd, configDir });
    expect(generated.code, generated.stderr).toBe(0);
    await run(['generate', 'saved elsewhere', ...FAST], { sandbox: sb, cwd, configDir });
    const entries = await galleryJson(['shots'], { cwd, configDir });
    expect(entries.map((entry) => [entry.prompt, entry.status, entry.line, entry.width])).toEqual([['a lighthouse at dusk', 'completed', null, 1280]]);

    writeFileSync(join(cwd, 'index.html'), '<h1>my site</h1>');
    const refused = await run(['gallery'], { cwd, configDir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`✖ ${join(cwd, 'index.html')} exists and is not a gallery page of omni-video; it was left as it is.`);
    expect(readFileSync(join(cwd, 'index.html'), 'utf8')).toBe('<h1>my site</h1>');

    const again = await run(['gallery', 'shots'], { cwd, configDir });
    expect(again.code, again.stderr).toBe(0);
    expect((await run(['gallery', 'shots'], { cwd, configDir })).code).toBe(0);

    mkdirSync(join(cwd, 'empty'));
    const empty = await run(['gallery', 'empty'], { cwd, configDir });
    expect([empty.code, empty.stdout]).toEqual([0, `${join(cwd, 'empty', 'index.html')}\n`]);
    expect(empty.stderr).toBe(`✔ Gallery of 0 clips: open it in a browser.\n  No job of the history was saved in ${join(cwd, 'empty')}, and it holds no batch state file.\n`);
    expect(readFileSync(join(cwd, 'empty', 'index.html'), 'utf8')).toContain('No clips here yet');

    const missing = await run(['gallery', 'nope'], { cwd, configDir });
    expect([missing.code, missing.stdout]).toEqual([2, '']);
    expect(missing.stderr).toContain('✖ nope is not a directory (no such directory).');
  });

  it('batch --gallery after Ctrl-C: exit 130, the page shows the jobs still running and the lines never reached', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const cwd = tempDir('ov-gallery-');
    writeFileSync(join(cwd, 'prompts.txt'), 'one\ntwo\nthree\nfour\nfive\n');
    const configDir = tempDir('ov-config-');
    const onSpawn = (child: ChildProcess) => {
      const check = setInterval(() => {
        if (sb.stats.submissions < 2) return;
        clearInterval(check);
        child.kill('SIGINT');
      }, 20);
      child.on('close', () => clearInterval(check));
    };
    const result = await run(['batch', 'prompts.txt', '--output-dir', 'out', '--concurrency', '2', '--gallery', ...FAST], { sandbox: sb, cwd, configDir, onSpawn });
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain(`\nGallery: ${join(cwd, 'out', 'index.html')}\n`);
    const html = readFileSync(join(cwd, 'out', 'index.html'), 'utf8');
    expect(html).not.toContain('<video');
    expect(html.match(/<strong>still (queued|generating)<\/strong>/g)).toHaveLength(2);
    expect(html.match(/<strong>not run<\/strong>/g)).toHaveLength(3);
    expect(html).toContain('<p class="prompt">five</p>');
    expect(readdirSync(join(cwd, 'out')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('after an interrupted batch, gallery <dir> --json lists every line, those never reached as not run; its page is the one batch --gallery wrote', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const cwd = tempDir('ov-gallery-');
    writeFileSync(join(cwd, 'prompts.txt'), 'one\ntwo\nthree\nfour\n');
    const configDir = tempDir('ov-config-');
    const args = ['batch', 'prompts.txt', '--output-dir', 'out', '--concurrency', '1', '--gallery', ...FAST];
    const result = await run(args, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/line 1: submitted task_\w+/) });
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('1 interrupted, 3 not started');
    const batchPage = readFileSync(join(cwd, 'out', 'index.html'), 'utf8');
    expect(batchPage.match(/<strong>not run<\/strong>/g)).toHaveLength(3);

    const entries = await galleryJson(['out'], { cwd, configDir });
    expect(entries.map((entry) => [entry.line, entry.state, entry.prompt, entry.file, entry.task_id === null])).toEqual([
      [1, 'interrupted', 'one', null, false],
      [2, 'not_run', 'two', '002-two.mp4', true],
      [3, 'not_run', 'three', '003-three.mp4', true],
      [4, 'not_run', 'four', '004-four.mp4', true],
    ]);
    // Made again, the page is the batch's own, not a poorer one (but for when it was made).
    const page = await run(['gallery', 'out'], { cwd, configDir });
    expect(page.stderr).toBe('✔ Gallery of 4 clips (3 not run, 1 interrupted): open it in a browser.\n');
    const made = (html: string) => html.replace(/Made by omni-video on [^<]*\./, '');
    expect(made(readFileSync(join(cwd, 'out', 'index.html'), 'utf8'))).toBe(made(batchPage));
    // The plan is recorded once: a run with nothing new to plan adds no line for it.
    const planned = () => readFileSync(join(cwd, 'out', '.omni-video-batch.jsonl'), 'utf8').split('\n').filter((line) => line.includes('"event":"planned"'));
    expect(planned()).toHaveLength(4);
    const again = await run(args, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/line 1: (queued|generating) /) });
    expect(again.code, again.stderr).toBe(130);
    expect(planned()).toHaveLength(4);
  });

  it('batch --gallery that stops before running anything (no API key) writes no page and says so', async () => {
    const cwd = tempDir('ov-gallery-');
    writeFileSync(join(cwd, 'prompts.txt'), 'one\ntwo\n');
    const result = await run(['batch', 'prompts.txt', '--output-dir', 'out', '--gallery'], { cwd, configDir: tempDir('ov-config-'), noKey: true });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('\nNo gallery written: the batch stopped before running any job.\n');
    expect(existsSync(join(cwd, 'out', 'index.html'))).toBe(false);
  });

  it('every example of gallery --help runs as printed, in order, against the sandbox', async () => {
    const help = await run(['gallery', '--help']);
    const examples = help.stdout.split('Examples:\n')[1]!.trimEnd().split('\n').map((line) => line.replace(/^ {2}\$ /, '').replace(/\s+# .*$/, ''));
    expect(examples).toHaveLength(4);
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir('ov-gallery-');
    const configDir = tempDir('ov-config-');
    expect((await run(['config', 'set', 'poll-interval', '0.5'], { configDir })).code).toBe(0);
    writeFileSync(join(cwd, 'prompts.txt'), 'a heron\na crane\n');
    const outputs: string[] = [];
    for (const example of examples) outputs.push((await bash(example, { cwd, configDir, sandbox: sb })).stdout);
    expect(outputs.slice(1, 3)).toEqual([`${join(cwd, 'clips', 'index.html')}\n`, `${join(cwd, 'clips', 'index.html')}\n`]);
    expect(outputs[3]).toMatch(/^completed\ttask_\w+\ta heron\ncompleted\ttask_\w+\ta crane\n$/);
  });

  it("the README's Gallery block runs as written", async () => {
    const start = README.indexOf('\n## Gallery\n');
    expect(start, 'a Gallery section').toBeGreaterThan(0);
    const block = /```sh\n([\s\S]*?)```/.exec(README.slice(start))?.[1];
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir('ov-gallery-');
    const configDir = tempDir('ov-config-');
    expect((await run(['config', 'set', 'poll-interval', '0.5'], { configDir })).code).toBe(0);
    writeFileSync(join(cwd, 'prompts.txt'), 'a heron\na crane\n');
    const result = await bash(block!, { cwd, configDir, sandbox: sb });
    expect(existsSync(join(cwd, 'clips', 'index.html'))).toBe(true);
    expect(result.stdout).toContain(join(cwd, 'clips', 'index.html'));
  });
});
