import { describe, expect, it } from 'vitest';
import { inShard, parseBatch, parseShard, slugify } from '../../src/commands/batch-input.js';
import { ConcurrencyLimiter, type LimitChange } from '../../src/commands/batch-limiter.js';
import { FakeClock } from '../helpers/harness.js';

describe('batch input', () => {
  it('slugs prompts: lowercase a-z0-9 and dashes, accents folded, at most 40 characters cut at a word', () => {
    expect(slugify('A Red Fox, running through SNOW!')).toBe('a-red-fox-running-through-snow');
    expect(slugify('Café crème / ../../etc')).toBe('cafe-creme-etc');
    expect(slugify('一只猫')).toBe('');
    const long = slugify('the quick brown fox jumps over the lazy dog and keeps on running far away');
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toBe('the-quick-brown-fox-jumps-over-the-lazy');
  });

  it('names files <NNN>-<slug>.mp4 from the line number, "clip" when the prompt has no latin letters', () => {
    const { jobs, format } = parseBatch('a fox\n\n一只猫\n', '/out');
    expect(format).toBe('text');
    expect(jobs.map((job) => [job.line, job.output])).toEqual([
      [1, '/out/001-a-fox.mp4'],
      [3, '/out/003-clip.mp4'],
    ]);
  });

  it('keys jobs by content, so an edit elsewhere in the file keeps them; a repeated line is a second job', () => {
    const before = parseBatch('a fox\na whale\na fox\n', '/out').jobs;
    const after = parseBatch('# new comment\na fox\na whale\na fox\n', '/out').jobs;
    expect(after.map((job) => job.key)).toEqual(before.map((job) => job.key));
    expect(new Set(before.map((job) => job.key)).size).toBe(3);
    expect(before[2]!.key).toBe(`${before[0]!.key}#2`);
  });

  it('keys JSON lines by their content whatever the order of fields, or by their id', () => {
    const a = parseBatch('{"prompt":"x","aspect_ratio":"9:16"}', '/out').jobs[0]!;
    const b = parseBatch('{"aspect_ratio":"9:16", "prompt":"x"}', '/out').jobs[0]!;
    expect(a.key).toBe(b.key);
    const named = parseBatch('{"prompt":"x","id":"intro"}\n{"prompt":"y","id":"intro"}', '/out');
    expect(named.jobs.map((job) => [job.key, job.id])).toEqual([['id:intro', 'intro']]);
    expect(named.problems).toEqual([{ line: 2, message: "id 'intro' is used by an earlier line" }]);
  });

  it('refuses outputs that leave the output directory or are taken, and a prompt of "-"', () => {
    const { problems, jobs } = parseBatch(
      [
        '{"prompt":"a","output":"/etc/x.mp4"}',
        '{"prompt":"b","output":"sub/../../x.mp4"}',
        '{"prompt":"c","output":"004-d.mp4"}',
        '{"prompt":"d"}',
        '{"prompt":"-"}',
        '{"prompt":"f","output":".omni-video-batch.jsonl"}',
      ].join('\n'),
      '/out',
    );
    expect(problems.map((problem) => problem.line)).toEqual([1, 2, 4, 5, 6]);
    expect(problems[2]!.message).toBe("output /out/004-d.mp4 is already line 3's");
    expect(jobs.map((job) => [job.line, job.output])).toEqual([[3, '/out/004-d.mp4']]);
  });

  it('splits into shards by key: every job in exactly one, the same split every time', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(parseShard('0/4')).toBeUndefined();
    expect(parseShard('5/4')).toBeUndefined();
    expect(parseShard('two')).toBeUndefined();
    const { jobs } = parseBatch(Array.from({ length: 200 }, (_, index) => `prompt ${index}`).join('\n'), '/out');
    const sizes = [1, 2, 3, 4].map((index) => jobs.filter((job) => inShard(job.key, { index, count: 4 })).length);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(200);
    expect(Math.min(...sizes)).toBeGreaterThan(30);
    expect(jobs.every((job) => [1, 2, 3, 4].filter((index) => inShard(job.key, { index, count: 4 })).length === 1)).toBe(true);
    expect(inShard('id:intro', { index: 1, count: 1 })).toBe(true);
  });
});

describe('ConcurrencyLimiter (AIMD)', () => {
  it('halves on 429 once per burst, waits out Retry-After, then adds one per full round of successes', async () => {
    const clock = new FakeClock();
    const changes: LimitChange[] = [];
    const limiter = new ConcurrencyLimiter(8, clock, (change) => changes.push(change), 1_000);
    limiter.rateLimited(2_000);
    limiter.rateLimited(2_000);
    expect(limiter.limit).toBe(4);
    await limiter.acquire();
    expect(clock.sleeps).toEqual([2_000]);
    limiter.release();

    // A later 429 after a success halves again; one within the same burst does not.
    limiter.succeeded();
    limiter.rateLimited();
    expect(limiter.limit).toBe(2);
    for (let index = 0; index < 2; index++) limiter.succeeded();
    expect(limiter.limit).toBe(3);
    for (let index = 0; index < 3 + 4 + 5 + 6 + 7; index++) limiter.succeeded();
    expect(limiter.limit).toBe(8);
    limiter.succeeded();
    expect(limiter.limit).toBe(8);
    expect(changes.map((change) => `${change.from}->${change.to}`)).toEqual(['8->4', '4->2', '2->3', '3->4', '4->5', '5->6', '6->7', '7->8']);
  });

  it('never lets more than the limit hold a slot; a lowered limit applies as slots are released', async () => {
    const limiter = new ConcurrencyLimiter(3, new FakeClock());
    for (let index = 0; index < 3; index++) await limiter.acquire();
    let fourth = false;
    const waiting = limiter.acquire().then(() => (fourth = true));
    await Promise.resolve();
    expect(fourth).toBe(false);
    limiter.rateLimited();
    expect(limiter.limit).toBe(1);
    limiter.release();
    limiter.release();
    await Promise.resolve();
    expect(fourth).toBe(false);
    limiter.release();
    await waiting;
    expect(limiter.active).toBe(1);
  });

  it('stops waiting when aborted', async () => {
    const limiter = new ConcurrencyLimiter(1, new FakeClock());
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});
