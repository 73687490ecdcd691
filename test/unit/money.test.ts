import { describe, expect, it } from 'vitest';
import { MODEL } from '../../src/api/schemas.js';
import { Budget } from '../../src/commands/batch-cost.js';
import { isUncertain, isUnfinished, requestFingerprint } from '../../src/commands/same-request.js';
import { downloadCommand, shellQuote } from '../../src/commands/shared.js';
import type { Job } from '../../src/store/history.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');

function job(fields: Partial<Job>): Job {
  return { job: 'j', at: '', created_at: '2026-06-01T11:57:00Z', updated_at: '', last_event: 'submitted', ...fields };
}

describe('the same request', () => {
  it('has one fingerprint however its fields are ordered, and another for any other body', async () => {
    const body = { model: MODEL, prompt: 'a whale', aspect_ratio: '16:9', resolution: '720p' } as const;
    const reordered = { resolution: '720p', aspect_ratio: '16:9', prompt: 'a whale', model: MODEL } as const;
    expect(await requestFingerprint(reordered)).toBe(await requestFingerprint(body));
    expect(await requestFingerprint(body)).toMatch(/^[0-9a-f]{64}$/);
    expect(await requestFingerprint({ ...body, aspect_ratio: '9:16' })).not.toBe(await requestFingerprint(body));
    expect(await requestFingerprint({ ...body, video_urls: ['data:video/mp4;base64,AAAA'] })).not.toBe(await requestFingerprint({ ...body, video_urls: ['data:video/mp4;base64,AAAB'] }));
  });

  it('is not ended while queued, running, interrupted or timed out, or completed with its download cut short', () => {
    const ids = { task_id: 'task_1' };
    expect(isUnfinished(job({ ...ids, status: 'submitted' }), NOW)).toBe(true);
    expect(isUnfinished(job({ ...ids, status: 'processing', last_event: 'timeout' }), NOW)).toBe(true);
    expect(isUnfinished(job({ ...ids, status: 'pending', last_event: 'interrupted' }), NOW)).toBe(true);
    expect(isUnfinished(job({ ...ids, status: 'completed', last_event: 'interrupted', expires_at: NOW / 1000 + 60 }), NOW)).toBe(true);
    expect(isUnfinished(job({ ...ids, status: 'completed', last_event: 'status' }), NOW)).toBe(true);
  });

  it('has ended once saved, handed over as a link, failed, cancelled, or its link expired; without a task id it is not resumable', () => {
    const ids = { task_id: 'task_1' };
    expect(isUnfinished(job({ ...ids, status: 'completed', last_event: 'saved', file: '/x.mp4' }), NOW)).toBe(false);
    expect(isUnfinished(job({ ...ids, status: 'completed', last_event: 'completed' }), NOW)).toBe(false);
    expect(isUnfinished(job({ ...ids, status: 'failed', last_event: 'failed' }), NOW)).toBe(false);
    expect(isUnfinished(job({ ...ids, status: 'cancelled' }), NOW)).toBe(false);
    expect(isUnfinished(job({ ...ids, status: 'completed', last_event: 'interrupted', expires_at: NOW / 1000 - 1 }), NOW)).toBe(false);
    expect(isUnfinished(job({ status: 'uncertain' }), NOW)).toBe(false);
  });

  it('is uncertain when no task id came back: recorded so, or the process died between its first record and the answer', () => {
    expect(isUncertain(job({ status: 'uncertain', last_event: 'uncertain' }))).toBe(true);
    expect(isUncertain(job({ last_event: 'created' }))).toBe(true);
    expect(isUncertain(job({ status: 'rejected', last_event: 'rejected' }))).toBe(false);
    expect(isUncertain(job({ task_id: 'task_1', last_event: 'created' }))).toBe(false);
  });
});

describe('--max-cost budget', () => {
  it('submits while ended cost plus the estimate for every job in flight fits; waits while jobs run; stops when none does', () => {
    const budget = new Budget(5, 0, 1);
    for (let index = 0; index < 5; index++) {
      expect(budget.decide()).toBe('submit');
      budget.started();
    }
    expect(budget.decide()).toBe('wait');
    for (let index = 0; index < 5; index++) budget.ended(1, true);
    expect(budget.spent).toBe(5);
    expect(budget.decide()).toBe('stop');
  });

  it('with no estimate, runs one job alone and learns from its cost; what earlier runs spent counts', () => {
    const budget = new Budget(4, 1, undefined);
    expect(budget.decide()).toBe('submit');
    budget.started();
    expect(budget.decide()).toBe('wait');
    budget.ended(1.5, true);
    expect(budget.perJob).toBe(1.5);
    expect(budget.spent).toBe(2.5);
    expect(budget.decide()).toBe('submit');
    budget.started();
    expect(budget.decide()).toBe('wait');
    budget.ended(undefined, true);
    expect(budget.spent).toBe(4);
    expect(budget.decide()).toBe('stop');
  });

  it('a job requeued before it was accepted costs nothing', () => {
    const budget = new Budget(1, 0, 1);
    budget.started();
    budget.ended(undefined, false);
    expect(budget.spent).toBe(0);
    expect(budget.decide()).toBe('submit');
  });
});

describe('commands to run next', () => {
  it('quote for a POSIX shell only what needs it', () => {
    expect(shellQuote('clips/whale-1.mp4')).toBe('clips/whale-1.mp4');
    expect(shellQuote('my clips/a.mp4')).toBe("'my clips/a.mp4'");
    expect(shellQuote("whale's.mp4")).toBe("'whale'\\''s.mp4'");
    expect(shellQuote('$HOME`x`')).toBe("'$HOME`x`'");
    expect(shellQuote('')).toBe("''");
  });

  it('keep -o, --force and a --base-url flag, in that order', () => {
    expect(downloadCommand('task_1', {}, true)).toBe('omni-video download task_1 --wait');
    expect(downloadCommand('task_1', { output: 'a b.mp4', force: true, baseUrl: 'http://127.0.0.1:4010/v1' }, false)).toBe(
      "omni-video download task_1 -o 'a b.mp4' --force --base-url http://127.0.0.1:4010/v1",
    );
  });
});
