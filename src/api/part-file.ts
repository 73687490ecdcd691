import type { WriteStream } from 'node:fs';
import { readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import * as z from 'zod/mini';

/**
 * The `.part` file a download writes: what makes it resumable, and flushing it while it is written.
 *
 * What makes a `.part` file resumable, kept beside it in `<destination>.part.json` while a
 * download is unfinished: whose result it is, and the validator (a strong ETag, else the
 * Last-Modified date) that If-Range sends back, so the file server appends only to the same file.
 */
const PartStateSchema = z.object({
  task_id: z.string(),
  validator: z.string().check(z.minLength(1)),
  total: z.optional(z.number()),
});

export type PartState = z.infer<typeof PartStateSchema>;

const stateFile = (part: string) => `${part}.json`;

/** The .part's length and validator, when it holds bytes of this task's result that can be resumed. */
export async function readPartState(part: string, taskId: string): Promise<(PartState & { received: number }) | undefined> {
  const [size, text] = await Promise.all([
    stat(part).then(
      (stats) => stats.size,
      () => 0,
    ),
    readFile(stateFile(part), 'utf8').catch(() => ''),
  ]);
  if (size === 0 || !text) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const state = PartStateSchema.safeParse(json);
  if (!state.success || state.data.task_id !== taskId) return undefined;
  if (state.data.total !== undefined && size > state.data.total) return undefined;
  return { ...state.data, received: size };
}

export async function writePartState(part: string, state: PartState): Promise<void> {
  await writeFile(stateFile(part), `${JSON.stringify(state)}\n`);
}

/** The .part and its state, whichever exist. */
export async function removePart(part: string): Promise<void> {
  await Promise.all([rm(part, { force: true }), rm(stateFile(part), { force: true })]);
}

/**
 * Flush to disk every this many bytes while the transfer runs, so that the fsync before the
 * rename has only the tail left and the kernel never holds enough dirty pages to start
 * throttling the writes (measured in the commit that set it).
 */
const FLUSH_EVERY_BYTES = 8 * 1024 * 1024;

/**
 * Flushes a file to disk every FLUSH_EVERY_BYTES its write stream has written, one flush at a
 * time, while the stream is open (it closes the handle once done, after a flush in flight).
 * `check` is called as bytes arrive; `error` is what a flush met: it must fail the download, as
 * Linux reports a write-back error once, to the flush that meets it.
 */
export class BackgroundFlush {
  error: Error | undefined;
  #flushed = 0;
  #flushing = false;

  constructor(
    readonly handle: FileHandle,
    readonly sink: WriteStream,
  ) {}

  readonly check = (): void => {
    const written = this.sink.bytesWritten;
    if (this.#flushing || this.sink.writableEnded || this.sink.destroyed || written - this.#flushed < FLUSH_EVERY_BYTES) return;
    this.#flushing = true;
    this.handle.datasync().then(
      () => {
        this.#flushed = written;
        this.#flushing = false;
      },
      (error: Error) => (this.error ??= error),
    );
  };
}
