/**
 * Case 3: how soon a finished job is noticed, and how many status requests that costs. Jobs of
 * 10, 40 and 300 s whose estimated_time is exact, or off by -50 % / +50 %, all at once in real
 * time, each against its own sandbox, waited for by the library's client as the CLI does.
 */
import { OmniVideoClient, startSandbox } from '../../dist/index.js';
import { check, KEY } from './lib.js';

const DURATIONS_S = [10, 40, 300];
const ESTIMATE_FACTORS = [0.5, 1, 1.5];

async function waitOne(jobSeconds, estimateFactor) {
  const sandbox = await startSandbox({ jobSeconds, estimateFactor, unlimited: true });
  try {
    const client = new OmniVideoClient({ apiKey: KEY, baseUrl: sandbox.baseUrl });
    const submittedAtMs = Date.now();
    const { taskId } = await client.submit({ model: 'gemini-omni-flash-preview', prompt: 'bench', aspect_ratio: '16:9', resolution: '720p' });
    await client.waitForTask(taskId, { submittedAtMs, timeoutMs: (jobSeconds + 120) * 1000 });
    // The download would start now.
    const noticedAtMs = Date.now();
    const task = sandbox.tasks.get(taskId);
    const lagMs = noticedAtMs - (task.createdMs + task.durationMs);
    const polls = sandbox.requests.filter((request) => request.server === 'api' && request.method === 'GET' && request.path.startsWith('/v1/tasks/')).length;
    return { jobSeconds, estimateFactor, estimatedSeconds: task.estimatedSeconds, lagMs, polls };
  } finally {
    await sandbox.stop();
  }
}

export async function polling() {
  const jobs = await Promise.all(DURATIONS_S.flatMap((seconds) => ESTIMATE_FACTORS.map((factor) => waitOne(seconds, factor))));
  const checks = jobs.flatMap((job) => {
    const label = `polling ${job.jobSeconds} s job, estimate ${job.estimatedSeconds} s`;
    const maxLagMs = Math.max(1000, 0.03 * job.jobSeconds * 1000);
    return [
      check(`${label}: lag`, job.lagMs, { max: maxLagMs, unit: ' ms', detail: 'completion on the service → download start' }),
      check(`${label}: status requests`, job.polls, { max: 20 }),
    ];
  });
  return { jobs, checks };
}
