import type { Readable, Writable } from 'node:stream';
import type { ClientOptions, OmniVideoClient } from './api/client.js';
import type { Clock } from './api/clock.js';

export { systemClock, type Clock } from './api/clock.js';

/** The streams a command talks to, with what is known about them, as gh's IOStreams. */
export interface IOStreams {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Whether ANSI colour may be written to stderr. */
  color: boolean;
  /** stderr width in columns, for trimming the live line. */
  columns: number;
}


/** The world a command runs in: passed in, never read from globals. */
export interface Context {
  io: IOStreams;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  cwd: string;
  /** Directory holding config.json and the job history. */
  configDir: string;
  /** Aborted on Ctrl-C / SIGTERM; commands stop waiting and report the task id. */
  signal: AbortSignal;
  /** Makes the API client; loaded lazily so that --help never pays for zod and the client. */
  createClient: (options: ClientOptions) => Promise<OmniVideoClient>;
}
