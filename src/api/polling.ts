import type { Clock } from './clock.js';
import { JobFailedError, WaitTimeoutError } from './errors.js';
import { isTerminal, type Task } from './schemas.js';

export interface WaitOptions {
  getTask: (taskId: string, signal?: AbortSignal) => Promise<Task>;
  clock: Clock;
  /** Called on every change of status or progress. */
  onUpdate?: ((task: Task) => void) | undefined;
  /** Our own limit on waiting; the job keeps running on the service after it. */
  timeoutMs?: number | undefined;
  /** A fixed interval instead of the adaptive one. */
  pollIntervalMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** When the job was submitted, if this process submitted it (more precise than `created`). */
  submittedAtMs?: number | undefined;
  /** Resolve with a failed or cancelled task instead of throwing JobFailedError. */
  resolveOnFailure?: boolean;
  /**
   * Whether a failed look (its retries used up) is the service's passing trouble: the job keeps
   * running there, so the wait looks again, for up to OUTAGE_MS, instead of giving up on it.
   */
  isTransient?: ((error: unknown) => boolean) | undefined;
  /** Called when a look failed and the wait goes on, with when the next look comes. */
  onOutage?: ((error: unknown, nextLookMs: number) => void) | undefined;
}

/** Floor: nothing a video service does is worth looking at more often. */
export const MIN_POLL_MS = 500;
/** How far past the expected end the look near it is aimed: the service's clock and ours start a request apart. */
export const END_MARGIN_MS = 100;
/** Ceiling, so a wrong estimate cannot make us sleep through a finished job for long. */
export const MAX_POLL_MS = 30_000;
/** How long the service may fail every look before a wait gives up (the job is paid for). */
export const OUTAGE_MS = 5 * 60_000;
/** The looks during an outage: from 5 s, doubling, at most 30 s apart. */
const OUTAGE_FIRST_LOOK_MS = 5_000;
const OUTAGE_MAX_LOOK_MS = 30_000;
/** A status we do not know: poll calmly until it becomes one we do. */
export const UNKNOWN_STATUS_POLL_MS = 5_000;
/**
 * The second look comes this soon after the first: a job just accepted is often processing a
 * moment later, and "queued" should not stay on screen for the whole first adaptive step.
 */
export const SECOND_LOOK_MS = 1_000;

export interface ProgressSample {
  atMs: number;
  progress: number;
}

export interface PollState {
  task: Task;
  nowMs: number;
  /** When the job started, in ms (submission time, or `created`). */
  startedAtMs: number;
  /** Samples of progress > 0 while processing, oldest first. */
  samples: ProgressSample[];
  /** How many times the task has been looked at so far (1 after the first look). */
  looks?: number | undefined;
}

/**
 * The job's expected total duration in ms: from the progress trend when there is one (it tracks
 * the real job, whatever the estimate said), else from `estimated_time`.
 */
export function expectedDurationMs(state: PollState): number | undefined {
  const { samples, startedAtMs, task } = state;
  const last = samples.at(-1);
  const first = samples[0];
  if (last && first && last.progress > first.progress && last.atMs > first.atMs) {
    const rate = (last.progress - first.progress) / (last.atMs - first.atMs);
    return last.atMs + (100 - last.progress) / rate - startedAtMs;
  }
  if (last && last.progress >= 5 && last.atMs > startedAtMs) {
    return ((last.atMs - startedAtMs) * 100) / last.progress;
  }
  if (task.estimated_time && task.estimated_time > 0) return task.estimated_time * 1000;
  return undefined;
}

/**
 * How long to sleep before the next look. After the first look, SECOND_LOOK_MS at most; then far
 * from the expected end, half the remaining time (few requests); near it, a fine step of 2.5 % of
 * the job's length (a prompt notice), never below MIN_POLL_MS nor above MAX_POLL_MS; within a
 * step of the end, just past it.
 */
export function nextPollDelay(state: PollState): number {
  const delay = adaptiveDelay(state);
  return state.looks === 1 ? Math.min(delay, SECOND_LOOK_MS) : delay;
}

function adaptiveDelay(state: PollState): number {
  if (state.task.status !== 'pending' && state.task.status !== 'processing') return UNKNOWN_STATUS_POLL_MS;
  const elapsed = state.nowMs - state.startedAtMs;
  const expected = expectedDurationMs(state);
  if (expected === undefined) return clamp(elapsed * 0.1, 2_000, 10_000);
  const fine = clamp(Math.max(expected, elapsed) * 0.025, MIN_POLL_MS, MAX_POLL_MS);
  const remaining = expected - elapsed;
  if (remaining <= 0) return fine;
  // Within a fine step of the end, look just after it, down to half of MIN_POLL_MS: a look that
  // lands a moment early costs a whole step.
  if (remaining <= fine) return clamp(remaining + END_MARGIN_MS, MIN_POLL_MS / 2, MAX_POLL_MS);
  return clamp(Math.max(remaining * 0.5, fine), MIN_POLL_MS, MAX_POLL_MS);
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

/** Polls until the task ends; reports each change; throws JobFailedError or WaitTimeoutError. */
export async function waitForTask(taskId: string, options: WaitOptions): Promise<Task> {
  const { clock, signal } = options;
  const waitStarted = clock.now();
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : waitStarted + options.timeoutMs;
  const samples: ProgressSample[] = [];
  let previous: Task | undefined;
  let outage: { sinceMs: number; nextLookMs: number } | undefined;
  for (let looks = 1; ; looks++) {
    const look = await options.getTask(taskId, signal).then(
      (task) => ({ task }),
      (error: unknown) => ({ error }),
    );
    const now = clock.now();
    let delay: number;
    if ('error' in look) {
      // The job runs on, paid for: passing trouble of the service is waited out, within OUTAGE_MS.
      if (signal?.aborted || !options.isTransient?.(look.error)) throw look.error;
      outage = outage ? { ...outage, nextLookMs: Math.min(outage.nextLookMs * 2, OUTAGE_MAX_LOOK_MS) } : { sinceMs: now, nextLookMs: OUTAGE_FIRST_LOOK_MS };
      if (now - outage.sinceMs >= OUTAGE_MS) throw look.error;
      delay = outage.nextLookMs;
    } else {
      outage = undefined;
      const { task } = look;
      if (!previous || previous.status !== task.status || previous.progress !== task.progress) options.onUpdate?.(task);
      previous = task;
      if (isTerminal(task.status)) {
        if (task.status !== 'completed' && !options.resolveOnFailure) {
          throw new JobFailedError(task.id, task.status, task.error?.message);
        }
        return task;
      }
      if (task.status === 'processing' && task.progress > 0 && task.progress < 100 && samples.at(-1)?.progress !== task.progress) {
        samples.push({ atMs: now, progress: task.progress });
        if (samples.length > 8) samples.shift();
      }
      const startedAtMs = options.submittedAtMs ?? (task.created ? task.created * 1000 : waitStarted);
      delay = options.pollIntervalMs ?? nextPollDelay({ task, nowMs: now, startedAtMs, samples, looks });
    }
    if (now >= deadline) throw new WaitTimeoutError(taskId, Math.round((options.timeoutMs ?? 0) / 1000));
    delay = Math.min(delay, deadline - now);
    if ('error' in look) options.onOutage?.(look.error, delay);
    await clock.sleep(delay, signal);
  }
}
