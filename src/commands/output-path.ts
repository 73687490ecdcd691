import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { OutputExistsError } from '../api/errors.js';

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
}

/** A name safe on every platform: no separators, no `:`, nothing hidden or reserved. */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return cleaned.slice(0, 120) || 'video';
}

/**
 * Where a result goes: `-o` as a file, or as a directory (existing, or ending in a separator),
 * else the configured output directory, else the current one; named `<task_id>.mp4` there.
 */
export async function resolveOutputPath(options: { cwd: string; output?: string | undefined; outputDir?: string | undefined; taskId: string }): Promise<string> {
  const fileName = `${safeFileName(options.taskId)}.mp4`;
  if (options.output) {
    const target = isAbsolute(options.output) ? options.output : resolve(options.cwd, options.output);
    if (options.output.endsWith('/') || options.output.endsWith(sep) || (await isDirectory(target))) return join(target, fileName);
    return target;
  }
  return join(resolve(options.cwd, options.outputDir ?? '.'), fileName);
}

/** True when the output names a file whose path is known before the task id is. */
export async function explicitFileTarget(cwd: string, output: string | undefined): Promise<string | undefined> {
  if (!output || output.endsWith('/') || output.endsWith(sep)) return undefined;
  const target = resolve(cwd, output);
  return (await isDirectory(target)) ? undefined : target;
}

/** Refuses an existing file unless --force, saying what was (not) done about it. */
export async function refuseExistingFile(path: string, force: boolean, consequence: string): Promise<void> {
  if (force) return;
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) throw new OutputExistsError(`${path} already exists; ${consequence}.`, { hint: 'Use --force to overwrite it, or -o to choose another path.' });
}

/** `-o` as an absolute path for the job history, a trailing separator (a directory) kept. */
export function absoluteOutput(cwd: string, output: string): string {
  const path = resolve(cwd, output);
  return (output.endsWith('/') || output.endsWith(sep)) && !path.endsWith(sep) ? `${path}${sep}` : path;
}
