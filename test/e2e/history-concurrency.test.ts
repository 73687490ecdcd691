import { appendFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';

interface JobJson {
  job: string;
  task_id?: string;
  prompt?: string;
  file?: string;
}

async function jobs(configDir: string) {
  const result = await run(['jobs', '--limit', '0', '--json'], { configDir });
  return { ...result, jobs: JSON.parse(result.stdout) as JobJson[] };
}

describe('the job history under concurrency and crashes', () => {
  it('8 processes × 10 jobs at once: 80 records, every one intact with its task id and file', async () => {
    const sb = await sandbox({ jobSeconds: 0 });
    const configDir = tempDir('ov-config-');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, worker) => {
        const cwd = tempDir('ov-cwd-');
        writeFileSync(join(cwd, 'prompts.txt'), Array.from({ length: 10 }, (_, index) => `worker ${worker} clip ${index}`).join('\n'));
        return run(['batch', 'prompts.txt', '--concurrency', '10', '--poll-interval', '0.5'], { sandbox: sb, configDir, cwd, timeoutMs: 60_000 });
      }),
    );
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(sb.stats.submissions).toBe(80);

    const { jobs: listed, stderr } = await jobs(configDir);
    expect(stderr).not.toContain('damaged');
    expect(listed).toHaveLength(80);
    expect(new Set(listed.map((job) => job.task_id))).toEqual(new Set(sb.tasks.keys()));
    expect(new Set(listed.map((job) => job.prompt)).size).toBe(80);
    expect(listed.every((job) => job.file?.endsWith('.mp4'))).toBe(true);
    const lines = (await readFile(join(configDir, 'jobs.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines.every((line) => JSON.parse(line) !== null)).toBe(true);
  });

  it('a last line cut short by a crash is skipped with a warning, and the next job is appended whole after it', async () => {
    const sb = await sandbox({ jobSeconds: 0 });
    const configDir = tempDir('ov-config-');
    expect((await run(['generate', 'before the crash', '--no-wait'], { sandbox: sb, configDir })).code).toBe(0);
    appendFileSync(join(configDir, 'jobs.jsonl'), '{"job":"crashed","at":"2026-01-');

    const listed = await jobs(configDir);
    expect(listed.code).toBe(0);
    expect(listed.stderr).toMatch(/Skipped a damaged line in .*jobs\.jsonl \(its last line, probably cut short by a crash\)/);
    expect(listed.jobs.map((job) => job.prompt)).toEqual(['before the crash']);

    expect((await run(['generate', 'after the crash', '--no-wait'], { sandbox: sb, configDir })).code).toBe(0);
    const after = await jobs(configDir);
    expect(after.code).toBe(0);
    expect(after.jobs.map((job) => job.prompt)).toEqual(['after the crash', 'before the crash']);
    expect(after.jobs.every((job) => job.task_id?.startsWith('task_'))).toBe(true);
  });
});
