import { createInterface } from 'node:readline';
import type { OmniVideoClient } from '../api/client.js';
import { InsufficientBalanceError, InvalidRequestError } from '../api/errors.js';
import type { Context } from '../context.js';
import { readJobs } from '../store/history.js';

/** How many recent jobs with a known cost make the estimate of the next one. */
const ESTIMATE_SAMPLE = 20;
/** On a terminal, a batch submitting more jobs than this asks first (unless --yes). */
export const CONFIRM_ABOVE_JOBS = 10;
/** The balance is a courtesy before spending: a slow endpoint must not hold the batch up. */
const BALANCE_TIMEOUT_MS = 5_000;

export function formatCost(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

/** Cost per job: the mean of the newest jobs of this base URL whose cost the service reported. */
export async function recentCostPerJob(configDir: string, baseUrl: string): Promise<{ perJob: number; jobs: number } | undefined> {
  const jobs = await readJobs(configDir, {
    limit: ESTIMATE_SAMPLE,
    filter: (job) => job.cost != null && (job.base_url === undefined || job.base_url === baseUrl),
  });
  if (jobs.length === 0) return undefined;
  return { perJob: jobs.reduce((sum, job) => sum + (job.cost ?? 0), 0) / jobs.length, jobs: jobs.length };
}

/** `≈ 12` or `unknown`, for `count` jobs. */
export function estimateText(count: number, perJob: number | undefined): string {
  return perJob === undefined ? 'unknown' : `≈ ${formatCost(count * perJob)}`;
}

/** --max-cost was reached: a quota the user set, so it exits as a quota does (7). */
export class BudgetReachedError extends InsufficientBalanceError {
  constructor(message: string, hint: string) {
    super(message, { status: 0, endpoint: 'batch --max-cost', serviceMessage: undefined, body: '' }, hint);
  }
}

/**
 * --max-cost: a new job is submitted only while the cost of the jobs that ended (in this run and
 * the batch's earlier runs) plus the estimate for every job in flight, the new one included,
 * stays within the budget. When it would not, the batch waits for a job in flight to end (its
 * real cost may be less than estimated) and stops once none is left. Until some cost is known
 * there is no estimate: one job runs alone and its cost becomes the estimate; if it ends with no
 * cost reported, nothing more is submitted, as no budget can be kept without knowing what jobs cost.
 */
export class Budget {
  spent: number;
  inFlight = 0;
  stopped = false;
  /** A charged job ended with no cost reported and none known to estimate it by: the budget cannot be kept. */
  unmeasured = false;
  #perJob: number | undefined;
  #known: number[] = [];

  constructor(
    readonly max: number,
    readonly spentBefore: number,
    perJob: number | undefined,
  ) {
    this.spent = spentBefore;
    this.#perJob = perJob;
  }

  get perJob(): number | undefined {
    return this.#perJob;
  }

  decide(): 'submit' | 'wait' | 'stop' {
    const fits = !this.unmeasured && (this.#perJob === undefined ? this.inFlight === 0 && this.spent < this.max : this.spent + this.#perJob * (this.inFlight + 1) <= this.max + 1e-9);
    if (fits) return 'submit';
    return this.inFlight > 0 ? 'wait' : 'stop';
  }

  started(): void {
    this.inFlight += 1;
  }

  /** A job ended: its cost as the service reported it, else the estimate if it was submitted. */
  ended(cost: number | null | undefined, submitted: boolean): void {
    this.inFlight -= 1;
    if (cost != null) {
      this.#known.push(cost);
      // What this run's jobs cost is a better guess than older history.
      this.#perJob = this.#known.reduce((sum, value) => sum + value, 0) / this.#known.length;
      this.spent += cost;
    } else if (submitted) {
      if (this.#perJob === undefined) this.unmeasured = true;
      this.spent += this.#perJob ?? 0;
    }
  }
}

/** Says so when the estimate is more than the key's remaining balance; silent if the balance cannot be had. */
export async function warnAboutBalance(ctx: Context, client: OmniVideoClient, estimate: number, warn: (line: string) => void): Promise<void> {
  try {
    const balance = await client.balance({ signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(BALANCE_TIMEOUT_MS)]) });
    if (balance.unlimited_quota || balance.remain_balance >= estimate) return;
    warn(
      `The estimated cost (≈ ${formatCost(estimate)}) is more than the remaining balance (${formatCost(balance.remain_balance)}): ` +
        'the service will refuse the jobs beyond it (exit 7).',
    );
  } catch {
    ctx.signal.throwIfAborted();
  }
}

/** `Submit 200 jobs (≈ 200)? [y/N]` on the terminal; anything but y/yes submits nothing (exit 2). */
export async function confirmSubmission(ctx: Context, count: number, perJob: number | undefined): Promise<void> {
  ctx.io.stderr.write(`Submit ${count} jobs (${perJob === undefined ? 'cost unknown' : estimateText(count, perJob)})? [y/N] `);
  // Not in raw mode: Ctrl-C stays the process's SIGINT, which aborts ctx.signal.
  const rl = createInterface({ input: ctx.io.stdin, terminal: false });
  let answer: string;
  try {
    answer = await new Promise<string>((resolve, reject) => {
      const onAbort = () => reject(ctx.signal.reason);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      rl.once('line', (line) => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(line);
      });
      rl.once('close', () => resolve(''));
    });
  } finally {
    rl.close();
  }
  if (!/^\s*y(es)?\s*$/i.test(answer)) {
    throw new InvalidRequestError('Nothing was submitted.', { hint: 'Run it again and answer y, or add --yes to skip the question.' });
  }
}
