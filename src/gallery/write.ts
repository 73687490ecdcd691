import { mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidRequestError } from '../api/errors.js';
import { collectEntries, selectEntries, type CollectOptions, type GalleryEntry } from './entries.js';
import { GENERATOR, renderGalleryPage } from './page.js';

export const PAGE_FILE = 'index.html';

export interface GalleryOptions extends CollectOptions {
  states?: readonly string[] | undefined;
  limit?: number | undefined;
}

export interface Gallery {
  entries: GalleryEntry[];
  /** Entries before the filters. */
  total: number;
}

/** The entries of the directory that pass the filters, newest first. */
export async function buildGallery(options: GalleryOptions): Promise<Gallery> {
  const all = await collectEntries(options);
  return { entries: selectEntries(all, options), total: all.length };
}

/** Writes `<dir>/index.html` (replacing only a page of its own) and returns its path with what it shows. */
export async function writeGallery(options: GalleryOptions & { nowMs: number }): Promise<Gallery & { path: string }> {
  // A batch whose every job was refused before anything was recorded has not made its directory yet.
  await mkdir(options.dir, { recursive: true });
  const gallery = await buildGallery(options);
  const filters = [
    options.states ? `status ${options.states.join(', ')}` : undefined,
    options.limit ? `the ${options.limit} newest` : undefined,
  ].filter(Boolean);
  const html = renderGalleryPage({
    title: basename(options.dir) || options.dir,
    generatedAtMs: options.nowMs,
    entries: gallery.entries,
    total: gallery.total,
    filter: filters.length ? filters.join(', ') : undefined,
  });
  const path = join(options.dir, PAGE_FILE);
  await refuseForeignPage(path);
  await writeAtomically(path, html);
  return { ...gallery, path };
}

/** An index.html that this tool did not write is someone's web page: it is never replaced. */
async function refuseForeignPage(path: string): Promise<void> {
  let head: string;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw cannotWrite(path, error);
  }
  if (!head.includes(`<meta name="generator" content="${GENERATOR}">`)) {
    throw new InvalidRequestError(`${path} exists and is not a gallery page of omni-video; it was left as it is.`, {
      hint: 'Move it away, or make the gallery of another directory.',
    });
  }
}

/** Written beside the target and renamed over it: a reader never sees half a page. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}-${Date.now().toString(36)}.tmp`;
  try {
    await writeFile(temporary, text, { flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw cannotWrite(path, error);
  }
}

function cannotWrite(path: string, error: unknown): InvalidRequestError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'the disk is full' : code === 'EROFS' ? 'a read-only file system' : (error as Error).message;
  return new InvalidRequestError(`Cannot write ${path} (${why}).`, { hint: 'Make the gallery of a directory you can write to.' });
}
