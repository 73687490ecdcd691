/** Issue 12, item 2: `jobs --refresh` and `jobs --watch` show what the service says now. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/server.js';
import { BIN, cliEnv, run, sandbox, tempDir } from '../helpers/harness.js';

interface JobJson {
  task_id?: string;
  status?: string;
  progress?: number;
  expires_at?: number | null;
  url?: string;
  cost?: number;
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const statusRequests = (sb: Sandbox, from: number) =>
  sb.requests
    .slice(from)
    .filter((request) => request.server === 'api')
    .map((request) => `${request.method} ${request.path.split('?')[0]}`)
    .sort();

describe.concurrent('jobs --refresh and --watch', () => {
  it('--refresh after the jobs ended unwatched: one status request per unfinished job, states and link expiry updated and recorded', async () => {
    const sb = await sandbox({ jobSeconds: 1 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    expect((await run(['generate', 'saved already'], { sandbox: sb, cwd, configDir })).code).toBe(0);
    const left: string[] = [];
    for (const prompt of ['left alone one', 'left alone two']) left.push((await run(['generate', prompt, '--no-wait'], { sandbox: sb, cwd, configDir })).stdout.trim());
    const stale = await run(['jobs', '--json'], { configDir });
    expect((JSON.parse(stale.stdout) as JobJson[]).map((job) => job.status)).toEqual(['submitted', 'submitted', 'completed']);
    await until(() => left.every((id) => sb.statusOf(id) === 'completed'), 'the jobs to end');

    const before = sb.requests.length;
    const refreshed = await run(['jobs', '--refresh', '--json'], { sandbox: sb, configDir });
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(statusRequests(sb, before)).toEqual(left.map((id) => `GET /v1/tasks/${id}`).sort());
    const jobs = JSON.parse(refreshed.stdout) as JobJson[];
    expect(jobs.map((job) => job.status)).toEqual(['completed', 'completed', 'completed']);
    for (const job of jobs.slice(0, 2)) {
      expect(job).toMatchObject({ progress: 100, cost: 1 });
      // About 24 h after the job completed, as the service said.
      expect(job.expires_at! - Date.now() / 1000).toBeGreaterThan(86_400 - 60);
      expect(job.expires_at! - Date.now() / 1000).toBeLessThanOrEqual(86_400);
      expect(job.url).toContain(`/files/${job.task_id}.mp4`);
    }

    // Written to the history: a plain `jobs` now says the same, asking nobody.
    const afterwards = sb.requests.length;
    const human = await run(['jobs'], { configDir });
    expect(sb.requests.length).toBe(afterwards);
    const lines = human.stdout.trim().split('\n');
    for (const [index, id] of left.toReversed().entries()) {
      expect(lines[index]).toMatch(new RegExp(`  ${id}  completed  "left alone (one|two)"  cost 1 \\(10 credits\\)  link expires \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`));
    }
    expect(human.stderr).toBe('3 job(s) · cost 3 (30 credits)\n');

    // Nothing left to ask: another --refresh sends nothing.
    const again = await run(['jobs', '--refresh'], { sandbox: sb, configDir });
    expect(again.code).toBe(0);
    expect(sb.requests.length).toBe(afterwards);
  });

  it('--refresh shows progress of a job still running; --status picks the list it refreshes', async () => {
    const sb = await sandbox({ jobSeconds: 30, queueSeconds: 0 });
    const configDir = tempDir('ov-config-');
    const id = (await run(['generate', 'a long one', '--no-wait'], { sandbox: sb, configDir })).stdout.trim();
    sb.tasks.get(id)!.createdMs -= 15_000;
    const refreshed = await run(['jobs', '--refresh', '--status', 'submitted'], { sandbox: sb, configDir });
    expect(refreshed.code, refreshed.stderr).toBe(0);
    const shown = new RegExp(`  ${id}  generating (\\d+)%  "a long one"  cost 1 \\(10 credits\\)\\n$`).exec(refreshed.stdout);
    expect(shown, refreshed.stdout).not.toBeNull();
    // Half way through when it was asked, later on a slow machine; never the 0 % last recorded.
    expect(Number(shown![1])).toBeGreaterThanOrEqual(49);
    expect(Number(shown![1])).toBeLessThan(100);
  });

  it('--watch on a pseudo-terminal: in CI, plain lines without an escape; a terminal that reports no height is not cut to "… and 0 more"', async () => {
    const sb = await sandbox({ jobSeconds: 3, queueSeconds: 0.3 });
    // util-linux `script` gives a pty of 0 rows (and here 100 columns); stdin closed. Each run
    // watches a job of its own, still running when it starts.
    const watched = async (ci: boolean) => {
      const configDir = tempDir('ov-config-');
      const id = (await run(['generate', 'a watched heron', '--no-wait'], { sandbox: sb, configDir })).stdout.trim();
      const env = { ...cliEnv({ sandbox: sb, configDir }), CI: ci ? 'true' : undefined, TERM: 'xterm-256color' };
      const child = promisify(execFile)('script', ['-qec', `stty cols 100; '${process.execPath}' '${BIN}' jobs --watch`, '/dev/null'], { env });
      child.child.stdin?.end();
      return { id, output: (await child).stdout.replaceAll('\r\n', '\n') };
    };
    const [ci, live] = await Promise.all([watched(true), watched(false)]);
    expect(ci.output).not.toContain('\x1b');
    expect(ci.output).toContain(`${ci.id}  completed  "a watched heron"`);
    expect(live.output).toContain(`${live.id}  completed  "a watched heron"`);
    expect(live.output, 'redrawn in place').toContain('\x1b[?7l');
    expect(live.output).not.toContain('more, listed when all have ended');
  });

  it('--watch off a terminal: the list, then a line per change, until every job has ended; with --json one array at the end', async () => {
    // Long enough that both jobs still run when a loaded machine has started two generates and the watch.
    const sb = await sandbox({ jobSeconds: 6, queueSeconds: 1 });
    const cwd = tempDir();
    const configDir = tempDir('ov-config-');
    const ids: string[] = [];
    for (const prompt of ['watched one', 'watched two']) ids.push((await run(['generate', prompt, '--no-wait'], { sandbox: sb, cwd, configDir })).stdout.trim());
    // With --json at the same time: nothing until the end, then one array.
    const [watched, json] = await Promise.all([run(['jobs', '--watch'], { sandbox: sb, configDir }), run(['jobs', '--watch', '--json'], { sandbox: sb, configDir })]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as JobJson[]).map((job) => [job.task_id, job.status])).toEqual([
      [ids[1], 'completed'],
      [ids[0], 'completed'],
    ]);
    const lines = watched.stdout.trim().split('\n');
    // First the whole list as the service saw it, newest first; the last line of each job says it completed.
    expect(lines[0]).toContain(ids[1]);
    expect(lines[1]).toContain(ids[0]);
    for (const id of ids) expect(lines.findLast((line) => line.includes(id))).toMatch(/  completed  "watched (one|two)"  cost 1 \(10 credits\)  link expires /);
    expect(lines.length).toBeGreaterThan(2);
    expect(ids.every((id) => sb.statusOf(id) === 'completed')).toBe(true);
    expect(watched.stderr).toBe('2 job(s) · cost 2 (20 credits)\n');
  });

  it('jobs of another base URL are not asked about, and the user is told how to', async () => {
    const sb = await sandbox({ jobSeconds: 5 });
    const other = await sandbox({ jobSeconds: 5 });
    const configDir = tempDir('ov-config-');
    const id = (await run(['generate', 'over there', '--no-wait'], { sandbox: other, configDir })).stdout.trim();
    const before = sb.requests.length;
    const refreshed = await run(['jobs', '--refresh'], { sandbox: sb, configDir });
    expect(refreshed.code).toBe(0);
    expect(sb.requests.length).toBe(before);
    expect(refreshed.stderr).toContain(`! Jobs submitted to ${other.baseUrl} were not asked about (this run uses ${sb.baseUrl}); add --base-url ${other.baseUrl} for them.`);
    expect(refreshed.stdout).toContain(`${id}  queued`);
  });
});
