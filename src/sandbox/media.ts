/**
 * The videos the file server serves: the real clips in ./assets (landscape for 16:9, portrait for
 * 9:16), or with largeFileBytes a generated file of that size, never held in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** One servable file: what its headers say, and its bytes [start, end] (inclusive) on demand. */
export interface MediaFile {
  size: number;
  etag: string;
  open(start: number, end: number): Readable;
}

export interface Media {
  fileFor(aspectRatio: '16:9' | '9:16'): MediaFile;
}

function findAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/sandbox/assets when run from source (vitest, tsx); from dist/sandbox, tsc does not copy
  // binary files, so fall back to the source tree shipped beside it.
  const candidates = [join(here, 'assets'), join(here, '..', '..', 'src', 'sandbox', 'assets')];
  for (const dir of candidates) {
    if (existsSync(join(dir, 'landscape.mp4')) && existsSync(join(dir, 'portrait.mp4'))) return dir;
  }
  throw new Error(`sandbox assets not found (looked in ${candidates.join(', ')})`);
}

function assetFile(path: string, bytes: Buffer): MediaFile {
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
  return {
    size: bytes.length,
    etag: `"${hash}"`,
    open: (start, end) => createReadStream(path, { start, end, highWaterMark: 16 * 1024 }),
  };
}

/** The leading ftyp box of an mp4 file. */
function ftypBox(mp4: Buffer): Buffer {
  const size = mp4.readUInt32BE(0);
  if (mp4.toString('latin1', 4, 8) !== 'ftyp' || size < 8 || size > mp4.length) {
    throw new Error('landscape.mp4 does not start with an ftyp box');
  }
  return Buffer.from(mp4.subarray(0, size));
}

const PERIOD = 65_521; // prime, so a misaligned resume shows up as different bytes

/** Deterministic content of the large generated file: an mp4 header, then a repeating pattern. */
function largeFile(size: number, ftyp: Buffer): MediaFile {
  const rest = size - ftyp.length;
  if (rest < 16) throw new RangeError(`largeFileBytes must be at least ${ftyp.length + 16}`);
  let box: Buffer;
  if (rest > 0xffffffff) {
    box = Buffer.alloc(16);
    box.writeUInt32BE(1, 0);
    box.write('free', 4, 'latin1');
    box.writeBigUInt64BE(BigInt(rest), 8);
  } else {
    box = Buffer.alloc(8);
    box.writeUInt32BE(rest, 0);
    box.write('free', 4, 'latin1');
  }
  const header = Buffer.concat([ftyp, box]);
  const pattern = Buffer.alloc(PERIOD * 2); // the period twice, so any window <= PERIOD is contiguous
  let x = 0x9e3779b9;
  for (let i = 0; i < PERIOD; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pattern[i] = x & 0xff;
    pattern[i + PERIOD] = x & 0xff;
  }
  const etag = `"large-${size}-${createHash('sha256').update(header).digest('base64url').slice(0, 10)}"`;

  const open = (start: number, end: number): Readable => {
    let pos = start;
    const stop = end + 1;
    return new Readable({
      highWaterMark: 64 * 1024,
      read(wanted) {
        if (pos >= stop) {
          this.push(null);
          return;
        }
        const want = Math.min(Math.max(wanted, 16 * 1024), 64 * 1024, stop - pos);
        const chunk = Buffer.allocUnsafe(want);
        let filled = 0;
        while (filled < want) {
          const at = pos + filled;
          if (at < header.length) {
            filled += header.copy(chunk, filled, at, Math.min(header.length, at + want - filled));
          } else {
            const off = (at - header.length) % PERIOD;
            filled += pattern.copy(chunk, filled, off, off + Math.min(want - filled, PERIOD));
          }
        }
        pos += want;
        this.push(chunk);
      },
    });
  };
  return { size, etag, open };
}

export function loadMedia(largeFileBytes: number | undefined): Media {
  const dir = findAssetsDir();
  const landscapePath = join(dir, 'landscape.mp4');
  const portraitPath = join(dir, 'portrait.mp4');
  const landscapeBytes = readFileSync(landscapePath);
  if (largeFileBytes !== undefined) {
    const large = largeFile(largeFileBytes, ftypBox(landscapeBytes));
    return { fileFor: () => large };
  }
  const landscape = assetFile(landscapePath, landscapeBytes);
  const portrait = assetFile(portraitPath, readFileSync(portraitPath));
  return { fileFor: (aspectRatio) => (aspectRatio === '9:16' ? portrait : landscape) };
}
