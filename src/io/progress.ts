import { colorsFor, type Colors } from './colors.js';
import type { Ora } from 'ora';
import type { Task } from '../api/schemas.js';
import type { Clock, IOStreams } from '../context.js';
import { formatBytes, formatDuration } from './format.js';
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
  startedAtMs?: number;
}

/** Spinners on screen now, so that an error on any path can clear them first. */
const liveSpinners = new Set<Ora>();

/** Failures already shown with ✖, so that the final error report does not repeat them. */
const reportedFailures = new Set<string>();

export function alreadyReported(message: string): boolean {
  return reportedFailures.has(message);
}

/** Clears every live line and shows the cursor again (ora hides it while spinning). */
export function stopLiveLines(): void {
  for (const spinner of liveSpinners) spinner.stop();
  liveSpinners.clear();
}

/** The live line must fit on one row: a wrapped line cannot be redrawn in place. */
function fit(text: string, columns: number): string {
  const room = Math.max(columns - 3, 10);
  return text.length > room ? `${text.slice(0, room - 1)}…` : text;
}

/** Remaining time from the progress so far, else from the service's estimate. */
export function etaMs(task: Task, elapsedMs: number): number | undefined {
  if (task.progress > 0 && task.progress < 100) return (elapsedMs * (100 - task.progress)) / task.progress;
  if (task.estimated_time) return Math.max(0, task.estimated_time * 1000 - elapsedMs);
  return undefined;
}

function describe(task: Task, elapsedMs: number): string {
  if (task.status === 'submitting') return 'submitting';
  const parts = [stateOfStatus(task.status), `${Math.round(task.progress)}%`, formatDuration(elapsedMs)];
  const eta = task.status === 'pending' || task.status === 'processing' ? etaMs(task, elapsedMs) : undefined;
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  return parts.join(' · ');
}

/** stderr progress: an ora spinner on a terminal, plain lines at each change elsewhere. */
export async function createReporter(options: ReporterOptions): Promise<Reporter> {
  const { io, clock } = options;
  const colors = colorsFor(io);
  const started = options.startedAtMs ?? clock.now();
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
  if (!io.stderrIsTTY) return plainReporter(options, colors, started, write);

  const { default: ora } = await import('ora');
  let spinner: Ora | undefined;
  let text = '';
  let task: Task | undefined;
  let download: { received: number; total: number | undefined; since: number } | undefined;
  const render = () => {
    const elapsed = clock.now() - started;
    if (download) {
      const seconds = Math.max((clock.now() - download.since) / 1000, 0.001);
      const speed = `${formatBytes(download.received / seconds)}/s`;
      const amount = download.total ? `${formatBytes(download.received)} / ${formatBytes(download.total)}` : formatBytes(download.received);
      const percent = download.total ? ` ${Math.floor((download.received * 100) / download.total)}%` : '';
      text = `downloading${percent} · ${amount} · ${speed} · ${formatDuration(elapsed)}`;
    } else if (task) {
      text = describe(task, elapsed);
    }
    text = fit(text, io.columns);
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
      render();
    },
    downloading: (received, total) => {
      const now = clock.now();
      download = { received, total, since: download?.since ?? now };
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

function plainReporter(options: ReporterOptions, colors: Colors, started: number, write: (line: string) => void): Reporter {
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
      if (task.status === lastKey && now - lastAt < PLAIN_PROGRESS_EVERY_MS) return;
      lastKey = task.status;
      lastAt = now;
      write(`${prefix}${describe(task, now - started)}`);
    },
    downloading: (received, total) => {
      const now = clock.now();
      if (!downloadStarted) {
        downloadStarted = true;
        lastAt = now;
        write(`${prefix}downloading${total ? ` ${formatBytes(total)}` : ''}`);
        return;
      }
      if (now - lastAt < PLAIN_PROGRESS_EVERY_MS || (total !== undefined && received >= total)) return;
      lastAt = now;
      write(`${prefix}downloading ${formatBytes(received)}${total ? ` / ${formatBytes(total)}` : ''}`);
    },
    succeed: (line) => write(`${colors.green('✔')} ${line}`),
    fail: (line) => {
      reportedFailures.add(line);
      write(`${colors.red('✖')} ${line}`);
    },
    stop: () => undefined,
  };
}
