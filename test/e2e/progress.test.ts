/**
 * Progress numbers as a user meets them in a CI log (one plain line per status change): the job
 * is seen processing soon after it is accepted, and a wait resumed later counts from the job's start.
 */
import { describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';

describe.concurrent('progress lines', () => {
  it('generate looks again 1 s after its first look, so "queued" does not stay up while the job is processing', async () => {
    // Estimated at 60 s: the first adaptive step alone would be 30 s, cut to the 6 s --timeout.
    const sb = await sandbox({ jobSeconds: 60, queueSeconds: 0.3 });
    const result = await run(['generate', 'a slow heron', '--timeout', '6'], { sandbox: sb });
    expect(result.code).toBe(5);
    const looks = sb.requests.filter((request) => request.method === 'GET' && request.path.includes('/tasks/')).map((request) => request.at);
    expect(looks.length).toBeGreaterThanOrEqual(2);
    // About 1 s (a loaded machine may add some), not 6.
    expect(looks[1]! - looks[0]!).toBeGreaterThanOrEqual(900);
    expect(looks[1]! - looks[0]!).toBeLessThan(3_500);
    // So the log says "generating" within a few seconds of the start, not at the timeout.
    const generating = /^generating · \d+% · (\d+)s · ETA \S+$/m.exec(result.stderr);
    expect(generating, result.stderr).not.toBeNull();
    expect(Number(generating![1])).toBeLessThan(4);
  });

  it('download --wait of a job submitted earlier counts elapsed time from its created, not from 0', async () => {
    // Still generating when download --wait first looks, however slowly a loaded machine starts it.
    const sb = await sandbox({ jobSeconds: 10, queueSeconds: 0.2 });
    const configDir = tempDir('ov-config-');
    const id = (await run(['generate', 'a kite', '--no-wait'], { sandbox: sb, configDir })).stdout.trim();
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const result = await run(['download', id, '--wait'], { sandbox: sb, configDir, cwd: tempDir() });
    expect(result.code, result.stderr).toBe(0);
    const first = /^generating · \d+% · (\d+)s/m.exec(result.stderr);
    expect(first, result.stderr).not.toBeNull();
    expect(Number(first![1])).toBeGreaterThanOrEqual(2);
  });
  it('the download lines of a CI log carry the elapsed time, as the status lines before them do', async () => {
    const sb = await sandbox({ jobSeconds: 0.5, largeFileBytes: 3 * 1024 * 1024 });
    const result = await run(['generate', 'a kite', '-o', 'kite.mp4'], { sandbox: sb, cwd: tempDir() });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('downloading'));
    expect(lines.length, result.stderr).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toMatch(/^downloading 3\.0 MiB · \d+s$/);
    for (const line of lines.slice(1)) expect(line).toMatch(/^downloading \S+ \S+ \/ 3\.0 MiB · \d+s$/);
  });
});
