import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import * as z from 'zod/mini';
import { STATE_FILE } from '../commands/batch-input.js';
import { stateOfJob, stateOfStatus } from '../io/job-states.js';
import { readMediaInfo } from '../io/media.js';
import { readBatchState, type BatchPlans, type BatchState, type PlannedLine } from '../store/batch-state.js';
import { readJobs, type Job } from '../store/history.js';

/** One clip of the page, and one element of `gallery --json`. Snake_case, like the API. */
export interface GalleryEntry {
  task_id: string | null;
  /** As the job history and the API say it (`pending`, `processing`…), like `jobs --json`. */
  status: string;
  /** The word the page shows and `--status` selects (GALLERY_STATES), as `jobs` shows it. */
  state: string;
  prompt: string | null;
  aspect_ratio: string | null;
  /** Relative to the gallery's directory, `/`-separated: what the page links to. */
  file: string | null;
  file_exists: boolean;
  width: number | null;
  height: number | null;
  duration_seconds: number | null;
  cost: number | null;
  credits_cost: number | null;
  /** When the job was submitted (ISO 8601). */
  created_at: string | null;
  error: { message: string } | null;
  /** The line of the batch file, for a job of the batch whose state file is in the directory. */
  line: number | null;
}

/** The part of a batch state event's `result` (a job's JSON object) the page shows. */
const BatchResultSchema = z.object({
  status: z.optional(z.string()),
  cost: z.nullish(z.number()),
  credits_cost: z.nullish(z.number()),
  created: z.nullish(z.number()),
  error: z.nullish(z.object({ message: z.optional(z.string()) })),
});

export interface CollectOptions {
  dir: string;
  configDir: string;
  lines?: PlannedLine[] | undefined;
  onWarning?: ((message: string) => void) | undefined;
}

/** A job before its file is looked at. */
interface Draft {
  taskId: string | undefined;
  status: string;
  state: string;
  prompt: string | undefined;
  aspectRatio: string | undefined;
  /** Absolute, as recorded. */
  file: string | undefined;
  cost: number | null | undefined;
  creditsCost: number | null | undefined;
  createdAt: string | undefined;
  error: string | undefined;
  line: number | undefined;
}

/**
 * Every clip of the job history saved in `dir` (or below it), and every job of the batch whose
 * state file is in `dir`, with the frame size and length read from each file's header. The batch
 * in line order (as its files are named), then the other clips, newest first.
 */
export async function collectEntries(options: CollectOptions): Promise<GalleryEntry[]> {
  const roots = [...new Set([options.dir, await realpath(options.dir)])];
  const history = await readJobs(options.configDir, { onWarning: options.onWarning });
  const { state, plans, damaged } = await readBatchState(join(options.dir, STATE_FILE));
  if (damaged) options.onWarning?.(`Skipped ${damaged} damaged line(s) of ${join(options.dir, STATE_FILE)}.`);

  const drafts = batchDrafts(state, new Map(history.map((job) => [job.job, job])), withPlans(plans, options.lines ?? []));
  const claimedJobs = new Set([...state.values()].map((event) => event.job));
  const claimedFiles = new Set(drafts.map((draft) => draft.file));
  // Newest first, so a file saved twice shows its latest job.
  for (const job of history) {
    if (!job.file || claimedJobs.has(job.job) || claimedFiles.has(job.file) || insideOf(roots, job.file) === undefined) continue;
    claimedFiles.add(job.file);
    drafts.push({ ...fromHistory(job), line: undefined });
  }
  const entries = await mapLimited(drafts, 8, (draft) => withFile(draft, roots, options.dir));
  return entries.sort((a, b) => (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY) || newestFirst(a, b));
}

/** Only the entries in these states, then only the `limit` newest (all for 0 or none), in the same order. */
export function selectEntries(entries: GalleryEntry[], filter: { states?: readonly string[] | undefined; limit?: number | undefined }): GalleryEntry[] {
  const kept = filter.states ? entries.filter((entry) => filter.states?.includes(entry.state)) : entries;
  if (!filter.limit) return kept;
  const newest = new Set([...kept].sort(newestFirst).slice(0, filter.limit));
  return kept.filter((entry) => newest.has(entry));
}

function fromHistory(job: Job): Omit<Draft, 'line'> {
  return {
    taskId: job.task_id,
    status: job.status ?? 'uncertain',
    state: stateOfJob(job),
    prompt: job.prompt,
    aspectRatio: job.aspect_ratio,
    file: job.file,
    cost: job.cost,
    creditsCost: job.credits_cost,
    createdAt: job.created_at,
    error: job.error,
  };
}

/** The lines the state file says were planned, and those of the batch being run, which win. */
function withPlans(plans: BatchPlans, lines: PlannedLine[]): PlannedLine[] {
  const byKey = new Map(plans);
  for (const line of lines) byKey.set(line.key, line);
  return [...byKey.values()];
}

/** The batch's jobs: what its state file says, completed by the job history and the batch's own lines. */
function batchDrafts(state: BatchState, history: Map<string, Job>, lines: PlannedLine[]): Draft[] {
  const byKey = new Map(lines.map((line) => [line.key, line]));
  const drafts: Draft[] = [];
  for (const [key, event] of state) {
    const line = byKey.get(key);
    const job = event.job === undefined ? undefined : history.get(event.job);
    const result = BatchResultSchema.safeParse(event.result ?? {});
    const known = result.success ? result.data : {};
    const fromJob = job ? fromHistory(job) : undefined;
    const status = batchStatus(event.event, known.status, job?.status);
    drafts.push({
      taskId: event.task_id ?? job?.task_id,
      status,
      // A job the batch left running: the job history knows whether its wait was interrupted.
      state: event.event === 'submitted' && job ? stateOfJob(job) : stateOfStatus(status),
      prompt: line?.prompt ?? event.prompt ?? fromJob?.prompt,
      aspectRatio: fromJob?.aspectRatio ?? line?.aspect_ratio,
      file: event.file ?? fromJob?.file,
      cost: known.cost ?? fromJob?.cost,
      creditsCost: known.credits_cost ?? fromJob?.creditsCost,
      createdAt: fromJob?.createdAt ?? (known.created ? new Date(known.created * 1000).toISOString() : undefined),
      error:
        known.error?.message ??
        event.error ??
        (event.event === 'submitting' ? 'The batch stopped while submitting it: the service may have the job. Not resubmitted, to avoid paying twice.' : fromJob?.error),
      line: event.line ?? line?.line,
    });
  }
  for (const line of lines) {
    if (state.has(line.key)) continue;
    drafts.push({
      taskId: undefined,
      status: 'not_run',
      state: 'not_run',
      prompt: line.prompt,
      aspectRatio: line.aspect_ratio,
      file: line.output,
      cost: undefined,
      creditsCost: undefined,
      createdAt: undefined,
      error: undefined,
      line: line.line,
    });
  }
  return drafts;
}

function batchStatus(event: string, resultStatus: string | undefined, historyStatus: string | undefined): string {
  switch (event) {
    case 'saved':
      return resultStatus ?? 'completed';
    case 'failed':
      return resultStatus ?? 'failed';
    case 'submitted':
      // The job history may know more: the batch was stopped while the job ran.
      return historyStatus ?? 'submitted';
    case 'not_submitted':
      return 'rejected';
    default:
      return 'uncertain';
  }
}

/** The path of `file` relative to one of the directory's names, when it lies inside. */
function insideOf(roots: string[], file: string): string | undefined {
  for (const root of roots) {
    const inside = relative(root, file);
    if (inside && inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside)) return inside;
  }
  return undefined;
}

/**
 * Where a recorded file is now, relative to the directory. A folder moved since the batch (a CI
 * artifact unpacked elsewhere) still holds its files under their names: the longest tail of the
 * recorded path that exists in it is taken.
 */
async function locate(roots: string[], dir: string, file: string): Promise<string> {
  const inside = insideOf(roots, file);
  if (inside !== undefined) return inside;
  const parts = file.split(sep).filter(Boolean);
  for (let start = 1; start < parts.length; start++) {
    const tail = parts.slice(start).join(sep);
    if (await isFile(join(dir, tail))) return tail;
  }
  return parts.at(-1) ?? file;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
}

async function withFile(draft: Draft, roots: string[], dir: string): Promise<GalleryEntry> {
  const file = draft.file === undefined ? undefined : await locate(roots, dir, draft.file);
  const exists = file !== undefined && (await isFile(join(dir, file)));
  // A header that cannot be read leaves the size unknown; the browser may still play the file.
  const info = exists ? await readMediaInfo(join(dir, file)).catch(() => undefined) : undefined;
  const width = info?.width ?? null;
  const height = info?.height ?? null;
  return {
    task_id: draft.taskId ?? null,
    status: draft.status,
    state: draft.state,
    prompt: draft.prompt ?? null,
    aspect_ratio: draft.aspectRatio ?? (width && height ? (width >= height ? '16:9' : '9:16') : null),
    file: file === undefined ? null : file.split(sep).join('/'),
    file_exists: exists,
    width,
    height,
    duration_seconds: info?.durationSeconds ?? null,
    cost: draft.cost ?? null,
    credits_cost: draft.creditsCost ?? null,
    created_at: draft.createdAt ?? null,
    error: draft.error === undefined ? null : { message: draft.error },
    line: draft.line ?? null,
  };
}

/** How many entries are in each state, the most common first. */
export function countByState(entries: GalleryEntry[]): [state: string, count: number][] {
  const counts = new Map<string, number>();
  for (const entry of entries) counts.set(entry.state, (counts.get(entry.state) ?? 0) + 1);
  return [...counts].sort(([, a], [, b]) => b - a);
}

/** By creation, newest first; never submitted (no date) last. */
function newestFirst(a: GalleryEntry, b: GalleryEntry): number {
  if (a.created_at === b.created_at) return 0;
  if (a.created_at === null) return 1;
  if (b.created_at === null) return -1;
  return a.created_at < b.created_at ? 1 : -1;
}

/** `map` with at most `limit` calls in flight: a page of 2,000 clips opens 8 files at a time. */
async function mapLimited<T, R>(items: T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
