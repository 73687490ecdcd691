/** Running a batch's jobs: at most --concurrency at once, each submitted once, waited for and saved. */
import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import type { OmniVideoClient } from '../api/client.js';
import {
  AuthenticationError,
  ConfigurationError,
  InsufficientBalanceError,
  InterruptedError,
  JobFailedError,
  OutputExistsError,
  RateLimitError,
  SubmissionUncertainError,
} from '../api/errors.js';
import { parseRetryAfter } from '../api/retry.js';
import type { Task } from '../api/schemas.js';
import type { Context } from '../context.js';
import { colorsFor } from '../io/colors.js';
import { createReporter, type Reporter } from '../io/progress.js';
import type { BatchState, BatchStateWriter } from '../store/batch-state.js';
import { appendJobRecord, FIRST_EVENT, newJobId, requestFields } from '../store/history.js';
import type { BatchJob } from './batch-input.js';
import type { Budget } from './batch-cost.js';
import { ConcurrencyLimiter } from './batch-limiter.js';
import { lineRequest, type BatchOptions, type Plan, type PlannedJob } from './batch-plan.js';
import { followTask } from './follow.js';
import { recordSubmitted } from './generate.js';
import { requestFingerprint } from './same-request.js';
import { taskToJson, type TaskJson } from './render.js';
import { waitLimits, writeJson, type GlobalOptions, type Settings } from './shared.js';

const DEFAULT_CONCURRENCY = 4;
/** Abort listeners one job can hold on the run's signal at once (queue slot, request, wait, transfer). */
const LISTENERS_PER_JOB = 4;
/** A job refused with 429 even after the client's own retries goes back in the queue this often. */
const MAX_REQUEUES = 3;

export type Outcome =
  | { kind: 'saved' | 'skipped'; json: JobJson }
  | { kind: 'failed' | 'error' | 'uncertain'; json: JobJson; error: Error }
  /** `completed`: the job had completed (and cost what it says); its download was stopped. */
  | { kind: 'interrupted'; error: Error; taskId: string | undefined; completed?: JobJson | undefined }
  | { kind: 'not-started' | 'over-budget' };

export type JobJson = Omit<TaskJson, 'task_id'> & { task_id: string | null };

/** The JSON of a job that has no task to show (never submitted, or its fate unknown). */
function withoutTask(status: string, message: string | null, taskId: string | null = null): JobJson {
  return { ...taskToJson({ id: '', status, progress: 0 }), task_id: taskId, error: message === null ? null : { message } };
}

/** What is true of a submission with no answer, and what to do about it. */
const UNCERTAIN_TRUTH =
  "It may have been created and charged, but the API has no way to list tasks, so its id cannot be found: check the provider's dashboard; --retry-uncertain submits it again knowingly.";

export class BatchRun {
  readonly outcomes = new Map<BatchJob, Outcome>();
  readonly limiter: ConcurrencyLimiter;
  readonly colors;
  client: OmniVideoClient | undefined;
  fatal: Error | undefined;
  /** Set with --max-cost. */
  budget: Budget | undefined;
  readonly #requeues = new Map<BatchJob, number>();

  constructor(
    readonly ctx: Context,
    readonly globals: GlobalOptions,
    readonly settings: Settings,
    readonly flags: BatchOptions,
    readonly writer: BatchStateWriter,
    readonly state: BatchState,
    readonly source: string,
    readonly single: boolean,
  ) {
    this.colors = colorsFor(ctx.io);
    const concurrency = flags.concurrency ?? DEFAULT_CONCURRENCY;
    // Every job in flight listens for Ctrl-C (a request, a wait, a queue slot): more than Node's
    // default of 10 listeners is how this works, not a leak to warn about in the log.
    setMaxListeners(LISTENERS_PER_JOB * concurrency + 10, ctx.signal);
    this.limiter = new ConcurrencyLimiter(concurrency, ctx.clock, ({ from, to, reason }) => {
      if (reason === 'rate-limited') this.note(`${this.colors.yellow('!')} Rate limited: at most ${to} jobs at once for now (was ${from}).`);
      else this.note(`Concurrency back up to ${to}.`);
    });
  }

  note(line: string): void {
    if (!this.globals.quiet) this.ctx.io.stderr.write(`${line}\n`);
  }

  emit(job: BatchJob, json: JobJson, extra: Record<string, unknown> = {}): void {
    writeJson(this.ctx, { line: job.line, id: job.id, ...json, ...extra }, true);
  }

  /** Jobs this run does not run: saved before (skipped), or of unknown fate (reported, not resent). */
  settleEarlier(planned: PlannedJob[]): void {
    for (const { job, plan } of planned) {
      if (plan === 'skip') {
        const known = this.state.get(job.key);
        // Where it was saved, even if the line has moved since (its name then differs).
        const json = { ...((known?.result as JobJson | undefined) ?? withoutTask('completed', null, known?.task_id ?? null)), files: [known?.file ?? job.output] };
        this.outcomes.set(job, { kind: 'skipped', json });
        this.emit(job, json, { skipped: true });
      } else if (plan === 'uncertain') {
        const what = this.state.get(job.key)?.event === 'uncertain' ? 'sent it and got no answer' : 'stopped while submitting it';
        const message = `line ${job.line}: an earlier run ${what}, so the service may have the job; not resubmitted, to avoid paying twice.`;
        const error = new SubmissionUncertainError(message);
        this.ctx.io.stderr.write(`${this.colors.red('✖')} ${message}\n  ${UNCERTAIN_TRUTH}\n`);
        const json = withoutTask('uncertain', message);
        this.outcomes.set(job, { kind: 'uncertain', json, error });
        this.emit(job, json);
      }
    }
  }

  /** Runs the jobs, at most `limit` at once; every job ends with an outcome, none is lost. */
  async runAll(queue: PlannedJob[]): Promise<void> {
    // Jobs paid for by earlier runs go first, so --max-cost counts them in flight before deciding on a new one.
    queue.sort((a, b) => Number(a.plan === 'submit') - Number(b.plan === 'submit'));
    const running = new Set<Promise<void>>();
    for (;;) {
      if (this.fatal || this.ctx.signal.aborted) break;
      if (queue.length === 0) {
        if (running.size === 0) break;
        await Promise.race(running);
        continue;
      }
      try {
        await this.limiter.acquire(this.ctx.signal);
      } catch {
        break;
      }
      const next = queue.shift();
      if (!next || this.fatal) {
        this.limiter.release();
        if (next) queue.unshift(next);
        continue;
      }
      const decision = next.plan === 'submit' ? this.budget?.decide() : undefined;
      if (decision === 'wait' || decision === 'stop') {
        this.limiter.release();
        queue.unshift(next);
        if (decision === 'wait') await Promise.race(running);
        else this.stopAtBudget(queue);
        continue;
      }
      this.budget?.started();
      const task: Promise<void> = this.runJob(next.job, next.plan)
        .then((outcome) => {
          if (outcome === 'requeue') {
            this.budget?.ended(undefined, false);
            queue.unshift({ job: next.job, plan: 'submit' });
            return;
          }
          const json = 'json' in outcome ? outcome.json : undefined;
          // Uncertain submissions may be charged too: they count as the estimate.
          const charged = Boolean(json?.task_id) || outcome.kind === 'uncertain' || (outcome.kind === 'interrupted' && outcome.taskId !== undefined);
          this.budget?.ended(json?.cost, charged);
          this.outcomes.set(next.job, outcome);
        })
        .finally(() => {
          this.limiter.release();
          running.delete(task);
        });
      running.add(task);
    }
    await Promise.all(running);
    for (const { job } of queue) this.outcomes.set(job, { kind: 'not-started' });
  }

  /** The budget is spent: jobs in flight are still waited for and saved; nothing new is submitted. */
  stopAtBudget(queue: PlannedJob[]): void {
    if (this.budget) this.budget.stopped = true;
    for (const item of queue) if (item.plan === 'submit') this.outcomes.set(item.job, { kind: 'over-budget' });
    const waits = queue.filter((item) => item.plan !== 'submit');
    queue.splice(0, queue.length, ...waits);
  }

  async runJob(job: BatchJob, plan: Plan): Promise<Outcome | 'requeue'> {
    const label = `line ${job.line}`;
    const base = await createReporter({
      io: { ...this.ctx.io, stderrIsTTY: this.ctx.io.stderrIsTTY && this.single },
      clock: this.ctx.clock,
      quiet: Boolean(this.globals.quiet),
      label: this.single ? undefined : label,
    });
    let last: Task | undefined;
    const reporter: Reporter = {
      ...base,
      update: (task) => {
        last = task;
        base.update(task);
      },
      succeed: (text) => base.succeed(`${label}: ${text}`),
      fail: (text) => base.fail(`${label}: ${text}`),
    };
    const known = this.state.get(job.key);
    let taskId = plan === 'wait' ? known?.task_id : undefined;
    let historyJob = known?.job;
    let submittedAtMs: number | undefined;
    try {
      if (!taskId) {
        const submitted = await this.submit(job, reporter);
        if (submitted === 'requeue') return 'requeue';
        ({ taskId, historyJob, submittedAtMs } = submitted);
      }
      const json = await followTask(this.ctx, this.client as OmniVideoClient, reporter, {
        taskId,
        jobId: historyJob,
        wait: true,
        download: true,
        output: job.output,
        // The path was claimed for this job before it was submitted: a file there now is its own.
        force: this.flags.force || plan === 'wait',
        ...waitLimits(this.flags, this.settings.config),
        submittedAtMs,
        print: 'none',
      });
      await this.writer.append({ key: job.key, event: 'saved', line: job.line, task_id: taskId, file: job.output, result: json });
      this.emit(job, json);
      return { kind: 'saved', json };
    } catch (error) {
      return this.failure(job, taskId, last, error as Error, reporter);
    }
  }

  /** Records the job (state file and job history) BEFORE the paid request, then submits it once. */
  async submit(job: BatchJob, reporter: Reporter): Promise<{ taskId: string; historyJob: string; submittedAtMs: number } | 'requeue'> {
    const { body } = await lineRequest(this.ctx, job, this.flags, this.settings.config, (text) => reporter.warn(`line ${job.line}: ${text}`));
    if (!this.flags.force && (await stat(job.output).then(() => true, () => false))) {
      throw new OutputExistsError(`${job.output} already exists; nothing was submitted.`, { hint: 'Move it away, or use --force to overwrite it.' });
    }
    const client = this.client as OmniVideoClient;
    const historyJob = newJobId();
    await this.writer.append({ key: job.key, event: 'submitting', line: job.line, job: historyJob, prompt: body.prompt });
    await appendJobRecord(this.ctx.configDir, {
      job: historyJob,
      event: FIRST_EVENT,
      ...requestFields(body, client.baseUrl, await requestFingerprint(body)),
      output: job.output,
      batch: `${this.source}:${job.line}`,
    });
    const submittedAtMs = this.ctx.clock.now();
    let taskId: string;
    try {
      // No abort signal: a Ctrl-C lets a submission in flight finish, so its task id is kept
      // rather than left uncertain.
      ({ taskId } = await client.submit(body));
    } catch (error) {
      const uncertain = error instanceof SubmissionUncertainError;
      const message = (error as Error).message;
      await this.writer.append({ key: job.key, event: uncertain ? 'uncertain' : 'not_submitted', error: message });
      await appendJobRecord(this.ctx.configDir, { job: historyJob, event: uncertain ? 'uncertain' : 'rejected', status: uncertain ? 'uncertain' : 'rejected', error: message });
      if (error instanceof RateLimitError) {
        this.limiter.rateLimited(parseRetryAfter(error.headers, this.ctx.clock.now()));
        const requeues = (this.#requeues.get(job) ?? 0) + 1;
        this.#requeues.set(job, requeues);
        if (requeues <= MAX_REQUEUES) return 'requeue';
      }
      throw error;
    }
    this.limiter.succeeded();
    reporter.info(`line ${job.line}: submitted ${taskId}`);
    await this.writer.append({ key: job.key, event: 'submitted', task_id: taskId });
    await recordSubmitted(this.ctx, historyJob, taskId, reporter);
    return { taskId, historyJob, submittedAtMs };
  }

  async failure(job: BatchJob, taskId: string | undefined, last: Task | undefined, error: Error, reporter: Reporter): Promise<Outcome> {
    if (error instanceof InterruptedError) return { kind: 'interrupted', error, taskId, completed: last?.status === 'completed' ? taskToJson(last) : undefined };
    if (error instanceof AuthenticationError || error instanceof ConfigurationError || error instanceof InsufficientBalanceError) this.fatal ??= error;
    if (error instanceof JobFailedError) {
      const json = last ? taskToJson(last) : withoutTask('failed', error.message, taskId);
      await this.writer.append({ key: job.key, event: 'failed', task_id: taskId, error: error.message, result: json });
      this.emit(job, json);
      return { kind: 'failed', json, error };
    }
    reporter.fail(`${error.message}${error instanceof SubmissionUncertainError ? ` ${UNCERTAIN_TRUTH}` : ''}`);
    const json = last ? { ...taskToJson(last), error: { message: error.message } } : withoutTask(taskId ? 'unknown' : 'not_submitted', error.message, taskId ?? null);
    if (error instanceof SubmissionUncertainError) json.status = 'uncertain';
    this.emit(job, json);
    return { kind: error instanceof SubmissionUncertainError ? 'uncertain' : 'error', json, error };
  }}
