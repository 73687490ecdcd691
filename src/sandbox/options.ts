/**
 * The sandbox's settings, one zod schema per flag group. Each schema reads the strings and
 * booleans that commander gives for `omni-video sandbox`'s flags, and its inferred type IS the
 * type startSandbox takes: renaming an option breaks the flag table (flags.ts), the CLI and the
 * server at compile time, never silently.
 */
import * as z from 'zod/mini';

/** The message of failed jobs unless --fail-message says otherwise (localised when it is this one). */
export const DEFAULT_FAIL_MESSAGE = 'The content violates the usage policy';

const numberMatching = (pattern: RegExp, message: string) =>
  z.pipe(
    z.string().check(z.refine((value) => pattern.test(value.trim()), message)),
    z.transform((value: string) => Number(value)),
  );
const wholeNumber = numberMatching(/^\d+$/, 'takes a whole number >= 0');
const decimal = numberMatching(/^\d+(\.\d+)?$/, 'takes a number >= 0');
const port = z.pipe(wholeNumber, z.number().check(z.refine((n) => n <= 65535, 'takes a port number (0-65535)')));
const text = z.string().check(z.refine((value) => value.trim() !== '', 'must not be empty'));
const httpStatus = z.pipe(wholeNumber, z.number().check(z.refine((n) => n >= 100 && n <= 599, 'takes an HTTP status (100-599)')));
const retryAfter = z.string().check(
  z.refine((value) => /^\d+$/.test(value.trim()) || !Number.isNaN(Date.parse(value)), 'takes seconds or an HTTP date'),
);

const BYTE_SUFFIXES: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A number of bytes from `40M`, `512k`, `1.5G` or `1000000`: suffixes are powers of 1024, as for
 * curl's --limit-rate, and a fraction of a byte is rounded. Undefined for anything else.
 */
export function parseBytes(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(value.trim());
  if (!match) return undefined;
  const bytes = Math.round(Number(match[1]) * BYTE_SUFFIXES[match[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bytes (suffixes allowed), at least `min`. */
const bytes = (min: number, what: string) =>
  z.pipe(
    z.string().check(z.refine((value) => (parseBytes(value) ?? -1) >= min, `takes ${what}`)),
    z.transform((value: string) => parseBytes(value)!),
  );

/** How the sandbox runs (flag group "server"). */
export const serverOptionsSchema = z.object({
  /** API server port, 0 = ephemeral (default 0). */
  port: z.optional(port),
  /** Interface to listen on; default '127.0.0.1'. */
  host: z.optional(text),
  /** File server port (a separate http server = separate origin), 0 = ephemeral (default 0). */
  filePort: z.optional(port),
  /** Seconds from submission to the final state; default 8 (fractions allowed). */
  jobSeconds: z.optional(decimal),
  /** Seconds spent 'pending' before 'processing'; default min(1, 0.15 * jobSeconds). */
  queueSeconds: z.optional(decimal),
  /** If set, only this Bearer key is accepted; otherwise any non-empty key. */
  apiKey: z.optional(text),
  /** Starting remain_balance; default 100. */
  balance: z.optional(decimal),
  /** Unlimited quota: remain_balance is -1 and nothing is ever refused for balance. */
  unlimited: z.optional(z.boolean()),
  /** expires_at = completed + ttl; default 86400. */
  linkTtlSeconds: z.optional(decimal),
  /**
   * When set, every result file is this many bytes: the ftyp box of landscape.mp4, a `free` box
   * header, then deterministic filler generated while streaming (never held in memory).
   */
  largeFileBytes: z.optional(bytes(1024, 'a size of at least 1024 bytes, e.g. 5000000, 512k, 200M or 1G')),
  /** The file server sends each download at this many bytes per second, smoothly (default: as fast as it can). */
  downloadBytesPerSecond: z.optional(bytes(1, 'bytes per second, e.g. 500000, 512k, 40M or 1G')),
});
export type ServerOptions = z.infer<typeof serverOptionsSchema>;

/** Failures to simulate (flag group "fault"). Counted faults apply to the next N requests of their kind. */
export const faultsSchema = z.object({
  /** Next N created jobs end 'failed' (when they would have completed). */
  failJobs: z._default(wholeNumber, 0),
  /** Message of those failures. */
  failMessage: z._default(text, DEFAULT_FAIL_MESSAGE),
  /** Next N created jobs end 'cancelled'. */
  cancelJobs: z._default(wholeNumber, 0),
  /** Answer submissions this late (the job is created on receipt). */
  submitDelayMs: z._default(wholeNumber, 0),
  /** Next N submissions: 429 + Retry-After, no job created. */
  submit429: z._default(wholeNumber, 0),
  /** Next N submissions: 503, no job created. */
  submit503: z._default(wholeNumber, 0),
  /** Next N submissions: the job IS created (and charged), then the socket is destroyed. */
  submitResetAfterCreate: z._default(wholeNumber, 0),
  /** Value of Retry-After for 429s (seconds, or an HTTP date). */
  retryAfter: z._default(retryAfter, '1'),
  /** Next N GET /tasks/:id: 502 with a JSON error. */
  poll5xx: z._default(wholeNumber, 0),
  /** Next N GET /tasks/:id: 502 with an HTML page. */
  pollHtml: z._default(wholeNumber, 0),
  /** Next N GET /tasks/:id: 200 with invalid JSON. */
  pollMalformed: z._default(wholeNumber, 0),
  /** Next N GET /tasks/:id: 200 with an empty body. */
  pollEmpty: z._default(wholeNumber, 0),
  /** Next N GET /tasks/:id: 200 with valid JSON of the wrong shape (no id, status a number). */
  pollBadShape: z._default(wholeNumber, 0),
  /** Next N GET /tasks/:id: socket destroyed, no response. */
  pollReset: z._default(wholeNumber, 0),
  /** Next N GET /tasks/:id: 429 with Retry-After. */
  poll429: z._default(wholeNumber, 0),
  /** Next N file downloads (GET) are cut after downloadCutAfterBytes body bytes. */
  downloadCuts: z._default(wholeNumber, 0),
  /** Body bytes sent before a cut. */
  downloadCutAfterBytes: z._default(wholeNumber, 10_000),
  /** The file server ignores Range (always 200 with the full body, no Accept-Ranges). */
  downloadIgnoreRange: z._default(z.boolean(), false),
  /** Status answered by the next downloadStatusCount file requests (e.g. 403, 404, 410); 0 = off. */
  downloadStatus: z._default(httpStatus, 0),
  downloadStatusCount: z._default(wholeNumber, 0),
  /** Results carry expires_at in the past and the file server answers 403 for every link. */
  expireLinks: z._default(z.boolean(), false),
  /** result.videos[].url as a single string instead of an array. */
  urlAsString: z._default(z.boolean(), false),
  /** Task answers leave out cost and credits_cost (the API may). */
  omitCost: z._default(z.boolean(), false),
  /** If > 0: the next download sends this many body bytes, then stalls until the client gives up (one-shot: reset to 0 when used). */
  stallAfterBytes: z._default(wholeNumber, 0),
});
export type Faults = z.infer<typeof faultsSchema>;

export function defaultFaults(): Faults {
  return faultsSchema.parse({});
}
