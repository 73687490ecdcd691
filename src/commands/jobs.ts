import * as z from 'zod/mini';
import type { Context } from '../context.js';
import { parseJobState, stateOfJob } from '../io/job-states.js';
import { readJobs, type Job } from '../store/history.js';
import { formatCost } from './batch-cost.js';
import { mayChange, summary } from './jobs-list.js';
import { isUncertain } from './same-request.js';
import { parseOptions, writeJson, type GlobalOptions } from './shared.js';

export const JobsFlagsSchema = z.object({
  limit: z._default(z.pipe(z.string().check(z.regex(/^\d+$/, '--limit takes a whole number')), z.transform(Number)), 20),
  status: z.optional(z.string()),
  refresh: z._default(z.boolean(), false),
  watch: z._default(z.boolean(), false),
});

/** `12 job(s) · cost 11 (110 credits)`, saying how many have no cost known yet. */
function totalLine(jobs: Job[]): string {
  const known = jobs.filter((job) => job.cost != null);
  const cost = known.reduce((sum, job) => sum + (job.cost ?? 0), 0);
  const credits = known.reduce((sum, job) => sum + (job.credits_cost ?? 0), 0);
  const unknown = jobs.filter((job) => job.task_id !== undefined && job.cost == null).length;
  const uncertain = jobs.filter(isUncertain).length;
  return (
    `${jobs.length} job(s) · cost ${formatCost(cost)} (${formatCost(credits)} credits)${unknown ? `; ${unknown} with no cost known yet` : ''}` +
    (uncertain ? `; ${uncertain} uncertain (no task id), which may be charged` : '')
  );
}

/** The local job history, newest first; with --refresh or --watch, as the service sees it now. */
export async function runJobs(ctx: Context, rawFlags: z.input<typeof JobsFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(JobsFlagsSchema, rawFlags);
  const state = flags.status === undefined ? undefined : parseJobState(flags.status);
  let jobs = await readJobs(ctx.configDir, {
    limit: flags.limit === 0 ? undefined : flags.limit,
    filter: state ? (job) => stateOfJob(job) === state : undefined,
    onWarning: (message) => ctx.io.stderr.write(`! ${message}\n`),
  });
  if ((flags.refresh || flags.watch) && jobs.some(mayChange)) {
    const { refreshJobs, watchJobs } = await import('./jobs-refresh.js');
    jobs = flags.watch ? await watchJobs(ctx, jobs, globals) : await refreshJobs(ctx, jobs, globals);
    if (flags.watch && !globals.json) return finishList(ctx, jobs, globals);
  }
  if (globals.json) {
    // One document, as every command but batch and multi-id status: an array, newest first. Each
    // job's `state` is the word the rows show and --status takes, as in `gallery --json`.
    writeJson(ctx, jobs.map((job) => ({ ...job, state: stateOfJob(job) })));
    return;
  }
  if (jobs.length === 0 && !globals.quiet) ctx.io.stderr.write(`${await noJobsLine(ctx, state)}\n`);
  const nowMs = ctx.clock.now();
  const list = jobs.map((job) => `${summary(job, nowMs)}\n`).join('');
  // The total follows the list once it is delivered: after `jobs | head -1` neither is wanted.
  ctx.io.stdout.write(list, (error) => {
    if (!error) finishList(ctx, jobs, globals);
  });
}

/** Why the list is empty: no job at all, or none in the state asked for (the limit counts only those). */
async function noJobsLine(ctx: Context, state: string | undefined): Promise<string> {
  const all = state === undefined ? 0 : (await readJobs(ctx.configDir)).length;
  return all === 0 ? 'No jobs yet. Submit one with: omni-video generate "a red apple on a table"' : `No ${state} jobs in the history (${all} job${all === 1 ? '' : 's'} in all).`;
}

function finishList(ctx: Context, jobs: Job[], globals: GlobalOptions): void {
  if (jobs.length > 0 && !globals.quiet) ctx.io.stderr.write(`${totalLine(jobs)}\n`);
}
