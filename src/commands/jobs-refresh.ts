import type { OmniVideoClient } from '../api/client.js';
import { InterruptedError, RateLimitError, TaskNotFoundError } from '../api/errors.js';
import { nextPollDelay } from '../api/polling.js';
import { resultLinks, type Task } from '../api/schemas.js';
import type { Context } from '../context.js';
import { cut } from '../io/format.js';
import { isCI } from '../io/streams.js';
import type { Job } from '../store/history.js';
import { ConcurrencyLimiter } from './batch-limiter.js';
import { recordObserved } from './follow.js';
import { mayChange, summary } from './jobs-list.js';
import { createApiClient, type GlobalOptions } from './shared.js';

/** Jobs asked about at once: a long list must not look like a flood to the service. */
export const REFRESH_CONCURRENCY = 4;
/** --watch looks again at least this often, and no more often than this. */
const WATCH_MIN_MS = 1_000;
const WATCH_MAX_MS = 15_000;

/** The job as the service now describes it. */
function withTask(job: Job, task: Task): Job {
  const { urls, expiresAt } = resultLinks(task);
  return {
    ...job,
    status: task.status,
    progress: task.progress,
    ...(task.cost != null ? { cost: task.cost, credits_cost: task.credits_cost } : {}),
    ...(urls[0] ? { url: urls[0], expires_at: expiresAt } : {}),
    ...(task.error?.message ? { error: task.error.message } : {}),
  };
}

class Refresher {
  readonly limiter: ConcurrencyLimiter;
  /** The last answer for each task id, which paces --watch. */
  readonly tasks = new Map<string, Task>();
  /** Task ids the service does not know (404): not asked again. */
  readonly #unknown = new Set<string>();

  constructor(
    readonly ctx: Context,
    readonly client: OmniVideoClient,
  ) {
    this.limiter = new ConcurrencyLimiter(REFRESH_CONCURRENCY, ctx.clock);
  }

  /** Jobs of this base URL (or of none recorded) that may still change; others are the other service's. */
  asked(job: Job): boolean {
    return mayChange(job) && !this.#unknown.has(job.task_id as string) && (job.base_url === undefined || job.base_url === this.client.baseUrl);
  }

  /**
   * One status request per job that may change, at most REFRESH_CONCURRENCY at once, each with
   * the client's retries; what changed is written to the history. The first error that is not
   * about one job (the network, the key) is thrown after every job had its turn.
   */
  async round(jobs: Job[]): Promise<Job[]> {
    let failure: unknown;
    const next = await Promise.all(
      jobs.map(async (job) => {
        if (!this.asked(job) || failure !== undefined) return job;
        await this.limiter.acquire(this.ctx.signal);
        try {
          if (failure !== undefined) return job;
          const task = await this.client.getTask(job.task_id as string, { signal: this.ctx.signal });
          this.limiter.succeeded();
          this.tasks.set(task.id, task);
          await recordObserved(this.ctx, job, task);
          return withTask(job, task);
        } catch (error) {
          if (error instanceof InterruptedError || this.ctx.signal.aborted) throw error;
          if (error instanceof TaskNotFoundError) {
            this.#unknown.add(job.task_id as string);
            this.ctx.io.stderr.write(`! ${job.task_id}: the service at ${this.client.baseUrl} does not know it (HTTP 404); left as it was.\n`);
            return job;
          }
          if (error instanceof RateLimitError) this.limiter.rateLimited();
          failure ??= error;
          return job;
        } finally {
          this.limiter.release();
        }
      }),
    );
    if (failure !== undefined) throw failure;
    return next;
  }

  /** How long --watch sleeps: until the soonest job is worth asking about again. */
  delayMs(jobs: Job[]): number {
    const nowMs = this.ctx.clock.now();
    const delays = jobs.flatMap((job) => {
      const task = job.task_id ? this.tasks.get(job.task_id) : undefined;
      if (!task || !this.asked(job)) return [];
      const startedAtMs = task.created ? task.created * 1000 : Date.parse(job.created_at);
      return [nextPollDelay({ task, nowMs, startedAtMs, samples: [] })];
    });
    return Math.min(Math.max(Math.min(...delays), WATCH_MIN_MS), WATCH_MAX_MS);
  }
}

async function refresher(ctx: Context, jobs: Job[], globals: GlobalOptions): Promise<Refresher> {
  const { client } = await createApiClient(ctx, globals);
  const elsewhere = new Set(jobs.filter((job) => mayChange(job) && job.base_url !== undefined && job.base_url !== client.baseUrl).map((job) => job.base_url));
  for (const baseUrl of elsewhere) {
    ctx.io.stderr.write(`! Jobs submitted to ${baseUrl} were not asked about (this run uses ${client.baseUrl}); add --base-url ${baseUrl} for them.\n`);
  }
  return new Refresher(ctx, client);
}

/** `jobs --refresh`: asks the service about every listed job that has not ended, once. */
export async function refreshJobs(ctx: Context, jobs: Job[], globals: GlobalOptions): Promise<Job[]> {
  return (await refresher(ctx, jobs, globals)).round(jobs);
}

/**
 * `jobs --watch`: refreshes until every listed job has ended. On a terminal the list is redrawn
 * in place; elsewhere the list is printed once, then one line per job whose state changed.
 * With --json nothing is printed until the end (the caller prints the final array).
 */
export async function watchJobs(ctx: Context, initial: Job[], globals: GlobalOptions): Promise<Job[]> {
  const watch = await refresher(ctx, initial, globals);
  // Redrawn in place only on a terminal that reports its width, and never in a CI log.
  const terminal = ctx.io.stdout as NodeJS.WriteStream;
  const live = ctx.io.stdoutIsTTY && !isCI(ctx.env) && (terminal.columns ?? 0) > 0 && !globals.json;
  let drawn = 0;
  const draw = (jobs: Job[], previous: Job[] | undefined) => {
    if (globals.json) return;
    const nowMs = ctx.clock.now();
    if (live) {
      // The width now, as the terminal may have been resized since the last redraw.
      const columns = terminal.columns || 80;
      // Each line kept to one row, so moving up `drawn` rows finds the top of the list.
      let lines = jobs.map((job) => summary(job, nowMs)).map((line) => cut(line, columns - 1));
      // Rows scrolled off the top cannot be moved up to: while redraws are to come, a list taller
      // than the terminal shows the rows that fit and counts the rest; the last draw shows them all.
      // A terminal that reports no height (0 rows) is taken as tall enough.
      const fitting = (terminal.rows || Number.POSITIVE_INFINITY) - 2;
      if (lines.length > fitting + 1 && jobs.some((job) => watch.asked(job))) {
        lines = [...lines.slice(0, Math.max(fitting, 1)), `… and ${lines.length - Math.max(fitting, 1)} more, listed when all have ended`];
      }
      // Auto-wrap off while drawing (DECAWM): a row wider than counted (wide characters, CJK or
      // emoji, take two columns) is cut by the terminal instead of taking a second row. Each row
      // is overwritten and its rest erased, then what is below: a clear of the whole screen, when
      // the list starts at its top, would make tmux keep a copy of it in its history each time.
      const rows = lines.map((line) => `${line}\x1b[K`).join('\n');
      ctx.io.stdout.write(`${drawn ? `\x1b[${drawn}A\r` : ''}\x1b[?7l${rows}\x1b[?7h\n\x1b[0J`);
      drawn = lines.length;
      return;
    }
    const changed = previous ? jobs.filter((job, index) => job.status !== previous[index]?.status) : jobs;
    ctx.io.stdout.write(changed.map((job) => `${summary(job, nowMs)}\n`).join(''));
  };
  let jobs = await watch.round(initial);
  draw(jobs, undefined);
  while (jobs.some((job) => watch.asked(job))) {
    await ctx.clock.sleep(watch.delayMs(jobs), ctx.signal);
    const previous = jobs;
    jobs = await watch.round(jobs);
    draw(jobs, previous);
  }
  return jobs;
}
