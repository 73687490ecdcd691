import { describe, expect, it } from 'vitest';
import { JobFailedError, ServiceUnavailableError, TaskNotFoundError, WaitTimeoutError } from '../../src/api/errors.js';
import { OUTAGE_MS, SECOND_LOOK_MS, UNKNOWN_STATUS_POLL_MS, waitForTask } from '../../src/api/polling.js';
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

describe('waitForTask through a service outage', () => {
  const outage = () => new ServiceUnavailableError('GET /tasks/{id}: HTTP 502', { status: 502, endpoint: 'GET /tasks/{id}', serviceMessage: undefined, body: '' });
  /** Looks that fail while `failing(call)` says so, else answer `answer`. */
  function flaky(answer: Task, failing: (call: number) => boolean, error: () => Error = outage) {
    let calls = 0;
    return async () => {
      calls += 1;
      if (failing(calls)) throw error();
      return answer;
    };
  }
  const transient = (error: unknown) => error instanceof ServiceUnavailableError;

  it('a status look that fails after its retries does not end the wait: it looks again at 5, 10, 20, 30 s, and the job is followed to its end', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const done = await waitForTask('task_1', {
      clock,
      getTask: flaky(task({ status: 'completed', progress: 100 }), (call) => call <= 5),
      isTransient: transient,
      onOutage: (_error, nextLookMs) => seen.push(nextLookMs),
    });
    expect(done.status).toBe('completed');
    expect(clock.sleeps).toEqual([5_000, 10_000, 20_000, 30_000, 30_000]);
    expect(seen).toEqual([5_000, 10_000, 20_000, 30_000, 30_000]);
  });

  it(`an outage longer than ${OUTAGE_MS / 60_000} min ends the wait with the service's error`, async () => {
    const clock = new FakeClock();
    const error = await waitForTask('task_1', { clock, getTask: flaky(task({}), () => true), isTransient: transient }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    const waited = clock.sleeps.reduce((sum, ms) => sum + ms, 0);
    expect(waited).toBeGreaterThanOrEqual(OUTAGE_MS);
    expect(waited).toBeLessThan(OUTAGE_MS + 30_000);
  });

  it('the outage clock restarts after a good look; --timeout still ends the wait on time', async () => {
    const clock = new FakeClock();
    // Fails, answers, fails: each failure starts again at 5 s.
    const getTask = flaky(task({}), (call) => call === 1 || call === 3);
    const error = await waitForTask('task_1', { clock, getTask, isTransient: transient, timeoutMs: 12_000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(clock.sleeps[0]).toBe(5_000);
    expect(clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(12_000);
  });

  it('an error that is no outage (an unknown task, a rejected key) ends the wait at once', async () => {
    const clock = new FakeClock();
    const notFound = () => new TaskNotFoundError('No such task', { status: 404, endpoint: 'GET /tasks/{id}', serviceMessage: undefined, body: '' });
    const error = await waitForTask('task_1', { clock, getTask: flaky(task({}), () => true, notFound), isTransient: transient }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TaskNotFoundError);
    expect(clock.sleeps).toEqual([]);
  });
});

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
