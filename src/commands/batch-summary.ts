/** The end of a batch: its gallery, its summary, and the error that sets its exit code. */
import { IncompleteRunError, InterruptedError, InvalidRequestError, JobFailedError } from '../api/errors.js';
import type { Context } from '../context.js';
import { formatDuration } from '../io/format.js';
import type { BatchJob } from './batch-input.js';
import { BudgetReachedError, formatCost } from './batch-cost.js';
import { plannedLines } from './batch-plan.js';
import type { BatchRun, JobJson, Outcome } from './batch-run.js';

const RERUN_HINT = 'Fix what is reported above, then run the same command again: saved clips are skipped, unfinished jobs are waited for.';

/**
 * --gallery: the page of the output directory, listing also the lines this run never reached.
 * Written whatever the outcome, even after Ctrl-C; a page that cannot be written is a warning.
 */
export async function writeBatchGallery(run: BatchRun, outputDir: string, jobs: BatchJob[]): Promise<string | undefined> {
  const { writeGallery } = await import('../gallery/write.js');
  const lines = plannedLines(jobs, run.flags);
  try {
    return (await writeGallery({ dir: outputDir, configDir: run.ctx.configDir, lines, nowMs: run.ctx.clock.now(), onWarning: (message) => run.note(`${run.colors.yellow('!')} ${message}`) })).path;
  } catch (error) {
    run.note(`${run.colors.yellow('!')} No gallery written: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * The summary on stderr (what happened to each job and to the money), and the run's end: an
 * interruption, the first fatal error, the budget reached, or the jobs that did not complete.
 */
export function finish(ctx: Context, run: BatchRun, totals: { queue: number; todo: number; problems: number; startedAt: number; gallery: string | undefined }): void {
  const outcomes = [...run.outcomes.entries()].sort(([a], [b]) => a.line - b.line);
  const of = (kind: Outcome['kind']) => outcomes.filter(([, outcome]) => outcome.kind === kind);
  const sum = (jsons: JobJson[], field: 'cost' | 'credits_cost') => jsons.reduce((total, json) => total + (json[field] ?? 0), 0);
  // A job whose download was stopped had completed: it is paid for, and no longer running.
  const unsaved = outcomes.flatMap(([job, outcome]) => (outcome.kind === 'interrupted' && outcome.taskId && outcome.completed ? [{ job, taskId: outcome.taskId, json: outcome.completed }] : []));
  const ran = [...outcomes.flatMap(([, outcome]) => ('json' in outcome && outcome.kind !== 'skipped' ? [outcome.json] : [])), ...unsaved.map(({ json }) => json)];
  const before = of('skipped').flatMap(([, outcome]) => ('json' in outcome ? [outcome.json] : []));
  const running = outcomes.flatMap(([job, outcome]) => (outcome.kind === 'interrupted' && outcome.taskId && !outcome.completed ? [{ job, taskId: outcome.taskId }] : []));
  const interruption = ctx.signal.aborted && ctx.signal.reason instanceof InterruptedError ? ctx.signal.reason : undefined;

  const parts = [`${of('saved').length} completed`, `${of('failed').length} failed`, `${of('skipped').length} skipped (saved before)`];
  if (of('uncertain').length) parts.push(`${of('uncertain').length} uncertain`);
  if (of('error').length) parts.push(`${of('error').length} with errors`);
  if (of('interrupted').length) parts.push(`${of('interrupted').length} interrupted`);
  if (of('not-started').length) parts.push(`${of('not-started').length} not started`);
  const budgetEnd = run.budget?.unmeasured ? 'could not be kept (what jobs cost is not known)' : 'was reached';
  if (of('over-budget').length) parts.push(`${of('over-budget').length} not submitted: the --max-cost budget of ${formatCost(run.budget?.max ?? 0)} ${budgetEnd}`);
  if (totals.todo > totals.queue) parts.push(`${totals.todo - totals.queue} left by --max-jobs`);
  if (totals.problems) parts.push(`${totals.problems} invalid line(s)`);
  const costs: string[] = [];
  // No "cost 0" while submitted jobs still run: what they cost is not known yet.
  if (sum(ran, 'cost') > 0 || running.length === 0) costs.push(`cost ${formatCost(sum(ran, 'cost'))} (${formatCost(sum(ran, 'credits_cost'))} credits)`);
  if (sum(before, 'cost') > 0) costs.push(`${formatCost(sum(ran, 'cost') + sum(before, 'cost'))} in all with the clips saved before`);
  const unreported = ran.filter((json) => json.task_id && json.cost == null).length;
  if (unreported) costs.push(`${unreported} job(s) with no cost reported, which may be charged`);
  if (running.length) costs.push(`${running.length} submitted job(s) still running, which may still be charged`);
  if (unsaved.length) costs.push(`${unsaved.length} completed job(s) not saved yet`);
  const took = formatDuration(ctx.clock.now() - totals.startedAt);
  run.note(`${interruption ? `Batch interrupted after ${took}` : `Batch done in ${took}`}: ${parts.join(', ')} · ${costs.join('; ')}`);
  for (const { job, taskId } of running) run.note(`  line ${job.line}: ${taskId} submitted, still running`);
  for (const { job, taskId } of unsaved) run.note(`  line ${job.line}: ${taskId} completed, its video not saved yet`);
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
    if (run.budget?.stopped && run.budget.unmeasured) {
      throw new BudgetReachedError(
        `Stopped: the service reported no cost for a job of this batch, so the --max-cost budget of ${formatCost(run.budget.max)} cannot be kept: ${of('over-budget').length} job(s) not submitted; every job submitted is saved.`,
        'To submit the rest, run the same command without --max-cost (--max-jobs <n> limits how many): saved clips are skipped, nothing is submitted twice.',
      );
    }
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

