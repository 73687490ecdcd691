/**
 * Pacing a download at a fixed rate, as a CDN link limited to so many bytes per second: the body
 * goes out in small slices (10 ms of data, at most 64 KiB) on a schedule, so the rate holds over
 * any stretch of the download, not only on average.
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/** Time a late writer may make up at once: longer delays (a GC pause) are not paid back as a burst. */
const MAX_CATCH_UP_MS = 50;

export class Pacer {
  /** The most bytes written at once. */
  readonly slice: number;
  /** When the next byte may go out (performance.now() ms). */
  private due = performance.now();

  constructor(private readonly bytesPerSecond: number) {
    this.slice = Math.max(1, Math.min(64 * 1024, Math.floor(bytesPerSecond / 100)));
  }

  /** Waits until `bytes` more may be sent (or the response closes), and books them. */
  async take(bytes: number, res: ServerResponse): Promise<void> {
    const now = performance.now();
    this.due = Math.max(this.due, now - MAX_CATCH_UP_MS);
    const wait = this.due - now;
    this.due += (bytes / this.bytesPerSecond) * 1000;
    if (wait >= 1) await pause(wait, res);
  }
}

/** Resolves after ms, or as soon as the response closes (the client left, or the sandbox stopped). */
function pause(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.on('close', done);
  });
}
