import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileSink } from '../../src/api/file-sink.js';
import { tempDir } from '../helpers/harness.js';

// The flushes are observed (and failed on demand) through node:fs as the sink sees it.
const flushes = vi.hoisted(() => ({ at: [] as number[], fail: undefined as Error | undefined, hold: false, pending: [] as (() => void)[] }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    fdatasync: (fd: number, callback: (error: Error | null) => void) => {
      flushes.at.push(real.fstatSync(fd).size);
      const finish = () => (flushes.fail ? callback(flushes.fail) : real.fdatasync(fd, callback));
      if (flushes.hold) flushes.pending.push(finish);
      else finish();
    },
  };
});

const MiB = 1024 * 1024;

function open(flags = 'w'): { path: string; fd: number } {
  const path = join(tempDir(), 'clip.mp4.part');
  if (flags !== 'w') fs.writeFileSync(path, '');
  return { path, fd: fs.openSync(path, flags) };
}

afterEach(() => {
  flushes.at = [];
  flushes.fail = undefined;
  flushes.hold = false;
  flushes.pending = [];
});

describe('FileSink', () => {
  it('writes every piece in order before returning, and counts them', async () => {
    const { path, fd } = open();
    const data = randomBytes(3 * MiB + 12_345);
    const sink = new FileSink(fd, 0);
    for (let at = 0; at < data.length; at += 65_536) {
      sink.write(data.subarray(at, at + 65_536));
      // Synchronous: the socket's read buffer is reused as soon as write returns.
      expect(fs.fstatSync(fd).size).toBe(Math.min(at + 65_536, data.length));
    }
    await sink.settle();
    fs.closeSync(fd);
    expect(sink.written).toBe(data.length);
    expect(fs.readFileSync(path).equals(data)).toBe(true);
  });

  it('appends at the resume position, keeping what is already on disk', async () => {
    const head = randomBytes(10_000);
    const tail = randomBytes(70_000);
    const { path, fd } = open('r+');
    fs.writeSync(fd, head, 0, head.length, 0);
    const sink = new FileSink(fd, head.length);
    sink.write(tail);
    await sink.settle();
    fs.closeSync(fd);
    expect(sink.written).toBe(tail.length);
    expect(fs.readFileSync(path).equals(Buffer.concat([head, tail]))).toBe(true);
  });

  it('flushes to disk every 16 MiB while it writes, one flush at a time', async () => {
    const { fd } = open();
    const sink = new FileSink(fd, 0);
    const piece = Buffer.alloc(4 * MiB, 7);
    for (let i = 0; i < 12; i++) {
      sink.write(piece);
      // Let a flush that was started finish before the next pieces, as a transfer's pauses do.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await sink.settle();
    fs.closeSync(fd);
    expect(flushes.at).toEqual([16 * MiB, 32 * MiB, 48 * MiB]);
  });

  it('a flush that fails fails the next write, and settle', async () => {
    const { fd } = open();
    const sink = new FileSink(fd, 0);
    flushes.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    sink.write(Buffer.alloc(32 * MiB));
    await expect(sink.settle()).rejects.toMatchObject({ code: 'EIO' });
    expect(() => sink.write(Buffer.alloc(1))).toThrow('EIO');
    fs.closeSync(fd);
  });

  it('settle waits for the flush in flight, so the file is not closed under it', async () => {
    const { fd } = open();
    const sink = new FileSink(fd, 0);
    flushes.hold = true;
    sink.write(Buffer.alloc(32 * MiB));
    let settled = false;
    const settling = sink.settle().then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    for (const finish of flushes.pending) finish();
    await settling;
    expect(settled).toBe(true);
    fs.closeSync(fd);
  });

  it('a write that fails throws what the disk said', () => {
    // Read-only descriptor: the write fails with EBADF.
    const { fd } = open('r');
    const sink = new FileSink(fd, 0);
    expect(() => sink.write(randomBytes(1000))).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(sink.written).toBe(0);
    fs.closeSync(fd);
  });
});
