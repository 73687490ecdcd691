/**
 * The options of `omni-video sandbox`, as plain data, so the CLI can declare them in commander
 * without loading the simulator. Imports nothing on purpose.
 *
 * `key` is the property of runSandbox's options that the value goes to; `parse` says how to
 * read the value (`boolean` flags take no value).
 */
export type SandboxFlagParse = 'integer' | 'number' | 'string' | 'boolean';

export interface SandboxFlag {
  /** commander flags string, e.g. '--job-seconds <n>' */
  flags: string;
  description: string;
  key: string;
  parse: SandboxFlagParse;
  /** 'server' = how the sandbox runs; 'fault' = a failure to simulate, for testing clients. */
  group: 'server' | 'fault';
}

export const sandboxFlags: readonly SandboxFlag[] = [
  { flags: '--port <n>', key: 'port', parse: 'integer', group: 'server', description: 'port of the API server (default: any free port)' },
  { flags: '--host <address>', key: 'host', parse: 'string', group: 'server', description: 'interface to listen on (default: 127.0.0.1)' },
  { flags: '--file-port <n>', key: 'filePort', parse: 'integer', group: 'server', description: 'port of the file server that serves the videos (default: any free port)' },
  { flags: '--job-seconds <n>', key: 'jobSeconds', parse: 'number', group: 'server', description: 'seconds from submission to the end of a job (default: 8)' },
  { flags: '--queue-seconds <n>', key: 'queueSeconds', parse: 'number', group: 'server', description: "seconds a job stays 'pending' before 'processing' (default: min(1, 0.15 x job seconds))" },
  { flags: '--require-key <key>', key: 'apiKey', parse: 'string', group: 'server', description: 'accept only this API key (default: any non-empty key)' },
  { flags: '--balance <n>', key: 'balance', parse: 'number', group: 'server', description: 'starting balance; each job costs 1 (default: 100)' },
  { flags: '--unlimited', key: 'unlimited', parse: 'boolean', group: 'server', description: 'unlimited quota: never refuse a job for balance' },
  { flags: '--link-ttl <seconds>', key: 'linkTtlSeconds', parse: 'number', group: 'server', description: 'how long result links stay valid after completion (default: 86400)' },
  { flags: '--large-file-bytes <n>', key: 'largeFileBytes', parse: 'integer', group: 'server', description: 'serve every result as a generated file of this size (mp4 header + filler), to test large downloads' },
  { flags: '--fail-jobs <n>', key: 'failJobs', parse: 'integer', group: 'fault', description: "the next n jobs end 'failed'" },
  { flags: '--fail-message <text>', key: 'failMessage', parse: 'string', group: 'fault', description: 'error message of failed jobs (default: a content-policy message)' },
  { flags: '--cancel-jobs <n>', key: 'cancelJobs', parse: 'integer', group: 'fault', description: "the next n jobs end 'cancelled'" },
  { flags: '--submit-delay-ms <ms>', key: 'submitDelayMs', parse: 'integer', group: 'fault', description: 'answer every submission this late (the job is created at once)' },
  { flags: '--submit-429 <n>', key: 'submit429', parse: 'integer', group: 'fault', description: 'the next n submissions are rate-limited (429, no job created)' },
  { flags: '--submit-503 <n>', key: 'submit503', parse: 'integer', group: 'fault', description: 'the next n submissions get 503 (no job created)' },
  { flags: '--submit-reset <n>', key: 'submitResetAfterCreate', parse: 'integer', group: 'fault', description: 'the next n submissions create (and charge) a job, then drop the connection unanswered' },
  { flags: '--retry-after <value>', key: 'retryAfter', parse: 'string', group: 'fault', description: 'Retry-After of 429 answers: seconds or an HTTP date (default: 1)' },
  { flags: '--poll-5xx <n>', key: 'poll5xx', parse: 'integer', group: 'fault', description: 'the next n status requests get a 502 JSON error' },
  { flags: '--poll-html <n>', key: 'pollHtml', parse: 'integer', group: 'fault', description: 'the next n status requests get a 502 HTML page (as from a proxy)' },
  { flags: '--poll-malformed <n>', key: 'pollMalformed', parse: 'integer', group: 'fault', description: 'the next n status requests get 200 with invalid JSON' },
  { flags: '--poll-empty <n>', key: 'pollEmpty', parse: 'integer', group: 'fault', description: 'the next n status requests get 200 with an empty body' },
  { flags: '--poll-bad-shape <n>', key: 'pollBadShape', parse: 'integer', group: 'fault', description: 'the next n status requests get 200 with JSON of the wrong shape' },
  { flags: '--poll-reset <n>', key: 'pollReset', parse: 'integer', group: 'fault', description: 'the next n status requests have their connection dropped' },
  { flags: '--poll-429 <n>', key: 'poll429', parse: 'integer', group: 'fault', description: 'the next n status requests are rate-limited (429)' },
  { flags: '--download-cuts <n>', key: 'downloadCuts', parse: 'integer', group: 'fault', description: 'the next n downloads are cut off part-way' },
  { flags: '--download-cut-after <bytes>', key: 'downloadCutAfterBytes', parse: 'integer', group: 'fault', description: 'bytes sent before a download is cut (default: 10000)' },
  { flags: '--download-ignore-range', key: 'downloadIgnoreRange', parse: 'boolean', group: 'fault', description: 'the file server ignores Range requests (always sends the whole file)' },
  { flags: '--download-status <code>', key: 'downloadStatus', parse: 'integer', group: 'fault', description: 'the next file requests answer this HTTP status (e.g. 403, 404, 410)' },
  { flags: '--download-status-count <n>', key: 'downloadStatusCount', parse: 'integer', group: 'fault', description: 'how many file requests get --download-status (default: 1)' },
  { flags: '--expire-links', key: 'expireLinks', parse: 'boolean', group: 'fault', description: 'result links are already expired (the file server answers 403)' },
  { flags: '--url-as-string', key: 'urlAsString', parse: 'boolean', group: 'fault', description: 'report result URLs as a single string instead of an array (both occur in the real API)' },
  { flags: '--stall-after <bytes>', key: 'stallAfterBytes', parse: 'integer', group: 'fault', description: 'the next download sends this many bytes, then hangs without closing' },
];

/** Examples for the command's help. */
export const sandboxExamples: readonly string[] = [
  'omni-video sandbox --port 4010',
  'OMNI_VIDEO_BASE_URL=http://127.0.0.1:4010/v1 OMNI_VIDEO_API_KEY=sk-test omni-video generate "a red fox in the snow"',
  'omni-video sandbox --job-seconds 2 --fail-jobs 1 --submit-429 2',
];
