/** Issue 12, items 3 and 6: what a batch will cost, before it spends; --max-cost; cost in the summary. */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HISTORY_FILE } from '../../src/store/history.js';
import type { Sandbox } from '../../src/sandbox/server.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';
import { interruptWhen } from '../helpers/signals.js';

const FAST = ['--poll-interval', '0.5'];

function promptFile(dir: string, count: number): string {
  writeFileSync(join(dir, 'prompts.txt'), `${Array.from({ length: count }, (_, index) => `shot ${index + 1}: rain on a window`).join('\n')}\n`);
  return 'prompts.txt';
}

const mp4s = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.mp4'));
const prompts = (sb: Sandbox) => sb.submissions().map((request) => (request.body as { prompt: string }).prompt);

describe.concurrent('what a batch costs', () => {
  it('--max-cost 5 over 20 lines at cost 1: stops submitting at the budget, saves every job submitted, exit 7; a higher budget continues without resubmitting', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['batch', promptFile(cwd, 20), '--output-dir', 'clips', ...FAST];
    const first = await run([...args, '--max-cost', '5'], { sandbox: sb, cwd, configDir });
    expect(first.code, first.stderr).toBe(7);
    expect(first.stderr).toContain('Will submit 20 job(s) · estimated cost unknown (no job with a cost in the job history yet) · --max-cost 5');
    // The first job runs alone to learn the cost; then up to the budget, never a job more.
    const submitted = sb.stats.submissions;
    expect(submitted).toBe(5);
    expect(mp4s(join(cwd, 'clips'))).toHaveLength(submitted);
    expect(first.stdout.trim().split('\n')).toHaveLength(submitted);
    expect(first.stderr).toMatch(new RegExp(`^Batch done in \\d+s: ${submitted} completed, 0 failed, 0 skipped \\(saved before\\), ${20 - submitted} not submitted: the --max-cost budget of 5 was reached · cost ${submitted} \\(${submitted * 10} credits\\)$`, 'm'));
    expect(first.stderr).toContain(`✖ Stopped at the --max-cost budget of 5 (spent ${submitted}): ${20 - submitted} job(s) not submitted; every job submitted is saved.`);
    expect(first.stderr).toContain('Run the same command with a higher --max-cost to continue');

    const rest = await run([...args, '--max-cost', '100'], { sandbox: sb, cwd, configDir });
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stderr).toContain(`Will submit ${20 - submitted} job(s) · estimated cost ≈ ${20 - submitted} (1 per job, the mean of the last ${submitted} in the job history) · --max-cost 100 (${submitted} spent by earlier runs)`);
    expect(rest.stderr).toContain(`cost ${20 - submitted} (${(20 - submitted) * 10} credits); 20 in all with the clips saved before`);
    expect(sb.stats.submissions).toBe(20);
    expect(new Set(prompts(sb)).size).toBe(20);
    expect(mp4s(join(cwd, 'clips'))).toHaveLength(20);
  });

  it('with a cost known from the history, the budget allows jobs in flight at once up to it; never a job more', async () => {
    const sb = await sandbox({ jobSeconds: 0.5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const record = (job: string, event: Record<string, unknown>) => JSON.stringify({ job, at: new Date().toISOString(), ...event });
    writeFileSync(
      join(configDir, HISTORY_FILE),
      `${[record('old', { event: 'created', prompt: 'earlier', base_url: sb.baseUrl }), record('old', { event: 'completed', task_id: 'task_old', status: 'completed', cost: 2 })].join('\n')}\n`,
    );
    const result = await run(['batch', promptFile(cwd, 10), '--max-cost', '7', '--concurrency', '6', ...FAST], { sandbox: sb, cwd, configDir });
    expect(result.code, result.stderr).toBe(7);
    expect(result.stderr).toContain('Will submit 10 job(s) · estimated cost ≈ 20 (2 per job, the mean of the last 1 in the job history) · --max-cost 7');
    // At 2 per job three fit in 7; a fourth waits until one has ended and shown its real cost (1).
    const tasks = [...sb.tasks.values()].sort((a, b) => a.createdMs - b.createdMs);
    const firstEnd = Math.min(...tasks.slice(0, 3).map((task) => task.createdMs + task.durationMs));
    expect(tasks[3]!.createdMs).toBeGreaterThanOrEqual(firstEnd);
    // Then at 1 per job: exactly the budget, never a job more.
    expect(sb.stats.submissions).toBe(7);
    expect(mp4s(cwd)).toHaveLength(7);
    expect(result.stderr).toContain('3 not submitted: the --max-cost budget of 7 was reached · cost 7 (70 credits)');
  });

  it('--max-cost when the service reports no cost: one job runs to learn it, then nothing more is submitted, exit 7', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { omitCost: true } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const result = await run(['batch', promptFile(cwd, 6), '--max-cost', '3', ...FAST], { sandbox: sb, cwd, configDir });
    expect(result.code, result.stderr).toBe(7);
    expect(sb.stats.submissions).toBe(1);
    expect(mp4s(cwd)).toHaveLength(1);
    expect(result.stderr).toContain('5 not submitted: the --max-cost budget of 3 could not be kept (what jobs cost is not known)');
    expect(result.stderr).toContain('not submitted: the --max-cost budget of 3 could not be kept (what jobs cost is not known) · cost 0 (0 credits); 1 job(s) with no cost reported, which may be charged\n');
    expect(result.stderr).toContain('✖ Stopped: the service reported no cost for a job of this batch, so the --max-cost budget of 3 cannot be kept: 5 job(s) not submitted; every job submitted is saved.');
  });

  it('a re-run counts the jobs it waits for before submitting one: a failed line resubmitted ahead of a job still running stays within --max-cost', async () => {
    // Long enough that a loaded machine delivers the Ctrl-C while line 2 still runs.
    const sb = await sandbox({ jobSeconds: 3, faults: { failJobs: 1 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['batch', promptFile(cwd, 2), '--max-cost', '2', ...FAST];
    // Line 1 fails (cost 1), line 2 is submitted (1 + 1 fits in 2), then Ctrl-C.
    const first = await run([...args, '--concurrency', '1'], { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/line 2: submitted task_\w+/) });
    expect(first.code, first.stderr).toBe(130);
    expect(sb.stats.submissions).toBe(2);

    // The failed line is planned first, line 2 (paid for, still running) after it: 1 spent + 1 running leaves nothing for a new take.
    const rerun = await run(args, { sandbox: sb, cwd, configDir });
    expect(rerun.code, rerun.stderr).toBe(7);
    expect(sb.stats.submissions).toBe(2);
    expect(mp4s(cwd)).toEqual(['002-shot-2-rain-on-a-window.mp4']);
    expect(rerun.stderr).toContain('✖ Stopped at the --max-cost budget of 2 (spent 2): 1 job(s) not submitted; every job submitted is saved.');
  });

  it('submissions of earlier runs left uncertain count against --max-cost at the estimate: a re-run does not spend the budget again', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const seed = await run(['generate', 'one to know the cost'], { sandbox: sb, cwd, configDir });
    expect(seed.code, seed.stderr).toBe(0);
    sb.faults.submitResetAfterCreate = 2;
    const args = ['batch', promptFile(cwd, 6), '--output-dir', 'clips', '--max-cost', '3', '--concurrency', '1', ...FAST];
    // Lines 1 and 2: created and charged, their answers lost (uncertain, 1 each at the estimate); line 3 saved.
    const first = await run(args, { sandbox: sb, cwd, configDir });
    expect(first.code).toBe(6);
    expect(sb.stats.submissions).toBe(4);

    const rerun = await run(args, { sandbox: sb, cwd, configDir });
    expect(sb.stats.submissions, rerun.stderr).toBe(4);
    expect(rerun.stderr).toContain('✖ line 1: an earlier run sent it and got no answer, so the service may have the job; not resubmitted, to avoid paying twice.');
    expect(rerun.stderr).toContain('--max-cost 3 (3 spent by earlier runs)');
    expect(mp4s(join(cwd, 'clips'))).toHaveLength(1);
  });

  it('says so before the first submission when the estimate is more than the remaining balance', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, balance: 2 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const seed = await run(['generate', 'one to know the cost'], { sandbox: sb, cwd, configDir });
    expect(seed.code, seed.stderr).toBe(0);
    const result = await run(['batch', promptFile(cwd, 4), '--concurrency', '1', ...FAST], { sandbox: sb, cwd, configDir });
    const warning = result.stderr.indexOf('! The estimated cost (≈ 4) is more than the remaining balance (1): the service will refuse the jobs beyond it (exit 7).');
    expect(warning, result.stderr).toBeGreaterThan(-1);
    expect(warning).toBeLessThan(result.stderr.indexOf('submitted task_'));
    expect(result.code).toBe(7);
    expect(sb.stats.submissions).toBe(2);
  });

  it('off a terminal a large batch never asks; --yes is accepted', async () => {
    const sb = await sandbox({ jobSeconds: 0.2 });
    const cwd = tempDir();
    const result = await run(['batch', promptFile(cwd, 12), '--yes', '--concurrency', '6', ...FAST], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('[y/N]');
    expect(sb.stats.submissions).toBe(12);
  });
});
