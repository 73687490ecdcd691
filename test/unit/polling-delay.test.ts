import { describe, expect, it } from 'vitest';
import { END_MARGIN_MS, MAX_POLL_MS, MIN_POLL_MS, nextPollDelay, SECOND_LOOK_MS, waitForTask } from '../../src/api/polling.js';
import type { Task } from '../../src/api/schemas.js';
import { FakeClock } from '../helpers/harness.js';

/**
 * A job as the sandbox runs it, on the fake clock: pending for min(1 s, 15 %), then progress
 * rising linearly, completed at `jobMs`; estimated_time = the real duration × `estimateFactor`.
 */
function simulatedJob(clock: FakeClock, jobMs: number, estimateFactor: number) {
  const createdMs = clock.now();
  const queueMs = Math.min(1_000, 0.15 * jobMs);
  let polls = 0;
  const getTask = async (): Promise<Task> => {
    polls += 1;
    const elapsed = clock.now() - createdMs;
    const base = { id: 'task_1', created: Math.floor(createdMs / 1000), estimated_time: Math.max(1, Math.round((jobMs / 1000) * estimateFactor)) };
    if (elapsed >= jobMs) return { ...base, status: 'completed', progress: 100 } as Task;
    if (elapsed < queueMs) return { ...base, status: 'pending', progress: 0 } as Task;
    return { ...base, status: 'processing', progress: Math.min(99, Math.floor(((elapsed - queueMs) / (jobMs - queueMs)) * 100)) } as Task;
  };
  return { getTask, completedAtMs: createdMs + jobMs, polls: () => polls };
}

describe('adaptive polling against jobs of 10, 40 and 300 s with exact and ±50 % estimates', () => {
  for (const jobSeconds of [10, 40, 300]) {
    for (const estimateFactor of [0.5, 1, 1.5]) {
      it(`notices a ${jobSeconds} s job estimated at ${jobSeconds * estimateFactor} s within max(1 s, 3 %), in at most 20 requests`, async () => {
        const clock = new FakeClock();
        const job = simulatedJob(clock, jobSeconds * 1000, estimateFactor);
        const task = await waitForTask('task_1', { clock, getTask: job.getTask, submittedAtMs: clock.now() });
        expect(task.status).toBe('completed');
        expect(clock.now() - job.completedAtMs).toBeLessThanOrEqual(Math.max(1_000, jobSeconds * 30));
        expect(job.polls()).toBeLessThanOrEqual(20);
        // Never faster than the floor (nothing a video service does changes that quickly), but for
        // the look aimed just past the expected end, which may come at half of it, once.
        const quick = clock.sleeps.filter((ms) => ms < MIN_POLL_MS);
        expect(quick.length).toBeLessThanOrEqual(1);
        expect(Math.min(...clock.sleeps)).toBeGreaterThanOrEqual(MIN_POLL_MS / 2);
      });
    }
  }
});

describe('the second look', () => {
  it('comes 1 s after the first, so a job already processing is seen at once; then the wait adapts', async () => {
    const clock = new FakeClock();
    const job = simulatedJob(clock, 40_000, 1);
    const task = await waitForTask('task_1', { clock, getTask: job.getTask, submittedAtMs: clock.now() });
    expect(task.status).toBe('completed');
    // Looked at 0 s (pending) and 1 s (processing, 0 %): then half of the 39 s left, by the estimate.
    expect(clock.sleeps.slice(0, 2)).toEqual([SECOND_LOOK_MS, 19_500]);
  });

  it('comes 1 s after the first for a wait resumed on a long job too, then the adaptive delay', async () => {
    const clock = new FakeClock();
    // A job created 2 min ago, estimated at 5 min, still at 0 %: seen again at 1 s, then at the cap.
    const created = (clock.now() - 120_000) / 1000;
    const getTask = async () => ({ id: 'task_1', status: 'processing', progress: 0, estimated_time: 300, created }) as Task;
    await waitForTask('task_1', { clock, getTask, timeoutMs: 40_000 }).catch(() => undefined);
    expect(clock.sleeps.slice(0, 2)).toEqual([SECOND_LOOK_MS, MAX_POLL_MS]);
    // Never later than the adaptive delay would be: near the end of a short job, the fine step.
    expect(nextPollDelay({ task: { id: 't', status: 'processing', progress: 0, estimated_time: 4 } as Task, nowMs: 4_200, startedAtMs: 0, samples: [], looks: 1 })).toBe(MIN_POLL_MS);
  });

  it('a fixed --poll-interval is kept from the first look', async () => {
    const clock = new FakeClock();
    const job = simulatedJob(clock, 10_000, 1);
    await waitForTask('task_1', { clock, getTask: job.getTask, pollIntervalMs: 3_000 });
    expect(clock.sleeps).toEqual([3_000, 3_000, 3_000, 3_000]);
  });
});

describe('nextPollDelay', () => {
  const state = (fields: Partial<Task>, nowMs: number, samples: { atMs: number; progress: number }[] = []) => ({
    task: { id: 'task_1', status: 'processing', progress: 0, ...fields } as Task,
    nowMs,
    startedAtMs: 0,
    samples,
  });

  it('sleeps half the expected remaining time while far from the end, at most MAX_POLL_MS', () => {
    expect(nextPollDelay(state({ estimated_time: 40 }, 10_000))).toBe(15_000);
    expect(nextPollDelay(state({ estimated_time: 600 }, 0))).toBe(MAX_POLL_MS);
  });

  it('follows the progress trend over a wrong estimate', () => {
    // Estimated 60 s, but 50 % done at 10 s: the job will end near 20 s, not 60 s.
    const delay = nextPollDelay(state({ estimated_time: 60, progress: 50 }, 10_000, [{ atMs: 10_000, progress: 50 }]));
    expect(delay).toBe(5_000);
  });

  it('within a fine step of the expected end, aims just past it, never under half of MIN_POLL_MS', () => {
    // A 40 s job, fine step 1 s: 0.8 s left → look just after the expected end.
    expect(nextPollDelay(state({ estimated_time: 40 }, 39_200))).toBe(800 + END_MARGIN_MS);
    // A 3 s job, fine step MIN_POLL_MS: 0.5 s left → land just after the end instead of on it.
    expect(nextPollDelay(state({ estimated_time: 3 }, 2_500))).toBe(500 + END_MARGIN_MS);
    expect(nextPollDelay(state({ estimated_time: 3 }, 2_900))).toBe(MIN_POLL_MS / 2);
  });

  it('steps finely past the expected end, by 2.5 % of the job, never under MIN_POLL_MS', () => {
    expect(nextPollDelay(state({ estimated_time: 40 }, 41_000))).toBe(1_025);
    expect(nextPollDelay(state({ estimated_time: 4 }, 5_000))).toBe(MIN_POLL_MS);
  });
});
