import type { GenerationRequest } from '../api/schemas.js';
import type { Context } from '../context.js';
import { FIRST_EVENT, isRunning, readJobs, type Job } from '../store/history.js';

/** How far back an identical request is looked for: result links last about as long. */
export const SAME_REQUEST_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Keys in a fixed order, so the same request hashes the same however it is spelled. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The request's fingerprint: sha256 of its canonical body, inline video data included (so two
 * different local clips never match), through Web Crypto (node:crypto costs every command ~4 ms).
 */
export async function requestFingerprint(body: GenerationRequest): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical(body)));
  return Buffer.from(digest).toString('hex');
}

/**
 * True when the job was paid for and its result not handed over yet: still queued or running
 * as last seen (also after an interrupt or a timeout), or completed while its download was cut
 * short, its link still valid. Saved, printed (`--no-download`), failed and cancelled jobs have ended.
 */
export function isUnfinished(job: Job, nowMs: number): boolean {
  if (!job.task_id || job.file) return false;
  if (job.status === 'failed' || job.status === 'cancelled') return false;
  if (job.status === 'completed') {
    const expired = job.expires_at != null && job.expires_at * 1000 <= nowMs;
    return job.last_event !== 'completed' && !expired;
  }
  return true;
}

/** A submission whose answer never came (no task id): it may have created and charged a job. */
export function isUncertain(job: Job): boolean {
  return !job.task_id && (job.status === 'uncertain' || (job.status === undefined && job.last_event === 'created'));
}

/** Longest a submission can stay unanswered (send, response, retries): a pid older than this may be another program's. */
const SENDING_MAX_MS = 10 * 60 * 1000;
/** How often a run waiting for another one's submission looks at the history again. */
const SENDING_POLL_MS = 250;

/** True while the process that wrote the job's first line still runs and has recorded no answer: it is sending the request now. */
function isBeingSent(job: Job, nowMs: number): boolean {
  if (job.last_event !== FIRST_EVENT || job.pid === undefined || job.pid === process.pid) return false;
  return nowMs - Date.parse(job.created_at) <= SENDING_MAX_MS && isRunning(job.pid);
}

export type SameRequest = { kind: 'resume' | 'uncertain' | 'sending'; job: Job; ageMs: number };

/**
 * What this machine already did with the same request to the same base URL in the last 24 h:
 * a job not ended is resumed (the newest); otherwise, when the newest identical submission is
 * uncertain, it must not be resent unasked. Anything else allows a new submission.
 */
export async function findSameRequest(ctx: Context, requestHash: string, baseUrl: string): Promise<SameRequest | undefined> {
  const nowMs = ctx.clock.now();
  const same = await readJobs(ctx.configDir, {
    since: new Date(nowMs - SAME_REQUEST_WINDOW_MS).toISOString(),
    filter: (job) => job.request_hash === requestHash && job.base_url === baseUrl,
    onWarning: (message) => ctx.io.stderr.write(`! ${message}\n`),
  });
  const ageOf = (job: Job) => Math.max(0, nowMs - Date.parse(job.created_at));
  const unfinished = same.find((job) => isUnfinished(job, nowMs));
  if (unfinished) return { kind: 'resume', job: unfinished, ageMs: ageOf(unfinished) };
  const newest = same[0];
  if (newest && isUncertain(newest)) return { kind: isBeingSent(newest, nowMs) ? 'sending' : 'uncertain', job: newest, ageMs: ageOf(newest) };
  return undefined;
}

/**
 * findSameRequest, after waiting while another omni-video of this machine (another terminal, a
 * batch) is sending the same request: once its answer is recorded, its job is resumed rather
 * than paid for again, and its request is not called unanswered while it may still be answered.
 */
export async function settledSameRequest(ctx: Context, requestHash: string, baseUrl: string, note: (text: string) => void): Promise<SameRequest | undefined> {
  let same = await findSameRequest(ctx, requestHash, baseUrl);
  if (same?.kind !== 'sending') return same;
  const awaited = same.job;
  note(`Waiting for process ${awaited.pid}, which sent the same request ${formatAge(same.ageMs)} and awaits its answer; its job is then resumed (--new submits another)`);
  while (same?.kind === 'sending') {
    await ctx.clock.sleep(SENDING_POLL_MS, ctx.signal);
    same = await findSameRequest(ctx, requestHash, baseUrl);
  }
  if (same) return same;
  // The job waited for is this command's too, even once its sender has saved it: not a new take.
  const [job] = await readJobs(ctx.configDir, { filter: (candidate) => candidate.job === awaited.job, limit: 1 });
  if (job?.task_id && job.status !== 'failed' && job.status !== 'cancelled') return { kind: 'resume', job, ageMs: Math.max(0, ctx.clock.now() - Date.parse(job.created_at)) };
  return undefined;
}

/** `12 s ago`, `3 min ago`, `5 h ago`. */
export function formatAge(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.round(minutes / 60)} h ago`;
}
