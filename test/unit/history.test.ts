import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendJobRecord, findLastJob, historyPath, readJobs } from '../../src/store/history.js';
import { tempDir } from '../helpers/harness.js';

describe('job history', () => {
  it('folds each job’s lines, newest job first, and keeps the file owner-only', async () => {
    const dir = join(tempDir('ov-history-'), 'nested');
    await appendJobRecord(dir, { job: 'a', event: 'created', prompt: 'first' });
    await appendJobRecord(dir, { job: 'b', event: 'created', prompt: 'second' });
    await appendJobRecord(dir, { job: 'a', event: 'submitted', task_id: 'task_a', status: 'submitted' });
    await appendJobRecord(dir, { job: 'a', event: 'saved', file: '/clips/a.mp4' });
    const jobs = await readJobs(dir);
    expect(jobs.map((job) => [job.job, job.prompt, job.task_id, job.status, job.file, job.last_event])).toEqual([
      ['b', 'second', undefined, undefined, undefined, 'created'],
      ['a', 'first', 'task_a', 'submitted', '/clips/a.mp4', 'saved'],
    ]);
    expect((await findLastJob(dir, undefined))?.job).toBe('a');
    if (process.platform !== 'win32') {
      expect(statSync(historyPath(dir)).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
  });

  it('reads back a prompt whose multibyte character straddles the boundary of the chunks it reads backwards, unchanged', async () => {
    const dir = tempDir('ov-history-');
    const prompt = (n: number) => `雪の中を走る狐 ${n} ${'日'.repeat(200)}`;
    // Lines of 3-byte characters until a 256 KiB boundary, counted from the end, falls inside one.
    const lines: string[] = [];
    for (let n = 0; ; n++) {
      lines.push(`${JSON.stringify({ job: `j${n}`, at: '2026-01-01T00:00:00Z', event: 'created', prompt: prompt(n) })}\n`);
      const bytes = Buffer.from(lines.join(''), 'utf8');
      if (bytes.length > 300 * 1024 && (bytes[bytes.length - 256 * 1024]! & 0xc0) === 0x80) break;
    }
    appendFileSync(historyPath(dir), lines.join(''));
    const warnings: string[] = [];
    const jobs = await readJobs(dir, { onWarning: (message) => warnings.push(message) });
    expect(warnings).toEqual([]);
    expect(jobs).toHaveLength(lines.length);
    expect(jobs.filter((job, index) => job.prompt !== prompt(lines.length - 1 - index)).map((job) => job.job)).toEqual([]);
  });

  it('skips a last line cut short by a crash with a warning, and the next append does not merge into it', async () => {
    const dir = tempDir('ov-history-');
    appendFileSync(historyPath(dir), `${JSON.stringify({ job: 'a', at: '2026-01-01T00:00:00Z', event: 'created', prompt: 'kept' })}\n{"job":"b","at":"2026-01-01T00:0`);
    const warnings: string[] = [];
    const before = await readJobs(dir, { onWarning: (message) => warnings.push(message) });
    expect(before.map((job) => job.job)).toEqual(['a']);
    expect(warnings).toEqual([`Skipped a damaged line in ${historyPath(dir)} (its last line, probably cut short by a crash).`]);

    await appendJobRecord(dir, { job: 'c', event: 'created', prompt: 'after the crash' });
    const lines = readFileSync(historyPath(dir), 'utf8').split('\n');
    expect(lines.at(-2)).toMatch(/^\{"job":"c",/);
    warnings.length = 0;
    const after = await readJobs(dir, { onWarning: (message) => warnings.push(message) });
    expect(after.map((job) => job.job)).toEqual(['c', 'a']);
    expect(warnings).toEqual([`Skipped a damaged line in ${historyPath(dir)}.`]);
  });

  it('loses nothing to many concurrent appends', async () => {
    const dir = tempDir('ov-history-');
    await Promise.all(
      Array.from({ length: 200 }, (_, index) => appendJobRecord(dir, { job: `j${index}`, event: 'created', prompt: 'x'.repeat(index * 50) })),
    );
    const jobs = await readJobs(dir);
    expect(new Set(jobs.map((job) => job.job)).size).toBe(200);
  });

  it('reads only as far back as the limit needs, across chunk boundaries', async () => {
    const dir = tempDir('ov-history-');
    const lines = Array.from({ length: 2000 }, (_, index) => JSON.stringify({ job: `j${index}`, at: '2026-01-01T00:00:00Z', event: 'created', prompt: 'p'.repeat(300) }));
    appendFileSync(historyPath(dir), `${lines.join('\n')}\n`);
    expect((await readJobs(dir, { limit: 3 })).map((job) => job.job)).toEqual(['j1999', 'j1998', 'j1997']);
    expect(await readJobs(dir)).toHaveLength(2000);
  });
});
