import { describe, expect, it } from 'vitest';
import { JobFailedError, WaitTimeoutError } from '../../src/api/errors.js';
import { SECOND_LOOK_MS, UNKNOWN_STATUS_POLL_MS, waitForTask } from '../../src/api/polling.js';
import type { Task } from '../../src/api/schemas.js';
import { FakeClock } from '../helpers/harness.js';

const task = (fields: Partial<Task>): Task => ({ id: 'task_1', status: 'processing', progress: 10, estimated_time: 60, ...fields }) as Task;

/** A service answering the given tasks in turn, the last one forever. */
function service(...answers: Task[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    getTask: async () => answers[Math.min(calls++, answers.length - 1)] as Task,
  };
}

describe('waitForTask', () => {
  it('stops waiting at --timeout exactly, leaving the job alone, with the command to resume', async () => {
    const clock = new FakeClock();
    const api = service(task({}));
    const error = await waitForTask('task_1', { clock, getTask: api.getTask, timeoutMs: 10_000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as WaitTimeoutError).taskId).toBe('task_1');
    expect((error as Error).message).toBe('Still running after 10 s: task task_1 keeps going on the service.');
    expect((error as WaitTimeoutError).hint).toBe('Resume with: omni-video download task_1 --wait');
    expect(clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(10_000);
  });

  it('keeps a calm pace on a status it does not know, instead of a tight loop', async () => {
    const clock = new FakeClock();
    const api = service(task({ status: 'moderating' }), task({ status: 'moderating' }), task({ status: 'completed', progress: 100 }));
    const done = await waitForTask('task_1', { clock, getTask: api.getTask });
    expect(done.status).toBe('completed');
    expect(clock.sleeps).toEqual([SECOND_LOOK_MS, UNKNOWN_STATUS_POLL_MS]);
  });

  it('reports a failed job with the service’s message, or resolves with it when asked', async () => {
    const failed = task({ status: 'failed', error: { message: 'The content violates the usage policy' } });
    const clock = new FakeClock();
    await expect(waitForTask('task_1', { clock, getTask: service(failed).getTask })).rejects.toThrow(
      new JobFailedError('task_1', 'failed', 'The content violates the usage policy'),
    );
    expect((await waitForTask('task_1', { clock, getTask: service(failed).getTask, resolveOnFailure: true })).status).toBe('failed');
  });

  it('stops at once when interrupted, with the signal’s reason', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const api = service(task({}));
    const reason = new Error('interrupted');
    const waiting = waitForTask('task_1', {
      clock,
      getTask: async () => {
        if (api.calls === 2) controller.abort(reason);
        return api.getTask();
      },
      signal: controller.signal,
    });
    await expect(waiting).rejects.toBe(reason);
    expect(api.calls).toBe(3);
  });
});
