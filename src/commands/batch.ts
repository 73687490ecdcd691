import { setMaxListeners } from 'node:events';
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import * as z from 'zod/mini';
import type { OmniVideoClient } from '../api/client.js';
import {
  AuthenticationError,
  ConfigurationError,
  IncompleteRunError,
  InsufficientBalanceError,
  InterruptedError,
  InvalidRequestError,
  JobFailedError,
  OutputExistsError,
  RateLimitError,
  SubmissionUncertainError,
} from '../api/errors.js';
import { parseRetryAfter } from '../api/retry.js';
import type { Task } from '../api/schemas.js';
import type { Context } from '../context.js';
import { formatDuration } from '../io/format.js';
import { hasFtypBox } from '../io/media.js';
import { colorsFor } from '../io/colors.js';
import { createReporter, type Reporter } from '../io/progress.js';
import { readBatchState, BatchStateWriter, type BatchState } from '../store/batch-state.js';
import type { Config } from '../store/config.js';
import { appendJobRecord, FIRST_EVENT, newJobId, requestFields } from '../store/history.js';
import { inShard, parseBatch, parseShard, STATE_FILE, type BatchJob } from './batch-input.js';
import { Budget, BudgetReachedError, CONFIRM_ABOVE_JOBS, confirmSubmission, estimateText, formatCost, recentCostPerJob, warnAboutBalance } from './batch-cost.js';
import { ConcurrencyLimiter } from './batch-limiter.js';
import { followTask } from './follow.js';
import { buildGenerationRequest, recordSubmitted, type BuiltRequest, type GenerateFlags } from './generate.js';
import { requestFingerprint } from './same-request.js';
import { dryRunBody, taskToJson, type TaskJson } from './render.js';
import { createApiClient, loadSettings, parseOptions, pollIntervalFlag, readStdinText, timeoutFlag, waitLimits, writeJson, type GlobalOptions, type Settings } from './shared.js';

export const DEFAULT_CONCURRENCY = 4;
/** Abort listeners one job can hold on the run's signal at once (queue slot, request, wait, transfer). */
const LISTENERS_PER_JOB = 4;
/** A job refused with 429 even after the client's own retries goes back in the queue this often. */
const MAX_REQUEUES = 3;

const whole = (flag: string, min: number, max: number) =>
  z.pipe(
    z.string().check(z.refine((value) => /^\d+$/.test(value.trim()) && Number(value) >= min && Number(value) <= max, { message: `${flag} takes a whole number from ${min} to ${max}` })),
    z.transform(Number),
  );

export const BatchFlagsSchema = z.object({
  concurrency: z.optional(whole('--concurrency', 1, 64)),
  outputDir: z.optional(z.string().check(z.minLength(1))),
  shard: z.optional(
    z.pipe(
      z.string(),
      z.transform((value: string, context) => parseShard(value) ?? (context.issues.push({ code: 'custom', message: `--shard takes i/n with 1 <= i <= n, e.g. 2/4 (got '${value}')`, input: value }), z.NEVER)),
    ),
  ),
  maxJobs: z.optional(whole('--max-jobs', 1, 1_000_000)),
  aspectRatio: z.optional(z.string()),
  timeout: z.optional(timeoutFlag),
  pollInterval: z.optional(pollIntervalFlag),
  force: z._default(z.boolean(), false),
  retryUncertain: z._default(z.boolean(), false),
  dryRun: z._default(z.boolean(), false),
  gallery: z._default(z.boolean(), false),
  maxCost: z.optional(
    z.pipe(
      z.string().check(z.refine((value) => /^\d+(\.\d+)?$/.test(value.trim()), { message: '--max-cost takes an amount, e.g. 25 or 12.5' })),
      z.transform(Number),
    ),
  ),
  yes: z._default(z.boolean(), false),
});
export type BatchFlags = z.input<typeof BatchFlagsSchema>;

/** What a run does with a job, from what earlier runs left in the state file. */
type Plan = 'submit' | 'wait' | 'skip' | 'uncertain';

type Outcome =
  | { kind: 'saved' | 'skipped'; json: JobJson }
  | { kind: 'failed' | 'error' | 'uncertain'; json: JobJson; error: Error }
  | { kind: 'interrupted'; error: Error; taskId: string | undefined }
  | { kind: 'not-started' | 'over-budget' };

type JobJson = Omit<TaskJson, 'task_id'> & { task_id: string | null };

/** True when the file is there and starts as every mp4 does, with an `ftyp` box. */
async function isSavedVideo(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    try {
      const head = Buffer.alloc(8);
      const { bytesRead } = await handle.read(head, 0, 8, 0);
      return hasFtypBox(head.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

async function planFor(job: BatchJob, state: BatchState, retryUncertain: boolean): Promise<Plan> {
  const known = state.get(job.key);
  switch (known?.event) {
    case 'saved':
      if (known.file && (await isSavedVideo(known.file))) return 'skip';
      return known.task_id ? 'wait' : 'submit';
    case 'submitted':
      return 'wait';
    case 'submitting':
    case 'uncertain':
      return retryUncertain ? 'submit' : 'uncertain';
    default:
      return 'submit';
  }
}

/**
 * A line's request, built and checked as `generate` builds its own: the one way from a batch line
 * to a request, for the run and for --dry-run alike. --aspect-ratio serves where the line names none.
 */
function lineRequest(ctx: Context, job: BatchJob, flags: { aspectRatio?: string | undefined }, config: Config, warn: (text: string) => void): Promise<BuiltRequest> {
  const { request } = job;
  const lineFlags: GenerateFlags = { image: request.image_urls ?? [], video: request.video_urls ?? [], aspectRatio: request.aspect_ratio ?? flags.aspectRatio, resolution: request.resolution };
  return buildGenerationRequest(ctx, request.prompt, lineFlags, config, warn, request.extend_from_task_id);
}

/** The JSON of a job that has no task to show (never submitted, or its fate unknown). */
function withoutTask(status: string, message: string | null, taskId: string | null = null): JobJson {
  return { ...taskToJson({ id: '', status, progress: 0 }), task_id: taskId, error: message === null ? null : { message } };
}

async function readInput(ctx: Context, input: string): Promise<string> {
  if (input === '-') return readStdinText(ctx, 'batch lines (JSON Lines or one prompt per line)');
  const path = resolve(ctx.cwd, input);
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidRequestError(`Cannot read the batch file ${input} (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (error as Error).message}).`, {
      hint: 'Pass a JSON Lines file, a text file with one prompt per line, or - for stdin.',
    });
  }
}

const RERUN_HINT = 'Fix what is reported above, then run the same command again: saved clips are skipped, unfinished jobs are waited for.';
/** What is true of a submission with no answer, and what to do about it. */
const UNCERTAIN_TRUTH =
  "It may have been created and charged, but the API has no way to list tasks, so its id cannot be found: check the provider's dashboard; --retry-uncertain submits it again knowingly.";


class BatchRun {
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
    readonly flags: z.output<typeof BatchFlagsSchema>,
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

  /** Runs the jobs, at most `limit` at once; every job ends with an outcome, none is lost. */
  async runAll(queue: { job: BatchJob; plan: Plan }[]): Promise<void> {
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
  stopAtBudget(queue: { job: BatchJob; plan: Plan }[]): void {
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
    if (error instanceof InterruptedError) return { kind: 'interrupted', error, taskId };
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
  }
}

/**
 * `batch <file|->`: many jobs, at most --concurrency at once (fewer while rate limited), one
 * JSON line per job on stdout as each ends, a summary on stderr. Resumable: its state file in the
 * output directory says which jobs are saved (skipped), submitted (waited for, never resent) or
 * of unknown fate (reported, not resent).
 */
export async function runBatch(ctx: Context, input: string, rawFlags: BatchFlags, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(BatchFlagsSchema, rawFlags);
  const startedAt = ctx.clock.now();
  const settings = await loadSettings(ctx, globals);
  const outputDir = resolve(ctx.cwd, flags.outputDir ?? settings.config['output-dir'] ?? '.');
  const source = input === '-' ? 'stdin' : basename(input);
  const parsed = parseBatch(await readInput(ctx, input), outputDir);
  const colors = colorsFor(ctx.io);
  for (const problem of parsed.problems) ctx.io.stderr.write(`${colors.red('✖')} ${source} line ${problem.line}: ${problem.message} (skipped)\n`);
  if (parsed.jobs.length === 0) {
    throw new InvalidRequestError(`No job to run in ${source}${parsed.problems.length ? ': every line has a problem' : ': it is empty'}.`, {
      hint: 'One prompt per line, or JSON Lines such as {"prompt": "a red fox", "aspect_ratio": "9:16"}.',
    });
  }
  const shard = flags.shard;
  const inThisShard = shard ? parsed.jobs.filter((job) => inShard(job.key, shard)) : parsed.jobs;
  const statePath = join(outputDir, STATE_FILE);
  const { state, damaged } = await readBatchState(statePath);
  if (damaged) ctx.io.stderr.write(`${colors.yellow('!')} Skipped ${damaged} damaged line(s) of ${statePath} (cut short by a crash?).\n`);
  const planned = await Promise.all(inThisShard.map(async (job) => ({ job, plan: await planFor(job, state, flags.retryUncertain) })));

  if (flags.dryRun) {
    let invalid = parsed.problems.length;
    // Every line is planned: a bad one is reported with its number and skipped, as the real run does.
    for (const { job, plan } of planned) {
      const line = `${source} line ${job.line}`;
      let body;
      try {
        ({ body } = await lineRequest(ctx, job, flags, settings.config, (text) => ctx.io.stderr.write(`${colors.yellow('!')} ${line}: ${text}\n`)));
      } catch (error) {
        if (!(error instanceof InvalidRequestError)) throw error;
        invalid += 1;
        ctx.io.stderr.write(`${colors.red('✖')} ${line}: ${error.message} (skipped)\n`);
        continue;
      }
      writeJson(ctx, { line: job.line, id: job.id, output: job.output, plan, request: dryRunBody(body, Boolean(globals.json)) }, true);
    }
    if (invalid) throw new InvalidRequestError(`${invalid} line(s) of ${source} have problems (listed above); nothing was sent.`);
    return;
  }

  const writer = new BatchStateWriter(statePath);
  const run = new BatchRun(ctx, globals, settings, flags, writer, state, source, inThisShard.length === 1);
  const count = (plan: Plan) => planned.filter((item) => item.plan === plan).length;
  const todo = planned.filter((item) => item.plan === 'submit' || item.plan === 'wait');
  const queue = todo.slice(0, flags.maxJobs ?? todo.length);
  run.note(
    `Batch ${source}: ${inThisShard.length} job(s)${shard ? ` in shard ${shard.index}/${shard.count} (of ${parsed.jobs.length})` : ''} → ${outputDir}` +
      ` · ${count('submit')} to submit, ${count('wait')} to wait for, ${count('skip')} saved before, concurrency ${run.limiter.ceiling}`,
  );
  try {
    for (const { job, plan } of planned) {
      if (plan === 'skip') {
        const known = state.get(job.key);
        // Where it was saved, even if the line has moved since (its name then differs).
        const json = { ...((known?.result as JobJson | undefined) ?? withoutTask('completed', null, known?.task_id ?? null)), files: [known?.file ?? job.output] };
        run.outcomes.set(job, { kind: 'skipped', json });
        run.emit(job, json, { skipped: true });
      } else if (plan === 'uncertain') {
        const message = `line ${job.line}: an earlier run stopped while submitting it, so the service may have the job; not resubmitted, to avoid paying twice.`;
        const error = new SubmissionUncertainError(message);
        ctx.io.stderr.write(`${colors.red('✖')} ${message}\n  ${UNCERTAIN_TRUTH}\n`);
        const json = withoutTask('uncertain', message);
        run.outcomes.set(job, { kind: 'uncertain', json, error });
        run.emit(job, json);
      }
    }
    if (queue.length > 0) {
      ({ client: run.client } = await createApiClient(ctx, globals, settings, {
        onRetry: (event) => {
          if (event.error instanceof RateLimitError) run.limiter.rateLimited(event.delayMs);
        },
      }));
      await beforeSpending(ctx, run, queue, planned);
      await run.runAll([...queue]);
    }
  } finally {
    await writer.close();
  }
  const gallery = flags.gallery ? await writeBatchGallery(run, outputDir, inThisShard) : undefined;
  finish(ctx, run, { planned, queue: queue.length, todo: todo.length, problems: parsed.problems.length, startedAt, gallery });
}

/**
 * --gallery: the page of the output directory, listing also the lines this run never reached.
 * Written whatever the outcome, even after Ctrl-C; a page that cannot be written is a warning.
 */
async function writeBatchGallery(run: BatchRun, outputDir: string, jobs: BatchJob[]): Promise<string | undefined> {
  const { writeGallery } = await import('../gallery/write.js');
  const lines = jobs.map((job) => ({ line: job.line, key: job.key, prompt: job.request.prompt, aspect_ratio: job.request.aspect_ratio ?? run.flags.aspectRatio, output: job.output }));
  try {
    return (await writeGallery({ dir: outputDir, configDir: run.ctx.configDir, lines, nowMs: run.ctx.clock.now(), onWarning: (message) => run.note(`${run.colors.yellow('!')} ${message}`) })).path;
  } catch (error) {
    run.note(`${run.colors.yellow('!')} No gallery written: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * Before the first submission: how many jobs, what they will cost, whether the balance covers
 * it; on a terminal, more than a few jobs are confirmed first. Sets the budget of --max-cost.
 */
async function beforeSpending(ctx: Context, run: BatchRun, queue: { job: BatchJob; plan: Plan }[], planned: { job: BatchJob; plan: Plan }[]): Promise<void> {
  const client = run.client as OmniVideoClient;
  const toSubmit = queue.filter((item) => item.plan === 'submit').length;
  const toWait = queue.length - toSubmit;
  const recent = await recentCostPerJob(ctx.configDir, client.baseUrl);
  const perJob = recent?.perJob;
  const { maxCost } = run.flags;
  if (maxCost !== undefined) run.budget = new Budget(maxCost, costBefore(run.state, planned), perJob);
  if (toSubmit === 0) return;
  const basis = recent ? `${formatCost(recent.perJob)} per job, the mean of the last ${recent.jobs} in the job history` : 'no job with a cost in the job history yet';
  const budget = run.budget ? ` · --max-cost ${formatCost(run.budget.max)}${run.budget.spentBefore ? ` (${formatCost(run.budget.spentBefore)} spent by earlier runs)` : ''}` : '';
  run.note(`Will submit ${toSubmit} job(s)${toWait ? `, and wait for ${toWait} submitted before` : ''} · estimated cost ${estimateText(toSubmit, perJob)} (${basis})${budget}`);
  if (perJob !== undefined) {
    const spend = Math.min(toSubmit * perJob, maxCost ?? Number.POSITIVE_INFINITY);
    await warnAboutBalance(ctx, client, spend, (line) => ctx.io.stderr.write(`${run.colors.yellow('!')} ${line}\n`));
  }
  if (toSubmit > CONFIRM_ABOVE_JOBS && !run.flags.yes && ctx.io.stdinIsTTY && ctx.io.stderrIsTTY) await confirmSubmission(ctx, toSubmit, perJob);
}

/** What earlier runs of this batch spent on the jobs planned now: saved ones, and failed ones submitted again. */
function costBefore(state: BatchState, planned: { job: BatchJob; plan: Plan }[]): number {
  return planned.reduce((sum, { job, plan }) => {
    const known = state.get(job.key);
    const ended = plan === 'skip' || (plan === 'submit' && known?.event === 'failed');
    const cost = known?.result?.cost;
    return sum + (ended && typeof cost === 'number' ? cost : 0);
  }, 0);
}

function finish(ctx: Context, run: BatchRun, totals: { planned: { job: BatchJob }[]; queue: number; todo: number; problems: number; startedAt: number; gallery: string | undefined }): void {
  const outcomes = [...run.outcomes.entries()].sort(([a], [b]) => a.line - b.line);
  const of = (kind: Outcome['kind']) => outcomes.filter(([, outcome]) => outcome.kind === kind);
  const sum = (jsons: JobJson[], field: 'cost' | 'credits_cost') => jsons.reduce((total, json) => total + (json[field] ?? 0), 0);
  const ran = outcomes.flatMap(([, outcome]) => ('json' in outcome && outcome.kind !== 'skipped' ? [outcome.json] : []));
  const before = of('skipped').flatMap(([, outcome]) => ('json' in outcome ? [outcome.json] : []));
  const running = outcomes.flatMap(([job, outcome]) => (outcome.kind === 'interrupted' && outcome.taskId ? [{ job, taskId: outcome.taskId }] : []));
  const interruption = ctx.signal.aborted && ctx.signal.reason instanceof InterruptedError ? ctx.signal.reason : undefined;

  const parts = [`${of('saved').length} completed`, `${of('failed').length} failed`, `${of('skipped').length} skipped (saved before)`];
  if (of('uncertain').length) parts.push(`${of('uncertain').length} uncertain`);
  if (of('error').length) parts.push(`${of('error').length} with errors`);
  if (of('interrupted').length) parts.push(`${of('interrupted').length} interrupted`);
  if (of('not-started').length) parts.push(`${of('not-started').length} not started`);
  if (of('over-budget').length) parts.push(`${of('over-budget').length} not submitted: the --max-cost budget of ${formatCost(run.budget?.max ?? 0)} was reached`);
  if (totals.todo > totals.queue) parts.push(`${totals.todo - totals.queue} left by --max-jobs`);
  if (totals.problems) parts.push(`${totals.problems} invalid line(s)`);
  const costs: string[] = [];
  // No "cost 0" while submitted jobs still run: what they cost is not known yet.
  if (sum(ran, 'cost') > 0 || running.length === 0) costs.push(`cost ${formatCost(sum(ran, 'cost'))} (${formatCost(sum(ran, 'credits_cost'))} credits)`);
  if (sum(before, 'cost') > 0) costs.push(`${formatCost(sum(ran, 'cost') + sum(before, 'cost'))} in all with the clips saved before`);
  if (running.length) costs.push(`${running.length} submitted job(s) still running, which may still be charged`);
  const took = formatDuration(ctx.clock.now() - totals.startedAt);
  run.note(`${interruption ? `Batch interrupted after ${took}` : `Batch done in ${took}`}: ${parts.join(', ')} · ${costs.join('; ')}`);
  for (const { job, taskId } of running) run.note(`  line ${job.line}: ${taskId} submitted, still running`);
  if (totals.gallery) run.note(`Gallery: ${totals.gallery}`);

  if (interruption) {
    throw new InterruptedError(
      interruption.signalName,
      `Interrupted: ${running.length ? `the ${running.length} job(s) submitted keep running on the service and may still be charged` : 'no job was left running'}.`,
      'Run the same command again to wait for them and to submit the rest (nothing is submitted twice).',
    );
  }
  if (run.fatal) throw run.fatal;
  const unfinished = outcomes.filter(([, outcome]) => outcome.kind === 'failed' || outcome.kind === 'error' || outcome.kind === 'uncertain');
  if (unfinished.length === 0) {
    if (run.budget?.stopped) {
      throw new BudgetReachedError(
        `Stopped at the --max-cost budget of ${formatCost(run.budget.max)} (spent ${formatCost(run.budget.spent)}): ${of('over-budget').length} job(s) not submitted; every job submitted is saved.`,
        'Run the same command with a higher --max-cost to continue: saved clips are skipped, nothing is submitted twice.',
      );
    }
    if (totals.problems) throw new InvalidRequestError(`${totals.problems} line(s) were skipped as invalid (listed above); every other job is saved.`);
    return;
  }
  const lines = unfinished.map(([job]) => job.line).join(', ');
  const message = `${unfinished.length} of ${outcomes.length} job(s) did not complete (line${unfinished.length > 1 ? 's' : ''} ${lines}).`;
  // A job the service failed decides the exit code (4); otherwise the first problem's does.
  const failed = unfinished.find(([, outcome]) => outcome.kind === 'failed') ?? unfinished[0];
  const cause = failed && 'error' in failed[1] && failed[1].error ? failed[1].error : new JobFailedError('', 'failed', undefined);
  throw new IncompleteRunError(message, cause, RERUN_HINT);
}
