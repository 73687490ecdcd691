import type { ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';
import { interruptInFlight } from '../helpers/signals.js';

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

  it('SIGINT while the submission is in flight: exit 130, "may have reached the service", recorded uncertain, not resent', async () => {
    const sb = await sandbox({ faults: { submitDelayMs: 10_000 } });
    const configDir = tempDir('ov-config-');
    // Once the service holds the request (and is slow to answer it).
    const result = await run(['generate', 'a slow answer'], { sandbox: sb, configDir, onSpawn: interruptInFlight(sb) });
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('The submission may have reached the service.');
    expect(result.stderr).toContain('may have been created and charged, but its task id never came back, and the API has no way to list tasks');
    expect(result.stderr).toContain("Check the provider's dashboard");
    expect(result.stderr).toContain('run the same command with --new');
    expect(sb.submissions()).toHaveLength(1);
    expect(await lastJob(configDir)).toMatchObject({ prompt: 'a slow answer', status: 'uncertain', last_event: 'uncertain' });
  });

  it('SIGINT during a download: exit 130, nothing at the target, the command to save it later', async () => {
    const sb = await sandbox({ jobSeconds: 0.2, faults: { stallAfterBytes: 1000 } });
    const cwd = tempDir('ov-cwd-');
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'x', '-o', 'clip.mp4'], { sandbox: sb, cwd, configDir, onSpawn: signalWhen(/downloading/, 'SIGINT') });
    expect(result.code).toBe(130);
    const [taskId] = [...sb.tasks.keys()] as string[];
    expect(result.stderr).toContain(`Save it with: omni-video download ${taskId}`);
    expect(await readdir(cwd)).toEqual([]);
    expect(await lastJob(configDir)).toMatchObject({ task_id: taskId, status: 'completed', last_event: 'interrupted' });
  });
});
