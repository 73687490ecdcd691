import * as z from 'zod/mini';
import type { Context } from '../context.js';
import { createReporter } from '../io/progress.js';
import { followTask } from './follow.js';
import { refuseExistingFile, resolveOutputPath } from './output-path.js';
import { baseUrlInUse, createApiClient, loadSettings, parseOptions, resolveTaskIds, timeoutFlag, waitLimits, type GlobalOptions } from './shared.js';

export const DownloadFlagsSchema = z.object({
  output: z.optional(z.string().check(z.minLength(1))),
  force: z._default(z.boolean(), false),
  wait: z._default(z.boolean(), false),
  timeout: z.optional(timeoutFlag),
});

/** Saves the result of a completed job; with --wait, waits for it first. */
export async function runDownload(ctx: Context, idArg: string, rawFlags: z.input<typeof DownloadFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(DownloadFlagsSchema, rawFlags);
  const settings = await loadSettings(ctx, globals);
  const [taskId] = await resolveTaskIds(ctx, [idArg], { single: true, baseUrl: () => baseUrlInUse(ctx, settings) });
  const { client } = await createApiClient(ctx, globals, settings);
  // Known before waiting, so a wait is not spent on a file that could not be saved.
  const target = await resolveOutputPath({ cwd: ctx.cwd, output: flags.output, outputDir: settings.config['output-dir'], taskId: taskId as string });
  await refuseExistingFile(target, flags.force, 'nothing was downloaded');
  const reporter = await createReporter({ io: ctx.io, clock: ctx.clock, quiet: Boolean(globals.quiet) });
  await followTask(ctx, client, reporter, {
    taskId: taskId as string,
    wait: flags.wait,
    download: true,
    output: flags.output,
    outputDir: settings.config['output-dir'],
    force: flags.force,
    ...waitLimits(flags, settings.config),
    print: globals.json ? 'json' : 'path',
  });
}
