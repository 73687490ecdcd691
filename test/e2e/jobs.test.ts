import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HISTORY_FILE } from '../../src/store/history.js';
import { run, runInProcess, sandbox, tempDir } from '../helpers/harness.js';

interface JobJson {
  job: string;
  task_id?: string;
  status?: string;
  prompt?: string;
  file?: string;
  batch?: string;
}

/** A history of `count` jobs written as omni-video writes it: created, submitted, then an end. */
function history(dir: string, count: number): void {
  const lines: string[] = [];
  for (let index = 1; index <= count; index++) {
    const job = `job-${index}`;
    const at = new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString();
    lines.push(JSON.stringify({ job, at, event: 'created', prompt: `prompt ${index}` }));
    lines.push(JSON.stringify({ job, at, event: 'submitted', task_id: `task_${index}`, status: 'submitted' }));
    lines.push(JSON.stringify({ job, at, event: index % 10 === 0 ? 'failed' : 'completed', status: index % 10 === 0 ? 'failed' : 'completed', cost: 1 }));
  }
  writeFileSync(join(dir, HISTORY_FILE), `${lines.join('\n')}\n`);
}

describe.concurrent('jobs', () => {
  it('--json prints one array, newest first; --limit and --status pick from a long history', async () => {
    const configDir = tempDir('ov-config-');
    history(configDir, 30_000);
    const latest = await runInProcess(['jobs', '--limit', '3', '--json'], { configDir });
    expect(latest.code, latest.stderr).toBe(0);
    const jobs = JSON.parse(latest.stdout) as JobJson[];
    expect(jobs.map((job) => [job.task_id, job.status])).toEqual([
      ['task_30000', 'failed'],
      ['task_29999', 'completed'],
      ['task_29998', 'completed'],
    ]);

    const failed = await runInProcess(['jobs', '--status', 'failed', '--limit', '2', '--json'], { configDir });
    expect((JSON.parse(failed.stdout) as JobJson[]).map((job) => job.task_id)).toEqual(['task_30000', 'task_29990']);

    const all = await runInProcess(['jobs', '--status', 'failed', '--limit', '0', '--json'], { configDir });
    expect(JSON.parse(all.stdout)).toHaveLength(3_000);

    const text = await runInProcess(['jobs', '--limit', '2'], { configDir });
    expect(text.stdout.trim().split('\n')).toHaveLength(2);
    expect(text.stdout).toContain('task_30000  failed  "prompt 30000"  cost 1');
  });

  it('an empty history is an empty array with --json, and a hint on stderr without; a bad --limit is refused (exit 2)', async () => {
    const configDir = tempDir('ov-config-');
    const json = await runInProcess(['jobs', '--json'], { configDir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
    const text = await runInProcess(['jobs'], { configDir });
    expect(text.stdout).toBe('');
    // A command that works as pasted: a real prompt, not a placeholder that would be paid for as one.
    expect(text.stderr).toContain('No jobs yet. Submit one with: omni-video generate "a red apple on a table"');
    const quiet = await runInProcess(['jobs', '-q'], { configDir });
    expect(quiet.stdout + quiet.stderr).toBe('');
    const bad = await runInProcess(['jobs', '--limit', 'many'], { configDir });
    expect(bad.code).toBe(2);
  });

  it('a --status that matches nothing says so and how many jobs there are, not "No jobs yet"', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir('ov-config-');
    for (const prompt of ['a heron', 'a crane']) expect((await run(['generate', prompt], { sandbox: sb, configDir })).code).toBe(0);

    const none = await run(['jobs', '--status', 'failed'], { configDir });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('No failed jobs in the history (2 jobs in all).\n');
    const alias = await run(['jobs', '--status', 'processing', '--limit', '1'], { configDir });
    expect(alias.stderr).toBe('No generating jobs in the history (2 jobs in all).\n');
  });

  it('rows say cost and credits as the total line does; --json has the state the rows show beside the API status', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir('ov-config-');
    for (const prompt of ['a heron', 'a crane']) expect((await run(['generate', prompt], { sandbox: sb, configDir })).code).toBe(0);
    const rows = await run(['jobs'], { configDir });
    expect(rows.stdout).toMatch(/  completed  "a crane"  cost 1 \(10 credits\)  \/\S+\.mp4  link expires /);
    expect(rows.stderr).toBe('2 job(s) · cost 2 (20 credits)\n');

    const json = JSON.parse((await run(['jobs', '--json'], { configDir })).stdout) as (JobJson & { state: string })[];
    expect(json.map((job) => [job.prompt, job.status, job.state])).toEqual([
      ['a crane', 'completed', 'completed'],
      ['a heron', 'completed', 'completed'],
    ]);
  });

  it('a long prompt is cut between characters, never inside an emoji (no "\\ud83e" in the row)', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const configDir = tempDir('ov-config-');
    const prompt = `${'a'.repeat(48)}🦊 runs through the snow`;
    expect((await run(['generate', prompt, '--no-wait'], { sandbox: sb, configDir })).code).toBe(0);
    const rows = await run(['jobs'], { configDir });
    expect(rows.stdout).toContain(`  queued  "${'a'.repeat(48)}🦊…"\n`);
  });

  it('the total names an uncertain submission (no task id, may be charged) instead of letting "cost 0" stand for it', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { submitResetAfterCreate: 1 } });
    const configDir = tempDir('ov-config-');
    expect((await run(['generate', 'a lost answer'], { sandbox: sb, configDir })).code).toBe(6);
    const rows = await run(['jobs'], { configDir });
    expect(rows.stdout).toMatch(/  \(no task id\)  uncertain  "a lost answer"  error: /);
    expect(rows.stderr).toBe('1 job(s) · cost 0 (0 credits); 1 uncertain (no task id), which may be charged\n');
  });

  it('a line cut short by a crash is skipped with a warning, the rest listed', async () => {
    const configDir = tempDir('ov-config-');
    history(configDir, 2);
    appendFileSync(join(configDir, HISTORY_FILE), '{"job":"job-3","at":"2026-01-01T00:00:03.000Z","event":"crea');
    const result = await runInProcess(['jobs', '--json'], { configDir });
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as JobJson[]).map((job) => job.task_id)).toEqual(['task_2', 'task_1']);
    expect(result.stderr).toContain('cut short by a crash');
  });

  it('batch jobs are in the history with their batch and line, their task id and file', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    writeFileSync(join(cwd, 'two.txt'), 'a heron\na crane\n');
    const batch = await run(['batch', 'two.txt', '--poll-interval', '0.5'], { sandbox: sb, cwd, configDir });
    expect(batch.code, batch.stderr).toBe(0);
    const listed = await run(['jobs', '--json'], { configDir });
    const jobs = JSON.parse(listed.stdout) as JobJson[];
    expect(jobs.map((job) => [job.batch, job.prompt, job.file]).sort()).toEqual([
      ['two.txt:1', 'a heron', join(cwd, '001-a-heron.mp4')],
      ['two.txt:2', 'a crane', join(cwd, '002-a-crane.mp4')],
    ]);
    expect(jobs.every((job) => job.status === 'completed' && job.task_id?.startsWith('task_'))).toBe(true);
  });

  it('one vocabulary: jobs and jobs --status say queued and generating as the spinner does, the API words are aliases; an unknown state is refused with the list', async () => {
    const configDir = tempDir('ov-config-');
    const at = '2026-01-01T00:00:00.000Z';
    const records = [
      ['a', { event: 'submitted', task_id: 'task_a', status: 'submitted' }],
      ['b', { event: 'status', task_id: 'task_b', status: 'pending' }],
      ['c', { event: 'status', task_id: 'task_c', status: 'processing' }],
      ['d', { event: 'status', task_id: 'task_d', status: 'processing' }, { event: 'interrupted' }],
      ['e', { event: 'saved', task_id: 'task_e', status: 'completed', file: '/clips/e.mp4' }],
      ['f', { event: 'failed', task_id: 'task_f', status: 'failed', error: 'policy' }],
      ['g', { event: 'cancelled', task_id: 'task_g', status: 'cancelled' }],
      ['h', { event: 'uncertain', status: 'uncertain' }],
      ['i', { event: 'rejected', status: 'rejected' }],
      // Only the record written before the request: the process died while submitting.
      ['j'],
    ] as const;
    const lines = records.flatMap(([job, ...events]) => [{ job, at, event: 'created', prompt: `prompt ${job}` }, ...events.map((event) => ({ job, at, ...event }))]);
    writeFileSync(join(configDir, HISTORY_FILE), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    const listed = async (state: string) => {
      const result = await runInProcess(['jobs', '--status', state, '--json'], { configDir });
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as JobJson[]).map((job) => job.job).sort();
    };
    expect(await listed('queued')).toEqual(['a', 'b']);
    expect(await listed('pending')).toEqual(['a', 'b']);
    expect(await listed('generating')).toEqual(['c']);
    expect(await listed('processing')).toEqual(['c']);
    expect(await listed('interrupted')).toEqual(['d']);
    expect(await listed('completed')).toEqual(['e']);
    expect(await listed('failed')).toEqual(['f']);
    expect(await listed('cancelled')).toEqual(['g']);
    expect(await listed('uncertain')).toEqual(['h', 'j']);
    expect(await listed('rejected')).toEqual(['i']);
    const text = await runInProcess(['jobs', '--limit', '0'], { configDir });
    const column = new Map(text.stdout.trim().split('\n').map((line) => [/"prompt (\w)"/.exec(line)![1], line.split('  ')[2]]));
    expect(Object.fromEntries(column)).toEqual({ a: 'queued', b: 'queued', c: 'generating', d: 'interrupted', e: 'completed', f: 'failed', g: 'cancelled', h: 'uncertain', i: 'rejected', j: 'uncertain' });

    for (const word of ['complete', 'done']) {
      const refused = await runInProcess(['jobs', '--status', word], { configDir });
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toBe(
        `✖ --status '${word}' is not a job state: use queued, generating, completed, failed, cancelled, interrupted, uncertain, rejected.\n` +
          "  The API's words work too: submitted (queued), pending (queued), processing (generating).\n",
      );
    }
  });

  it('a job just submitted is queued in status, in jobs, and for jobs --status queued', async () => {
    const sb = await sandbox({ jobSeconds: 30, queueSeconds: 30 });
    const configDir = tempDir('ov-config-');
    const id = (await run(['generate', 'a slow heron', '--no-wait'], { sandbox: sb, configDir })).stdout.trim();
    const status = await run(['status', id], { sandbox: sb, configDir });
    expect(status.stdout).toMatch(new RegExp(`^${id}  queued  0%`));
    const jobs = await run(['jobs', '--status', 'queued'], { configDir });
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(jobs.stdout).toContain(`${id}  queued  "a slow heron"`);
  });
});
