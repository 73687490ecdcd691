import type { Clock } from './clock.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After honoured; a longer one is capped to it. */
  maxRetryAfterMs: number;
  /** No retry starts once this much time has passed since the first attempt. */
  maxTotalMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
  maxTotalMs: 120_000,
};

/** Doubling backoff with up to 25 % jitter taken off, so clients spread out (as openai-node). */
export function backoffDelay(retryNumber: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.initialDelayMs * 2 ** (retryNumber - 1), policy.maxDelayMs);
  return Math.round(base * (1 - random() * 0.25));
}

/**
 * Parses Retry-After (delta seconds or an HTTP date) and retry-after-ms. Returns milliseconds,
 * or undefined when absent or unparseable, never NaN.
 */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, nowMs: number): number | undefined {
  const first = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const ms = first('retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.max(0, Number(ms));
  const value = first('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  // Every HTTP-date form starts with a day name; V8's lenient Date.parse would read "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

export interface RetryDecision {
  retry: boolean;
  /** A wait the server asked for, in ms. */
  retryAfterMs?: number | undefined;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  error: unknown;
}

export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: {
    policy: RetryPolicy;
    clock: Clock;
    decide: (error: unknown) => RetryDecision;
    onRetry?: ((event: RetryEvent) => void) | undefined;
    signal?: AbortSignal | undefined;
    random?: () => number;
  },
): Promise<T> {
  const { policy, clock } = options;
  const started = clock.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const decision = options.decide(error);
      if (!decision.retry || attempt >= policy.maxAttempts) throw error;
      const backoff = backoffDelay(attempt, policy, options.random);
      const delayMs =
        decision.retryAfterMs === undefined ? backoff : Math.min(Math.max(decision.retryAfterMs, 0), policy.maxRetryAfterMs);
      if (clock.now() - started + delayMs > policy.maxTotalMs) throw error;
      options.onRetry?.({ attempt, delayMs, error });
      await clock.sleep(delayMs, options.signal);
    }
  }
}
