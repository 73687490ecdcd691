/**
 * What the MP4/MOV and WebM/Matroska walkers share: the result and the error they give, the
 * "give me these bytes" requests they yield, and the big-endian byte readers.
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

/** A request for `length` bytes at `offset`; the answer is shorter when it runs past the end. */
interface ReadRequest {
  offset: number;
  length: number;
}
export type Walk<T> = Generator<ReadRequest, T, Uint8Array>;

export function* read(offset: number, length: number): Walk<Uint8Array> {
  return yield { offset, length };
}

export function u32(buf: Uint8Array, pos: number): number {
  return ((buf[pos] ?? 0) * 2 ** 24) + ((buf[pos + 1] ?? 0) << 16) + ((buf[pos + 2] ?? 0) << 8) + (buf[pos + 3] ?? 0);
}

export function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i] ?? 0);
  return s;
}
