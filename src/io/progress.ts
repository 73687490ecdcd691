import { colorsFor, type Colors } from './colors.js';
import type { Ora } from 'ora';
import type { Task } from '../api/schemas.js';
import type { Clock, IOStreams } from '../context.js';
import { cut, formatBytes, formatDuration } from './format.js';
import { stateOfStatus } from './job-states.js';

/** Plain-mode lines for the same phase come at most this often. */
export const PLAIN_PROGRESS_EVERY_MS = 10_000;

export interface Reporter {
  /** A line for people, above the live line. */
  info(text: string): void;
  warn(text: string): void;
  update(task: Task): void;
  downloading(received: number, total: number | undefined): void;
  succeed(text: string): void;
  fail(text: string): void;
  /** Clears the live line and restores the cursor; safe to call twice. */
  stop(): void;
}

export interface ReporterOptions {
  io: IOStreams;
  clock: Clock;
  quiet?: boolean;
  /** Prefix each plain line with the task id (several jobs share one log). */
  label?: string;
  /** When the job started; else the task's `created` once known, else when the reporter was made. */
  startedAtMs?: number;
}

/** Spinners on screen now, so that an error on any path can clear them first. */
const liveSpinners = new Set<Ora>();

/** Failures already shown with ✖, so that the final error report does not repeat them. */
const reportedFailures = new Set<string>();

export function alreadyReported(message: string): boolean {
  return reportedFailures.has(message);
}

/** Writes a line for people above whatever live line is on screen, which is then drawn again. */
export function noteAboveLiveLines(io: IOStreams, line: string): void {
  for (const spinner of liveSpinners) spinner.clear();
  io.stderr.write(`${line}\n`);
  for (const spinner of liveSpinners) spinner.render();
}

/** Clears every live line and shows the cursor again (ora hides it while spinning). */
export function stopLiveLines(): void {
  for (const spinner of liveSpinners) spinner.stop();
  liveSpinners.clear();
}

/** The live line must fit on one row: a wrapped line cannot be redrawn in place. */
function fit(text: string, columns: number): string {
  return cut(text, Math.max(columns - 3, 10));
}

/** Below this much progress, a job's rate says little (2 % after a second of queueing is not "49 s left"). */
const TRUSTED_PROGRESS = 5;

/** Remaining time from the progress so far once there is enough of it, else from the service's estimate. */
export function etaMs(task: Task, elapsedMs: number): number | undefined {
  const fromProgress = task.progress > 0 && task.progress < 100 ? (elapsedMs * (100 - task.progress)) / task.progress : undefined;
  if (fromProgress !== undefined && (task.progress >= TRUSTED_PROGRESS || !task.estimated_time)) return fromProgress;
  if (task.estimated_time) return Math.max(0, task.estimated_time * 1000 - elapsedMs);
  return fromProgress;
}

/**
 * The job's elapsed time and ETA, as the progress line shows them. Elapsed counts from the job's
 * start: for a wait resumed later (download --wait, status --wait), the task's `created`. The ETA
 * is estimated at each update and counts down from there until the next one: time passing without
 * news never makes it grow.
 */
class JobTiming {
  #startedAtMs: number;
  readonly #fixedStart: boolean;
  #estimate: { remainingMs: number; atMs: number } | undefined;

  constructor(
    private readonly clock: Clock,
    startedAtMs: number | undefined,
  ) {
    this.#startedAtMs = startedAtMs ?? clock.now();
    this.#fixedStart = startedAtMs !== undefined;
  }

  seen(task: Task): void {
    const now = this.clock.now();
    // `created` is whole seconds on the service's clock: taken only when it is earlier by more than
    // that second, as for a wait resumed later; a job submitted just now keeps our own start.
    if (!this.#fixedStart && task.created && task.created * 1000 < this.#startedAtMs - 1000) this.#startedAtMs = task.created * 1000;
    const remaining = task.status === 'pending' || task.status === 'processing' ? etaMs(task, now - this.#startedAtMs) : undefined;
    this.#estimate = remaining === undefined ? undefined : { remainingMs: remaining, atMs: now };
  }

  elapsedMs(): number {
    return this.clock.now() - this.#startedAtMs;
  }

  etaMs(): number | undefined {
    return this.#estimate && Math.max(0, this.#estimate.remainingMs - (this.clock.now() - this.#estimate.atMs));
  }
}

function describe(task: Task, timing: JobTiming): string {
  if (task.status === 'submitting') return 'submitting';
  const parts = [stateOfStatus(task.status), `${Math.round(task.progress)}%`, formatDuration(timing.elapsedMs())];
  const eta = timing.etaMs();
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  return parts.join(' · ');
}

/** The transfer's speed once there is a second of it to measure; before that, none is shown. */
function speedOf(download: { received: number; sinceBytes: number; sinceMs: number }, nowMs: number): string | undefined {
  const seconds = (nowMs - download.sinceMs) / 1000;
  return seconds < 1 ? undefined : `${formatBytes((download.received - download.sinceBytes) / seconds)}/s`;
}

/**
 * stderr progress: an ora spinner on a terminal, plain lines at each change elsewhere, and also on
 * a terminal that reports 0 columns (ora divides by the width to find the rows to clear, and then
 * clears rows without end).
 */
export async function createReporter(options: ReporterOptions): Promise<Reporter> {
  const { io, clock } = options;
  const colors = colorsFor(io);
  const timing = new JobTiming(clock, options.startedAtMs);
  const write = (line: string) => io.stderr.write(`${line}\n`);
  if (options.quiet) {
    return {
      info: () => undefined,
      warn: (text) => write(`${colors.yellow('!')} ${text}`),
      update: () => undefined,
      downloading: () => undefined,
      succeed: () => undefined,
      fail: (text) => {
        reportedFailures.add(text);
        write(`${colors.red('✖')} ${text}`);
      },
      stop: () => undefined,
    };
  }
  if (!io.stderrIsTTY || io.columns <= 0) return plainReporter(options, colors, timing, write);

  const { default: ora } = await import('ora');
  let spinner: Ora | undefined;
  let text = '';
  let task: Task | undefined;
  let download: { received: number; total: number | undefined; sinceBytes: number; sinceMs: number } | undefined;
  const render = () => {
    if (download) {
      const speed = speedOf(download, clock.now());
      const amount = download.total ? `${formatBytes(download.received)} / ${formatBytes(download.total)}` : formatBytes(download.received);
      const percent = download.total ? ` ${Math.floor((download.received * 100) / download.total)}%` : '';
      text = [`downloading${percent}`, amount, ...(speed ? [speed] : []), formatDuration(timing.elapsedMs())].join(' · ');
    } else if (task) {
      text = describe(task, timing);
    }
    // The width now: a terminal made narrower since the start would wrap a line cut to the old one.
    text = fit(text, (io.stderr as NodeJS.WriteStream).columns || io.columns);
    if (!spinner) {
      // discardStdin would put stdin in raw mode (Ctrl-C then never reaches us as SIGINT).
      spinner = ora({ text, stream: io.stderr, discardStdin: false, hideCursor: true, color: io.color ? 'cyan' : false, isEnabled: true }).start();
      liveSpinners.add(spinner);
    } else {
      spinner.text = text;
    }
  };
  const ticker = setInterval(render, 1000);
  ticker.unref();
  const persist = (symbol: string, line: string) => {
    clearInterval(ticker);
    if (spinner) {
      spinner.stopAndPersist({ symbol, text: line });
      liveSpinners.delete(spinner);
      spinner = undefined;
    } else {
      write(`${symbol} ${line}`);
    }
  };
  return {
    info: (line) => {
      if (spinner) spinner.clear();
      write(line);
      spinner?.render();
    },
    warn: (line) => {
      if (spinner) spinner.clear();
      write(`${colors.yellow('!')} ${line}`);
      spinner?.render();
    },
    update: (next) => {
      task = next;
      timing.seen(next);
      render();
    },
    downloading: (received, total) => {
      // Measured from the first byte count seen: a resumed transfer's earlier bytes are no speed.
      download = { received, total, sinceBytes: download?.sinceBytes ?? received, sinceMs: download?.sinceMs ?? clock.now() };
      render();
    },
    succeed: (line) => persist(colors.green('✔'), line),
    fail: (line) => {
      reportedFailures.add(line);
      persist(colors.red('✖'), line);
    },
    stop: () => {
      clearInterval(ticker);
      if (spinner) liveSpinners.delete(spinner);
      spinner?.stop();
      spinner = undefined;
    },
  };
}

function plainReporter(options: ReporterOptions, colors: Colors, timing: JobTiming, write: (line: string) => void): Reporter {
  const { clock } = options;
  const prefix = options.label ? `${options.label}: ` : '';
  let lastKey = '';
  let lastAt = Number.NEGATIVE_INFINITY;
  let downloadStarted = false;
  return {
    info: (line) => write(line),
    warn: (line) => write(`${colors.yellow('!')} ${line}`),
    update: (task) => {
      const now = clock.now();
      // A new status always gets a line; progress within one status at most every 10 s.
      timing.seen(task);
      if (task.status === lastKey && now - lastAt < PLAIN_PROGRESS_EVERY_MS) return;
      lastKey = task.status;
      lastAt = now;
      write(`${prefix}${describe(task, timing)}`);
    },
    downloading: (received, total) => {
      const now = clock.now();
      if (!downloadStarted) {
        downloadStarted = true;
        lastAt = now;
        write(`${prefix}downloading${total ? ` ${formatBytes(total)}` : ''} · ${formatDuration(timing.elapsedMs())}`);
        return;
      }
      if (now - lastAt < PLAIN_PROGRESS_EVERY_MS || (total !== undefined && received >= total)) return;
      lastAt = now;
      write(`${prefix}downloading ${formatBytes(received)}${total ? ` / ${formatBytes(total)}` : ''} · ${formatDuration(timing.elapsedMs())}`);
    },
    succeed: (line) => write(`${colors.green('✔')} ${line}`),
    fail: (line) => {
      reportedFailures.add(line);
      write(`${colors.red('✖')} ${line}`);
    },
    stop: () => undefined,
  };
}
