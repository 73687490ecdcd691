import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultRetryPolicy, parseRetryAfter, withRetry } from '../../src/api/retry.js';
import { FakeClock } from '../helpers/harness.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const retryAll = () => ({ retry: true });

describe('backoffDelay', () => {
  it('doubles from 500 ms up to the cap, with no jitter when random() is 0', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, defaultRetryPolicy, () => 0))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('takes at most 25 % off for jitter', () => {
    expect([1, 2, 3].map((n) => backoffDelay(n, defaultRetryPolicy, () => 0.999999))).toEqual([375, 750, 1500]);
    expect(backoffDelay(2, defaultRetryPolicy, () => 0.5)).toBe(875);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta seconds, fractions included', () => {
    expect(parseRetryAfter({ 'retry-after': '3' }, NOW)).toBe(3000);
    expect(parseRetryAfter({ 'retry-after': ' 1.5 ' }, NOW)).toBe(1500);
    expect(parseRetryAfter({ 'retry-after': '0' }, NOW)).toBe(0);
  });

  it('reads an HTTP date as the time left until then, and a past date as 0', () => {
    expect(parseRetryAfter({ 'retry-after': new Date(NOW + 7000).toUTCString() }, NOW)).toBe(7000);
    expect(parseRetryAfter({ 'retry-after': new Date(NOW - 7000).toUTCString() }, NOW)).toBe(0);
  });

  it('prefers retry-after-ms, and takes the first of repeated headers', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '9' }, NOW)).toBe(250);
    expect(parseRetryAfter({ 'retry-after': ['2', '9'] }, NOW)).toBe(2000);
  });

  it('is undefined, never NaN, for absent or garbage values', () => {
    for (const value of [undefined, '', 'soon', '-5', '1e3', 'NaN', 'Thu, 99 Foo 2026']) {
      expect(parseRetryAfter({ 'retry-after': value }, NOW), String(value)).toBeUndefined();
    }
    expect(parseRetryAfter({ 'retry-after-ms': 'abc' }, NOW)).toBeUndefined();
  });
});

describe('withRetry', () => {
  it('sleeps 500, 1000, 2000, 4000 ms between five attempts, then gives up with the last error', async () => {
    const clock = new FakeClock(NOW);
    let calls = 0;
    const promise = withRetry(
      async () => {
        calls += 1;
        throw new Error(`failure ${calls}`);
      },
      { policy: defaultRetryPolicy, clock, decide: retryAll, random: () => 0 },
    );
    await expect(promise).rejects.toThrow('failure 5');
    expect(calls).toBe(5);
    expect(clock.sleeps).toEqual([500, 1000, 2000, 4000]);
  });

  it('honours the server’s wait exactly, and caps a long one', async () => {
    const clock = new FakeClock(NOW);
    let calls = 0;
    const waits = [3000, 10 * 60_000];
    const result = await withRetry(
      async () => {
        calls += 1;
        if (calls <= waits.length) throw new Error('429');
        return 'ok';
      },
      { policy: defaultRetryPolicy, clock, decide: () => ({ retry: true, retryAfterMs: waits[calls - 1] }), random: () => 0 },
    );
    expect(result).toBe('ok');
    expect(clock.sleeps).toEqual([3000, defaultRetryPolicy.maxRetryAfterMs]);
  });

  it('does not retry what the decision refuses', async () => {
    const clock = new FakeClock(NOW);
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls += 1;
          throw new Error('400');
        },
        { policy: defaultRetryPolicy, clock, decide: () => ({ retry: false }) },
      ),
    ).rejects.toThrow('400');
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('starts no retry that would end past the total time budget', async () => {
    const clock = new FakeClock(NOW);
    const policy = { ...defaultRetryPolicy, maxAttempts: 100, maxTotalMs: 5000 };
    await expect(
      withRetry(
        async () => {
          throw new Error('down');
        },
        { policy, clock, decide: retryAll, random: () => 0 },
      ),
    ).rejects.toThrow('down');
    // 500 + 1000 + 2000 = 3500; another 4000 would pass 5000.
    expect(clock.sleeps).toEqual([500, 1000, 2000]);
  });

  it('reports each retry before sleeping, and stops at once when aborted', async () => {
    const clock = new FakeClock(NOW);
    const controller = new AbortController();
    const events: number[] = [];
    const promise = withRetry(
      async (attempt) => {
        if (attempt === 2) controller.abort(new Error('interrupted'));
        throw new Error('down');
      },
      { policy: defaultRetryPolicy, clock, decide: retryAll, random: () => 0, signal: controller.signal, onRetry: (event) => events.push(event.delayMs) },
    );
    await expect(promise).rejects.toThrow('down');
    expect(events).toEqual([500]);
    expect(clock.sleeps).toEqual([500]);
  });
});
