import { z } from 'zod';
import { JobFailedError } from '../api/errors.js';
import { isTerminal, type Task } from '../api/schemas.js';
import type { Context } from '../context.js';
import { createReporter } from '../io/progress.js';
import { DEFAULT_TIMEOUT_SECONDS } from './generate.js';
import { statusLine, taskToJson } from './render.js';
import { createApiClient, loadSettings, parseOptions, resolveTaskIds, type GlobalOptions } from './shared.js';

export const StatusFlagsSchema = z.object({
  wait: z.boolean().default(false),
  timeout: z
    .string()
    .regex(/^\d+(\.\d+)?$/, '--timeout takes a number of seconds')
    .transform(Number)
    .optional(),
});

/**
 * One line (or JSON document) per job. With --wait, every job is followed to its end at once;
 * the exit code then says whether any failed.
 */
export async function runStatus(ctx: Context, idArgs: string[], rawFlags: z.input<typeof StatusFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(StatusFlagsSchema, rawFlags);
  const ids = await resolveTaskIds(ctx, idArgs);
  const settings = await loadSettings(ctx, globals);
  const { client } = await createApiClient(ctx, globals, settings);
  const many = ids.length > 1;
  const print = (task: Task) => {
    if (globals.json) ctx.io.stdout.write(`${JSON.stringify(taskToJson(task), null, many ? undefined : 2)}\n`);
    else ctx.io.stdout.write(`${statusLine(task, ctx.clock.now())}\n`);
  };
  if (!flags.wait) {
    const tasks = await Promise.all(ids.map((id) => client.getTask(id, { signal: ctx.signal })));
    tasks.forEach(print);
    return;
  }
  const timeoutMs = (flags.timeout ?? settings.config.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const failures: JobFailedError[] = [];
  await Promise.all(
    ids.map(async (id) => {
      const reporter = await createReporter({ io: { ...ctx.io, stderrIsTTY: ctx.io.stderrIsTTY && !many }, clock: ctx.clock, quiet: Boolean(globals.quiet), label: many ? id : undefined });
      const task = await client.waitForTask(id, { timeoutMs, signal: ctx.signal, resolveOnFailure: true, onUpdate: (update) => reporter.update(update) });
      reporter.stop();
      print(task);
      if (isTerminal(task.status) && task.status !== 'completed') failures.push(new JobFailedError(task.id, task.status, task.error?.message));
    }),
  );
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new JobFailedError(failures.map((failure) => failure.taskId).join(', '), 'failed', `${failures.length} jobs did not complete`);
}
