import type { Clock } from '../context.js';

export interface LimitChange {
  from: number;
  to: number;
  reason: 'rate-limited' | 'recovered';
}

/**
 * How many jobs may be in flight at once, as TCP's congestion window (AIMD): halved when the
 * service answers 429, one more after `limit` submissions in a row went through, never above
 * the ceiling (--concurrency). Several 429s at once count once: halving again needs a
 * success or `cooldownMs` in between.
 */
export class ConcurrencyLimiter {
  #limit: number;
  #active = 0;
  #successes = 0;
  #lastDecreaseAt = Number.NEGATIVE_INFINITY;
  #successSinceDecrease = true;
  #pausedUntil = 0;
  #waiters: (() => void)[] = [];

  constructor(
    readonly ceiling: number,
    private readonly clock: Clock,
    private readonly onChange: (change: LimitChange) => void = () => undefined,
    private readonly cooldownMs = 1_000,
  ) {
    this.#limit = ceiling;
  }

  get limit(): number {
    return this.#limit;
  }

  get active(): number {
    return this.#active;
  }

  /** Waits for a free slot (and the end of any pause); the caller must release it. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const pause = this.#pausedUntil - this.clock.now();
      if (pause > 0) {
        await this.clock.sleep(pause, signal);
        continue;
      }
      if (this.#active < this.#limit) {
        this.#active += 1;
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  release(): void {
    this.#active -= 1;
    this.#wake();
  }

  /** A submission went through. */
  succeeded(): void {
    this.#successSinceDecrease = true;
    this.#successes += 1;
    if (this.#limit < this.ceiling && this.#successes >= this.#limit) {
      this.#successes = 0;
      this.#set(this.#limit + 1, 'recovered');
    }
  }

  /** The service said 429; `retryAfterMs`, when the batch must wait before submitting anything. */
  rateLimited(retryAfterMs?: number): void {
    const now = this.clock.now();
    if (retryAfterMs !== undefined) this.#pausedUntil = Math.max(this.#pausedUntil, now + retryAfterMs);
    if (!this.#successSinceDecrease && now - this.#lastDecreaseAt < this.cooldownMs) return;
    this.#lastDecreaseAt = now;
    this.#successSinceDecrease = false;
    this.#successes = 0;
    this.#set(Math.max(1, Math.floor(this.#limit / 2)), 'rate-limited');
  }

  #set(limit: number, reason: LimitChange['reason']): void {
    if (limit === this.#limit) return;
    const from = this.#limit;
    this.#limit = limit;
    this.onChange({ from, to: limit, reason });
    this.#wake();
  }

  /** Every waiter checks the limit again, in the order they came; those still over it wait on. */
  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
