import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MediaParseError, hasFtypBox, parseMp4Header, readMediaInfo } from '../../src/io/media.js';
import type { MediaInfo } from '../../src/io/media.js';

// Fixtures are committed; test/fixtures/media/make-fixtures.sh regenerates them with ffmpeg.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'media');
const fixture = (name: string): string => join(FIXTURES, name);

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'media-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function writeTmp(name: string, data: Uint8Array | string): Promise<string> {
  const path = join(tmp, name);
  await writeFile(path, data);
  return path;
}

/** Spies on FileHandle.read (on its prototype, where readMediaInfo's handle finds it) to count what is read. */
async function spyOnFileReads(path: string) {
  const probe = await open(path, 'r');
  const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  return vi.spyOn(proto, 'read');
}

function expectInfo(actual: MediaInfo, expected: MediaInfo): void {
  expect(actual.container).toBe(expected.container);
  expect(actual.width).toBe(expected.width);
  expect(actual.height).toBe(expected.height);
  expect(actual.hasVideoTrack).toBe(expected.hasVideoTrack);
  if (expected.durationSeconds === null) {
    expect(actual.durationSeconds).toBeNull();
  } else {
    expect(actual.durationSeconds).not.toBeNull();
    expect(Math.abs((actual.durationSeconds ?? NaN) - expected.durationSeconds)).toBeLessThan(0.1);
  }
}

async function expectParseError(promise: Promise<unknown>, message?: RegExp): Promise<MediaParseError> {
  const err: unknown = await promise.then(
    () => {
      throw new Error('expected a MediaParseError, but the file was parsed');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaParseError);
  if (message) expect((err as Error).message).toMatch(message);
  return err as MediaParseError;
}

function expectSyncParseError(fn: () => unknown, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(MediaParseError);
  if (message) expect((caught as Error).message).toMatch(message);
}

/** Deterministic bytes, so a failure reproduces. */
function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

// --- ISO BMFF builders -----------------------------------------------------------------------

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function u32be(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

function u64be(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
}

function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const body = concat(...payload);
  return concat(u32be(8 + body.length), ascii(type), body);
}

/** A box with a 64-bit size: size field 1, then an 8-byte largesize. */
function largeBox(type: string, ...payload: Uint8Array[]): Uint8Array {
  const body = concat(...payload);
  return concat(u32be(1), ascii(type), u64be(16 + body.length), body);
}

function fullBox(type: string, version: number, ...payload: Uint8Array[]): Uint8Array {
  return box(type, Uint8Array.of(version, 0, 0, 0), ...payload);
}

const ftyp = (major: string): Uint8Array => box('ftyp', ascii(major), u32be(0x200), ascii('isomiso2mp41'));

function mvhd(version: 0 | 1, timescale: number, duration: number): Uint8Array {
  const rest = new Uint8Array(80); // rate, volume, matrix, next_track_ID...
  return version === 1
    ? fullBox('mvhd', 1, u64be(0), u64be(0), u32be(timescale), u64be(duration), rest)
    : fullBox('mvhd', 0, u32be(0), u32be(0), u32be(timescale), u32be(duration), rest);
}

function tkhd(version: 0 | 1, width: number, height: number): Uint8Array {
  const times = version === 1 ? concat(u64be(0), u64be(0), u32be(1), u32be(0), u64be(0)) : new Uint8Array(20);
  const middle = new Uint8Array(8 + 2 + 2 + 2 + 2 + 36); // reserved, layer, group, volume, reserved, matrix
  return fullBox('tkhd', version, times, middle, u32be(Math.round(width * 65536)), u32be(Math.round(height * 65536)));
}

function trak(handler: string, width: number, height: number, version: 0 | 1 = 0): Uint8Array {
  const hdlr = fullBox('hdlr', 0, u32be(0), ascii(handler), new Uint8Array(12), ascii('handler\0'));
  return box('trak', tkhd(version, width, height), box('mdia', box('mdhd', new Uint8Array(24)), hdlr));
}

/** Top-level boxes of an ISO BMFF buffer (32-bit sizes only). */
function topLevelBoxes(buf: Uint8Array): { type: string; offset: number; size: number }[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: { type: string; offset: number; size: number }[] = [];
  for (let o = 0; o + 8 <= buf.length; ) {
    const size = view.getUint32(o);
    out.push({ type: String.fromCharCode(...buf.subarray(o + 4, o + 8)), offset: o, size });
    o += size;
  }
  return out;
}

// --- EBML builders ---------------------------------------------------------------------------

function ebmlSize(n: number): Uint8Array {
  // 8-byte size vint: 0x01 marker then 7 bytes of value.
  const b = u64be(n);
  b[0] = 0x01;
  return b;
}
const UNKNOWN_SIZE = Uint8Array.of(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

function el(id: number[], ...payload: Uint8Array[]): Uint8Array {
  const body = concat(...payload);
  return concat(Uint8Array.from(id), ebmlSize(body.length), body);
}
const unknownSizeEl = (id: number[], ...payload: Uint8Array[]): Uint8Array =>
  concat(Uint8Array.from(id), UNKNOWN_SIZE, ...payload);

const uint = (id: number[], v: number): Uint8Array => el(id, u32be(v));
function float32(id: number[], v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v);
  return el(id, b);
}
function float64(id: number[], v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v);
  return el(id, b);
}

const EBML = [0x1a, 0x45, 0xdf, 0xa3];
const SEGMENT = [0x18, 0x53, 0x80, 0x67];
const INFO = [0x15, 0x49, 0xa9, 0x66];
const TRACKS = [0x16, 0x54, 0xae, 0x6b];
const CLUSTER = [0x1f, 0x43, 0xb6, 0x75];
const TIMECODE_SCALE = [0x2a, 0xd7, 0xb1];
const DURATION = [0x44, 0x89];
const TRACK_ENTRY = [0xae];
const TRACK_TYPE = [0x83];
const VIDEO = [0xe0];
const AUDIO = [0xe1];
const PIXEL_WIDTH = [0xb0];
const PIXEL_HEIGHT = [0xba];

const ebmlHeader = (docType: string): Uint8Array => el(EBML, uint([0x42, 0x86], 1), el([0x42, 0x82], ascii(docType)));
const cluster = (unknown: boolean): Uint8Array => {
  const children = [uint([0xe7], 0), el([0xa3], pseudoRandomBytes(300, 7)), el([0xa3], pseudoRandomBytes(200, 8))];
  return unknown ? unknownSizeEl(CLUSTER, ...children) : el(CLUSTER, ...children);
};
const videoTracks = (width: number, height: number): Uint8Array =>
  el(
    TRACKS,
    el(TRACK_ENTRY, uint(TRACK_TYPE, 2), el(AUDIO, float64([0xb5], 48000))),
    el(TRACK_ENTRY, uint(TRACK_TYPE, 1), el(VIDEO, uint(PIXEL_WIDTH, width), uint(PIXEL_HEIGHT, height))),
  );

// --- Fixtures --------------------------------------------------------------------------------

const FIXTURE_INFO: Record<string, MediaInfo> = {
  'clip-2s.mp4': { container: 'mp4', durationSeconds: 2, width: 320, height: 180, hasVideoTrack: true },
  'clip-moov-at-end.mp4': { container: 'mp4', durationSeconds: 5, width: 180, height: 320, hasVideoTrack: true },
  'clip-0.5s.mp4': { container: 'mp4', durationSeconds: 0.5, width: 64, height: 36, hasVideoTrack: true },
  'clip.mov': { container: 'mov', durationSeconds: 1.5, width: 64, height: 36, hasVideoTrack: true },
  'clip.webm': { container: 'webm', durationSeconds: 2, width: 160, height: 90, hasVideoTrack: true },
  'holiday.mp4': { container: 'mp4', durationSeconds: 16, width: 64, height: 36, hasVideoTrack: true },
  // holiday.mp4 cut from 12 to 15 s with -c copy: no keyframe in the range, so sound only.
  'audio-only.mp4': { container: 'mp4', durationSeconds: 3.1, width: null, height: null, hasVideoTrack: false },
};
const ISO_FIXTURES = Object.keys(FIXTURE_INFO).filter((n) => !n.endsWith('.webm'));

describe('fixtures', () => {
  it('are small', async () => {
    for (const name of Object.keys(FIXTURE_INFO)) {
      expect((await readFile(fixture(name))).length, name).toBeLessThan(60 * 1024);
    }
  });

  it('clip-moov-at-end.mp4 really has its moov after mdat, and clip-2s.mp4 before', async () => {
    const types = (b: Uint8Array) => topLevelBoxes(b).map((x) => x.type);
    const atEnd = types(await readFile(fixture('clip-moov-at-end.mp4')));
    expect(atEnd.indexOf('moov')).toBeGreaterThan(atEnd.indexOf('mdat'));
    expect(atEnd.at(-1)).toBe('moov');
    const fast = types(await readFile(fixture('clip-2s.mp4')));
    expect(fast.indexOf('moov')).toBeLessThan(fast.indexOf('mdat'));
  });
});

describe('readMediaInfo', () => {
  for (const [name, expected] of Object.entries(FIXTURE_INFO)) {
    it(`reads ${name}`, async () => {
      expectInfo(await readMediaInfo(fixture(name)), expected);
    });
  }

  it('reads a synthetic sparse 1 GiB file (moov after a 1 GiB mdat) in a few small reads', async () => {
    const real = await readFile(fixture('clip-2s.mp4'));
    const moovBox = topLevelBoxes(real).find((b) => b.type === 'moov');
    expect(moovBox).toBeDefined();
    const moov = real.subarray(moovBox!.offset, moovBox!.offset + moovBox!.size);

    const GiB = 1024 ** 3;
    const head = ftyp('isom');
    // mdat with a 64-bit largesize covering 1 GiB; only its 16-byte header is written, the rest is a hole.
    const mdatHeader = concat(u32be(1), ascii('mdat'), u64be(GiB));
    const moovOffset = head.length + GiB;
    const path = join(tmp, 'sparse-1GiB.mp4');
    const fh = await open(path, 'w');
    try {
      await fh.write(head, 0, head.length, 0);
      await fh.write(mdatHeader, 0, mdatHeader.length, head.length);
      await fh.write(moov, 0, moov.length, moovOffset);
    } finally {
      await fh.close();
    }

    // Count what readMediaInfo asks of FileHandle.read.
    const readSpy = await spyOnFileReads(path);

    const info = await readMediaInfo(path);
    expectInfo(info, FIXTURE_INFO['clip-2s.mp4']!);

    const calls = readSpy.mock.calls.map((c) => ({ length: Number(c[2]), position: Number(c[3]) }));
    expect(calls.length).toBeGreaterThan(0); // the spy did see the reads
    expect(calls.length).toBeLessThanOrEqual(5);
    expect(calls.reduce((n, c) => n + c.length, 0)).toBeLessThan(64 * 1024);
    // The mdat payload is skipped: at most the 8 bytes after an 8-byte header peeked for a largesize.
    const payloadStart = head.length + mdatHeader.length;
    const payloadBytesRead = calls.reduce(
      (n, c) => n + Math.max(0, Math.min(c.position + c.length, moovOffset) - Math.max(c.position, payloadStart)),
      0,
    );
    expect(payloadBytesRead).toBeLessThanOrEqual(8);
  });

  it('skips a 1 GiB Cluster by seeking and stops reading once it has Info and Tracks (sparse WebM)', async () => {
    const GiB = 1024 ** 3;
    const before = concat(
      ebmlHeader('webm'),
      concat(Uint8Array.from(SEGMENT), UNKNOWN_SIZE),
      el(INFO, uint(TIMECODE_SCALE, 1_000_000), float64(DURATION, 3_600_000)),
      concat(Uint8Array.from(CLUSTER), ebmlSize(GiB)), // its payload is left as a hole
    );
    const clusterPayloadStart = before.length;
    const tracksOffset = clusterPayloadStart + GiB;
    const after = concat(videoTracks(3840, 2160), cluster(true));
    const trailingClusterOffset = tracksOffset + videoTracks(3840, 2160).length;
    const path = join(tmp, 'sparse-1GiB.webm');
    const fh = await open(path, 'w');
    try {
      await fh.write(before, 0, before.length, 0);
      await fh.write(after, 0, after.length, tracksOffset);
    } finally {
      await fh.close();
    }

    const readSpy = await spyOnFileReads(path);

    expectInfo(await readMediaInfo(path), { container: 'webm', durationSeconds: 3600, width: 3840, height: 2160, hasVideoTrack: true });

    const calls = readSpy.mock.calls.map((c) => ({ length: Number(c[2]), position: Number(c[3]) }));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.length).toBeLessThanOrEqual(12);
    expect(calls.reduce((n, c) => n + c.length, 0)).toBeLessThan(4096);
    for (const c of calls) {
      // Nothing from the Cluster payload, and nothing after Tracks (it stops once it has both).
      expect(c.position + c.length <= clusterPayloadStart || c.position >= tracksOffset).toBe(true);
      expect(c.position).toBeLessThan(trailingClusterOffset);
    }
  });

  it('reads 64-bit largesize boxes and mvhd/tkhd version 1 from a file', async () => {
    const file = concat(
      ftyp('mp42'),
      largeBox('free', new Uint8Array(100)),
      largeBox('mdat', new Uint8Array(1000)),
      largeBox('moov', mvhd(1, 90000, 90000 * 42), trak('vide', 1920, 1080, 1)),
    );
    const path = await writeTmp('large.mp4', file);
    expectInfo(await readMediaInfo(path), { container: 'mp4', durationSeconds: 42, width: 1920, height: 1080, hasVideoTrack: true });
  });

  it('reads a WebM with unknown-size Segment and Clusters, Tracks after a Cluster, float32 Duration', async () => {
    const file = concat(
      ebmlHeader('webm'),
      unknownSizeEl(
        SEGMENT,
        el(INFO, uint(TIMECODE_SCALE, 1_000_000), float32(DURATION, 2500)),
        cluster(true),
        videoTracks(640, 360),
        cluster(true),
        cluster(false),
      ),
    );
    const path = await writeTmp('unknown-sizes.webm', file);
    expectInfo(await readMediaInfo(path), { container: 'webm', durationSeconds: 2.5, width: 640, height: 360, hasVideoTrack: true });
  });

  it('applies a non-default TimecodeScale, reads a float64 Duration and skips known-size Clusters', async () => {
    const file = concat(
      ebmlHeader('matroska'),
      el(
        SEGMENT,
        cluster(false),
        el(INFO, float64(DURATION, 700), uint(TIMECODE_SCALE, 10_000_000)),
        cluster(false),
        videoTracks(1280, 720),
      ),
    );
    const path = await writeTmp('scale.mkv', file);
    expectInfo(await readMediaInfo(path), { container: 'webm', durationSeconds: 7, width: 1280, height: 720, hasVideoTrack: true });
  });

  it('returns null duration for a WebM without a Duration (live stream)', async () => {
    const file = concat(ebmlHeader('webm'), unknownSizeEl(SEGMENT, el(INFO, uint(TIMECODE_SCALE, 1_000_000)), videoTracks(160, 90), cluster(true)));
    const path = await writeTmp('live.webm', file);
    expectInfo(await readMediaInfo(path), { container: 'webm', durationSeconds: null, width: 160, height: 90, hasVideoTrack: true });
  });

  it('tells a WebM with only a sound track from one with a picture', async () => {
    const soundOnly = el(TRACKS, el(TRACK_ENTRY, uint(TRACK_TYPE, 2), el(AUDIO, float64([0xb5], 48000))));
    const file = concat(ebmlHeader('webm'), el(SEGMENT, el(INFO, uint(TIMECODE_SCALE, 1_000_000), float64(DURATION, 3000)), soundOnly));
    const info = await readMediaInfo(await writeTmp('sound-only.webm', file));
    expect(info).toEqual({ container: 'webm', durationSeconds: 3, width: null, height: null, hasVideoTrack: false });
  });

  it('rejects an EBML file that is not WebM/Matroska', async () => {
    const path = await writeTmp('other.ebml', concat(ebmlHeader('foobar'), el(SEGMENT)));
    await expectParseError(readMediaInfo(path), /DocType 'foobar'/);
  });

  it('throws MediaParseError for random bytes', async () => {
    const path = await writeTmp('random.bin', pseudoRandomBytes(64 * 1024, 42));
    const err = await expectParseError(readMediaInfo(path), /not an MP4\/MOV or WebM\/Matroska file/);
    expect(err.path).toBe(path);
    expect(err.message).toContain(path);
  });

  it('throws MediaParseError for a text file', async () => {
    const path = await writeTmp('notes.txt', 'Hello, this is not a video.\nJust some text.\n'.repeat(20));
    await expectParseError(readMediaInfo(path), /not an MP4\/MOV or WebM\/Matroska file/);
  });

  it('throws MediaParseError for an empty file', async () => {
    const path = await writeTmp('empty.mp4', new Uint8Array(0));
    await expectParseError(readMediaInfo(path), /empty/);
  });

  it('throws MediaParseError for truncated files', async () => {
    const fast = await readFile(fixture('clip-2s.mp4'));
    const moov = topLevelBoxes(fast).find((b) => b.type === 'moov')!;
    // Cut inside the moov box.
    await expectParseError(readMediaInfo(await writeTmp('cut-moov.mp4', fast.subarray(0, moov.offset + 100))), /truncated/);

    const atEnd = await readFile(fixture('clip-moov-at-end.mp4'));
    // Cut inside mdat: the moov never arrives.
    await expectParseError(readMediaInfo(await writeTmp('cut-mdat.mp4', atEnd.subarray(0, atEnd.length / 2))), /no 'moov' box.*truncated/);
    // Cut inside the ftyp box.
    await expectParseError(readMediaInfo(await writeTmp('cut-ftyp.mp4', atEnd.subarray(0, 10))), /truncated/);

    const webm = await readFile(fixture('clip.webm'));
    for (const cut of [8, 40, 150, 215]) {
      await expectParseError(readMediaInfo(await writeTmp(`cut-${cut}.webm`, webm.subarray(0, cut))));
    }
  });

  it('rethrows file-system errors unchanged', async () => {
    await expect(readMediaInfo(join(tmp, 'does-not-exist.mp4'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never throws anything but MediaParseError on corrupted headers', async () => {
    const sources = [await readFile(fixture('clip.webm')), await readFile(fixture('clip-2s.mp4'))];
    for (let i = 0; i < 150; i++) {
      const src = sources[i % 2]!;
      const bad = Uint8Array.from(src.subarray(0, 2048));
      const noise = pseudoRandomBytes(6, i + 1);
      for (let k = 0; k < 3; k++) bad[(noise[k]! * 8 + noise[k + 3]!) % bad.length] = noise[k + 3]!;
      const path = await writeTmp(`fuzz-${i}`, concat(bad, src.subarray(2048)));
      await readMediaInfo(path).catch((e: unknown) => {
        expect(e, `iteration ${i}`).toBeInstanceOf(MediaParseError);
      });
    }
  });
});

describe('hasFtypBox', () => {
  for (const name of ISO_FIXTURES) {
    it(`is true for ${name}`, async () => {
      expect(hasFtypBox(await readFile(fixture(name)))).toBe(true);
    });
  }

  it('is false for webm, text, short and empty buffers', async () => {
    expect(hasFtypBox(await readFile(fixture('clip.webm')))).toBe(false);
    expect(hasFtypBox(ascii('just some text, not ftyp'))).toBe(false);
    expect(hasFtypBox(ascii('\0\0\0\x20fty'))).toBe(false);
    expect(hasFtypBox(new Uint8Array(0))).toBe(false);
  });

  it('looks only at bytes 4..8', () => {
    expect(hasFtypBox(ascii('\0\0\0\x18ftyp'))).toBe(true);
    expect(hasFtypBox(ascii('xxxxftypgarbage'))).toBe(true);
  });
});

describe('parseMp4Header', () => {
  for (const name of ISO_FIXTURES) {
    it(`parses ${name} from memory`, async () => {
      expectInfo(parseMp4Header(await readFile(fixture(name))), FIXTURE_INFO[name]!);
    });
  }

  it('rejects webm, text and random bytes', async () => {
    const webm = await readFile(fixture('clip.webm'));
    expectSyncParseError(() => parseMp4Header(webm), /not an MP4\/MOV/);
    expectSyncParseError(() => parseMp4Header(ascii('plain text file, no boxes here')), /not an MP4\/MOV/);
    expectSyncParseError(() => parseMp4Header(pseudoRandomBytes(4096, 3)), /not an MP4\/MOV/);
  });

  it('throws when the buffer holds only the head of a moov-at-end file', async () => {
    const atEnd = await readFile(fixture('clip-moov-at-end.mp4'));
    expectSyncParseError(() => parseMp4Header(atEnd.subarray(0, 4096)), /no 'moov' box.*truncated/);
  });

  it('follows 64-bit largesize boxes (size field 1)', () => {
    const buf = concat(
      ftyp('isom'),
      largeBox('free', new Uint8Array(3)),
      largeBox('moov', largeBox('mvhd', Uint8Array.of(0, 0, 0, 0), u32be(0), u32be(0), u32be(600), u32be(600 * 12), new Uint8Array(80)), trak('vide', 854, 480)),
      largeBox('mdat', new Uint8Array(10)),
    );
    expectInfo(parseMp4Header(buf), { container: 'mp4', durationSeconds: 12, width: 854, height: 480, hasVideoTrack: true });
  });

  it('rejects a largesize that does not fit in a safe integer, and sizes smaller than the header', () => {
    const huge = concat(ftyp('isom'), u32be(1), ascii('mdat'), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0));
    expectSyncParseError(() => parseMp4Header(huge), /too large/);
    expectSyncParseError(() => parseMp4Header(concat(ftyp('isom'), u32be(4), ascii('free'))), /invalid size/);
  });

  it('treats size 0 as "to the end of the file", for mdat and for moov', () => {
    const moov = box('moov', mvhd(0, 1000, 3000), trak('vide', 100, 50));
    expectInfo(parseMp4Header(concat(ftyp('isom'), moov, u32be(0), ascii('mdat'), new Uint8Array(500))), {
      container: 'mp4', durationSeconds: 3, width: 100, height: 50, hasVideoTrack: true,
    });
    const moovToEnd = concat(u32be(0), moov.subarray(4));
    expectInfo(parseMp4Header(concat(ftyp('isom'), box('mdat', new Uint8Array(20)), moovToEnd)), {
      container: 'mp4', durationSeconds: 3, width: 100, height: 50, hasVideoTrack: true,
    });
    expectSyncParseError(() => parseMp4Header(concat(ftyp('isom'), u32be(0), ascii('mdat'), moov)), /no 'moov' box/);
  });

  it("reads a classic QuickTime file that has no 'ftyp' box as mov", async () => {
    const qt = concat(box('wide'), box('mdat', new Uint8Array(64)), box('moov', mvhd(0, 600, 1800), trak('vide', 640, 480)));
    expect(hasFtypBox(qt)).toBe(false);
    const expected: MediaInfo = { container: 'mov', durationSeconds: 3, width: 640, height: 480, hasVideoTrack: true };
    expectInfo(parseMp4Header(qt), expected);
    expectInfo(await readMediaInfo(await writeTmp('classic.mov', qt)), expected);
    // A QuickTime box name with an impossible size is not taken for a movie.
    expectSyncParseError(() => parseMp4Header(concat(u32be(3), ascii('free'), new Uint8Array(8))), /not an MP4\/MOV/);
  });

  it('reads mvhd and tkhd version 1 (64-bit times)', () => {
    const buf = concat(ftyp('isom'), box('moov', mvhd(1, 48000, 48000 * 3 + 24000), trak('vide', 720, 1280, 1)));
    expectInfo(parseMp4Header(buf), { container: 'mp4', durationSeconds: 3.5, width: 720, height: 1280, hasVideoTrack: true });
  });

  it("takes the first 'vide' track with a non-zero size, not the first track", () => {
    const buf = concat(
      ftyp('qt  '),
      box(
        'moov',
        mvhd(0, 600, 600),
        trak('soun', 0, 0),
        trak('sbtl', 640, 100),
        trak('vide', 0, 0),
        trak('vide', 1024, 576),
        trak('vide', 320, 240),
      ),
    );
    expectInfo(parseMp4Header(buf), { container: 'mov', durationSeconds: 1, width: 1024, height: 576, hasVideoTrack: true });
  });

  it('reads 16.16 fixed-point sizes including a fractional part', () => {
    const buf = concat(ftyp('isom'), box('moov', mvhd(0, 1000, 1000), trak('vide', 853.5, 480)));
    expect(parseMp4Header(buf)).toMatchObject({ width: 853.5, height: 480 });
  });

  it('returns nulls when there is no video track or no mvhd', () => {
    expect(parseMp4Header(concat(ftyp('M4A '), box('moov', mvhd(0, 44100, 44100), trak('soun', 0, 0))))).toEqual({
      container: 'mp4', durationSeconds: 1, width: null, height: null, hasVideoTrack: false,
    });
    expect(parseMp4Header(concat(ftyp('isom'), box('moov', trak('vide', 64, 64))))).toEqual({
      container: 'mp4', durationSeconds: null, width: 64, height: 64, hasVideoTrack: true,
    });
    // A video track whose frame size is not given is still a video track.
    expect(parseMp4Header(concat(ftyp('isom'), box('moov', mvhd(0, 1000, 2000), trak('soun', 0, 0), trak('vide', 0, 0))))).toMatchObject({ width: null, hasVideoTrack: true });
  });

  it('reads a fragmented mp4 duration from mvex/mehd when mvhd says 0', () => {
    const mehd = fullBox('mehd', 0, u32be(9000));
    const buf = concat(ftyp('iso5'), box('moov', mvhd(0, 1000, 0), trak('vide', 64, 36), box('mvex', mehd)));
    expect(parseMp4Header(buf).durationSeconds).toBe(9);
  });

  it('throws MediaParseError (not RangeError) on malformed boxes inside moov', () => {
    const shortTkhd = box('trak', fullBox('tkhd', 0, new Uint8Array(10)));
    expectSyncParseError(() => parseMp4Header(concat(ftyp('isom'), box('moov', shortTkhd))), /tkhd/);
    const overrun = concat(u32be(500), ascii('trak'));
    expectSyncParseError(() => parseMp4Header(concat(ftyp('isom'), box('moov', overrun))), /overruns/);
  });
});
