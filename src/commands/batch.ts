import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { OmniVideoClient } from '../api/client.js';
import { InvalidRequestError, RateLimitError } from '../api/errors.js';
import type { Context } from '../context.js';
import { colorsFor } from '../io/colors.js';
import { lockBatch, readBatchState, BatchStateWriter } from '../store/batch-state.js';
import type { Config } from '../store/config.js';
import { inShard, parseBatch, STATE_FILE } from './batch-input.js';
import { Budget, CONFIRM_ABOVE_JOBS, confirmSubmission, estimateText, formatCost, recentCostPerJob, warnAboutBalance } from './batch-cost.js';
import { BatchFlagsSchema, costBefore, lineRequest, planFor, plannedLines, type BatchFlags, type BatchOptions, type Plan, type PlannedJob } from './batch-plan.js';
import { BatchRun } from './batch-run.js';
import { finish, writeBatchGallery } from './batch-summary.js';
import { dryRunBody } from './render.js';
import { createApiClient, loadSettings, parseOptions, readStdinText, writeJson, type GlobalOptions } from './shared.js';

async function readInput(ctx: Context, input: string): Promise<string> {
  if (input === '-') return readStdinText(ctx, 'batch lines (JSON Lines or one prompt per line)', 'Name the file (omni-video batch prompts.txt), or pipe it in: cat prompts.txt | omni-video batch -');
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
  // Taken before the state is read: a run started while another runs would pay again for its lines.
  const lock = flags.dryRun ? undefined : await lockBatch(join(outputDir, `.omni-video-batch${shard ? `.${shard.index}-of-${shard.count}` : ''}.lock`));
  if (lock && 'heldBy' in lock) {
    throw new InvalidRequestError(`Another omni-video batch${lock.heldBy ? ` (process ${lock.heldBy})` : ''} is running in ${outputDir}${shard ? ` on shard ${shard.index}/${shard.count}` : ''}; nothing was submitted.`, {
      hint: 'Let it finish (or stop it), then run this again: it resumes where that run got to, submitting nothing twice.',
    });
  }
  const { state, plans, damaged } = await readBatchState(statePath);
  if (damaged) ctx.io.stderr.write(`${colors.yellow('!')} Skipped ${damaged} damaged line(s) of ${statePath} (cut short by a crash?).\n`);
  const planned = await Promise.all(inThisShard.map(async (job) => ({ job, plan: await planFor(job, state, flags.retryUncertain) })));

  if (flags.dryRun) return printPlan(ctx, planned, { source, flags, config: settings.config, json: Boolean(globals.json), problems: parsed.problems.length });

  const writer = new BatchStateWriter(statePath);
  const run = new BatchRun(ctx, globals, settings, flags, writer, state, source, inThisShard.length === 1);
  const count = (plan: Plan) => planned.filter((item) => item.plan === plan).length;
  const todo = planned.filter((item) => item.plan === 'submit' || item.plan === 'wait');
  const queue = todo.slice(0, flags.maxJobs ?? todo.length);
  run.note(
    `Batch ${source}: ${inThisShard.length} job(s)${shard ? ` in shard ${shard.index}/${shard.count} (of ${parsed.jobs.length})` : ''} → ${outputDir}` +
      ` · ${count('submit')} to submit, ${count('wait')} to wait for, ${count('skip')} saved before, concurrency ${run.limiter.ceiling}`,
  );
  let started = false;
  try {
    run.settleEarlier(planned);
    if (queue.length > 0) {
      ({ client: run.client } = await createApiClient(ctx, globals, settings, {
        onRetry: (event) => {
          if (event.error instanceof RateLimitError) run.limiter.rateLimited(event.delayMs);
        },
      }));
      await beforeSpending(ctx, run, queue, planned);
      // Every line of this run, before its first submission: the folder's page shows the lines never reached too.
      await writer.plan(plannedLines(inThisShard, flags), plans);
      started = true;
      await run.runAll([...queue]);
    }
  } catch (error) {
    // Stopped before any job ran (no API key, the question declined): no page of nothing.
    if (flags.gallery && !started) run.note('No gallery written: the batch stopped before running any job.');
    throw error;
  } finally {
    await writer.close();
    // Left behind by a run that fails before this, it is taken over: its process is gone.
    await lock?.release();
  }
  const gallery = flags.gallery ? await writeBatchGallery(run, outputDir, inThisShard) : undefined;
  finish(ctx, run, { queue: queue.length, todo: todo.length, problems: parsed.problems.length, startedAt, gallery });
}

/** --dry-run: each line's request, file and plan as a JSON line; nothing is sent. */
async function printPlan(
  ctx: Context,
  planned: PlannedJob[],
  { source, flags, config, json, problems }: { source: string; flags: BatchOptions; config: Config; json: boolean; problems: number },
): Promise<void> {
  const colors = colorsFor(ctx.io);
  let invalid = problems;
  // Every line is planned: a bad one is reported with its number and skipped, as the real run does.
  for (const { job, plan } of planned) {
    const line = `${source} line ${job.line}`;
    let body;
    try {
      ({ body } = await lineRequest(ctx, job, flags, config, (text) => ctx.io.stderr.write(`${colors.yellow('!')} ${line}: ${text}\n`)));
    } catch (error) {
      if (!(error instanceof InvalidRequestError)) throw error;
      invalid += 1;
      ctx.io.stderr.write(`${colors.red('✖')} ${line}: ${error.message} (skipped)\n`);
      continue;
    }
    writeJson(ctx, { line: job.line, id: job.id, output: job.output, plan, request: dryRunBody(body, json) }, true);
  }
  if (invalid) throw new InvalidRequestError(`${invalid} line(s) of ${source} have problems (listed above); nothing was sent.`);
}

/**
 * Before the first submission: how many jobs, what they will cost, whether the balance covers
 * it; on a terminal, more than a few jobs are confirmed first. Sets the budget of --max-cost.
 */
async function beforeSpending(ctx: Context, run: BatchRun, queue: PlannedJob[], planned: PlannedJob[]): Promise<void> {
  const client = run.client as OmniVideoClient;
  const toSubmit = queue.filter((item) => item.plan === 'submit').length;
  const toWait = queue.length - toSubmit;
  const recent = await recentCostPerJob(ctx.configDir, client.baseUrl);
  const perJob = recent?.perJob;
  const { maxCost } = run.flags;
  if (maxCost !== undefined) run.budget = new Budget(maxCost, costBefore(run.state, planned, perJob), perJob);
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
