/** Case 4: 600 jobs of 3 s at concurrency 60 through `omni-video batch`, against the ideal wall time, with its memory and CPU time. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, check, cliEnv, median, removeDir, startSandboxProcess, tempDir, timed } from './lib.js';

const JOBS = 600;
const CONCURRENCY = 60;
const JOB_SECONDS = 3;

export async function batch({ batchRuns = 2 }) {
  const idealS = Math.ceil(JOBS / CONCURRENCY) * JOB_SECONDS;
  const runs = [];
  for (let round = 0; round < batchRuns; round++) {
    const dir = tempDir();
    const sandbox = await startSandboxProcess(['--job-seconds', String(JOB_SECONDS), '--unlimited']);
    try {
      const prompts = join(dir, 'prompts.txt');
      writeFileSync(prompts, Array.from({ length: JOBS }, (_, index) => `bench clip number ${index + 1}`).join('\n') + '\n');
      const env = cliEnv({ OMNI_VIDEO_BASE_URL: sandbox.baseUrl, OMNI_VIDEO_CONFIG_DIR: join(dir, 'config') });
      const result = await timed([process.execPath, BIN, 'batch', prompts, '--concurrency', String(CONCURRENCY), '--output-dir', join(dir, 'out')], { env, cwd: dir, measure: true });
      const saved = result.stdout.trim().split('\n').filter((line) => line.includes('"completed"')).length;
      if (saved !== JOBS) throw new Error(`batch completed ${saved} of ${JOBS} jobs`);
      runs.push({ wallS: result.ms / 1000, rssMb: result.rssMb, cpuS: result.cpuS });
    } finally {
      await sandbox.stop();
      removeDir(dir);
    }
  }
  const wallS = median(runs.map((run) => run.wallS));
  const rssMb = Math.max(...runs.map((run) => run.rssMb));
  const cpuS = median(runs.map((run) => run.cpuS));
  return {
    ideal_s: idealS,
    runs,
    checks: [
      check(`batch ${JOBS} × ${JOB_SECONDS} s at ${CONCURRENCY}: wall ÷ ideal`, wallS / idealS, { max: 1.15, detail: `${wallS.toFixed(1)} s vs ideal ${idealS} s; CPU ${cpuS.toFixed(1)} s` }),
      check(`batch ${JOBS} × ${JOB_SECONDS} s at ${CONCURRENCY}: peak RSS`, rssMb, { max: 200, unit: ' MB', detail: 'highest of all runs' }),
    ],
  };
}
