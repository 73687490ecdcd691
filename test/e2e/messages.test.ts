/**
 * The words a user reads must be true and said once: retries are announced, a hint names only
 * flags the command has, the balance says what its numbers are, a flag is not named twice.
 */
import { describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';

const RETRY_LINE = /^! Rate limited by the service \(HTTP 429\): [^;\n]+; trying again in (\d+\.\d) s \(retry (\d)\)$/gm;

describe.concurrent('messages', () => {
  it('each retry wait is one stderr line, without --verbose (and none with -q)', async () => {
    const sb = await sandbox({ jobSeconds: 0.2, faults: { submit429: 2 } });
    const result = await run(['generate', 'a red apple', '--poll-interval', '0.5'], { sandbox: sb, cwd: tempDir() });
    expect(result.code, result.stderr).toBe(0);
    // Retry-After: 1, honoured, and said.
    expect([...result.stderr.matchAll(RETRY_LINE)].map((match) => [match[1], match[2]])).toEqual([
      ['1.0', '1'],
      ['1.0', '2'],
    ]);

    const polls = await sandbox({ jobSeconds: 0.2, faults: { poll429: 1, retryAfter: '0' } });
    const status = await run(['generate', 'a red apple', '--poll-interval', '0.5', '-q'], { sandbox: polls, cwd: tempDir() });
    expect(status.code, status.stderr).toBe(0);
    expect(polls.requests.filter((request) => request.path.includes('/tasks/')).length).toBeGreaterThan(1);
    expect(status.stderr).toBe('');
  });

  it('429 beyond retries: the hint names nothing generate does not have', async () => {
    const sb = await sandbox({ faults: { submit429: 10, retryAfter: '0' } });
    const result = await run(['generate', 'a red apple'], { sandbox: sb });
    expect(result.code).toBe(6);
    expect(result.stderr.match(RETRY_LINE)).toHaveLength(4);
    expect(result.stderr).toMatch(/✖ Rate limited by the service \(HTTP 429\): [^\n]+\n {2}Wait a minute, then run the same command again\.\n$/);
    expect(result.stderr).not.toContain('--concurrency');
  });

  it('balance names what its numbers are: balance, as the API calls it', async () => {
    const sb = await sandbox({ balance: 12.5 });
    const key = await run(['balance'], { sandbox: sb });
    expect(key.code, key.stderr).toBe(0);
    expect(key.stdout).toBe('remaining balance 12.5\nused balance 0\n');
    const unlimited = await run(['balance', '--user'], { sandbox: await sandbox({ unlimited: true }) });
    expect(unlimited.stdout).toMatch(/^remaining balance unlimited\nused balance \d+(\.\d+)?\n$/);
  });

  it('a bad flag value is refused naming the flag once', async () => {
    for (const [args, message] of [
      [['jobs', '--limit', 'many'], '--limit takes a whole number'],
      [['generate', 'x', '--timeout', '0'], '--timeout takes a number of seconds (at least 1), or a duration such as 90s, 5m or 1h'],
      [['batch', '-', '--concurrency', '0'], '--concurrency takes a whole number from 1 to 64'],
    ] as const) {
      const result = await run([...args], { stdin: 'x\n' });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toBe(`✖ ${message}\n`);
    }
  });
});
