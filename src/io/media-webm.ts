/** EBML (WebM / Matroska): the Segment's children walked by seeking, only Info and Tracks read. */
import { latin1, MediaParseError, read, u32, type MediaInfo, type Walk } from './media-walk.js';

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

export function startsWithEbml(head: Uint8Array): boolean {
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
export function* walkWebm(fileSize: number): Walk<MediaInfo> {
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
