/**
 * Issue 12, items 1 and 4: the same request twice resumes instead of paying again; a new take
 * after a completed job is a normal wish; an uncertain submission is never resent unasked.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMediaInfo } from '../../src/io/media.js';
import type { Sandbox } from '../../src/sandbox/server.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';
import { interruptInFlight, interruptWhen } from '../helpers/signals.js';

const prompts = (sb: Sandbox) => sb.submissions().map((request) => (request.body as { prompt: string }).prompt);

/** After an uncertain submission of `args`: the same command is refused (exit 2, nothing sent), and with --new it submits and saves slow.mp4. */
async function expectRefusedThenNew(args: string[], options: { sandbox: Sandbox; cwd: string; configDir: string }): Promise<void> {
  const sb = options.sandbox;
  const again = await run(args, options);
  expect(again.code, again.stderr).toBe(2);
  expect(again.stderr).toMatch(/The same request was sent \d+ s ago and got no answer: it may already be charged, and as the API has no way to list tasks, omni-video cannot find its id\. Nothing was submitted\./);
  expect(again.stderr).toContain("Check the provider's dashboard for a job submitted at ");
  expect(again.stderr).toContain('run the same command with --new');
  expect(sb.submissions()).toHaveLength(1);

  const knowingly = await run([...args, '--new'], options);
  expect(knowingly.code, knowingly.stderr).toBe(0);
  expect(sb.submissions()).toHaveLength(2);
  expect(knowingly.stdout).toBe(`${join(options.cwd, 'slow.mp4')}\n`);
}

describe.concurrent('the same request twice', () => {
  it('Ctrl-C after submission, the same command again: resumed, not paid again, saved where it asks; --new submits another', async () => {
    // Long enough that a loaded machine delivers the Ctrl-C before the job is done and saved.
    const sb = await sandbox({ jobSeconds: 5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'a whale breaching at dawn', '-o', 'whale.mp4'];
    const first = await run(args, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/Submitted task_\w+/) });
    expect(first.code, first.stderr).toBe(130);
    const [taskId] = [...sb.tasks.keys()];

    const again = await run(args, { sandbox: sb, cwd, configDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`^Resuming ${taskId} \\(the same request, submitted \\d+ s ago; --new submits another\\)$`, 'm'));
    expect(sb.submissions()).toHaveLength(1);
    expect(again.stdout).toBe(`${join(cwd, 'whale.mp4')}\n`);
    expect(await readMediaInfo(join(cwd, 'whale.mp4'))).toMatchObject({ width: 1280, height: 720 });

    // The same again, interrupted, then --new: a second job is paid for knowingly.
    const night = ['generate', 'a whale at night', '-o', 'night.mp4'];
    expect((await run(night, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/Submitted task_\w+/) })).code).toBe(130);
    const renewed = await run([...night, '--new'], { sandbox: sb, cwd, configDir });
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(renewed.stderr).not.toContain('Resuming');
    expect(prompts(sb)).toEqual(['a whale breaching at dawn', 'a whale at night', 'a whale at night']);
    expect(renewed.stdout).toBe(`${join(cwd, 'night.mp4')}\n`);
  });

  it('after the first completed, the same command is a new take: refused only while whale.mp4 exists without --force', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'a whale', '-o', 'whale.mp4'];
    expect((await run(args, { sandbox: sb, cwd, configDir })).code).toBe(0);

    const exists = await run(args, { sandbox: sb, cwd, configDir });
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain(`${join(cwd, 'whale.mp4')} already exists; nothing was submitted.`);
    expect(sb.submissions()).toHaveLength(1);

    const take = await run([...args, '--force'], { sandbox: sb, cwd, configDir });
    expect(take.code, take.stderr).toBe(0);
    expect(take.stderr).not.toContain('Resuming');
    expect(sb.submissions()).toHaveLength(2);
    const [second] = [...sb.tasks.keys()].slice(1);
    expect(take.stderr).toContain(`Submitted ${second}`);
  });

  it('a failed job does not stop a new submission; a different request (another aspect ratio) is never taken for the same', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { failJobs: 1 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    expect((await run(['generate', 'a fox'], { sandbox: sb, cwd, configDir })).code).toBe(4);
    const retried = await run(['generate', 'a fox'], { sandbox: sb, cwd, configDir });
    expect(retried.code, retried.stderr).toBe(0);
    expect(sb.submissions()).toHaveLength(2);

    const portrait = await run(['generate', 'a fox', '-a', 'portrait', '--no-wait'], { sandbox: sb, cwd, configDir });
    const landscape = await run(['generate', 'a fox', '--no-wait'], { sandbox: sb, cwd, configDir });
    expect(landscape.stdout).not.toBe(portrait.stdout);
    const resumed = await run(['generate', 'a fox', '-a', '9:16', '--no-wait'], { sandbox: sb, cwd, configDir });
    expect(resumed.stdout).toBe(portrait.stdout);
    expect(resumed.stderr).toContain(`Resuming ${portrait.stdout.trim()} (the same request`);
    expect(sb.submissions()).toHaveLength(4);
  });

  it('an uncertain submission (the connection dropped once the service took it) is refused on a re-run, exit 2, nothing sent; --new submits', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { submitResetAfterCreate: 1 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'a slow answer', '-o', 'slow.mp4'];
    const first = await run(args, { sandbox: sb, cwd, configDir });
    expect(first.code, first.stderr).toBe(6);
    expect(first.stderr).toContain('may have been created and charged');

    await expectRefusedThenNew(args, { sandbox: sb, cwd, configDir });
  });

  it('Ctrl-C in flight while the service delays its answer, and Ctrl-C again (stop now): uncertain, so a re-run is refused, exit 2, nothing sent; --new submits', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { submitDelayMs: 10_000 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'a slow answer, twice interrupted', '-o', 'slow.mp4'];
    // The first Ctrl-C waits for the answer (the task id would be kept); the second stops at once.
    const twice = (child: import('node:child_process').ChildProcess) => {
      interruptInFlight(sb)(child);
      interruptWhen(/Waiting for the service to answer the submission in progress/)(child);
    };
    const first = await run(args, { sandbox: sb, cwd, configDir, onSpawn: twice });
    expect(first.code, first.stderr).toBe(130);
    expect(sb.submissions()).toHaveLength(1);
    sb.faults.submitDelayMs = 0;

    await expectRefusedThenNew(args, { sandbox: sb, cwd, configDir });
  });

  it('the same command from a second terminal while the first still waits for the answer of its submission: waits, resumes that job, one paid', async () => {
    const sb = await sandbox({ jobSeconds: 1, faults: { submitDelayMs: 3_000 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'two terminals, one whale'];
    const first = run([...args, '-o', 'first.mp4'], { sandbox: sb, cwd, configDir });
    while (sb.submissions().length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await run([...args, '-o', 'second.mp4'], { sandbox: sb, cwd, configDir });
    expect(second.code, second.stderr).toBe(0);
    const [taskId] = [...sb.tasks.keys()];
    expect(second.stderr).toMatch(/^Waiting for process \d+, which sent the same request \d+ s ago and awaits its answer; its job is then resumed \(--new submits another\)$/m);
    expect(second.stderr, second.stderr).toContain(`Resuming ${taskId} (the same request`);
    expect(second.stdout).toBe(`${join(cwd, 'second.mp4')}\n`);
    expect((await first).code).toBe(0);
    expect(sb.submissions()).toHaveLength(1);
    expect(readFileSync(join(cwd, 'first.mp4')).equals(readFileSync(join(cwd, 'second.mp4')))).toBe(true);
  });

  it('a submission whose process was killed (kill -9) while sending is not waited for: refused at once, exit 2', async () => {
    const sb = await sandbox({ jobSeconds: 0.3, faults: { submitDelayMs: 10_000 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'a killed sender'];
    const killed = await run(args, { sandbox: sb, cwd, configDir, onSpawn: interruptInFlight(sb, 'SIGKILL') });
    expect(killed.signal).toBe('SIGKILL');
    const again = await run(args, { sandbox: sb, cwd, configDir });
    expect(again.code).toBe(2);
    expect(again.stderr).not.toContain('Waiting for process');
    expect(again.stderr).toMatch(/The same request was sent \d+ s ago and got no answer: it may already be charged/);
    expect(sb.submissions()).toHaveLength(1);
  });

  it('agrees with batch: a batch job still running is resumed by generate, and the batch re-run waits for the same task', async () => {
    // Long enough that a loaded machine delivers the Ctrl-C before the job is done and saved.
    const sb = await sandbox({ jobSeconds: 5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    writeFileSync(join(cwd, 'one.txt'), 'a lighthouse in a storm\n');
    const batch = ['batch', 'one.txt', '--output-dir', 'clips', '--poll-interval', '0.5'];
    expect((await run(batch, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/submitted task_\w+/) })).code).toBe(130);
    const [taskId] = [...sb.tasks.keys()];

    const single = await run(['generate', 'a lighthouse in a storm', '-o', 'single.mp4'], { sandbox: sb, cwd, configDir });
    expect(single.code, single.stderr).toBe(0);
    expect(single.stderr).toContain(`Resuming ${taskId} (the same request`);
    const rerun = await run(batch, { sandbox: sb, cwd, configDir });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain('0 to submit, 1 to wait for');
    expect(sb.submissions()).toHaveLength(1);
    expect(readFileSync(join(cwd, 'clips', '001-a-lighthouse-in-a-storm.mp4')).equals(readFileSync(join(cwd, 'single.mp4')))).toBe(true);
  });

  it('a job being resumed that the service no longer knows (a restarted sandbox): exit 2, and --new submits again', async () => {
    const sb = await sandbox({ jobSeconds: 5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const args = ['generate', 'a forgotten job'];
    expect((await run(args, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/Submitted task_\w+/) })).code).toBe(130);
    const [taskId] = [...sb.tasks.keys()] as [string];
    sb.tasks.delete(taskId);
    const again = await run(args, { sandbox: sb, cwd, configDir });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`The service does not know ${taskId}, the job being resumed; to submit the request again: the same command with --new.`);
    expect(sb.submissions()).toHaveLength(1);
    const renewed = await run([...args, '--new', '--no-wait'], { sandbox: sb, cwd, configDir });
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(sb.submissions()).toHaveLength(2);
  });

  it('extend last, Ctrl-C after submission, the same command again: resumes that extension (one paid, the right clip); once saved, extend last continues it', async () => {
    // Long enough that a loaded machine delivers the Ctrl-C before the extension is done and saved.
    const sb = await sandbox({ jobSeconds: 4 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const parents = () => sb.submissions().map((request) => (request.body as { extend_from_task_id?: string }).extend_from_task_id);
    expect((await run(['generate', 'a paper boat on a river', '-o', 'boat.mp4'], { sandbox: sb, cwd, configDir })).code).toBe(0);
    const [base] = [...sb.tasks.keys()] as [string];

    const args = ['extend', 'last', 'it drifts under a wooden bridge', '-o', 'boat-2.mp4'];
    const first = await run(args, { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/Submitted task_\w+/) });
    expect(first.code, first.stderr).toBe(130);
    const [, extension] = [...sb.tasks.keys()] as [string, string];
    // What the same command would send: still an extension of the boat, not of the interrupted extension.
    const planned = await run([...args, '--dry-run'], { sandbox: sb, cwd, configDir });
    expect(JSON.parse(planned.stdout)).toMatchObject({ extend_from_task_id: base });

    const again = await run(args, { sandbox: sb, cwd, configDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`^Resuming ${extension} \\(the same request, submitted \\d+ s ago; --new submits another\\)$`, 'm'));
    expect(parents()).toEqual([undefined, base]);
    expect(again.stdout).toBe(`${join(cwd, 'boat-2.mp4')}\n`);
    expect(await readMediaInfo(join(cwd, 'boat-2.mp4'))).toMatchObject({ width: 1280, height: 720 });

    // The README's chain: the extension was saved, so the next extend last continues it.
    const next = await run(['extend', 'last', 'it reaches the open sea at sunset', '-o', 'boat-3.mp4'], { sandbox: sb, cwd, configDir });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toContain('Resuming');
    expect(parents()).toEqual([undefined, base, extension]);
    expect(next.stdout).toBe(`${join(cwd, 'boat-3.mp4')}\n`);
  });

  it('the history keeps a fingerprint of the request, never the inline video it hashes', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const clip = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));
    writeFileSync(join(cwd, 'clip.mp4'), clip);
    const result = await run(['generate', 'make it rain', '--video', 'clip.mp4', '--no-wait'], { sandbox: sb, cwd, configDir });
    expect(result.code, result.stderr).toBe(0);
    const history = readFileSync(join(configDir, 'jobs.jsonl'), 'utf8');
    expect(history).toMatch(/"request_hash":"[0-9a-f]{64}"/);
    expect(history).toContain('"video":"(local file)"');
    expect(history).not.toContain(clip.subarray(0, 600).toString('base64'));
  });
});
