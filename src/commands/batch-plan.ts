/**
 * What a batch is asked to do, and what it does with each line: its flags, each job's plan from
 * what earlier runs left in the state file, and each line's request.
 */
import { open } from 'node:fs/promises';
import * as z from 'zod/mini';
import type { Context } from '../context.js';
import { hasFtypBox } from '../io/media.js';
import type { BatchState, PlannedLine } from '../store/batch-state.js';
import type { Config } from '../store/config.js';
import { parseShard, type BatchJob } from './batch-input.js';
import { buildGenerationRequest, type BuiltRequest, type GenerateFlags } from './generate.js';
import { pollIntervalFlag, timeoutFlag } from './shared.js';

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
export type BatchOptions = z.output<typeof BatchFlagsSchema>;

/** What a run does with a job, from what earlier runs left in the state file. */
export type Plan = 'submit' | 'wait' | 'skip' | 'uncertain';
export interface PlannedJob {
  job: BatchJob;
  plan: Plan;
}

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

export async function planFor(job: BatchJob, state: BatchState, retryUncertain: boolean): Promise<Plan> {
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

/** What the state file records of each line before the first submission, and the gallery shows of it: never an inline video. */
export function plannedLines(jobs: BatchJob[], flags: { aspectRatio?: string | undefined }): PlannedLine[] {
  return jobs.map((job) => ({ line: job.line, key: job.key, prompt: job.request.prompt, aspect_ratio: job.request.aspect_ratio ?? flags.aspectRatio, output: job.output }));
}

/**
 * A line's request, built and checked as `generate` builds its own: the one way from a batch line
 * to a request, for the run and for --dry-run alike. --aspect-ratio serves where the line names none.
 */
export function lineRequest(ctx: Context, job: BatchJob, flags: { aspectRatio?: string | undefined }, config: Config, warn: (text: string) => void): Promise<BuiltRequest> {
  const { request } = job;
  const lineFlags: GenerateFlags = { image: request.image_urls ?? [], video: request.video_urls ?? [], aspectRatio: request.aspect_ratio ?? flags.aspectRatio, resolution: request.resolution };
  return buildGenerationRequest(ctx, request.prompt, lineFlags, config, warn, request.extend_from_task_id);
}

/**
 * What earlier runs of this batch spent on the jobs planned now: saved ones, failed ones submitted
 * again, and submissions left uncertain (they may be charged: the estimate, as within a run).
 */
export function costBefore(state: BatchState, planned: PlannedJob[], perJob: number | undefined): number {
  return planned.reduce((sum, { job, plan }) => {
    const known = state.get(job.key);
    if (known?.event === 'uncertain' || known?.event === 'submitting') return sum + (perJob ?? 0);
    const ended = plan === 'skip' || (plan === 'submit' && known?.event === 'failed');
    const cost = known?.result?.cost;
    return sum + (ended && typeof cost === 'number' ? cost : 0);
  }, 0);
}
