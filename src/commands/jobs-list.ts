/** What `jobs` and its --refresh and --watch show of a job: one line each, and whether it may still change. */
import { isTerminal } from '../api/schemas.js';
import { formatCost } from './batch-cost.js';
import { cut, formatTimestamp } from '../io/format.js';
import { stateOfJob } from '../io/job-states.js';
import type { Job } from '../store/history.js';

/** A job the service may still change: it has a task id and was last seen queued or generating. */
export function mayChange(job: Job): boolean {
  return job.task_id !== undefined && !isTerminal(job.status ?? '');
}

/** One line of the list: when, id, state (with progress while running), prompt, cost, file, link expiry, error. */
export function summary(job: Job, nowMs: number): string {
  const when = job.created_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const prompt = job.prompt ? JSON.stringify(cut(job.prompt, 50)) : '-';
  const state = stateOfJob(job);
  const parts = [when, job.task_id ?? '(no task id)', mayChange(job) && job.progress ? `${state} ${Math.round(job.progress)}%` : state, prompt];
  if (job.cost != null) parts.push(`cost ${formatCost(job.cost)}${job.credits_cost != null ? ` (${formatCost(job.credits_cost)} credits)` : ''}`);
  if (job.file) parts.push(job.file);
  if (job.status === 'completed' && job.expires_at != null) parts.push(`link ${job.expires_at * 1000 <= nowMs ? 'expired' : 'expires'} ${formatTimestamp(job.expires_at)}`);
  if (job.error) parts.push(`error: ${job.error}`);
  return parts.join('  ');
}
