import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as z from 'zod/mini';
import { InvalidRequestError } from '../api/errors.js';
import type { Context } from '../context.js';
import { colorsFor } from '../io/colors.js';
import { countByState, type GalleryEntry } from '../gallery/entries.js';
import { buildGallery, writeGallery } from '../gallery/write.js';
import { GALLERY_STATES, parseState } from '../io/job-states.js';
import { parseOptions, writeJson, type GlobalOptions } from './shared.js';

export const GalleryFlagsSchema = z.object({
  /** One state, or several separated by commas. */
  status: z.optional(z.string()),
  limit: z.optional(z.pipe(z.string().check(z.regex(/^\d+$/, 'expected a whole number (0 for all)')), z.transform(Number))),
});
export type GalleryFlags = z.input<typeof GalleryFlagsSchema>;

async function requireDirectory(path: string, given: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new InvalidRequestError(`${given} is not a directory${info ? '' : ' (no such directory)'}.`, { hint: 'Pass the directory of the clips, e.g. the --output-dir of a batch.' });
  }
}

/** `12 clips (10 completed, 1 failed, 1 not run)`, or `3 of 12 clips (…)` when only some are shown. */
export function describeGallery(entries: GalleryEntry[], total = entries.length): string {
  const parts = countByState(entries).map(([state, count]) => `${count} ${state.replace(/_/g, ' ')}`);
  const missing = entries.filter((entry) => entry.state === 'completed' && !entry.file_exists).length;
  if (missing) parts.push(`${missing} file${missing > 1 ? 's' : ''} missing`);
  const count = entries.length < total ? `${entries.length} of ${total}` : String(entries.length);
  return `${count} clip${total === 1 ? '' : 's'}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/**
 * `gallery [dir]`: the clips of the job history saved in the directory, and the batch whose state
 * file is there, as one HTML page written into it (its path on stdout), or with --json as a list.
 */
export async function runGallery(ctx: Context, dirArg: string | undefined, rawFlags: GalleryFlags, globals: GlobalOptions): Promise<void> {
  const flags = parseOptions(GalleryFlagsSchema, rawFlags);
  const states = flags.status?.split(',').map((word) => parseState(word, GALLERY_STATES));
  const dir = resolve(ctx.cwd, dirArg ?? '.');
  await requireDirectory(dir, dirArg ?? '.');
  const options = {
    dir,
    configDir: ctx.configDir,
    states,
    limit: flags.limit,
    onWarning: (message: string) => ctx.io.stderr.write(`${colorsFor(ctx.io).yellow('!')} ${message}\n`),
  };
  if (globals.json) {
    // One document, like `jobs --json`: indented for a person, one line for a pipe.
    writeJson(ctx, (await buildGallery(options)).entries, !ctx.io.stdoutIsTTY);
    return;
  }
  const gallery = await writeGallery({ ...options, nowMs: ctx.clock.now() });
  ctx.io.stdout.write(`${gallery.path}\n`);
  if (globals.quiet) return;
  ctx.io.stderr.write(`${colorsFor(ctx.io).green('✔')} Gallery of ${describeGallery(gallery.entries, gallery.total)}: open it in a browser.\n`);
  if (gallery.total === 0) ctx.io.stderr.write(`  No job of the history was saved in ${dir}, and it holds no batch state file.\n`);
}
