import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sinkToFile } from '../../src/api/file-sink.js';
import { youngGenerationCollector } from '../../src/cli.js';
import { tempDir } from '../helpers/harness.js';

function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) chunks.push(data.subarray(at, at + size));
  return chunks;
}

async function sinkInto(path: string, source: Readable, position = 0, flags = 'w') {
  const fd = openSync(path, flags);
  const totals: number[] = [];
  try {
    return { result: await sinkToFile(source, fd, position, { onWritten: (written) => totals.push(written) }), totals };
  } finally {
    closeSync(fd);
  }
}

describe('sinkToFile', () => {
  it('writes every byte in order, in batches, and reports the running total', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 12_345);
    const path = join(tempDir(), 'clip.mp4.part');
    const { result, totals } = await sinkInto(path, Readable.from(chunksOf(data, 65_536)));
    expect(result).toEqual({ written: data.length });
    expect(readFileSync(path).equals(data)).toBe(true);
    // One write per 256 KiB gathered (four chunks), then the tail: not one per chunk.
    const batches = Array.from({ length: 12 }, (_, index) => (index + 1) * 256 * 1024);
    expect(totals).toEqual([...batches, data.length]);
  });

  it('calls reclaimMemory after every 4 MiB written', async () => {
    const data = randomBytes(10 * 1024 * 1024);
    const path = join(tempDir(), 'clip.mp4.part');
    const fd = openSync(path, 'w');
    const reclaimedAt: number[] = [];
    let written = 0;
    try {
      await sinkToFile(Readable.from(chunksOf(data, 65_536)), fd, 0, { onWritten: (total) => (written = total), reclaimMemory: () => reclaimedAt.push(written) });
    } finally {
      closeSync(fd);
    }
    expect(reclaimedAt).toEqual([4 * 1024 * 1024, 8 * 1024 * 1024]);
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('a hook that throws rejects the sink and destroys the source, instead of escaping as uncaught', async () => {
    const path = join(tempDir(), 'clip.mp4.part');
    const source = new PassThrough();
    const fd = openSync(path, 'w');
    try {
      const sunk = sinkToFile(source, fd, 0, {
        onWritten: () => {
          throw new Error('progress display broke');
        },
      });
      source.write(randomBytes(300 * 1024));
      await expect(sunk).rejects.toThrow('progress display broke');
      expect(source.destroyed).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('the CLI\'s reclaimMemory runs a young-generation collection', async () => {
    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => kinds.push(...list.getEntries().map((entry) => (entry.detail as { kind: number }).kind)));
    observer.observe({ entryTypes: ['gc'] });
    try {
      const collect = youngGenerationCollector();
      collect();
      collect();
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      observer.disconnect();
    }
    expect(kinds.filter((kind) => kind === constants.NODE_PERFORMANCE_GC_MINOR).length).toBeGreaterThanOrEqual(2);
  });

  it('writes more chunks than one writev takes (IOV_MAX) without losing or reordering any', async () => {
    const data = randomBytes(5000);
    const path = join(tempDir(), 'clip.mp4.part');
    const { result } = await sinkInto(path, Readable.from(chunksOf(data, 1)));
    expect(result.written).toBe(5000);
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('appends at the resume position, keeping what is already on disk', async () => {
    const head = randomBytes(10_000);
    const tail = randomBytes(70_000);
    const path = join(tempDir(), 'clip.mp4.part');
    writeFileSync(path, head);
    const { result } = await sinkInto(path, Readable.from(chunksOf(tail, 4096)), head.length, 'r+');
    expect(result.written).toBe(tail.length);
    expect(readFileSync(path).equals(Buffer.concat([head, tail]))).toBe(true);
  });

  it('a dropped source ends the sink normally, with every byte that arrived written', async () => {
    const source = new PassThrough();
    const path = join(tempDir(), 'clip.mp4.part');
    const sunk = sinkInto(path, source);
    const arrived = randomBytes(3000);
    source.write(arrived);
    await new Promise((resolve) => setImmediate(resolve));
    const cut = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    source.destroy(cut);
    const { result } = await sunk;
    expect(result).toEqual({ written: 3000, sourceError: cut });
    expect(readFileSync(path).equals(arrived)).toBe(true);
  });

  it('a source destroyed before the sink was attached ends it at once, with nothing written', async () => {
    const source = new PassThrough();
    source.destroy();
    const path = join(tempDir(), 'clip.mp4.part');
    const { result } = await sinkInto(path, source);
    expect(result.written).toBe(0);
    expect(result.sourceError).toBeInstanceOf(Error);
  });

  it('a write that fails rejects and destroys the source', async () => {
    const path = join(tempDir(), 'clip.mp4.part');
    writeFileSync(path, '');
    const source = new PassThrough();
    // Read-only descriptor: the first write fails with EBADF.
    const sunk = sinkInto(path, source, 0, 'r');
    source.write(randomBytes(2 * 1024 * 1024));
    await expect(sunk).rejects.toMatchObject({ code: 'EBADF' });
    expect(source.destroyed).toBe(true);
  });
});
