import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import * as z from 'zod/mini';
import { isRunning } from './history.js';
import { endsMidLine } from './jsonl.js';

/**
 * A batch's memory, one JSON line per event, appended (O_APPEND) beside its videos. A job is the
 * fold of its lines, the last event winning; a line cut short by `kill -9` is skipped.
 *
 * - `submitting`: written BEFORE the paid request; alone, it means the process died mid-submit.
 *   It carries the prompt, so the folder shows what made each clip wherever it is unpacked (the
 *   job history stays on the machine that ran the batch); never the request's inline video.
 * - `submitted`: the service took it; a re-run waits for it instead of submitting again.
 * - `not_submitted`: the service provably did not take it (429 beyond retries, 400, 402…).
 * - `uncertain`: the request may have created a job; never resent without being asked.
 * - `saved` / `failed`: the end, with the job's JSON object.
 * - `planned`: a line the run means to run, written once for all of them before its first
 *   submission (and again only for a line that changed): its number, prompt, aspect ratio and
 *   file, so the folder shows every line of the batch, those never reached too. Not a job event.
 */
export const BatchEventSchema = z.object({
  key: z.string().check(z.minLength(1)),
  event: z.enum(['planned', 'submitting', 'submitted', 'not_submitted', 'uncertain', 'saved', 'failed']),
  at: z.string(),
  line: z.optional(z.number()),
  /** The job's id in the job history, so a re-run keeps updating the same record. */
  job: z.optional(z.string()),
  task_id: z.optional(z.string()),
  prompt: z.optional(z.string()),
  file: z.optional(z.string()),
  error: z.optional(z.string()),
  result: z.optional(z.record(z.string(), z.unknown())),
  /** `planned`: the line's video, relative to the state file's directory. */
  output: z.optional(z.string()),
  aspect_ratio: z.optional(z.string()),
});
export type BatchEvent = z.infer<typeof BatchEventSchema>;

/** What is known of each job key: its events folded, later fields winning. */
export type BatchState = Map<string, Omit<BatchEvent, 'at'>>;

/** A line of the batch as planned: what the folder shows of it before (or without) a job. */
export interface PlannedLine {
  line: number;
  key: string;
  prompt: string | undefined;
  aspect_ratio: string | undefined;
  /** Absolute path of its video. */
  output: string;
}

/** The latest plan of each line number: a line edited or moved since is not shown twice. */
export type BatchPlans = Map<string, PlannedLine>;

export async function readBatchState(path: string): Promise<{ state: BatchState; plans: BatchPlans; damaged: number }> {
  const state: BatchState = new Map();
  const plans: BatchPlans = new Map();
  const lineOwners = new Map<number, string>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state, plans, damaged: 0 };
    throw error;
  }
  let damaged = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let parsed;
    try {
      parsed = BatchEventSchema.safeParse(JSON.parse(line));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      damaged += 1;
      continue;
    }
    const { at: _at, ...event } = parsed.data;
    if (event.event === 'planned') {
      if (event.line === undefined || event.output === undefined) {
        damaged += 1;
        continue;
      }
      const earlier = plans.get(event.key);
      if (earlier && lineOwners.get(earlier.line) === event.key) lineOwners.delete(earlier.line);
      const owner = lineOwners.get(event.line);
      if (owner !== undefined && owner !== event.key) plans.delete(owner);
      lineOwners.set(event.line, event.key);
      plans.set(event.key, { line: event.line, key: event.key, prompt: event.prompt, aspect_ratio: event.aspect_ratio, output: resolve(dirname(path), event.output) });
      continue;
    }
    const known = state.get(event.key);
    // A new submission starts afresh: the earlier attempt's task, file, error and result are not its own.
    state.set(event.key, known ? { ...known, ...withoutUndefined(event), ...(event.event === 'submitting' ? { task_id: undefined, file: undefined, error: undefined, result: undefined } : {}) } : event);
  }
  return { state, plans, damaged };
}

/** The same plan: nothing to write again. */
function samePlan(a: PlannedLine, b: PlannedLine | undefined): boolean {
  return b !== undefined && a.line === b.line && a.prompt === b.prompt && a.aspect_ratio === b.aspect_ratio && a.output === b.output;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}

/** Appends events; one handle per batch, each event a single write ending in a newline. */
export class BatchStateWriter {
  #handle: Awaited<ReturnType<typeof open>> | undefined;
  #opening: Promise<void> | undefined;

  constructor(readonly path: string) {}

  async append(event: Omit<BatchEvent, 'at'>): Promise<void> {
    await this.#write(`${JSON.stringify({ ...event, at: new Date().toISOString() })}\n`);
  }

  /**
   * Records the lines a run means to run, in one write, before its first submission; lines
   * planned the same way before are not written again (a re-run of a big batch adds nothing).
   */
  async plan(lines: PlannedLine[], plans: BatchPlans): Promise<void> {
    const at = new Date().toISOString();
    const text = lines
      .filter((line) => !samePlan(line, plans.get(line.key)))
      .map((line) => `${JSON.stringify({ key: line.key, event: 'planned', line: line.line, prompt: line.prompt, aspect_ratio: line.aspect_ratio, output: relative(dirname(this.path), line.output), at })}\n`)
      .join('');
    if (text) await this.#write(text);
  }

  async #write(text: string): Promise<void> {
    this.#opening ??= this.#open();
    await this.#opening;
    await this.#handle?.write(text);
  }

  async #open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a+');
    if (await endsMidLine(handle)) await handle.write('\n');
    this.#handle = handle;
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
    this.#opening = undefined;
  }
}

/** A lock file younger than this without a process id is being written, not left behind. */
const LOCK_WRITE_MS = 5_000;

/**
 * One run at a time per lock file (the state file's, per shard): a second run of the same batch
 * would plan from a state the first has not written yet and pay again for every line the first
 * has not reached. The file holds the running process's id; one whose process is gone (kill -9)
 * is taken over. Returns the release, or the id of the process that holds it.
 */
export async function lockBatch(path: string): Promise<{ release: () => Promise<void> } | { heldBy: number | undefined }> {
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.write(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0) {
      if (pid !== process.pid && isRunning(pid)) return { heldBy: pid };
    } else {
      // No id yet: another run created it a moment ago and is writing it.
      const age = await stat(path).then((info) => Date.now() - info.mtimeMs, () => Number.POSITIVE_INFINITY);
      if (age < LOCK_WRITE_MS) return { heldBy: undefined };
    }
    await rm(path, { force: true });
  }
}
