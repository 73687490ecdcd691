/** ISO BMFF (MP4 / QuickTime MOV): the top-level boxes walked by seeking, only `ftyp` and `moov` read. */
import { latin1, MediaParseError, read, u32, type MediaInfo, type Walk } from './media-walk.js';

/** True when the buffer begins with an ISO BMFF `ftyp` box (bytes 4..8 === 'ftyp'). */
export function hasFtypBox(head: Uint8Array): boolean {
  return head.length >= 8 && fourcc(head, 4) === 'ftyp';
}

/** Largest moov box read into memory (sample tables of very long recordings run to tens of MB). */
const MAX_MOOV_BYTES = 256 * 1024 * 1024;
const MAX_FTYP_BYTES = 64 * 1024;
/** Top-level boxes that may open a classic QuickTime file written before `ftyp` existed. */
const QUICKTIME_FIRST_BOXES = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot']);

export function looksLikeIsoBmff(head: Uint8Array): boolean {
  if (hasFtypBox(head)) return true;
  if (head.length < 8 || !QUICKTIME_FIRST_BOXES.has(fourcc(head, 4))) return false;
  const size = u32(head, 0);
  return size === 0 || size === 1 || size >= 8;
}

interface BoxHeader {
  type: string;
  /** 8, or 16 with a 64-bit largesize. */
  headerSize: number;
  /** Whole box size including the header; size 0 ("to the end") is already resolved. */
  size: number;
}

/** Parses a box header at `pos`; `available` is how many bytes the box may span (to end of file/parent). */
function boxHeader(buf: Uint8Array, pos: number, available: number): BoxHeader {
  if (buf.length - pos < 8) throw new MediaParseError(`truncated box header at offset ${pos}`);
  const size32 = u32(buf, pos);
  const type = fourcc(buf, pos + 4);
  if (size32 === 1) {
    if (buf.length - pos < 16) throw new MediaParseError(`truncated 64-bit size of '${type}' box`);
    const size = u64(buf, pos + 8);
    if (size < 16) throw new MediaParseError(`invalid 64-bit size ${size} of '${type}' box`);
    return { type, headerSize: 16, size };
  }
  if (size32 === 0) return { type, headerSize: 8, size: available };
  if (size32 < 8) throw new MediaParseError(`invalid size ${size32} of '${type}' box`);
  return { type, headerSize: 8, size: size32 };
}

/**
 * True when the top-level boxes end exactly at the end of the file (the last may run to it: size
 * 0): what tells a whole mp4 from one cut short when nothing announced its length.
 */
export function* boxesEndAtFileEnd(fileSize: number): Walk<boolean> {
  let offset = 0;
  while (offset < fileSize) {
    const head = yield* read(offset, 16);
    try {
      offset += boxHeader(head, 0, fileSize - offset).size;
    } catch (error) {
      if (error instanceof MediaParseError) return false;
      throw error;
    }
  }
  return offset === fileSize;
}

export type Mp4Info = Omit<MediaInfo, 'container'> & { container: 'mp4' | 'mov' };

/** Walks the top-level boxes by seeking from header to header, and reads only `ftyp` and `moov`. */
export function* walkMp4(fileSize: number): Walk<Mp4Info> {
  let container: 'mp4' | 'mov' = 'mov'; // a QuickTime file without ftyp
  let offset = 0;
  let overrun: string | null = null;
  while (fileSize - offset >= 8) {
    const head = yield* read(offset, 16);
    const box = boxHeader(head, 0, fileSize - offset);
    const end = offset + box.size;
    if (box.type === 'ftyp' && offset === 0) {
      if (box.size > MAX_FTYP_BYTES) throw new MediaParseError(`'ftyp' box is implausibly large (${box.size} bytes)`);
      const ftyp = yield* read(offset + box.headerSize, box.size - box.headerSize);
      if (ftyp.length < 4) throw new MediaParseError("truncated 'ftyp' box");
      container = fourcc(ftyp, 0) === 'qt  ' ? 'mov' : 'mp4';
    } else if (box.type === 'moov') {
      if (end > fileSize) {
        throw new MediaParseError(
          `file is truncated: the 'moov' box at offset ${offset} is ${box.size} bytes but only ${fileSize - offset} remain`,
        );
      }
      if (box.size > MAX_MOOV_BYTES) throw new MediaParseError(`'moov' box is implausibly large (${box.size} bytes)`);
      const moov = yield* read(offset + box.headerSize, box.size - box.headerSize);
      return { container, ...parseMoov(moov) };
    }
    if (end > fileSize) overrun = `the '${box.type}' box at offset ${offset} runs ${end - fileSize} bytes past the end`;
    offset = end;
  }
  throw new MediaParseError(
    overrun === null
      ? "no 'moov' box found: the file has no movie header"
      : `no 'moov' box found before the end of the file (file is truncated: ${overrun})`,
  );
}

interface Box {
  type: string;
  /** Payload bounds (after the header) within the buffer. */
  start: number;
  end: number;
}

/** Child boxes of the payload buf[start, end). */
function* childBoxes(buf: Uint8Array, start: number, end: number, parent: string): Generator<Box> {
  let pos = start;
  while (end - pos >= 8) {
    const box = boxHeader(buf.subarray(0, end), pos, end - pos);
    if (pos + box.size > end) {
      throw new MediaParseError(`malformed '${parent}': child '${box.type}' box overruns its parent`);
    }
    yield { type: box.type, start: pos + box.headerSize, end: pos + box.size };
    pos += box.size;
  }
}

function findChild(buf: Uint8Array, parent: Box, type: string): Box | undefined {
  for (const child of childBoxes(buf, parent.start, parent.end, parent.type)) {
    if (child.type === type) return child;
  }
  return undefined;
}

interface Track {
  handler: string | null;
  width: number;
  height: number;
}

function parseMoov(moov: Uint8Array): Omit<MediaInfo, 'container'> {
  let timescale = 0;
  let duration: number | null = null;
  let fragmented = false;
  let fragmentDuration: number | null = null;
  const tracks: Track[] = [];
  for (const box of childBoxes(moov, 0, moov.length, 'moov')) {
    if (box.type === 'mvhd') {
      // FullBox: version(1) flags(3); v0: ctime(4) mtime(4) timescale(4) duration(4); v1: 8 8 4 8.
      need(box, box.start + 4, 'mvhd');
      const v1 = moov[box.start] === 1;
      need(box, box.start + (v1 ? 32 : 20), 'mvhd');
      timescale = u32(moov, box.start + (v1 ? 20 : 12));
      duration = v1 ? u64OrNull(moov, box.start + 24) : u32OrNull(moov, box.start + 16);
    } else if (box.type === 'trak') {
      tracks.push(parseTrak(moov, box));
    } else if (box.type === 'mvex') {
      fragmented = true;
      const mehd = findChild(moov, box, 'mehd');
      if (mehd !== undefined) {
        need(mehd, mehd.start + 4, 'mehd');
        const v1 = moov[mehd.start] === 1;
        need(mehd, mehd.start + (v1 ? 12 : 8), 'mehd');
        fragmentDuration = v1 ? u64OrNull(moov, mehd.start + 4) : u32OrNull(moov, mehd.start + 4);
      }
    }
  }
  // A fragmented file's mvhd often says 0; the real length is in mvex/mehd, or unknown.
  if (fragmented && (duration === 0 || duration === null)) duration = fragmentDuration;
  const video = tracks.find((t) => t.handler === 'vide' && t.width > 0 && t.height > 0);
  return {
    durationSeconds: duration === null || timescale === 0 ? null : duration / timescale,
    width: video?.width ?? null,
    height: video?.height ?? null,
    hasVideoTrack: tracks.some((t) => t.handler === 'vide'),
  };
}

function parseTrak(buf: Uint8Array, trak: Box): Track {
  let handler: string | null = null;
  let width = 0;
  let height = 0;
  for (const box of childBoxes(buf, trak.start, trak.end, 'trak')) {
    if (box.type === 'tkhd') {
      // v0: width/height (16.16) at payload offset 76/80; v1 (64-bit times and duration): 88/92.
      need(box, box.start + 4, 'tkhd');
      const at = box.start + (buf[box.start] === 1 ? 88 : 76);
      need(box, at + 8, 'tkhd');
      width = u32(buf, at) / 65536;
      height = u32(buf, at + 4) / 65536;
    } else if (box.type === 'mdia') {
      const hdlr = findChild(buf, box, 'hdlr');
      if (hdlr !== undefined) {
        // FullBox: version/flags(4) pre_defined(4) handler_type(4)
        need(hdlr, hdlr.start + 12, 'hdlr');
        handler = fourcc(buf, hdlr.start + 8);
      }
    }
  }
  return { handler, width, height };
}

function need(box: Box, end: number, what: string): void {
  if (end > box.end) throw new MediaParseError(`malformed '${what}' box: too short (${box.end - box.start} bytes)`);
}

function u64(buf: Uint8Array, pos: number): number {
  const v = u32(buf, pos) * 2 ** 32 + u32(buf, pos + 4);
  if (!Number.isSafeInteger(v)) throw new MediaParseError('64-bit value too large');
  return v;
}

/** All-ones means "unknown" for mvhd/mehd durations. */
function u32OrNull(buf: Uint8Array, pos: number): number | null {
  const v = u32(buf, pos);
  return v === 0xffffffff ? null : v;
}

function u64OrNull(buf: Uint8Array, pos: number): number | null {
  if (u32(buf, pos) === 0xffffffff && u32(buf, pos + 4) === 0xffffffff) return null;
  return u64(buf, pos);
}

function fourcc(buf: Uint8Array, pos: number): string {
  return latin1(buf, pos, pos + 4);
}
