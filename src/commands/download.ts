import * as z from 'zod/mini';
import type { Context } from '../context.js';
import { createReporter } from '../io/progress.js';
import { findJobByTaskId } from '../store/history.js';
import { followTask } from './follow.js';
import { refuseExistingFile, resolveOutputPath } from './output-path.js';
import { baseUrlInUse, createApiClient, loadSettings, parseOptions, resolveTaskIds, timeoutFlag, waitLimits, type GlobalOptions } from './shared.js';

export const DownloadFlagsSchema = z.object({
  output: z.optional(z.string().check(z.minLength(1))),
  force: z._default(z.boolean(), false),
  wait: z._default(z.boolean(), false),
  timeout: z.optional(timeoutFlag),
});

/**
 * Saves the result of a completed job; with --wait, waits for it first. Without -o, a job of
 * this machine not saved yet goes where its submitting command's -o said (`generate --no-wait
 * -o x.mp4`, an interrupted generate or batch).
 */
export async function runDownload(ctx: Context, idArg: string, rawFlags: z.input<typeof DownloadFlagsSchema>, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(DownloadFlagsSchema, rawFlags);
  const settings = await loadSettings(ctx, globals);
  const [taskId] = (await resolveTaskIds(ctx, [idArg], { single: true, baseUrl: () => baseUrlInUse(ctx, settings) })) as [string];
  const { client } = await createApiClient(ctx, globals, settings);
  const reporter = await createReporter({ io: ctx.io, clock: ctx.clock, quiet: Boolean(globals.quiet) });
  let output = flags.output;
  let force = flags.force;
  if (output === undefined) {
    const known = await findJobByTaskId(ctx.configDir, taskId);
    if (known?.output && !known.file) {
      output = known.output;
      force ||= known.force === true;
      reporter.info(`Saving to ${output} (the -o${known.force ? ' and --force' : ''} it was submitted with; -o here chooses another path)`);
    }
  }
  // Known before waiting, so a wait is not spent on a file that could not be saved.
  const target = await resolveOutputPath({ cwd: ctx.cwd, output, outputDir: settings.config['output-dir'], taskId });
  await refuseExistingFile(target, force, 'nothing was downloaded');
  await followTask(ctx, client, reporter, {
    taskId,
    wait: flags.wait,
    download: true,
    output,
    outputDir: settings.config['output-dir'],
    force,
    ...waitLimits(flags, settings.config),
    print: globals.json ? 'json' : 'path',
    baseUrlFlag: globals.baseUrl,
  });
}
