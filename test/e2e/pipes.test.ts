import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, tempDir } from '../helpers/harness.js';
import { appendJobRecord, FIRST_EVENT } from '../../src/store/history.js';

const sh = (script: string, env: Record<string, string>) => promisify(execFile)('bash', ['-o', 'pipefail', '-c', script], { env }).then(
  ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
  (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
);

describe('a reader that goes away early', () => {
  it('`jobs | head -1` and `generate --help | head -1` stop quietly: no EPIPE trace, exit 0', async () => {
    const configDir = tempDir();
    for (let index = 0; index < 2000; index++) {
      await appendJobRecord(configDir, { job: `job-${index}`, event: FIRST_EVENT, task_id: `task_${index}`, prompt: `prompt number ${index} `.repeat(5) });
    }
    const env = cliEnv({ configDir });
    const jobs = await sh(`node ${BIN} jobs --limit 0 | head -1`, env);
    expect(jobs.stderr).toBe('');
    expect(jobs.code).toBe(0);
    expect(jobs.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    const help = await sh(`node ${BIN} generate --help | head -1`, env);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
  });
});
