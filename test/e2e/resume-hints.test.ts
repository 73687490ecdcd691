/**
 * Issue 11, item 2: every command the tool tells the user to run next keeps their -o and --force,
 * and finishes the job when pasted into a shell as printed. Each test copies the hint from stderr
 * and runs it with sh, `omni-video` on PATH as after `npm install -g`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMediaInfo } from '../../src/io/media.js';
import type { Sandbox } from '../../src/sandbox/server.js';
import { BIN, cliEnv, run, sandbox, tempDir, type RunResult } from '../helpers/harness.js';
import { interruptWhen } from '../helpers/signals.js';

const FAST = { OMNI_VIDEO_TEST_RETRY_MS: '5' };

const PATH_WITH_CLI = (() => {
  const dir = tempDir('ov-bin-');
  writeFileSync(join(dir, 'omni-video'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  return dir;
})();

/** The command after `label` on stderr, exactly as printed (the rest of that line). */
function hintAfter(label: string, stderr: string): string {
  const line = stderr.split('\n').find((text) => text.trimStart().startsWith(label));
  if (!line) throw new Error(`no "${label}" line in:\n${stderr}`);
  return line.trimStart().slice(label.length);
}

/** Pastes `command` into sh in `cwd`, with the same configuration as the first command had. */
function paste(command: string, options: { cwd: string; configDir: string; sandbox: Sandbox }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = cliEnv({ sandbox: options.sandbox, configDir: options.configDir, cwd: options.cwd });
    env.PATH = `${PATH_WITH_CLI}:${env.PATH}`;
    const child = spawn('sh', ['-c', command], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}


describe.concurrent('resume hints run verbatim', () => {
  it('Ctrl-C while waiting: the hint keeps -o (a path with a space and a quote) and --force, and saves the clip there', async () => {
    // Long enough that a loaded machine delivers the Ctrl-C before the job is done and saved.
    const sb = await sandbox({ jobSeconds: 5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    mkdirSync(join(cwd, 'my clips'));
    const target = join(cwd, 'my clips', "whale's.mp4");
    writeFileSync(target, 'an older take');
    const first = await run(['generate', 'a whale', '-o', "my clips/whale's.mp4", '--force'], { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/Submitted task_\w+/) });
    expect(first.code).toBe(130);
    const [taskId] = [...sb.tasks.keys()];
    const hint = hintAfter('Resume with: ', first.stderr);
    expect(hint).toBe(`omni-video download ${taskId} --wait -o 'my clips/whale'\\''s.mp4' --force`);

    const resumed = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toBe(`${target}\n`);
    expect(await readMediaInfo(target)).toMatchObject({ width: 1280, height: 720 });
    expect(sb.submissions()).toHaveLength(1);
  });

  it('--timeout: exit 5, and the hint saves the clip at -o once it is done', async () => {
    // Well beyond the 1 s --timeout, even when a loaded machine fires its timer late.
    const sb = await sandbox({ jobSeconds: 6 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const first = await run(['generate', 'a slow sunrise', '-o', 'out/sunrise.mp4', '--timeout', '1'], { sandbox: sb, cwd, configDir });
    expect(first.code).toBe(5);
    const [taskId] = [...sb.tasks.keys()];
    const hint = hintAfter('Resume with: ', first.stderr);
    expect(hint).toBe(`omni-video download ${taskId} --wait -o out/sunrise.mp4`);
    const resumed = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toBe(`${join(cwd, 'out', 'sunrise.mp4')}\n`);
  });

  it('--no-download --timeout: the hint waits and prints the link, and saves no file the user did not ask for', async () => {
    const sb = await sandbox({ jobSeconds: 6 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const first = await run(['generate', 'just the link', '--no-download', '--timeout', '1'], { sandbox: sb, cwd, configDir });
    expect(first.code).toBe(5);
    const [taskId] = [...sb.tasks.keys()];
    const hint = hintAfter('Resume with: ', first.stderr);
    expect(hint).toBe(`omni-video status ${taskId} --wait`);
    const resumed = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`^${taskId}  completed  .*  http://\\S+/files/${taskId}\\.mp4\\S*  expires `));
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a download cut beyond its retries: the hint saves it at -o (--force kept) once the file server behaves', async () => {
    const sb = await sandbox({ jobSeconds: 0.2, faults: { downloadCuts: 5, downloadCutAfterBytes: 1000 } });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const first = await run(['generate', 'a cut', '-o', 'cut.mp4', '--force'], { sandbox: sb, cwd, configDir, env: FAST });
    expect(first.code).toBe(6);
    const [taskId] = [...sb.tasks.keys()];
    const hint = hintAfter('Try again with: ', first.stderr);
    expect(hint).toBe(`omni-video download ${taskId} -o cut.mp4 --force`);
    sb.faults.downloadCuts = 0;
    const again = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${join(cwd, 'cut.mp4')}\n`);
    expect(sb.submissions()).toHaveLength(1);
  });

  it('a file that appears at -o while the job runs: says the job was submitted and not saved, and the hint saves it beside, touching neither file', async () => {
    // Long enough that the file is written while the job still runs, even on a loaded machine.
    const sb = await sandbox({ jobSeconds: 3 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const target = join(cwd, 'take.mp4');
    const appear = (child: import('node:child_process').ChildProcess) => {
      let seen = '';
      child.stderr?.on('data', (chunk: string | Buffer) => {
        if (!/Submitted task_/.test(seen) && /Submitted task_/.test((seen += String(chunk)))) writeFileSync(target, 'another take');
      });
    };
    const first = await run(['generate', 'a second take', '-o', 'take.mp4'], { sandbox: sb, cwd, configDir, onSpawn: appear });
    expect(first.code).toBe(2);
    const [taskId] = [...sb.tasks.keys()];
    expect(first.stderr).toContain(`✖ ${target} already exists: it appeared while task ${taskId} ran, so its video was not saved (the job was submitted, and may be charged).`);
    const hint = hintAfter('Save it with: ', first.stderr);
    const beside = join(cwd, `take-${taskId}.mp4`);
    expect(hint).toBe(`omni-video download ${taskId} -o ${beside}`);
    const saved = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toBe(`${beside}\n`);
    expect(readFileSync(target, 'utf8')).toBe('another take');
    expect(await readMediaInfo(beside)).toMatchObject({ width: 1280, height: 720 });
    expect(sb.submissions()).toHaveLength(1);
  });

  it('download of a job still running: exit 2, and the hint waits and saves at -o', async () => {
    // Long enough that the job still runs when a slow, loaded machine has started the second command.
    const sb = await sandbox({ jobSeconds: 6 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const taskId = (await run(['generate', 'later', '--no-wait'], { sandbox: sb, cwd, configDir })).stdout.trim();
    const early = await run(['download', taskId, '-o', 'later.mp4'], { sandbox: sb, cwd, configDir });
    expect(early.code).toBe(2);
    const hint = hintAfter('Wait for it with: ', early.stderr);
    expect(hint).toBe(`omni-video download ${taskId} --wait -o later.mp4`);
    const waited = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toBe(`${join(cwd, 'later.mp4')}\n`);
  });

  it('Ctrl-C during status --wait: lists the jobs still running, and the hint waits for exactly those', async () => {
    const sb = await sandbox({ jobSeconds: 6 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const ids = [];
    for (const prompt of ['one', 'two']) ids.push((await run(['generate', prompt, '--no-wait'], { sandbox: sb, cwd, configDir })).stdout.trim());
    const waiting = await run(['status', ...ids, '--wait'], { sandbox: sb, cwd, configDir, onSpawn: interruptWhen(/(queued|generating) · /) });
    expect(waiting.code).toBe(130);
    expect(waiting.stderr).toContain(`Still running on the service, submitted and possibly charged whether or not you wait: ${ids.join(', ')}.`);
    const hint = hintAfter('Resume with: ', waiting.stderr);
    expect(hint).toBe(`omni-video status ${ids.join(' ')} --wait`);
    const resumed = await paste(hint, { cwd, configDir, sandbox: sb });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim().split('\n').map((line) => line.split('  ')[1])).toEqual(['completed', 'completed']);
  });

  it('--no-wait -o x.mp4 --force: a later `download <id> --wait` keeps the --force, and replaces the older x.mp4', async () => {
    const sb = await sandbox({ jobSeconds: 0.5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    writeFileSync(join(cwd, 'x.mp4'), 'an older take');
    const taskId = (await run(['generate', 'a newer take', '--no-wait', '-o', 'x.mp4', '--force'], { sandbox: sb, cwd, configDir })).stdout.trim();
    const later = await run(['download', taskId, '--wait'], { sandbox: sb, cwd, configDir });
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout).toBe(`${join(cwd, 'x.mp4')}\n`);
    expect(later.stderr).toContain(`Saving to ${join(cwd, 'x.mp4')} (the -o and --force it was submitted with`);
    expect(await readMediaInfo(join(cwd, 'x.mp4'))).toMatchObject({ width: 1280, height: 720 });
  });

  it('--no-wait -o x.mp4 over an existing x.mp4 without --force: refused before paying, as without --no-wait', async () => {
    const sb = await sandbox({ jobSeconds: 0.5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    writeFileSync(join(cwd, 'x.mp4'), 'an older take');
    const refused = await run(['generate', 'a newer take', '--no-wait', '-o', 'x.mp4'], { sandbox: sb, cwd, configDir });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`${join(cwd, 'x.mp4')} already exists; nothing was submitted.`);
    expect(sb.submissions()).toHaveLength(0);
    expect(readFileSync(join(cwd, 'x.mp4'), 'utf8')).toBe('an older take');
  });

  it('--no-wait -o x.mp4: the path is recorded, and a later `download <id> --wait` saves there', async () => {
    const sb = await sandbox({ jobSeconds: 0.5 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const taskId = (await run(['generate', 'collect later', '--no-wait', '-o', 'x.mp4'], { sandbox: sb, cwd, configDir })).stdout.trim();
    const elsewhere = tempDir();
    const later = await run(['download', taskId, '--wait'], { sandbox: sb, cwd: elsewhere, configDir });
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout).toBe(`${join(cwd, 'x.mp4')}\n`);
    expect(later.stderr).toContain(`Saving to ${join(cwd, 'x.mp4')} (the -o it was submitted with`);
    // Once saved, `download` again goes to the usual place: the recorded path was for the first save.
    const again = await run(['download', taskId], { sandbox: sb, cwd: elsewhere, configDir });
    expect(again.stdout).toBe(`${join(elsewhere, `${taskId}.mp4`)}\n`);
    expect(readFileSync(join(elsewhere, `${taskId}.mp4`)).equals(readFileSync(join(cwd, 'x.mp4')))).toBe(true);
  });
});
