/**
 * `last` is the newest job of this machine sent to the base URL in use: after trying the sandbox,
 * `last` against another service never picks a sandbox job. `extend last` refuses a job that
 * ended without a video.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';

async function generated(sb: Sandbox, configDir: string, prompt: string): Promise<string> {
  const result = await run(['generate', prompt, '--no-download', '--json', '--poll-interval', '0.5'], { sandbox: sb, configDir });
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { task_id: string }).task_id;
}

describe.concurrent('last', () => {
  it('status, download and extend last use the newest job of the base URL in use', async () => {
    const [api, trial] = await Promise.all([sandbox({ jobSeconds: 0.3 }), sandbox({ jobSeconds: 0.3 })]);
    const configDir = tempDir('ov-config-');
    const cwd = tempDir();
    const onApi = await generated(api, configDir, 'a red fox');
    // Then the user tries something against another service (the sandbox, say): newer, but not the API's.
    const onTrial = await generated(trial, configDir, 'a blue whale');

    const status = await run(['status', 'last', '--json'], { sandbox: api, configDir });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ task_id: onApi, status: 'completed' });

    const download = await run(['download', 'last'], { sandbox: api, configDir, cwd });
    expect(download.code, download.stderr).toBe(0);
    expect(download.stdout).toBe(`${join(cwd, `${onApi}.mp4`)}\n`);

    const extend = await run(['extend', 'last', 'now at night', '--dry-run'], { sandbox: api, configDir });
    expect(JSON.parse(extend.stdout)).toMatchObject({ extend_from_task_id: onApi });

    // --base-url chooses the service too, and so what `last` means.
    const there = await run(['status', 'last', '--json', '--base-url', trial.baseUrl], { sandbox: api, configDir });
    expect(JSON.parse(there.stdout)).toMatchObject({ task_id: onTrial });
    // The API was asked only about its own job.
    const asked = api.requests.filter((request) => request.path.includes('/tasks/')).map((request) => request.path.split('/').at(-1));
    expect(new Set(asked)).toEqual(new Set([onApi]));
  });

  it('with no job for the base URL in use, says so and names the newest job and where it went (exit 2, nothing contacted)', async () => {
    const [api, trial] = await Promise.all([sandbox(), sandbox({ jobSeconds: 0.3 })]);
    const configDir = tempDir('ov-config-');
    const onTrial = await generated(trial, configDir, 'a blue whale');
    for (const command of [['status', 'last'], ['download', 'last'], ['extend', 'last', 'more']]) {
      const result = await run(command, { sandbox: api, configDir });
      expect(result.code, command.join(' ')).toBe(2);
      expect(result.stderr).toBe(
        `✖ No job in the local history was sent to ${api.baseUrl}, so there is no \`last\` there.\n` +
          `  The newest job, ${onTrial}, went to ${trial.baseUrl}: name its task id, or use that --base-url.\n`,
      );
    }
    expect(api.requests).toHaveLength(0);
  });

  it('a job first seen through download <id> is recorded with its base URL, and is then last there', async () => {
    const [sb, trial] = await Promise.all([sandbox({ jobSeconds: 0.3 }), sandbox({ jobSeconds: 0.3 })]);
    // Submitted by another machine (another config), downloaded here by its id.
    const id = await generated(sb, tempDir('ov-config-'), 'a kite');
    const configDir = tempDir('ov-config-');
    const cwd = tempDir();
    const saved = await run(['download', id], { sandbox: sb, configDir, cwd });
    expect(saved.code, saved.stderr).toBe(0);
    await generated(trial, configDir, 'a newer job elsewhere');
    const last = await run(['status', 'last', '--json'], { sandbox: sb, configDir });
    expect(JSON.parse(last.stdout)).toMatchObject({ task_id: id });
  });

  it('a task id the service does not know (a typo) is not recorded: jobs does not list it and last stays the newest real job', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir('ov-config-');
    const cwd = tempDir();
    const id = await generated(sb, configDir, 'a kite');
    for (const command of [['download', 'task_01KS1H7ZYSJWH1N779S2FSHTKA'], ['download', 'task_01KS1H7ZYSJWH1N779S2FSHTKB', '--wait']]) {
      const typo = await run(command, { sandbox: sb, configDir, cwd });
      expect(typo.code, command.join(' ')).toBe(2);
      expect(typo.stderr).toMatch(/^✖ No such task/);
    }
    const jobs = await run(['jobs', '--json'], { sandbox: sb, configDir });
    expect((JSON.parse(jobs.stdout) as { task_id: string }[]).map((job) => job.task_id)).toEqual([id]);
    const last = await run(['status', 'last', '--json'], { sandbox: sb, configDir });
    expect(last.code, last.stderr).toBe(0);
    expect(JSON.parse(last.stdout)).toMatchObject({ task_id: id, status: 'completed' });
  });

  for (const [fault, word] of [[{ failJobs: 1, failMessage: 'safety filter' }, 'failed'], [{ cancelJobs: 1 }, 'was cancelled']] as const) {
    it(`extend last on a job that ${word === 'failed' ? 'failed' : 'was cancelled'} refuses clearly (exit 2) and submits nothing`, async () => {
      const sb = await sandbox({ jobSeconds: 0.3, faults: fault });
      const configDir = tempDir('ov-config-');
      const cwd = tempDir();
      const first = await run(['generate', 'a paper boat', '--poll-interval', '0.5'], { sandbox: sb, configDir, cwd });
      expect(first.code).toBe(4);
      const id = [...sb.tasks.keys()][0]!;
      const result = await run(['extend', 'last', 'it drifts under a bridge'], { sandbox: sb, configDir, cwd });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `✖ Task ${id} ${word}: there is no video to extend${word === 'failed' ? ' (safety filter)' : ' (cancelled)'}.\n` +
          '  Extend a completed job (omni-video jobs --status completed lists them), or submit a new one with omni-video generate.\n',
      );
      expect(sb.stats.submissions).toBe(1);
      expect(existsSync(join(cwd, `${id}.mp4`))).toBe(false);
    });
  }

  it('extend last on a --no-wait job that failed since, which the history still shows queued, asks the service and refuses (exit 2), submitting nothing', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { failJobs: 1, failMessage: 'safety filter' } });
    const configDir = tempDir('ov-config-');
    const cwd = tempDir();
    const id = (await run(['generate', 'a paper boat', '--no-wait'], { sandbox: sb, configDir, cwd })).stdout.trim();
    // A plain look, which leaves the history as it is, until the service says the job failed.
    let seen = '';
    while (!seen.includes('failed')) seen = (await run(['status', id], { sandbox: sb, configDir, cwd })).stdout;
    expect((await run(['jobs'], { sandbox: sb, configDir, cwd })).stdout).toContain(`${id}  queued`);
    const result = await run(['extend', 'last', 'it drifts under a bridge'], { sandbox: sb, configDir, cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`✖ Task ${id} failed: there is no video to extend (safety filter).\n`);
    expect(sb.stats.submissions).toBe(1);
  });
});
