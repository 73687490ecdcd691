import { clearLine, cursorTo, moveCursor } from 'node:readline';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { IOStreams } from '../../src/context.js';
import { alreadyReported, createReporter, noteAboveLiveLines, stopLiveLines } from '../../src/io/progress.js';
import { FakeClock } from '../helpers/harness.js';

/** A terminal on fake streams: what the live line writes, as text. */
function terminal(columns = 120) {
  // ora hides the cursor and redraws only on a stream that is a TTY, with a TTY's methods
  const stream = new PassThrough();
  const stderr = Object.assign(stream, {
    isTTY: true,
    columns,
    cursorTo: (x: number, callback?: () => void) => cursorTo(stream, x, callback),
    clearLine: (dir: -1 | 0 | 1, callback?: () => void) => clearLine(stream, dir, callback),
    moveCursor: (dx: number, dy: number, callback?: () => void) => moveCursor(stream, dx, dy, callback),
  });
  let written = '';
  stderr.on('data', (chunk: Buffer) => (written += chunk.toString()));
  const io: IOStreams = { stdin: Readable.from([]), stdout: new PassThrough(), stderr, stdinIsTTY: true, stdoutIsTTY: true, stderrIsTTY: true, color: false, columns };
  return { io, written: () => written };
}

const MB = 1024 * 1024;

describe('the live line', () => {
  it('shows bytes / total, percentage, speed and elapsed time while downloading', async () => {
    const { io, written } = terminal();
    const clock = new FakeClock();
    const reporter = await createReporter({ io, clock });
    reporter.downloading(0, 2 * MB);
    clock.nowMs += 1000;
    reporter.downloading(1 * MB, 2 * MB);
    // ora draws a new text on its next frame
    await new Promise((resolve) => setTimeout(resolve, 200));
    reporter.succeed('saved');
    expect(written()).toContain('downloading 50% · 1.0 MiB / 2.0 MiB · 1.0 MiB/s · 1s');
    expect(written()).toMatch(/✔ saved\n$/);
    // the cursor, hidden while spinning, is shown again
    expect(written().lastIndexOf('\x1b[?25h')).toBeGreaterThan(written().lastIndexOf('\x1b[?25l'));
  });

  it('never wraps: a line wider than the terminal is cut with …', async () => {
    const { io, written } = terminal(30);
    const reporter = await createReporter({ io, clock: new FakeClock() });
    reporter.downloading(123_456, 98_765_432);
    reporter.stop();
    const line = written().split('\r').flatMap((part) => part.split('\n')).find((part) => part.includes('downloading'))!;
    expect(line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')).toMatch(/^. downloading 0% · 121 KiB \/…$/);
  });

  it('a note (a retry wait) is written above the live line, which is drawn again below it', async () => {
    const { io, written } = terminal();
    const reporter = await createReporter({ io, clock: new FakeClock() });
    reporter.update({ id: 't', status: 'processing', progress: 40 } as never);
    const before = written().length;
    noteAboveLiveLines(io, '! Rate limited; trying again in 1.0 s (retry 1)');
    const after = written().slice(before).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(after).toMatch(/^\r?! Rate limited; trying again in 1\.0 s \(retry 1\)\n.*generating · 40%/s);
    reporter.stop();
  });

  it('stopLiveLines clears every spinner and shows the cursor (for errors on any path)', async () => {
    const { io, written } = terminal();
    const reporter = await createReporter({ io, clock: new FakeClock() });
    reporter.update({ id: 't', status: 'processing', progress: 40, estimated_time: 10 } as never);
    stopLiveLines();
    expect(written()).toContain('generating · 40%');
    expect(written().endsWith('\x1b[?25h')).toBe(true);
  });
});

/** Lets the live line's one-second ticker draw a frame from the fake clock's time. */
const nextTick = () => new Promise((resolve) => setTimeout(resolve, 1_100));
/** The last frame of the live line holding `what`, without escapes. */
const lastFrame = (written: string, what: string) =>
  written
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/[\r\n]/)
    .filter((line) => line.includes(what))
    .at(-1);

describe('numbers that never go backwards or lie', () => {
  it('between updates the ETA counts down from the last estimate; it never grows as time passes', async () => {
    const { io, written } = terminal();
    const clock = new FakeClock();
    const reporter = await createReporter({ io, clock, startedAtMs: clock.now() });
    clock.nowMs += 10_000;
    reporter.update({ id: 't', status: 'processing', progress: 50 } as never);
    expect(lastFrame(written(), 'generating')).toMatch(/generating · 50% · 10s · ETA 10s$/);
    clock.nowMs += 4_000;
    await nextTick();
    expect(lastFrame(written(), 'generating')).toMatch(/generating · 50% · 14s · ETA 6s$/);
    clock.nowMs += 60_000;
    await nextTick();
    expect(lastFrame(written(), 'generating')).toMatch(/generating · 50% · 1m14s · ETA 0s$/);
    reporter.stop();
  });

  it('a first sliver of progress does not make the ETA: the service’s estimate does, until 5 %', async () => {
    const { io } = terminal();
    let text = '';
    const plain: IOStreams = { ...io, stderrIsTTY: false, stderr: new PassThrough().on('data', (chunk: Buffer) => (text += chunk.toString())) };
    const clock = new FakeClock();
    const reporter = await createReporter({ io: plain, clock, startedAtMs: clock.now() - 1_000 });
    reporter.update({ id: 't', status: 'processing', progress: 2, estimated_time: 6 } as never);
    clock.nowMs += 10_000;
    reporter.update({ id: 't', status: 'completed', progress: 100 } as never);
    // Not "ETA 49s", which 2 % in 1 s extrapolates to.
    expect(text.split('\n')[0]).toBe('generating · 2% · 1s · ETA 5s');
  });

  it('a wait resumed later counts elapsed time from the task’s created, not from 0', async () => {
    const { io } = terminal();
    let text = '';
    const plain: IOStreams = { ...io, stderrIsTTY: false, stderr: new PassThrough().on('data', (chunk: Buffer) => (text += chunk.toString())) };
    const clock = new FakeClock();
    const reporter = await createReporter({ io: plain, clock });
    reporter.update({ id: 't', status: 'processing', progress: 40, created: (clock.now() - 90_000) / 1000 } as never);
    expect(text).toBe('generating · 40% · 1m30s · ETA 2m15s\n');
  });

  it('the first download frame shows no speed; after a second, the speed of what came in it (not of bytes resumed from before)', async () => {
    const { io, written } = terminal();
    const clock = new FakeClock();
    const reporter = await createReporter({ io, clock, startedAtMs: clock.now() });
    reporter.downloading(1 * MB, 2 * MB);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lastFrame(written(), 'downloading')).toMatch(/downloading 50% · 1\.0 MiB \/ 2\.0 MiB · 0s$/);
    clock.nowMs += 1_000;
    reporter.downloading(1.5 * MB, 2 * MB);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lastFrame(written(), 'downloading')).toMatch(/downloading 75% · 1\.5 MiB \/ 2\.0 MiB · 512 KiB\/s · 1s$/);
    reporter.stop();
  });
});

describe('a failure', () => {
  it('is shown once with ✖, and remembered so the final error report does not repeat it', async () => {
    const { io, written } = terminal();
    const reporter = await createReporter({ io, clock: new FakeClock() });
    reporter.update({ id: 't', status: 'processing', progress: 40 } as never);
    reporter.fail('Task t failed: policy');
    expect(written()).toMatch(/✖ Task t failed: policy\n$/);
    expect(alreadyReported('Task t failed: policy')).toBe(true);
    expect(alreadyReported('something else')).toBe(false);
  });
});
