import { setMaxListeners } from 'node:events';
import * as z from 'zod/mini';
import { InterruptedError, JobFailedError, JobsFailedError, WaitTimeoutError } from '../api/errors.js';
import { isTerminal, type Task } from '../api/schemas.js';
import type { Context } from '../context.js';
import { createReporter } from '../io/progress.js';
import { outageNotice, recordEndState } from './follow.js';
import { statusLine, taskToJson } from './render.js';
import { baseUrlInUse, createApiClient, loadSettings, parseOptions, resolveTaskIds, statusWaitCommand, timeoutFlag, waitLimits, writeJson, type GlobalOptions } from './shared.js';

export const StatusFlagsSchema = z.object({
  wait: z._default(z.boolean(), false),
  timeout: z.optional(timeoutFlag),
});

/**
 * One line (or JSON document) per job. With --wait, every job is followed to its end at once;
 * the exit code then says whether any failed.
 */
export async function runStatus(ctx: Context, idArgs: string[], rawFlags: z.input<typeof StatusFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(StatusFlagsSchema, rawFlags);
  const settings = await loadSettings(ctx, globals);
  const ids = await resolveTaskIds(ctx, idArgs, { baseUrl: () => baseUrlInUse(ctx, settings) });
  const { client } = await createApiClient(ctx, globals, settings);
  const many = ids.length > 1;
  // JSON Lines for several ids, and for ids read from stdin whatever their count: a script
  // reading lines must not depend on how many came.
  const jsonLines = many || idArgs.includes('-');
  const print = (task: Task) => {
    if (globals.json) writeJson(ctx, taskToJson(task), jsonLines);
    else ctx.io.stdout.write(`${statusLine(task, ctx.clock.now())}\n`);
  };
  if (!flags.wait) {
    const tasks = await Promise.all(ids.map((id) => client.getTask(id, { signal: ctx.signal })));
    tasks.forEach(print);
    return;
  }
  const { timeoutMs, pollIntervalMs } = waitLimits(flags, settings.config);
  // One job that cannot be followed (an unknown id, the service gone) stops the others' waits:
  // the command ends with that error instead of polling on behind it.
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  // One wait per job listens on it: many ids are many listeners, not a leak to warn about.
  setMaxListeners(2 * ids.length + 10, signal);
  const ended = new Set<string>();
  const results = await Promise.allSettled(
    ids.map(async (id) => {
      const reporter = await createReporter({ io: { ...ctx.io, stderrIsTTY: ctx.io.stderrIsTTY && !many }, clock: ctx.clock, quiet: Boolean(globals.quiet), label: many ? id : undefined });
      try {
        const task = await client.waitForTask(id, {
          timeoutMs,
          pollIntervalMs,
          signal,
          resolveOnFailure: true,
          onOutage: (error, nextLookMs) => reporter.warn(outageNotice(id, error, nextLookMs)),
          onUpdate: (update) => reporter.update(update),
        });
        // A wait the user chose to make may also record the end in the history; a plain look stays read-only.
        await recordEndState(ctx, task);
        ended.add(id);
        print(task);
        return task;
      } catch (error) {
        stop.abort(error);
        throw error;
      } finally {
        reporter.stop();
      }
    }),
  );
  const firstError = stop.signal.aborted ? stop.signal.reason : ctx.signal.aborted ? ctx.signal.reason : undefined;
  if (firstError instanceof InterruptedError || firstError instanceof WaitTimeoutError) {
    const running = ids.filter((id) => !ended.has(id));
    const hint = `Resume with: ${statusWaitCommand(running, globals.baseUrl)}`;
    if (firstError instanceof WaitTimeoutError) {
      firstError.hint = hint;
      throw firstError;
    }
    const list = running.join(', ');
    throw new InterruptedError(firstError.signalName, `${firstError.message} Still running on the service, submitted and possibly charged whether or not you wait: ${list}.`, hint);
  }
  if (firstError !== undefined) throw firstError;
  const failed = results.flatMap((result) => (result.status === 'fulfilled' && isTerminal(result.value.status) && result.value.status !== 'completed' ? [result.value] : []));
  if (failed.length === 1) throw new JobFailedError(failed[0]!.id, failed[0]!.status, failed[0]!.error?.message);
  if (failed.length > 1) throw new JobsFailedError(failed.map((task) => task.id));
}
