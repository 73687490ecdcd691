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

export interface MediaInfo {
  container: 'mp4' | 'mov' | 'webm';
  durationSeconds: number | null;
  width: number | null;
  height: number | null;
  /**
   * Whether the file has a video track at all (MP4/MOV: a trak whose handler is 'vide'; WebM: a
   * TrackEntry of type video). A stream-copied cut between two keyframes can come out as sound only.
   */
  hasVideoTrack: boolean;
}

/** The file is not an MP4/MOV or WebM/Matroska file, or its header is malformed or truncated. */
export class MediaParseError extends Error {
  override readonly name = 'MediaParseError';
  /** The file that was being read, when known. */
  readonly path: string | undefined;
  constructor(message: string, options?: { path?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.path = options?.path;
  }
}

/** True when the buffer begins with an ISO BMFF `ftyp` box (bytes 4..8 === 'ftyp'). */
export function hasFtypBox(head: Uint8Array): boolean {
  return head.length >= 8 && fourcc(head, 4) === 'ftyp';
}

/** Apply the same mp4 box walker to an in-memory Buffer (for tests and for checking a downloaded file's header). */
export function parseMp4Header(
  buf: Uint8Array,
): Omit<MediaInfo, 'container'> & { container: 'mp4' | 'mov' } {
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

// ---------------------------------------------------------------------------------------------
// Byte-request plumbing shared by the file and in-memory drivers.

/** A request for `length` bytes at `offset`; the answer is shorter when it runs past the end. */
interface ReadRequest {
  offset: number;
  length: number;
}
type Walk<T> = Generator<ReadRequest, T, Uint8Array>;

function* read(offset: number, length: number): Walk<Uint8Array> {
  return yield { offset, length };
}

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

// ---------------------------------------------------------------------------------------------
// ISO BMFF (MP4 / QuickTime MOV)

/** Largest moov box read into memory (sample tables of very long recordings run to tens of MB). */
const MAX_MOOV_BYTES = 256 * 1024 * 1024;
const MAX_FTYP_BYTES = 64 * 1024;
/** Top-level boxes that may open a classic QuickTime file written before `ftyp` existed. */
const QUICKTIME_FIRST_BOXES = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot']);

function looksLikeIsoBmff(head: Uint8Array): boolean {
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

type Mp4Info = Omit<MediaInfo, 'container'> & { container: 'mp4' | 'mov' };

/** Walks the top-level boxes by seeking from header to header, and reads only `ftyp` and `moov`. */
function* walkMp4(fileSize: number): Walk<Mp4Info> {
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

// ---------------------------------------------------------------------------------------------
// EBML (WebM / Matroska)

const EBML_ID = 0x1a45dfa3;
const DOCTYPE_ID = 0x4282;
const SEGMENT_ID = 0x18538067;
const INFO_ID = 0x1549a966;
const TRACKS_ID = 0x1654ae6b;
const CLUSTER_ID = 0x1f43b675;
const TIMECODE_SCALE_ID = 0x2ad7b1;
const DURATION_ID = 0x4489;
const TRACK_ENTRY_ID = 0xae;
const TRACK_TYPE_ID = 0x83;
const VIDEO_ID = 0xe0;
const PIXEL_WIDTH_ID = 0xb0;
const PIXEL_HEIGHT_ID = 0xba;
const VOID_ID = 0xec;
const CRC32_ID = 0xbf;
/** Info and Tracks are a few hundred bytes in practice; refuse absurd sizes rather than allocate them. */
const MAX_EBML_MASTER_BYTES = 16 * 1024 * 1024;

interface ElementHeader {
  id: number;
  /** Payload size, or null for "unknown size" (all value bits set). */
  size: number | null;
  /** Header length (ID + size). */
  headerSize: number;
}

function startsWithEbml(head: Uint8Array): boolean {
  return head.length >= 4 && u32(head, 0) === EBML_ID;
}

/** Length of the variable-length integer starting with `first`, from its leading zero bits (0 = invalid). */
function vintLength(first: number, max: number): number {
  for (let len = 1; len <= max; len++) {
    if (first & (0x100 >> len)) return len;
  }
  return 0;
}

/** Parses an element header at buf[pos]; null when buf ends before the header does. */
function elementHeader(buf: Uint8Array, pos: number): ElementHeader | null {
  const first = buf[pos];
  if (first === undefined) return null;
  const idLen = vintLength(first, 4);
  if (idLen === 0) throw new MediaParseError(`malformed EBML: invalid element ID at offset ${pos}`);
  const sizeFirst = buf[pos + idLen];
  if (sizeFirst === undefined) return null;
  const sizeLen = vintLength(sizeFirst, 8);
  if (sizeLen === 0) throw new MediaParseError(`malformed EBML: invalid element size at offset ${pos + idLen}`);
  if (buf.length < pos + idLen + sizeLen) return null;
  let id = 0;
  for (let i = 0; i < idLen; i++) id = id * 256 + (buf[pos + i] ?? 0);
  let size = sizeFirst & (0xff >> sizeLen);
  let allOnes = size === 0xff >> sizeLen;
  for (let i = 1; i < sizeLen; i++) {
    const b = buf[pos + idLen + i] ?? 0;
    if (b !== 0xff) allOnes = false;
    size = size * 256 + b;
  }
  return { id, size: allOnes ? null : size, headerSize: idLen + sizeLen };
}

interface Element {
  id: number;
  start: number;
  end: number;
}

/** Child elements of the (fully read) master element payload buf[start, end). */
function* childElements(buf: Uint8Array, start: number, end: number): Generator<Element> {
  let pos = start;
  const view = buf.subarray(0, end);
  while (pos < end) {
    const h = elementHeader(view, pos);
    if (h === null || h.size === null) return; // truncated or unknown-size child: nothing more to read here
    const childStart = pos + h.headerSize;
    const childEnd = childStart + h.size;
    if (childEnd > end) throw new MediaParseError('malformed EBML: child element overruns its parent');
    yield { id: h.id, start: childStart, end: childEnd };
    pos = childEnd;
  }
}

function ebmlUint(buf: Uint8Array, el: Element): number {
  let v = 0;
  for (let i = el.start; i < el.end; i++) v = v * 256 + (buf[i] ?? 0);
  return v;
}

function ebmlFloat(buf: Uint8Array, el: Element): number | null {
  const len = el.end - el.start;
  const view = new DataView(buf.buffer, buf.byteOffset + el.start, len);
  if (len === 4) return view.getFloat32(0);
  if (len === 8) return view.getFloat64(0);
  if (len === 0) return 0;
  throw new MediaParseError(`malformed EBML: float element of ${len} bytes`);
}

/**
 * Reads the EBML header, then walks the Segment's children by seeking from element header to
 * element header, reading only Info and Tracks, and stops as soon as it has both. Clusters of
 * known size are skipped whole; a Cluster of unknown size cannot be, so the walk steps over its
 * children (block headers only) until the next top-level element.
 */
function* walkWebm(fileSize: number): Walk<MediaInfo> {
  const ebml = elementHeader(yield* read(0, 12), 0);
  if (ebml === null || ebml.id !== EBML_ID) throw new MediaParseError('truncated EBML header');
  if (ebml.size === null || ebml.size > 4096) throw new MediaParseError('malformed EBML header');
  const ebmlBody = yield* read(ebml.headerSize, ebml.size);
  if (ebmlBody.length < ebml.size) throw new MediaParseError('file is truncated inside the EBML header');
  let docType = 'matroska'; // the EBML default
  for (const el of childElements(ebmlBody, 0, ebmlBody.length)) {
    if (el.id === DOCTYPE_ID) docType = latin1(ebmlBody, el.start, el.end).replace(/\0+$/, '');
  }
  if (docType !== 'webm' && docType !== 'matroska') {
    throw new MediaParseError(`EBML file of DocType '${docType}' is not WebM/Matroska`);
  }

  // Find the Segment (possibly after Void elements).
  let offset = ebml.headerSize + ebml.size;
  let segmentEnd = -1;
  while (segmentEnd < 0) {
    const h = elementHeader(yield* read(offset, 12), 0);
    if (h === null) throw new MediaParseError('no Segment element found (file is truncated after the EBML header)');
    if (h.id === SEGMENT_ID) {
      offset += h.headerSize;
      segmentEnd = h.size === null ? fileSize : Math.min(fileSize, offset + h.size);
    } else if ((h.id === VOID_ID || h.id === CRC32_ID) && h.size !== null) {
      offset += h.headerSize + h.size;
    } else {
      throw new MediaParseError(`expected a Segment element after the EBML header, found ID 0x${h.id.toString(16)}`);
    }
  }

  let timecodeScale = 1_000_000; // ns per tick, the Matroska default
  let duration: number | null = null;
  let sawInfo = false;
  let track: { width: number; height: number } | null = null;
  let hasVideoTrack = false;
  let sawTracks = false;
  while (offset < segmentEnd && !(sawInfo && sawTracks)) {
    const h = elementHeader(yield* read(offset, 12), 0);
    if (h === null) break; // truncated: keep what was found
    const start = offset + h.headerSize;
    if (h.size === null) {
      if (h.id === CLUSTER_ID) {
        offset = start; // step into it; its blocks are skipped one by one below
        continue;
      }
      break; // a second Segment, or an unknown-size element that cannot be skipped
    }
    const end = start + h.size;
    if (h.id === INFO_ID || h.id === TRACKS_ID) {
      const name = h.id === INFO_ID ? 'Info' : 'Tracks';
      if (h.size > MAX_EBML_MASTER_BYTES) throw new MediaParseError(`${name} element is implausibly large (${h.size} bytes)`);
      if (end > fileSize) throw new MediaParseError(`file is truncated inside the ${name} element`);
      const body = yield* read(start, h.size);
      if (h.id === INFO_ID) {
        sawInfo = true;
        for (const el of childElements(body, 0, body.length)) {
          if (el.id === TIMECODE_SCALE_ID) timecodeScale = ebmlUint(body, el);
          else if (el.id === DURATION_ID) duration = ebmlFloat(body, el);
        }
      } else {
        sawTracks = true;
        track = firstVideoTrack(body);
        hasVideoTrack = track !== null || hasTrackOfType(body, VIDEO_TRACK_TYPE);
      }
    }
    offset = end;
  }
  if (!sawInfo && !sawTracks) {
    throw new MediaParseError('no Info or Tracks element found in the Segment (file is truncated or malformed)');
  }
  return {
    container: 'webm',
    durationSeconds: duration === null ? null : (duration * timecodeScale) / 1e9,
    width: track?.width ?? null,
    height: track?.height ?? null,
    hasVideoTrack,
  };
}

/** Matroska's TrackType of video tracks. */
const VIDEO_TRACK_TYPE = 1;

function hasTrackOfType(tracks: Uint8Array, type: number): boolean {
  for (const entry of childElements(tracks, 0, tracks.length)) {
    if (entry.id !== TRACK_ENTRY_ID) continue;
    for (const el of childElements(tracks, entry.start, entry.end)) {
      if (el.id === TRACK_TYPE_ID && ebmlUint(tracks, el) === type) return true;
    }
  }
  return false;
}

function firstVideoTrack(tracks: Uint8Array): { width: number; height: number } | null {
  for (const entry of childElements(tracks, 0, tracks.length)) {
    if (entry.id !== TRACK_ENTRY_ID) continue;
    let type: number | null = null;
    let width = 0;
    let height = 0;
    for (const el of childElements(tracks, entry.start, entry.end)) {
      if (el.id === TRACK_TYPE_ID) type = ebmlUint(tracks, el);
      else if (el.id === VIDEO_ID) {
        for (const v of childElements(tracks, el.start, el.end)) {
          if (v.id === PIXEL_WIDTH_ID) width = ebmlUint(tracks, v);
          else if (v.id === PIXEL_HEIGHT_ID) height = ebmlUint(tracks, v);
        }
      }
    }
    if ((type === null || type === VIDEO_TRACK_TYPE) && width > 0 && height > 0) return { width, height };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Byte helpers

function u32(buf: Uint8Array, pos: number): number {
  return ((buf[pos] ?? 0) * 2 ** 24) + ((buf[pos + 1] ?? 0) << 16) + ((buf[pos + 2] ?? 0) << 8) + (buf[pos + 3] ?? 0);
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

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i] ?? 0);
  return s;
}

function fourcc(buf: Uint8Array, pos: number): string {
  return latin1(buf, pos, pos + 4);
}

function describeHead(head: Uint8Array): string {
  if (head.length === 0) return '';
  const bytes = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return ` (first bytes: ${bytes})`;
}
