import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMediaInfo } from '../../src/io/media.js';
import type { Sandbox } from '../../src/sandbox/server.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';
import { interruptWhen } from '../helpers/signals.js';

const FAST = ['--poll-interval', '0.5'];

interface JobLine {
  line: number;
  id: string;
  task_id: string | null;
  status: string;
  files: string[];
  error: { message: string } | null;
  skipped?: boolean;
}

const jsonLines = (stdout: string): JobLine[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JobLine);

function promptFile(dir: string, count: number, name = 'prompts.txt'): string {
  const lines = Array.from({ length: count }, (_, index) => `clip number ${index + 1}: a paper boat on a pond`);
  writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
  return name;
}

const mp4s = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.mp4')).sort();

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Submissions per prompt, as the sandbox received them. */
function submissionsPerPrompt(sb: Sandbox): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of sb.submissions()) {
    const prompt = (request.body as { prompt: string }).prompt;
    counts.set(prompt, (counts.get(prompt) ?? 0) + 1);
  }
  return counts;
}

describe.concurrent('batch', () => {
  it('runs 40 lines at concurrency 8: 40 files, 40 JSON lines, 40 submissions, never more than 8 in flight; a re-run submits nothing', async () => {
    const sb = await sandbox({ jobSeconds: 0.5 });
    const cwd = tempDir();
    const file = promptFile(cwd, 40);
    const first = await run(['batch', file, '--concurrency', '8', '--output-dir', 'clips', ...FAST], { sandbox: sb, cwd });
    expect(first.code, first.stderr).toBe(0);
    const lines = jsonLines(first.stdout);
    expect(lines).toHaveLength(40);
    expect(lines.map((line) => line.line).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
    expect(lines.every((line) => line.status === 'completed' && line.error === null && line.files.length === 1)).toBe(true);
    expect(sb.stats.submissions).toBe(40);
    expect(sb.stats.maxInFlight).toBeGreaterThan(1);
    expect(sb.stats.maxInFlight).toBeLessThanOrEqual(8);

    const dir = join(cwd, 'clips');
    expect(mp4s(dir)).toHaveLength(40);
    expect(mp4s(dir)[0]).toBe('001-clip-number-1-a-paper-boat-on-a-pond.mp4');
    const line7 = lines.find((line) => line.line === 7)!;
    expect(line7.files).toEqual([join(dir, '007-clip-number-7-a-paper-boat-on-a-pond.mp4')]);
    expect(await readMediaInfo(line7.files[0]!)).toMatchObject({ width: 1280, height: 720 });
    expect(first.stderr).toMatch(/40 completed, 0 failed, 0 skipped \(saved before\) · cost 40 \(400 credits\)/);
    // Not a terminal: plain lines, one per status change, each prefixed by its job's line; no spinner.
    const aboutLine7 = first.stderr.split('\n').filter((text) => text.startsWith('line 7: ') || text.startsWith('✔ line 7: '));
    expect(aboutLine7.filter((text) => /^line 7: submitted task_\w+$/.test(text))).toHaveLength(1);
    expect(aboutLine7.filter((text) => text.startsWith('line 7: completed · 100%'))).toHaveLength(1);
    expect(aboutLine7.filter((text) => text.startsWith('line 7: generating'))).toHaveLength(aboutLine7.some((text) => text.includes('generating')) ? 1 : 0);
    expect(aboutLine7.at(-1)).toMatch(/^✔ line 7: .*007-clip-number-7-a-paper-boat-on-a-pond\.mp4 \(77 KiB, 3\.0 s, 1280x720, cost 1\)$/);
    expect(first.stderr).not.toMatch(/[\u280b\u2819\u2839\u2838]|\x1b\[/);

    const again = await run(['batch', file, '--concurrency', '8', '--output-dir', 'clips', ...FAST], { sandbox: sb, cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(sb.stats.submissions).toBe(40);
    const skipped = jsonLines(again.stdout);
    expect(skipped).toHaveLength(40);
    expect(skipped.every((line) => line.skipped === true && line.files.length === 1)).toBe(true);
    expect(again.stderr).toContain('0 completed, 0 failed, 40 skipped (saved before)');
  });

  it('after kill -9 midway, a re-run waits for the submitted jobs and submits only the rest: exactly one submission per line', async () => {
    const sb = await sandbox({ jobSeconds: 2.5 });
    const cwd = tempDir();
    const file = promptFile(cwd, 40);
    const args = ['batch', file, '--concurrency', '8', '--output-dir', 'clips', ...FAST];
    const killed = await run(args, {
      sandbox: sb,
      cwd,
      onSpawn: (child) => {
        // Between the 16th submission and the 17th the batch only waits (8 jobs of 2.5 s in
        // flight, long enough for a loaded machine whose first 8 submissions spread out): killing
        // it then tests resuming, not the uncertain case tested below.
        void until(() => sb.stats.submissions >= 16, '16 submissions')
          .then(() => new Promise((resolve) => setTimeout(resolve, 250)))
          .then(() => child.kill('SIGKILL'));
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(sb.stats.submissions).toBe(16);
    const savedBefore = jsonLines(killed.stdout).length;
    expect(savedBefore).toBeGreaterThanOrEqual(1);
    expect(savedBefore).toBeLessThan(16);

    const resumed = await run(args, { sandbox: sb, cwd });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(sb.stats.submissions).toBe(40);
    expect([...submissionsPerPrompt(sb).values()].every((count) => count === 1)).toBe(true);
    expect(submissionsPerPrompt(sb).size).toBe(40);
    expect(resumed.stderr).toContain(`24 to submit, ${16 - savedBefore} to wait for, ${savedBefore} saved before`);
    expect(jsonLines(resumed.stdout)).toHaveLength(40);
    expect(mp4s(join(cwd, 'clips'))).toHaveLength(40);
    expect(readdirSync(join(cwd, 'clips')).filter((name) => name.endsWith('.part'))).toEqual([]);
  });

  it('Ctrl-C stops it with 130, the submitted jobs kept; the same command then finishes without resubmitting', async () => {
    // Long enough that no job ends (and frees a slot for a third submission) before the Ctrl-C lands.
    const sb = await sandbox({ jobSeconds: 3 });
    const cwd = tempDir();
    const file = promptFile(cwd, 6);
    const args = ['batch', file, '--concurrency', '2', ...FAST];
    const interrupted = await run(args, {
      sandbox: sb,
      cwd,
      onSpawn: (child) => void until(() => sb.stats.submissions >= 2, 'two submissions').then(() => child.kill('SIGINT')),
    });
    expect(interrupted.code, interrupted.stderr).toBe(130);
    const submitted = sb.stats.submissions;
    expect(submitted).toBe(2);
    // The summary says what happened to the money: interrupted, not done; each submitted task
    // listed as still running and possibly charged; no "cost 0" while they run.
    expect(interrupted.stderr).toMatch(/^Batch interrupted after \d+s: 0 completed, 0 failed, 0 skipped \(saved before\), 2 interrupted, 4 not started · 2 submitted job\(s\) still running, which may still be charged$/m);
    for (const [taskId, task] of sb.tasks) {
      const line = (task.request as { prompt: string }).prompt.match(/clip number (\d+)/)![1];
      expect(interrupted.stderr).toContain(`  line ${line}: ${taskId} submitted, still running`);
    }
    expect(interrupted.stderr).not.toContain('Batch done');
    expect(interrupted.stderr).not.toContain('cost 0');
    expect(interrupted.stderr).toContain('Interrupted: the 2 job(s) submitted keep running on the service and may still be charged.');
    expect(interrupted.stderr).toContain('Run the same command again');

    const resumed = await run(args, { sandbox: sb, cwd });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('4 to submit, 2 to wait for, 0 saved before');
    expect(sb.stats.submissions).toBe(6);
    expect([...submissionsPerPrompt(sb).values()].every((count) => count === 1)).toBe(true);
    expect(mp4s(cwd)).toHaveLength(6);
  });

  it('Ctrl-C while a completed job downloads: the summary says it completed and is not saved yet, with its cost, not "still running"', async () => {
    // Slow enough that the Ctrl-C lands mid-transfer.
    const sb = await sandbox({ jobSeconds: 0.3, largeFileBytes: 20 * 1024 * 1024, downloadBytesPerSecond: 1024 * 1024 });
    const cwd = tempDir();
    const file = promptFile(cwd, 1);
    const interrupted = await run(['batch', file, ...FAST], { sandbox: sb, cwd, onSpawn: interruptWhen(/downloading/) });
    expect(interrupted.code, interrupted.stderr).toBe(130);
    const [taskId] = [...sb.tasks.keys()];
    expect(interrupted.stderr).toMatch(/^Batch interrupted after \d+s: 0 completed, 0 failed, 0 skipped \(saved before\), 1 interrupted · cost 1 \(10 credits\); 1 completed job\(s\) not saved yet$/m);
    expect(interrupted.stderr).toContain(`  line 1: ${taskId} completed, its video not saved yet`);
    expect(interrupted.stderr).not.toContain('still running');
    expect(interrupted.stderr).not.toContain('keep running');
  });

  it('keys jobs by content: lines added above saved ones leave them skipped, with the files they were saved as', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    writeFileSync(join(cwd, 'list.txt'), 'a heron\na crane\n');
    const args = ['batch', 'list.txt', ...FAST];
    expect((await run(args, { sandbox: sb, cwd })).code).toBe(0);
    writeFileSync(join(cwd, 'list.txt'), 'a stork\na heron\na crane\n');
    const again = await run(args, { sandbox: sb, cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(sb.stats.submissions).toBe(3);
    const lines = jsonLines(again.stdout).sort((a, b) => a.line - b.line);
    expect(lines.map((line) => [line.line, line.files[0], line.skipped ?? false])).toEqual([
      [1, join(cwd, '001-a-stork.mp4'), false],
      [2, join(cwd, '001-a-heron.mp4'), true],
      [3, join(cwd, '002-a-crane.mp4'), true],
    ]);
    expect(mp4s(cwd)).toEqual(['001-a-heron.mp4', '001-a-stork.mp4', '002-a-crane.mp4']);
  });

  it('JSON Lines: each line validated; bad lines reported with their number and skipped, the rest run; explicit outputs and portrait; exit 2', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'jobs.jsonl'),
      [
        JSON.stringify({ prompt: 'a tall lighthouse', aspect_ratio: 'portrait', output: 'tall/lighthouse.mp4', id: 'lighthouse' }),
        '{"prompt": "broken',
        JSON.stringify({ prompt: 'a cat', image_urls: ['https://example.com/cat.jpg'] }),
        JSON.stringify({ prompt: 'escape', output: '../outside.mp4' }),
        JSON.stringify({ prompt: 'typo', aspect_ration: '9:16' }),
        JSON.stringify({ prompt: 'same file', output: 'tall/lighthouse.mp4' }),
        JSON.stringify({ prompt: 'square', aspect_ratio: '1:1' }),
        '',
      ].join('\n'),
    );
    const result = await run(['batch', 'jobs.jsonl', '--output-dir', 'out', ...FAST], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('jobs.jsonl line 2: not valid JSON, but line 1 made this a JSON Lines file, one JSON object per line (skipped)');
    expect(result.stderr).toContain("jobs.jsonl line 4: output '../outside.mp4' escapes the output directory (skipped)");
    expect(result.stderr).toContain('jobs.jsonl line 5: unknown field aspect_ration (skipped)');
    expect(result.stderr).toMatch(/jobs\.jsonl line 6: output .*lighthouse\.mp4 is already line 1's \(skipped\)/);
    expect(result.stderr).toContain("line 7: Unsupported aspect ratio '1:1'");
    expect(existsSync(join(cwd, 'outside.mp4'))).toBe(false);

    const lines = jsonLines(result.stdout);
    expect(lines.map((line) => [line.line, line.status]).sort()).toEqual([
      [1, 'completed'],
      [3, 'completed'],
      [7, 'not_submitted'],
    ]);
    const tall = lines.find((line) => line.line === 1)!;
    expect(tall.id).toBe('lighthouse');
    expect(tall.files).toEqual([join(cwd, 'out', 'tall', 'lighthouse.mp4')]);
    expect(await readMediaInfo(tall.files[0]!)).toMatchObject({ width: 720, height: 1280 });
    expect(lines.find((line) => line.line === 3)!.files).toEqual([join(cwd, 'out', '003-a-cat.mp4')]);
    expect(sb.submissions().map((request) => request.body)).toEqual(
      expect.arrayContaining([
        { model: 'gemini-omni-flash-preview', prompt: 'a tall lighthouse', aspect_ratio: '9:16', resolution: '720p' },
        { model: 'gemini-omni-flash-preview', prompt: 'a cat', image_urls: ['https://example.com/cat.jpg'], aspect_ratio: '16:9', resolution: '720p' },
      ]),
    );
    expect(sb.stats.submissions).toBe(2);
  });

  it('a JSON line in a prompts file, or a prompt in a JSON Lines file, is a bad line: reported with its number before any submission, never paid for as a prompt; exit 2', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    writeFileSync(join(cwd, 'prompts.txt'), ['# storks', 'a stork', '', 'a heron', '{"prompt": "a crane", "aspect_ratio": "9:16"}', ''].join('\n'));
    const text = await run(['batch', 'prompts.txt', ...FAST], { sandbox: sb, cwd });
    expect(text.code, text.stderr).toBe(2);
    const [first, second] = text.stderr.split('\n');
    expect(first).toBe('✖ prompts.txt line 5: starts with { as JSON does, but line 2 made this a file of prompts, one per line: write every line as JSON, or reword the prompt (skipped)');
    expect(second).toMatch(/^Batch prompts\.txt: 2 job\(s\)/);
    expect(jsonLines(text.stdout).map((line) => [line.line, line.status])).toEqual(expect.arrayContaining([[2, 'completed'], [4, 'completed']]));
    expect(sb.submissions().map((request) => (request.body as { prompt: string }).prompt).sort()).toEqual(['a heron', 'a stork']);

    writeFileSync(join(cwd, 'jobs.jsonl'), [JSON.stringify({ prompt: 'a swan' }), 'a goose', ''].join('\n'));
    const json = await run(['batch', 'jobs.jsonl', '--output-dir', 'json', ...FAST], { sandbox: sb, cwd });
    expect(json.code, json.stderr).toBe(2);
    expect(json.stderr.split('\n')[0]).toBe('✖ jobs.jsonl line 2: not valid JSON, but line 1 made this a JSON Lines file, one JSON object per line (skipped)');
    expect(sb.submissions()).toHaveLength(3);
  });

  it('keeps the successes when a job fails (exit 4); a re-run submits only the failed line again', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { failJobs: 1 } });
    const cwd = tempDir();
    const file = promptFile(cwd, 3);
    const args = ['batch', file, '--concurrency', '1', '--output-dir', '.', ...FAST];
    const first = await run(args, { sandbox: sb, cwd });
    expect(first.code, first.stderr).toBe(4);
    const lines = jsonLines(first.stdout);
    expect(lines.map((line) => [line.line, line.status])).toEqual([
      [1, 'failed'],
      [2, 'completed'],
      [3, 'completed'],
    ]);
    expect(lines[0]!.error?.message).toBeTruthy();
    expect(lines[0]!.task_id).toMatch(/^task_/);
    expect(mp4s(cwd)).toEqual(['002-clip-number-2-a-paper-boat-on-a-pond.mp4', '003-clip-number-3-a-paper-boat-on-a-pond.mp4']);
    expect(first.stderr).toContain('2 completed, 1 failed, 0 skipped');
    expect(first.stderr).toContain('1 of 3 job(s) did not complete (line 1).');

    const again = await run(args, { sandbox: sb, cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(sb.stats.submissions).toBe(4);
    expect(mp4s(cwd)).toHaveLength(3);
  });

  it('at a high concurrency prints no Node warning about abort listeners', async () => {
    const sb = await sandbox({ jobSeconds: 0.5 });
    const cwd = tempDir();
    const result = await run(['batch', promptFile(cwd, 24), '--concurrency', '24', '--output-dir', 'clips', ...FAST], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLines(result.stdout)).toHaveLength(24);
    expect(result.stderr).not.toContain('MaxListenersExceededWarning');
  });

  it('on 429 lowers its concurrency, backs off, recovers, and never has more than --concurrency jobs in flight', async () => {
    const sb = await sandbox({ jobSeconds: 0.5, faults: { submit429: 12, retryAfter: '0.2' } });
    const cwd = tempDir();
    const file = promptFile(cwd, 16);
    const result = await run(['batch', file, '--concurrency', '4', '--output-dir', 'clips', ...FAST], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Rate limited: at most [12] jobs at once for now \(was [24]\)/);
    expect(result.stderr).toMatch(/Concurrency back up to [234]/);
    expect(sb.stats.submissions).toBe(16);
    expect(sb.stats.maxInFlight).toBeLessThanOrEqual(4);
    expect(mp4s(join(cwd, 'clips'))).toHaveLength(16);
    const rejected = sb.requests.filter((request) => request.method === 'POST').length - 16;
    expect(rejected).toBe(12);
  });

  it('a job whose submission may have reached the service (killed mid-request) is reported and not resent, unless --retry-uncertain', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { submitDelayMs: 60_000 } });
    const cwd = tempDir();
    writeFileSync(join(cwd, 'one.txt'), 'a slow submission\n');
    const args = ['batch', 'one.txt', ...FAST];
    const killed = await run(args, {
      sandbox: sb,
      cwd,
      onSpawn: (child) => void until(() => sb.stats.submissions === 1, 'the submission').then(() => child.kill('SIGKILL')),
    });
    expect(killed.signal).toBe('SIGKILL');
    sb.faults.submitDelayMs = 0;

    const resumed = await run(args, { sandbox: sb, cwd });
    expect(resumed.code).toBe(6);
    expect(resumed.stderr).toContain('line 1: an earlier run stopped while submitting it');
    expect(resumed.stderr).toContain('--retry-uncertain');
    expect(jsonLines(resumed.stdout)).toMatchObject([{ line: 1, status: 'uncertain', task_id: null }]);
    expect(sb.stats.submissions).toBe(1);

    const retried = await run([...args, '--retry-uncertain'], { sandbox: sb, cwd });
    expect(retried.code, retried.stderr).toBe(0);
    expect(sb.stats.submissions).toBe(2);
    expect(mp4s(cwd)).toEqual(['001-a-slow-submission.mp4']);
  });

  it('the same batch started again while it runs (another terminal) is refused, exit 2, nothing submitted twice; once it ended, a run goes on', async () => {
    // Long enough that the first run is still going when the second starts, on a loaded machine too.
    const sb = await sandbox({ jobSeconds: 2 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['batch', promptFile(cwd, 4), '--concurrency', '1', ...FAST];
    const first = run(args, { sandbox: sb, cwd, configDir });
    await until(() => sb.stats.submissions >= 1, 'the first submission');
    const second = await run(args, { sandbox: sb, cwd, configDir });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`^✖ Another omni-video batch \\(process \\d+\\) is running in ${cwd}; nothing was submitted\\.$`, 'm'));
    expect(second.stdout).toBe('');
    expect((await first).code).toBe(0);
    expect(sb.stats.submissions).toBe(4);

    const after = await run(args, { sandbox: sb, cwd, configDir });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toContain('0 to submit, 0 to wait for, 4 saved before');
    expect(sb.stats.submissions).toBe(4);
    expect(readdirSync(cwd).filter((name) => name.endsWith('.lock'))).toEqual([]);
  });

  it('--shard i/n splits the same file the same way every time, each line in exactly one shard; --max-jobs caps a run', async () => {
    const cwd = tempDir();
    const file = promptFile(cwd, 40);
    const seen: number[] = [];
    for (const shard of ['1/4', '2/4', '3/4', '4/4']) {
      const first = await run(['batch', file, '--shard', shard, '--dry-run'], { cwd, noKey: true });
      const second = await run(['batch', file, '--shard', shard, '--dry-run'], { cwd, noKey: true });
      expect(first.code, first.stderr).toBe(0);
      expect(second.stdout).toBe(first.stdout);
      const lines = jsonLines(first.stdout);
      expect(lines.length).toBeGreaterThan(0);
      seen.push(...lines.map((line) => line.line));
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));

    const sb = await sandbox({ jobSeconds: 0.3 });
    const capped = await run(['batch', file, '--max-jobs', '3', '--output-dir', 'clips', ...FAST], { sandbox: sb, cwd });
    expect(capped.code, capped.stderr).toBe(0);
    expect(jsonLines(capped.stdout)).toHaveLength(3);
    expect(capped.stderr).toContain('37 left by --max-jobs');
    expect(sb.stats.submissions).toBe(3);
  });

  it('--dry-run plans every line, reports each bad one with its number, then exits 2, as the real run does', async () => {
    const cwd = tempDir();
    const lines = [
      { prompt: 'a red fox running through snow' },
      { prompt: 'a square clip', aspect_ratio: 'square' },
      'not json at all',
      { prompt: 'the cat', image_urls: ['./cat.png'] },
      { prompt: 'a blue whale', aspect_ratio: 'portrait' },
    ];
    writeFileSync(join(cwd, 'jobs.jsonl'), `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`);
    const dry = await run(['batch', 'jobs.jsonl', '--dry-run'], { cwd, noKey: true });
    expect(dry.code).toBe(2);
    expect(jsonLines(dry.stdout).map((line) => line.line)).toEqual([1, 5]);
    const reported = (stderr: string) => [...stderr.matchAll(/^✖ (?:jobs\.jsonl )?line (\d+): /gm)].map((match) => Number(match[1])).sort();
    expect(reported(dry.stderr)).toEqual([2, 3, 4]);
    expect(dry.stderr).toContain("line 2: Unsupported aspect ratio 'square'");
    expect(dry.stderr).toContain("line 4: --image './cat.png' is not an http(s) URL");
    expect(dry.stderr).toMatch(/3 line\(s\) of jobs\.jsonl have problems/);

    const sb = await sandbox({ jobSeconds: 0.3 });
    const real = await run(['batch', 'jobs.jsonl', ...FAST], { sandbox: sb, cwd });
    expect(real.code).toBe(2);
    // Lines are printed as jobs end, in any order.
    expect(jsonLines(real.stdout).filter((line) => line.status === 'completed').map((line) => line.line).sort()).toEqual([1, 5]);
    expect(reported(real.stderr)).toEqual([2, 3, 4]);
    expect(sb.stats.submissions).toBe(2);
  });

  it('a bad field is named once in its message, not twice', async () => {
    const cwd = tempDir();
    const lines = [{ prompt: 'x', resolution: '1080p' }, { prompt: '  ' }, { prompt: 'x', extend_from_task_id: 'task id?' }, { prompt: 5 }];
    writeFileSync(join(cwd, 'jobs.jsonl'), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    const dry = await run(['batch', 'jobs.jsonl', '--dry-run'], { cwd, noKey: true });
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain('✖ jobs.jsonl line 1: resolution must be 720p (skipped)');
    expect(dry.stderr).toContain('✖ jobs.jsonl line 2: prompt is empty (skipped)');
    expect(dry.stderr).toContain('✖ jobs.jsonl line 3: extend_from_task_id is not a task id (skipped)');
    expect(dry.stderr).toContain('✖ jobs.jsonl line 4: prompt: Invalid input: expected string, received number (skipped)');
  });

  it('reads plain prompts from stdin; refuses a missing file and bad flags with exit 2, submitting nothing', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const piped = await run(['batch', '-', '-a', 'portrait', ...FAST], { sandbox: sb, cwd, stdin: '# a comment\n\na heron at dawn\n' });
    expect(piped.code, piped.stderr).toBe(0);
    expect(jsonLines(piped.stdout)).toMatchObject([{ line: 3, status: 'completed', files: [join(cwd, '003-a-heron-at-dawn.mp4')] }]);
    expect(sb.submissions()[0]!.body).toMatchObject({ prompt: 'a heron at dawn', aspect_ratio: '9:16' });

    const missing = await run(['batch', 'nope.txt'], { sandbox: sb, cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Cannot read the batch file nope.txt (no such file)');
    for (const flags of [['--shard', '5/4'], ['--concurrency', '0'], ['--max-jobs', 'x']]) {
      const bad = await run(['batch', '-', ...flags], { sandbox: sb, cwd, stdin: 'x\n' });
      expect(bad.code, flags.join(' ')).toBe(2);
      expect(bad.stdout).toBe('');
    }
    expect(sb.stats.submissions).toBe(1);
  });
});
