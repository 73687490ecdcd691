import { fdatasync, writeSync } from 'node:fs';

/**
 * Flush to disk every this many bytes while the transfer runs (on the thread pool, without
 * waiting), so that the fsync before the rename has only the tail left, and the page cache never
 * holds a gigabyte of dirty pages to write back at once. 1 GiB, ÷ curl, interleaved runs: no
 * flush 0.855, every 128 MiB 0.927, 32 MiB 0.986 / 0.884, 16 MiB 1.033 / 0.974, 8 MiB 1.06 /
 * 0.938 (the same rounds; this machine drifts): 16 MiB.
 */
const SYNC_EVERY_BYTES = 16 * 1024 * 1024;

/**
 * Writes the pieces of a download into the file `fd` from `position`, each before it returns. The
 * write is synchronous, on purpose: the pieces live in the socket's reused read buffer, and while
 * a write into the page cache runs (well under 1 ms) the socket is not read, which is the
 * backpressure; writing from libuv's thread pool instead (as fs.WriteStream does) cost ~0.8 s
 * more kernel time per GiB, measured.
 */
export class FileSink {
  /** Bytes written so far, in order from the start position. */
  written = 0;
  #synced = 0;
  #syncing: Promise<void> | undefined;
  #syncError: Error | undefined;

  constructor(
    readonly fd: number,
    readonly position: number,
  ) {}

  /** Throws what the disk said: a failed write, or a failed flush before it. */
  write(bytes: Uint8Array): void {
    if (this.#syncError) throw this.#syncError;
    let done = 0;
    // write(2) may take less than it was given.
    while (done < bytes.length) {
      const taken = writeSync(this.fd, bytes, done, bytes.length - done, this.position + this.written + done);
      if (taken === 0) throw new Error('the disk took no more bytes');
      done += taken;
    }
    this.written += done;
    if (!this.#syncing && this.written - this.#synced >= SYNC_EVERY_BYTES) {
      const at = this.written;
      this.#syncing = new Promise<void>((settle) =>
        fdatasync(this.fd, (error) => {
          // Linux reports a write-back error once, to the flush that meets it: it must fail the download.
          if (error) this.#syncError = error;
          else this.#synced = at;
          this.#syncing = undefined;
          settle();
        }),
      );
    }
  }

  /**
   * Waits for the flush in flight, so the caller may close the file, and throws its error if it
   * failed. To be awaited whatever happened before.
   */
  async settle(): Promise<void> {
    await this.#syncing;
    if (this.#syncError) throw this.#syncError;
  }
}
