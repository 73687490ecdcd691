/**
 * Case 5: the job history at 100,000 records: `jobs --limit 20` (interleaved with `node -e 0` as
 * the floor), and what recording one submitted job costs (its appends, on that same file).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendJobRecord } from '../../dist/store/history.js';
import { BIN, check, cliEnv, interleaved, median, removeDir, tempDir, timed } from './lib.js';

const RECORDS = 100_000;
/** The lines generate writes for a job that ends saved. */
const EVENTS_PER_JOB = ['created', 'submitted', 'completed', 'saved'];

function historyLines() {
  const lines = [];
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let index = 0; lines.length < RECORDS; index++) {
    const job = `bench-${index.toString(36)}`;
    const task_id = `task_01BENCH${String(index).padStart(18, '0')}`;
    const at = (step) => new Date(start + index * 60_000 + step * 1000).toISOString();
    lines.push(JSON.stringify({ job, at: at(0), event: 'created', prompt: `a short clip, number ${index}`, aspect_ratio: '16:9', images: 0, base_url: 'https://api.apimart.ai/v1' }));
    lines.push(JSON.stringify({ job, at: at(1), event: 'submitted', task_id, status: 'submitted' }));
    lines.push(JSON.stringify({ job, at: at(40), event: 'completed', task_id, status: 'completed', progress: 100, cost: 1, credits_cost: 10, url: `https://cdn.example.com/${task_id}.mp4`, expires_at: 1790000000 }));
    lines.push(JSON.stringify({ job, at: at(41), event: 'saved', task_id, file: `/home/user/clips/${task_id}.mp4` }));
  }
  return `${lines.slice(0, RECORDS).join('\n')}\n`;
}

export async function history({ runs }) {
  const dir = tempDir();
  try {
    const configDir = join(dir, 'config');
    mkdirSync(configDir, { mode: 0o700 });
    writeFileSync(join(configDir, 'jobs.jsonl'), historyLines(), { mode: 0o600 });
    const env = cliEnv({ OMNI_VIDEO_CONFIG_DIR: configDir });
    const samples = await interleaved(
      {
        'node -e 0': () => timed([process.execPath, '-e', '0'], { env, cwd: dir }),
        'jobs --limit 20': async () => {
          const result = await timed([process.execPath, BIN, 'jobs', '--limit', '20'], { env, cwd: dir });
          if (result.stdout.trim().split('\n').length !== 20) throw new Error('jobs --limit 20 did not list 20 jobs');
          return result;
        },
      },
      runs,
    );
    const jobsMs = median(samples['jobs --limit 20'].map((result) => result.ms));
    const nodeMs = median(samples['node -e 0'].map((result) => result.ms));

    // In-process, as generate does it: one append per event, each opening the file (O_APPEND).
    const perJobMs = [];
    for (let index = 0; index < 200; index++) {
      const started = process.hrtime.bigint();
      for (const event of EVENTS_PER_JOB) await appendJobRecord(configDir, { job: `append-${index}`, event, task_id: `task_append_${index}`, status: event });
      perJobMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const appendMs = median(perJobMs);
    return {
      medians_ms: { 'node -e 0': nodeMs, 'jobs --limit 20': jobsMs, history_per_job: appendMs },
      checks: [
        check('history 100k records: jobs --limit 20', jobsMs, { max: 300, unit: ' ms', detail: `node -e 0: ${nodeMs.toFixed(0)} ms` }),
        check('history 100k records: cost per submitted job', appendMs, { max: 5, unit: ' ms', detail: `${EVENTS_PER_JOB.length} appends, median of 200 jobs` }),
      ],
    };
  } finally {
    removeDir(dir);
  }
}
