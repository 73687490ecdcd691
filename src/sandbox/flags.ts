/**
 * The flags of `omni-video sandbox`, declared in commander without loading the simulator (only
 * types are imported). Each table is keyed by the properties of the options the flag sets, and
 * must name every one of them: an option renamed in options.ts fails to compile here.
 */
import type { Command, Option } from 'commander';
import type { Faults, ServerOptions } from './options.js';

export interface SandboxFlag {
  /** commander flags string, e.g. '--job-seconds <n>' */
  flags: string;
  description: string;
}

/** How the sandbox runs: the properties of startSandbox's options. */
export const serverFlags = {
  port: { flags: '--port <n>', description: 'port of the API server (default: any free port)' },
  host: { flags: '--host <address>', description: 'interface to listen on (default: 127.0.0.1)' },
  filePort: { flags: '--file-port <n>', description: 'port of the file server that serves the videos (default: any free port)' },
  jobSeconds: { flags: '--job-seconds <n>', description: 'seconds from submission to the end of a job (default: 8)' },
  queueSeconds: { flags: '--queue-seconds <n>', description: "seconds a job stays 'pending' before 'processing' (default: min(1, 0.15 x job seconds))" },
  apiKey: { flags: '--require-key <key>', description: 'accept only this API key (default: any non-empty key)' },
  balance: { flags: '--balance <n>', description: 'starting balance; each job costs 1 (default: 100)' },
  unlimited: { flags: '--unlimited', description: 'unlimited quota: never refuse a job for balance' },
  linkTtlSeconds: { flags: '--link-ttl <seconds>', description: 'how long result links stay valid after completion (default: 86400)' },
  largeFileBytes: { flags: '--large-file-bytes <n>', description: 'serve every result as a generated file of this many bytes (mp4 header + filler; k, M, G are powers of 1024, e.g. 200M), to test large downloads' },
  downloadBytesPerSecond: {
    flags: '--download-rate <rate>',
    description: 'bytes per second each download is sent at, smoothly, like a CDN link; k, M, G are powers of 1024 as in curl --limit-rate (e.g. 40M)',
  },
} satisfies { [K in keyof ServerOptions]-?: SandboxFlag };

/** Failures to simulate, for testing clients: the properties of `Faults`. */
export const faultFlags = {
  failJobs: { flags: '--fail-jobs <n>', description: "the next n jobs end 'failed'" },
  failMessage: { flags: '--fail-message <text>', description: 'error message of failed jobs (default: a content-policy message); alone, the next job fails with it' },
  cancelJobs: { flags: '--cancel-jobs <n>', description: "the next n jobs end 'cancelled'" },
  submitDelayMs: { flags: '--submit-delay-ms <ms>', description: 'answer every submission this late (the job is created at once)' },
  submit429: { flags: '--submit-429 <n>', description: 'the next n submissions are rate-limited (429, no job created)' },
  submit503: { flags: '--submit-503 <n>', description: 'the next n submissions get 503 (no job created)' },
  submitResetAfterCreate: { flags: '--submit-reset <n>', description: 'the next n submissions create (and charge) a job, then drop the connection unanswered' },
  retryAfter: { flags: '--retry-after <value>', description: 'Retry-After of the 429s of --submit-429 and --poll-429: seconds or an HTTP date (default: 1)' },
  poll5xx: { flags: '--poll-5xx <n>', description: 'the next n status requests get a 502 JSON error' },
  pollHtml: { flags: '--poll-html <n>', description: 'the next n status requests get a 502 HTML page (as from a proxy)' },
  pollMalformed: { flags: '--poll-malformed <n>', description: 'the next n status requests get 200 with invalid JSON' },
  pollEmpty: { flags: '--poll-empty <n>', description: 'the next n status requests get 200 with an empty body' },
  pollBadShape: { flags: '--poll-bad-shape <n>', description: 'the next n status requests get 200 with JSON of the wrong shape' },
  pollReset: { flags: '--poll-reset <n>', description: 'the next n status requests have their connection dropped' },
  poll429: { flags: '--poll-429 <n>', description: 'the next n status requests are rate-limited (429)' },
  downloadCuts: { flags: '--download-cuts <n>', description: 'the next n downloads are cut off part-way' },
  downloadCutAfterBytes: { flags: '--download-cut-after <bytes>', description: 'bytes sent before a download is cut (default: 10000); alone, cuts the next download' },
  downloadIgnoreRange: { flags: '--download-ignore-range', description: 'the file server ignores Range requests (always sends the whole file)' },
  downloadStatus: { flags: '--download-status <code>', description: 'the next file requests answer this HTTP status (e.g. 403, 404, 410)' },
  downloadStatusCount: { flags: '--download-status-count <n>', description: 'how many file requests get --download-status (default: 1)' },
  expireLinks: { flags: '--expire-links', description: 'result links are already expired (the file server answers 403)' },
  urlAsString: { flags: '--url-as-string', description: 'report result URLs as a single string instead of an array (both occur in the real API)' },
  omitCost: { flags: '--omit-cost', description: 'task answers carry no cost or credits_cost (the real API may leave them out)' },
  stallAfterBytes: { flags: '--stall-after <bytes>', description: 'the next download sends this many bytes, then hangs without closing' },
} satisfies { [K in keyof Faults]-?: SandboxFlag };

type FlagValues<T> = { [K in keyof T]?: string | boolean };

/** The flags as given, by group: what runSandbox validates into startSandbox's options. */
export interface SandboxFlagValues {
  server: FlagValues<ServerOptions>;
  faults: FlagValues<Faults>;
}

/** `--link-ttl` for `linkTtlSeconds`: the name a user typed, for messages. */
export function flagName(flag: SandboxFlag): string {
  return flag.flags.split(' ')[0]!;
}

/** Declares both groups' flags on the command; the function returned reads the values given. */
export function declareSandboxFlags(command: Command): () => SandboxFlagValues {
  const declare = <K extends string>(table: Record<K, SandboxFlag>): (() => { [P in K]?: string | boolean }) => {
    const options = (Object.keys(table) as K[]).map((key): [K, Option] => {
      const option = command.createOption(table[key].flags, table[key].description);
      command.addOption(option);
      return [key, option];
    });
    return () => {
      const values: { [P in K]?: string | boolean } = {};
      for (const [key, option] of options) {
        // commander files a value under the option's own attribute name (--link-ttl: linkTtl).
        const value = command.getOptionValue(option.attributeName()) as string | boolean | undefined;
        if (value !== undefined) values[key] = value;
      }
      return values;
    };
  };
  const server = declare(serverFlags);
  const faults = declare(faultFlags);
  return () => ({ server: server(), faults: faults() });
}

/** Examples for the command's help. */
export const sandboxExamples: readonly string[] = [
  'omni-video sandbox --port 4010',
  'OMNI_VIDEO_BASE_URL=http://127.0.0.1:4010/v1 OMNI_VIDEO_API_KEY=sk-test omni-video generate "a red fox in the snow"',
  'omni-video sandbox --job-seconds 2 --fail-jobs 1 --submit-429 2',
  'omni-video sandbox --large-file-bytes 200M --download-rate 40M --verbose',
];
