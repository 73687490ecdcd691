import type { ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { run, sandbox, tempDir } from '../helpers/harness.js';
import { interruptInFlight } from '../helpers/signals.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));

/** Sends `signal` once the child's stderr shows `marker`. */
function signalWhen(marker: RegExp, signal: NodeJS.Signals) {
  return (child: ChildProcess) => {
    let seen = '';
    child.stderr?.on('data', (chunk: string | Buffer) => {
      seen += String(chunk);
      if (marker.test(seen)) {
        marker = /$^/; // once
        child.kill(signal);
      }
    });
  };
}

async function lastJob(configDir: string) {
  const { stdout } = await run(['jobs', '--json'], { configDir });
  return (JSON.parse(stdout) as Array<Record<string, unknown>>)[0];
}

describe('interrupts', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s while waiting: exit %i, the task id and resume command on stderr, the job kept running and recorded', async (signal, code) => {
    const sb = await sandbox({ jobSeconds: 60 });
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'a slow one'], { sandbox: sb, configDir, onSpawn: signalWhen(/Submitted task_\w+/, signal) });
    expect(result.code).toBe(code);
    const [taskId] = [...sb.tasks.keys()] as string[];
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`Task ${taskId} was submitted and keeps running on the service (it may be charged whether or not you wait).`);
    expect(result.stderr).toContain(`Resume with: omni-video download ${taskId} --wait`);
    expect(result.stderr).not.toContain('\u001b');
    expect(sb.stats.submissions).toBe(1);
    expect(await lastJob(configDir)).toMatchObject({ task_id: taskId, last_event: 'interrupted' });
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s while the submission is in flight: the answer is awaited, so the paid task id is printed and kept (exit %i), not lost as uncertain', async (signal, code) => {
    // The sandbox creates (and charges) the job at once, and answers 5 s later.
    const sb = await sandbox({ faults: { submitDelayMs: 5_000 } });
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'a slow answer'], { sandbox: sb, configDir, onSpawn: interruptInFlight(sb, signal) });
    expect(result.code).toBe(code);
    const [taskId] = [...sb.tasks.keys()] as string[];
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Waiting for the service to answer the submission in progress, so that its task id is kept (Ctrl-C again stops at once; the job may then be charged without its id).');
    expect(result.stderr).toContain(`Task ${taskId} was submitted and keeps running on the service (it may be charged whether or not you wait).`);
    expect(result.stderr).toContain(`Resume with: omni-video download ${taskId} --wait`);
    expect(result.stderr).not.toContain('may have reached the service');
    expect(sb.submissions()).toHaveLength(1);
    expect(await lastJob(configDir)).toMatchObject({ task_id: taskId, prompt: 'a slow answer', last_event: 'interrupted' });
  });

  it('SIGTERM while a refused submission waits to be retried: nothing in flight, so "nothing was submitted", not uncertain; the same command then submits', async () => {
    // A 429 creates no job; the CLI then sleeps 30 s (Retry-After) before sending again.
    const sb = await sandbox({ faults: { submit429: 1, retryAfter: '30' } });
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'a patient fox', '--no-wait'], { sandbox: sb, configDir, onSpawn: signalWhen(/trying again in 30\.0 s/, 'SIGTERM') });
    expect(result.code).toBe(143);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^✖ Terminated\. No request was under way: nothing was submitted\.$/m);
    expect(result.stderr).not.toContain('may have');
    expect(sb.stats.submissions).toBe(0);
    expect(await lastJob(configDir)).toMatchObject({ prompt: 'a patient fox', state: 'interrupted', last_event: 'interrupted' });
    const again = await run(['generate', 'a patient fox', '--no-wait'], { sandbox: sb, configDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^task_\w+\n$/);
    expect(sb.stats.submissions).toBe(1);
  });

  it('SIGINT during a download: exit 130, nothing at the target, the .part kept, the command to save it later', async () => {
    const sb = await sandbox({ jobSeconds: 0.2, faults: { stallAfterBytes: 1000 } });
    const cwd = tempDir('ov-cwd-');
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'x', '-o', 'clip.mp4'], { sandbox: sb, cwd, configDir, onSpawn: signalWhen(/downloading/, 'SIGINT') });
    expect(result.code).toBe(130);
    const [taskId] = [...sb.tasks.keys()] as string[];
    expect(result.stderr).toContain(`Save it with: omni-video download ${taskId}`);
    expect((await readdir(cwd)).sort()).toEqual(['clip.mp4.part', 'clip.mp4.part.json']);
    expect(await lastJob(configDir)).toMatchObject({ task_id: taskId, status: 'completed', last_event: 'interrupted' });
  });
});

/** A real cut: the file server stops sending at ~30 %, and the CLI is stopped once the .part holds those bytes. */
describe('an interrupted download resumes', () => {
  const CUT = Math.round(LANDSCAPE.length * 0.3);

  /** Sends `signal` once the .part of the job's video (`<task id>.mp4.part` in `cwd`) holds `bytes` bytes. */
  function signalWhenPartHolds(sb: Sandbox, cwd: string, bytes: number, signal: NodeJS.Signals) {
    const partSize = () => {
      const [taskId] = [...sb.tasks.keys()];
      try {
        return taskId === undefined ? 0 : statSync(join(cwd, `${taskId}.mp4.part`)).size;
      } catch {
        return 0;
      }
    };
    return (child: ChildProcess) => {
      const check = setInterval(() => {
        if (partSize() < bytes) return;
        clearInterval(check);
        child.kill(signal);
      }, 10);
      child.on('close', () => clearInterval(check));
    };
  }

  const fileRequests = (sb: Sandbox) => sb.requests.filter((request) => request.server === 'files');

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGKILL', null],
  ] as const)('after %s: the .part is kept; the printed command resumes it with Range + If-Range, byte-identical', async (signal, code) => {
    const sb = await sandbox({ jobSeconds: 0, faults: { stallAfterBytes: CUT } });
    const cwd = tempDir('ov-cwd-');
    const configDir = tempDir('ov-config-');
    const first = await run(['generate', 'a whale'], { sandbox: sb, cwd, configDir, onSpawn: signalWhenPartHolds(sb, cwd, CUT, signal) });
    const [taskId] = [...sb.tasks.keys()] as string[];
    expect(first.code).toBe(code);
    expect(first.stdout).toBe('');
    expect((await readdir(cwd)).sort()).toEqual([`${taskId}.mp4.part`, `${taskId}.mp4.part.json`]);
    expect(statSync(join(cwd, `${taskId}.mp4.part`)).size).toBe(CUT);
    const command = signal === 'SIGKILL' ? `omni-video download ${taskId}` : /Save it with: (omni-video download \S+)$/m.exec(first.stderr)?.[1];
    if (signal !== 'SIGKILL') expect(first.stderr).toMatch(new RegExp(`kept in .*${taskId}\\.mp4\\.part for the command below to resume`));
    expect(command).toBe(`omni-video download ${taskId}`);

    const second = await run((command as string).split(' ').slice(1), { sandbox: sb, cwd, configDir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(`${join(cwd, `${taskId}.mp4`)}\n`);
    expect((await readFile(join(cwd, `${taskId}.mp4`))).equals(LANDSCAPE)).toBe(true);
    expect(await readdir(cwd)).toEqual([`${taskId}.mp4`]);
    const [firstGet, resumed, ...more] = fileRequests(sb);
    expect(firstGet?.headers.range).toBeUndefined();
    expect(resumed?.headers).toMatchObject({ range: `bytes=${CUT}-`, 'if-range': expect.stringMatching(/^"/) });
    expect(more).toEqual([]);
  });

  it('starts over when the file changed meanwhile (the server answers 200 to If-Range), byte-identical', async () => {
    const sb = await sandbox({ jobSeconds: 0, faults: { stallAfterBytes: CUT } });
    const cwd = tempDir('ov-cwd-');
    const configDir = tempDir('ov-config-');
    const first = await run(['generate', 'a whale'], { sandbox: sb, cwd, configDir, onSpawn: signalWhenPartHolds(sb, cwd, CUT, 'SIGINT') });
    expect(first.code).toBe(130);
    const [taskId] = [...sb.tasks.keys()] as string[];
    // What the validator beside the .part says no longer matches what the server serves.
    const state = join(cwd, `${taskId}.mp4.part.json`);
    const kept = JSON.parse(await readFile(state, 'utf8')) as { validator: string };
    await writeFile(state, JSON.stringify({ ...kept, validator: '"an-older-version"' }));
    const second = await run(['download', taskId], { sandbox: sb, cwd, configDir });
    expect(second.code, second.stderr).toBe(0);
    expect((await readFile(join(cwd, `${taskId}.mp4`))).equals(LANDSCAPE)).toBe(true);
    expect(fileRequests(sb)[1]?.headers).toMatchObject({ range: `bytes=${CUT}-`, 'if-range': '"an-older-version"' });
    expect(await readdir(cwd)).toEqual([`${taskId}.mp4`]);
  });
});
