import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import type { GenerationRequest } from '../api/schemas.js';
import { ensurePrivateDir } from './config.js';
import { endsMidLine } from './jsonl.js';

export const HISTORY_FILE = 'jobs.jsonl';

/**
 * One line of the history. The file is append-only JSON Lines: each process appends whole lines
 * with O_APPEND, so concurrent runs never overwrite each other, and a crash costs at most the
 * line being written. A job is the fold of its lines, later fields winning. Built on first use,
 * as the API's schemas are (src/api/schemas.ts).
 */
const JobRecordSchema = z.lazy(() =>
  z.object({
    job: z.string().check(z.minLength(1)),
    at: z.string(),
    event: z.string(),
    task_id: z.optional(z.string()),
    prompt: z.optional(z.string()),
    aspect_ratio: z.optional(z.string()),
    images: z.optional(z.number()),
    video: z.optional(z.string()),
    extend_from_task_id: z.optional(z.string()),
    base_url: z.optional(z.string()),
    status: z.optional(z.string()),
    progress: z.optional(z.number()),
    cost: z.nullish(z.number()),
    credits_cost: z.nullish(z.number()),
    file: z.optional(z.string()),
    url: z.optional(z.string()),
    expires_at: z.nullish(z.number()),
    error: z.optional(z.string()),
    batch: z.optional(z.string()),
    /** sha256 of the request body (inline videos included), so the same request is recognised. */
    request_hash: z.optional(z.string()),
    /** Where the video was asked to go (absolute), until it is saved: `download <id>` uses it. */
    output: z.optional(z.string()),
    /** Whether that command had --force: `download <id>` using the recorded output keeps it. */
    force: z.optional(z.boolean()),
    /** The process sending the request: while it lives and no answer is recorded, the same request waits for it. */
    pid: z.optional(z.number()),
  }),
);
export type JobRecord = z.infer<typeof JobRecordSchema>;

/**
 * What the first record of a job says about its request: its fingerprint, and what a person
 * reads in `jobs` (an inline video is hashed, never copied).
 */
export function requestFields(
  body: GenerationRequest,
  baseUrl: string,
  requestHash: string,
): Pick<JobRecord, 'prompt' | 'aspect_ratio' | 'images' | 'video' | 'extend_from_task_id' | 'base_url' | 'request_hash' | 'pid'> {
  return {
    prompt: body.prompt,
    aspect_ratio: body.aspect_ratio,
    images: body.image_urls?.length ?? 0,
    video: body.video_urls?.[0]?.startsWith('data:') ? '(local file)' : body.video_urls?.[0],
    extend_from_task_id: body.extend_from_task_id,
    base_url: baseUrl,
    request_hash: requestHash,
    pid: process.pid,
  };
}

/** The first event of every job; reading backwards, meeting it means the job is complete. */
export const FIRST_EVENT = 'created';

export interface Job extends Omit<JobRecord, 'event'> {
  /** When the first line was written. */
  created_at: string;
  updated_at: string;
  last_event: string;
}

export function historyPath(dir: string): string {
  return join(dir, HISTORY_FILE);
}

/** True while a process of this id runs (one of another user's too). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Web Crypto's global, loaded on first use: node:crypto as an import costs every command ~4 ms. */
export function newJobId(): string {
  return `${Date.now().toString(36)}-${Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(4))).toString('hex')}`;
}

const terminatedFiles = new Set<string>();

/**
 * Appends one record as a single write. Before the first append of this process, a last line
 * left unterminated by a crash gets its newline, so the new record does not merge into it.
 */
export async function appendJobRecord(dir: string, record: Omit<JobRecord, 'at'> & { at?: string }): Promise<void> {
  const path = historyPath(dir);
  if (!terminatedFiles.has(path)) await ensurePrivateDir(dir);
  const handle = await open(path, 'a+', 0o600);
  try {
    let prefix = '';
    if (!terminatedFiles.has(path)) {
      if (await endsMidLine(handle)) prefix = '\n';
      terminatedFiles.add(path);
    }
    const line = JSON.stringify({ ...record, at: record.at ?? new Date().toISOString() });
    await handle.write(`${prefix}${line}\n`);
  } finally {
    await handle.close();
  }
}

export interface ReadJobsOptions {
  /** Newest jobs to return; all when absent. */
  limit?: number | undefined;
  /** Keep only jobs this predicate accepts (counted against the limit). */
  filter?: ((job: Job) => boolean) | undefined;
  /** Told about each damaged line, which is skipped. */
  onWarning?: ((message: string) => void) | undefined;
  /**
   * Only jobs created at or after this ISO time: reading stops at the first older job's first
   * line (the file is appended in time order), so a long history costs only its recent part.
   */
  since?: string | undefined;
}

/** A job: its first record, then each later one's fields over it (a field a record leaves out is kept). */
function fold(records: JobRecord[]): Job {
  const [{ event, ...fields }, ...later] = records as [JobRecord, ...JobRecord[]];
  const job: Job = { created_at: fields.at, ...fields, updated_at: fields.at, last_event: event };
  for (const { event, ...fields } of later) Object.assign(job, fields, { updated_at: fields.at, last_event: event });
  return job;
}

/**
 * The newest jobs first. Reads the file backwards in chunks and stops once `limit` jobs have
 * been met from their first line, so a long history costs only what is shown.
 */
export async function readJobs(dir: string, options: ReadJobsOptions = {}): Promise<Job[]> {
  let handle: FileHandle;
  try {
    handle = await open(historyPath(dir), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const byJob = new Map<string, JobRecord[]>();
  const result: Job[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  try {
    const { size } = await handle.stat();
    const chunkSize = 256 * 1024;
    let position = size;
    // Bytes, not text: a chunk may begin inside a multibyte character, decoded whole with the line.
    let carry = Buffer.alloc(0);
    let seenLine = false;
    outer: while (position > 0 || carry.length > 0) {
      let bytes = carry;
      if (position > 0) {
        const length = Math.min(chunkSize, position);
        position -= length;
        const buffer = Buffer.alloc(length);
        await handle.read(buffer, 0, length, position);
        bytes = Buffer.concat([buffer, carry]);
      }
      // Before the first newline: the tail of a line that starts in the previous chunk (a newline
      // byte is never part of a multibyte character).
      const firstNewline = position > 0 ? bytes.indexOf(0x0a) : -1;
      if (position > 0 && firstNewline === -1) {
        carry = bytes;
        continue;
      }
      carry = position > 0 ? bytes.subarray(0, firstNewline) : Buffer.alloc(0);
      const lines = bytes.subarray(firstNewline + 1).toString('utf8').split('\n');
      for (let index = lines.length - 1; index >= 0; index--) {
        const line = (lines[index] as string).trim();
        if (!line) continue;
        const isLastLine = !seenLine;
        seenLine = true;
        const record = parseLine(line);
        if (!record) {
          options.onWarning?.(
            `Skipped a damaged line in ${historyPath(dir)}${isLastLine ? ' (its last line, probably cut short by a crash)' : ''}.`,
          );
          continue;
        }
        const list = byJob.get(record.job);
        if (list) list.unshift(record);
        else byJob.set(record.job, [record]);
        if (record.event === FIRST_EVENT) {
          if (options.since !== undefined && record.at < options.since) {
            byJob.clear();
            break outer;
          }
          const job = fold(byJob.get(record.job) as JobRecord[]);
          byJob.delete(record.job);
          if (!options.filter || options.filter(job)) {
            result.push(job);
            if (result.length >= limit) break outer;
          }
        }
      }
    }
    // Jobs whose first line was lost still count, oldest last.
    if (result.length < limit) {
      for (const records of byJob.values()) {
        const job = fold(records);
        if (!options.filter || options.filter(job)) result.push(job);
        if (result.length >= limit) break;
      }
    }
  } finally {
    await handle.close();
  }
  return result;
}

function parseLine(line: string): JobRecord | undefined {
  try {
    const parsed = JobRecordSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The most recent job that got a task id from the service at `baseUrl` (as the client spells it,
 * which is how it is recorded): what `last` means. Without a base URL, from any service.
 */
export async function findLastJob(dir: string, baseUrl: string | undefined, onWarning?: (message: string) => void): Promise<Job | undefined> {
  const [job] = await readJobs(dir, {
    limit: 1,
    filter: (candidate) => candidate.task_id !== undefined && (baseUrl === undefined || candidate.base_url === baseUrl),
    onWarning,
  });
  return job;
}

/** A job of this machine by task id, so updates join its record. */
export async function findJobByTaskId(dir: string, taskId: string, onWarning?: (message: string) => void): Promise<Job | undefined> {
  const [job] = await readJobs(dir, { limit: 1, filter: (candidate) => candidate.task_id === taskId, onWarning });
  return job;
}
