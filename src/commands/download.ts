import { z } from 'zod';
import type { Context } from '../context.js';
import { createReporter } from '../io/progress.js';
import { DEFAULT_TIMEOUT_SECONDS } from './generate.js';
import { followTask } from './follow.js';
import { createApiClient, loadSettings, parseOptions, resolveTaskIds, type GlobalOptions } from './shared.js';

export const DownloadFlagsSchema = z.object({
  output: z.string().min(1).optional(),
  force: z.boolean().default(false),
  wait: z.boolean().default(false),
  timeout: z
    .string()
    .regex(/^\d+(\.\d+)?$/, '--timeout takes a number of seconds')
    .transform(Number)
    .optional(),
});

/** Saves the result of a completed job; with --wait, waits for it first. */
export async function runDownload(ctx: Context, idArg: string, rawFlags: z.input<typeof DownloadFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(DownloadFlagsSchema, rawFlags);
  const [taskId] = await resolveTaskIds(ctx, [idArg], { single: true });
  const settings = await loadSettings(ctx, globals);
  const { client } = await createApiClient(ctx, globals, settings);
  const reporter = await createReporter({ io: ctx.io, clock: ctx.clock, quiet: Boolean(globals.quiet) });
  await followTask(ctx, client, reporter, {
    taskId: taskId as string,
    wait: flags.wait,
    download: true,
    output: flags.output,
    outputDir: settings.config['output-dir'],
    force: flags.force,
    timeoutMs: (flags.timeout ?? settings.config.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    pollIntervalMs: settings.config['poll-interval'] === undefined ? undefined : settings.config['poll-interval'] * 1000,
    print: globals.json ? 'json' : 'path',
  });
}
