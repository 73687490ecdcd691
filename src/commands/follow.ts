import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { OmniVideoClient } from '../api/client.js';
import { partPath } from '../api/download.js';
import { DownloadError, InterruptedError, JobFailedError, LinkExpiredError, OutputExistsError, TaskNotFoundError, TaskNotReadyError, WaitTimeoutError } from '../api/errors.js';
import { isTerminal, resultLinks, type Task } from '../api/schemas.js';
import type { Context } from '../context.js';
import { formatBytes } from '../io/format.js';
import { readMediaInfo } from '../io/media.js';
import type { Reporter } from '../io/progress.js';
import { appendJobRecord, FIRST_EVENT, findJobByTaskId, newJobId, type Job, type JobRecord } from '../store/history.js';
import { taskToJson, type TaskJson } from './render.js';
import { resolveOutputPath, safeFileName } from './output-path.js';
import { downloadCommand, statusWaitCommand, writeJson } from './shared.js';

export interface FollowOptions {
  taskId: string;
  /** The history job to update; looked up (or started) by task id when absent. */
  jobId?: string | undefined;
  wait: boolean;
  download: boolean;
  output?: string | undefined;
  outputDir?: string | undefined;
  force: boolean;
  timeoutMs?: number | undefined;
  pollIntervalMs?: number | undefined;
  submittedAtMs?: number | undefined;
  /** Print the result (path, URL or JSON) to stdout; batch prints its own lines. */
  print: 'path' | 'json' | 'none';
  /** The --base-url flag, when given: the commands this one suggests must keep it. */
  baseUrlFlag?: string | undefined;
}

/** The job's history id: the one given, the one this machine recorded, or none yet. */
async function historyJob(ctx: Context, taskId: string, jobId: string | undefined): Promise<string | undefined> {
  return jobId ?? (await findJobByTaskId(ctx.configDir, taskId))?.job;
}

/**
 * Records what the service said of a job of this machine's history, when it changed anything
 * the history shows (state, progress, cost, link). An observation, not a delivery: the event is
 * `status`, so an unsaved result still counts as not handed over (see same-request.ts).
 */
export async function recordObserved(ctx: Context, known: Job, task: Task): Promise<void> {
  const { urls, expiresAt } = resultLinks(task);
  const changed =
    known.status !== task.status ||
    known.progress !== task.progress ||
    (task.cost != null && known.cost !== task.cost) ||
    (expiresAt !== null && known.expires_at !== expiresAt);
  if (!changed || known.last_event === 'saved') return;
  await appendJobRecord(ctx.configDir, {
    job: known.job,
    task_id: task.id,
    event: 'status',
    status: task.status,
    progress: task.progress,
    cost: task.cost,
    credits_cost: task.credits_cost,
    ...(urls[0] ? { url: urls[0], expires_at: expiresAt } : {}),
    ...(task.error?.message ? { error: task.error.message } : {}),
  });
}

/**
 * Brings a job of this machine's history up to date with an end state seen by `status`, so
 * `jobs` does not keep showing it as submitted. Jobs submitted elsewhere are left out.
 */
export async function recordEndState(ctx: Context, task: Task): Promise<void> {
  if (!isTerminal(task.status)) return;
  const known = await findJobByTaskId(ctx.configDir, task.id);
  if (known) await recordObserved(ctx, known, task);
}

/**
 * What follows a submission, and what `download` and `status --wait` do: wait (adaptive
 * polling), then save the video or print its link, keeping the job history current throughout.
 */
export async function followTask(ctx: Context, client: OmniVideoClient, reporter: Reporter, options: FollowOptions): Promise<TaskJson> {
  const { taskId } = options;
  let job = await historyJob(ctx, taskId, options.jobId);
  const choices = { output: options.output, force: options.force, baseUrl: options.baseUrlFlag };
  // With --no-download the user wants the link, not a file: the hint waits and prints it.
  const waitCommand = options.download ? downloadCommand(taskId, choices, true) : statusWaitCommand([taskId], options.baseUrlFlag);
  // One write at a time, in order: a status line written late would otherwise land after the
  // final event (timeout, interrupted, saved) and become the job's last word.
  let writes: Promise<void> = Promise.resolve();
  // A job first seen here is recorded with its first event (with its service, so that `last` for
  // that base URL can mean it), not before: a task id the service does not know stays out of it.
  const record = (fields: Omit<JobRecord, 'job' | 'task_id' | 'at'>) =>
    (writes = writes
      .catch(() => undefined)
      .then(async () => {
        if (job === undefined) {
          job = newJobId();
          await appendJobRecord(ctx.configDir, { job, event: FIRST_EVENT, task_id: taskId, base_url: client.baseUrl });
        }
        await appendJobRecord(ctx.configDir, { job, task_id: taskId, ...fields });
      }));

  let task: Task;
  let lastSeen: Task | undefined;
  try {
    if (options.wait) {
      let lastStatus = '';
      task = await client.waitForTask(taskId, {
        timeoutMs: options.timeoutMs,
        pollIntervalMs: options.pollIntervalMs,
        submittedAtMs: options.submittedAtMs,
        signal: ctx.signal,
        resolveOnFailure: true,
        onUpdate: (update) => {
          lastSeen = update;
          reporter.update(update);
          if (update.status !== lastStatus) {
            lastStatus = update.status;
            void record({ event: 'status', status: update.status, progress: update.progress }).catch(() => undefined);
          }
        },
      });
    } else {
      task = await client.getTask(taskId, { signal: ctx.signal });
      reporter.update(task);
    }
  } catch (error) {
    reporter.stop();
    if (error instanceof InterruptedError) {
      await record({ event: 'interrupted' });
      throw new InterruptedError(
        error.signalName,
        `${error.message} Task ${taskId} was submitted and keeps running on the service (it may be charged whether or not you wait).`,
        `Resume with: ${waitCommand}`,
      );
    }
    if (error instanceof WaitTimeoutError) {
      await record({ event: 'timeout' });
      // --json promises one document: the job as last seen keeps its id in a script's hands.
      if (options.print === 'json') writeJson(ctx, taskToJson(lastSeen ?? { id: taskId, status: 'submitted', progress: 0 }));
      // The library suggests the bare command; this one keeps the user's -o, --force and --base-url.
      error.hint = `Resume with: ${waitCommand}`;
      throw error;
    }
    if (!(error instanceof TaskNotFoundError)) reporter.warn(`Task ${taskId} keeps running on the service; resume with: ${waitCommand}`);
    throw error;
  }

  const { urls, expiresAt } = resultLinks(task);
  const outcome = { status: task.status, progress: task.progress, cost: task.cost, credits_cost: task.credits_cost };
  if (task.status === 'failed' || task.status === 'cancelled') {
    await record({ event: task.status, ...outcome, error: task.error?.message ?? task.status });
    const failure = new JobFailedError(taskId, task.status, task.error?.message);
    if (options.print === 'json') writeJson(ctx, taskToJson(task));
    reporter.fail(failure.message);
    throw failure;
  }
  if (!isTerminal(task.status)) {
    reporter.stop();
    throw new TaskNotReadyError(taskId, task.status, `Wait for it with: ${waitCommand}`);
  }
  // `completed` marks a result handed over as its link; `downloading` one not saved yet.
  await record({ event: options.download ? 'downloading' : 'completed', ...outcome, url: urls[0], expires_at: expiresAt });

  if (!options.download) {
    if (options.print === 'json') writeJson(ctx, taskToJson(task));
    if (options.print === 'path') ctx.io.stdout.write(`${urls.join('\n')}\n`);
    reporter.succeed(`Task ${taskId} completed${task.cost != null ? ` · cost ${task.cost}` : ''}`);
    return taskToJson(task);
  }

  const destination = await resolveOutputPath({ cwd: ctx.cwd, output: options.output, outputDir: options.outputDir, taskId });
  await mkdir(dirname(destination), { recursive: true });
  let saved;
  try {
    saved = await client.downloadResult(task, destination, {
      overwrite: options.force,
      signal: ctx.signal,
      onProgress: (received, total) => reporter.downloading(received, total),
    });
  } catch (error) {
    reporter.stop();
    const saveCommand = downloadCommand(taskId, choices, false);
    if (error instanceof InterruptedError) {
      await record({ event: 'interrupted' });
      const kept = await stat(partPath(destination)).then(
        (part) => part.size,
        () => 0,
      );
      const saved = kept > 0 ? ` yet: the ${formatBytes(kept)} downloaded so far are kept in ${partPath(destination)} for the command below to resume` : '';
      throw new InterruptedError(error.signalName, `${error.message} The video of task ${taskId} was not saved${saved}.`, `Save it with: ${saveCommand}`);
    }
    await record({ event: 'download_failed', error: (error as Error).message });
    if (error instanceof DownloadError) error.hint = `Try again with: ${saveCommand}`;
    // Paid for, and refused before its expiry: a later try, not a new job, is the way to the video.
    if (error instanceof LinkExpiredError && !error.pastExpiry) error.hint = `The link should still be valid: try again later with: ${saveCommand}`;
    // Checked before submitting; a file that appeared since is not the user's mistake to redo:
    // the job is paid for, and the hint saves it beside that file, overwriting nothing.
    if (error instanceof OutputExistsError) {
      const beside = join(dirname(destination), `${basename(destination, extname(destination))}-${safeFileName(taskId)}${extname(destination) || '.mp4'}`);
      throw new OutputExistsError(`${destination} already exists: it appeared while task ${taskId} ran, so its video was not saved (the job was submitted, and may be charged).`, {
        hint: `Save it with: ${downloadCommand(taskId, { output: beside, baseUrl: options.baseUrlFlag }, false)}`,
      });
    }
    throw error;
  }
  await record({ event: 'saved', file: saved.path });
  const json = taskToJson(task, [saved.path]);
  if (options.print === 'json') writeJson(ctx, json);
  if (options.print === 'path') ctx.io.stdout.write(`${saved.path}\n`);
  reporter.succeed(await describeSaved(saved.path, saved.bytes, task));
  return json;
}

async function describeSaved(path: string, bytes: number, task: Task): Promise<string> {
  const details = [formatBytes(bytes)];
  try {
    const info = await readMediaInfo(path);
    if (info.durationSeconds !== null) details.push(`${info.durationSeconds.toFixed(1)} s`);
    if (info.width !== null && info.height !== null) details.push(`${info.width}x${info.height}`);
  } catch {
    // The file passed its checks; a header we cannot describe is no reason to fail.
  }
  if (task.cost != null) details.push(`cost ${task.cost}`);
  return `${path} (${details.join(', ')})`;
}
