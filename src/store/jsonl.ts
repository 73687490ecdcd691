import type { FileHandle } from 'node:fs/promises';

/**
 * True when an append-only JSON Lines file ends mid-line (a crash cut its last write short):
 * the next record must start on a new line rather than merge into the damaged one.
 */
export async function endsMidLine(handle: FileHandle): Promise<boolean> {
  const { size } = await handle.stat();
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] !== 0x0a;
}
