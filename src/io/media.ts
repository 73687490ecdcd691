import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/**
 * Reads a video's container header (duration, frame size) without ffmpeg, reading only the bytes
 * that are needed: box / element headers are read one by one at their offsets, and only the
 * `moov` box (MP4/MOV) or the `Info` and `Tracks` elements (WebM/Matroska) are read whole.
 * Media data (`mdat`, Clusters) is skipped by seeking, so a multi-GiB file costs a few small reads.
 *
 * The parsers are written once, as generators that yield "give me these bytes" requests, and are
 * driven either from a file handle (readMediaInfo) or from an in-memory buffer (parseMp4Header).
 */
import { boxesEndAtFileEnd, looksLikeIsoBmff, walkMp4, type Mp4Info } from './media-mp4.js';
import { startsWithEbml, walkWebm } from './media-webm.js';
import { MediaParseError, type MediaInfo, type Walk } from './media-walk.js';

export { hasFtypBox } from './media-mp4.js';
export { MediaParseError, type MediaInfo } from './media-walk.js';

/** Apply the same mp4 box walker to an in-memory Buffer (for tests and for checking a downloaded file's header). */
export function parseMp4Header(buf: Uint8Array): Mp4Info {
  if (!looksLikeIsoBmff(buf)) {
    throw new MediaParseError(
      "not an MP4/MOV file: it does not begin with an ISO BMFF 'ftyp' box" + describeHead(buf),
    );
  }
  return runSync(buf, walkMp4(buf.length));
}

/**
 * Reads the header of an mp4/mov (ISO BMFF: ftyp, moov/mvhd duration & timescale — version 0 and 1 —,
 * moov/trak/tkhd width/height as 16.16 fixed point, taking the first video track (hdlr 'vide') with
 * non-zero size) or WebM/Matroska (EBML: Segment/Info/TimecodeScale & Duration (float 4 or 8 bytes),
 * Tracks/TrackEntry/Video/PixelWidth & PixelHeight). Throws MediaParseError when the file is neither.
 */
export async function readMediaInfo(path: string): Promise<MediaInfo> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const reader = new FileReader(fh, size);
    // Enough for the first box header with a 64-bit size, or the EBML magic.
    const head = await reader.read(0, 16);
    try {
      if (startsWithEbml(head)) return await runAsync(reader, walkWebm(size));
      if (looksLikeIsoBmff(head)) return await runAsync(reader, walkMp4(size));
      throw new MediaParseError(
        size === 0
          ? 'not a video file: the file is empty'
          : "not an MP4/MOV or WebM/Matroska file: expected an ISO BMFF 'ftyp' box or an EBML header" +
              describeHead(head),
      );
    } catch (err) {
      if (err instanceof MediaParseError) {
        throw new MediaParseError(`${path}: ${err.message}`, { path, cause: err });
      }
      throw err;
    }
  } finally {
    await fh.close();
  }
}

/** Whether an open mp4 of `size` bytes is whole: its top-level boxes end exactly at its end. */
export function mp4EndsWhole(fh: FileHandle, size: number): Promise<boolean> {
  return runAsync(new FileReader(fh, size), boxesEndAtFileEnd(size));
}

// ---------------------------------------------------------------------------------------------
// Byte-request drivers: from a file, and from memory.

function runSync<T>(buf: Uint8Array, walk: Walk<T>): T {
  let step = walk.next();
  while (!step.done) {
    const { offset, length } = step.value;
    step = walk.next(buf.subarray(Math.min(offset, buf.length), Math.min(offset + length, buf.length)));
  }
  return step.value;
}

async function runAsync<T>(reader: FileReader, walk: Walk<T>): Promise<T> {
  let step = walk.next();
  while (!step.done) {
    const { offset, length } = step.value;
    step = walk.next(await reader.read(offset, length));
  }
  return step.value;
}

/**
 * Exact positional reads (no read-ahead, so no media payload is pulled in), remembering the last
 * block so that a request falling inside it (e.g. a box header inside the sniffed head) costs nothing.
 */
class FileReader {
  private cacheStart = 0;
  private cache: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    if (offset >= end) return new Uint8Array(0);
    if (offset >= this.cacheStart && end <= this.cacheStart + this.cache.length) {
      return this.cache.subarray(offset - this.cacheStart, end - this.cacheStart);
    }
    const buf = Buffer.allocUnsafe(end - offset);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await this.fh.read(buf, got, buf.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.cache = buf.subarray(0, got);
    this.cacheStart = offset;
    return this.cache;
  }
}

function describeHead(head: Uint8Array): string {
  if (head.length === 0) return '';
  const bytes = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return ` (first bytes: ${bytes})`;
}
