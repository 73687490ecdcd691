import * as z from 'zod/mini';
import type { Context } from '../context.js';
import { parseJobState, stateOfJob } from '../io/job-states.js';
import { readJobs, type Job } from '../store/history.js';
import { parseOptions, writeJson, type GlobalOptions } from './shared.js';

export const JobsFlagsSchema = z.object({
  limit: z._default(z.pipe(z.string().check(z.regex(/^\d+$/, '--limit takes a whole number')), z.transform(Number)), 20),
  status: z.optional(z.string()),
});

function summary(job: Job): string {
  const when = job.created_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const prompt = job.prompt ? JSON.stringify(job.prompt.length > 50 ? `${job.prompt.slice(0, 49)}…` : job.prompt) : '-';
  const parts = [when, job.task_id ?? '(no task id)', stateOfJob(job), prompt];
  if (job.cost != null) parts.push(`cost ${job.cost}`);
  if (job.file) parts.push(job.file);
  if (job.error) parts.push(`error: ${job.error}`);
  return parts.join('  ');
}

/** The local job history, newest first. */
export async function runJobs(ctx: Context, rawFlags: z.input<typeof JobsFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(JobsFlagsSchema, rawFlags);
  const state = flags.status === undefined ? undefined : parseJobState(flags.status);
  const jobs = await readJobs(ctx.configDir, {
    limit: flags.limit === 0 ? undefined : flags.limit,
    filter: state ? (job) => stateOfJob(job) === state : undefined,
    onWarning: (message) => ctx.io.stderr.write(`! ${message}\n`),
  });
  if (globals.json) {
    // One document, as every command but batch and multi-id status: an array, newest first.
    writeJson(ctx, jobs);
    return;
  }
  if (jobs.length === 0 && !globals.quiet) ctx.io.stderr.write('No jobs yet. Submit one with: omni-video generate "…"\n');
  ctx.io.stdout.write(jobs.map((job) => `${summary(job)}\n`).join(''));
}
