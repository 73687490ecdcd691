import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as z from 'zod/mini';

/**
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
