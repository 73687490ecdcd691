import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMediaInfo } from '../../src/io/media.js';
import { run, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

const LANDSCAPE = readFileSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url));

/** Submits with --no-wait and returns the task id. */
async function submitted(sb: Awaited<ReturnType<typeof sandbox>>, configDir: string, extra: string[] = []): Promise<string> {
  const result = await run(['generate', 'a fox', '--no-wait', ...extra], { sandbox: sb, configDir });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

describe.concurrent('status', () => {
  it('prints one line per job with id, status, progress, elapsed, cost, link and expiry', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir();
    const id = await submitted(sb, configDir);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const result = await run(['status', id], { sandbox: sb, configDir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^${id}  completed  100%  elapsed \\d+s  cost 1 \\(10 credits\\)  ${sb.fileBaseUrl}/files/${id}\\.mp4\\?\\S+  expires \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\n$`),
    );
  });

  it('takes several ids, `last`, and ids from stdin; --json gives JSON Lines for several', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const configDir = tempDir();
    const first = await submitted(sb, configDir);
    const second = await submitted(sb, configDir);
    const both = await run(['status', first, second, '--json'], { sandbox: sb, configDir });
    expect(both.code, both.stderr).toBe(0);
    const lines = both.stdout.trim().split('\n').map((line) => JSON.parse(line) as { task_id: string; status: string });
    expect(lines.map((line) => line.task_id)).toEqual([first, second]);
    expect(lines.every((line) => line.status === 'pending' || line.status === 'processing')).toBe(true);

    const last = await run(['status', 'last', '--json'], { sandbox: sb, configDir });
    expect(JSON.parse(last.stdout)).toMatchObject({ task_id: second, files: [], error: null });

    const piped = await run(['status', '-'], { sandbox: sb, configDir, stdin: `${first}\n${second}\n` });
    expect(piped.stdout.split('\n').filter(Boolean).map((line) => line.split('  ')[0])).toEqual([first, second]);
  });

  it('--wait waits for every job to end; a failed one makes it exit 4', async () => {
    const sb = await sandbox({ jobSeconds: 0.6 });
    const configDir = tempDir();
    const good = await submitted(sb, configDir);
    sb.faults.failJobs = 1;
    // The same request while the first runs would resume it: --new asks for a second job.
    const bad = await submitted(sb, configDir, ['--new']);
    const result = await run(['status', good, bad, '--wait', '--json'], { sandbox: sb, configDir });
    expect(result.code).toBe(4);
    const byId = Object.fromEntries(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { task_id: string; status: string })
        .map((task) => [task.task_id, task.status]),
    );
    expect(byId).toEqual({ [good]: 'completed', [bad]: 'failed' });
    // The wait brought this machine's history up to date.
    const jobs = await run(['jobs', '--json'], { configDir });
    const statuses = Object.fromEntries((JSON.parse(jobs.stdout) as Array<{ task_id: string; status: string }>).map((job) => [job.task_id, job.status]));
    expect(statuses).toEqual({ [good]: 'completed', [bad]: 'failed' });
  });

  it('--wait with an unknown id among good ones stops at once with exit 2, printing nothing after the error', async () => {
    const sb = await sandbox({ jobSeconds: 20 });
    const configDir = tempDir();
    const good = await submitted(sb, configDir);
    const result = await run(['status', good, 'task_01CCCCCCCCCCCCCCCCCCCCCCCC', '--wait', '--json'], { sandbox: sb, configDir, timeoutMs: 10_000 });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.toLowerCase()).toContain('no such task');
  });

  it('an unknown task id exits 2 with "no such task"; a malformed one is refused before any request', async () => {
    const sb = await sandbox();
    const unknown = await run(['status', 'task_01AAAAAAAAAAAAAAAAAAAAAAAA'], { sandbox: sb });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.toLowerCase()).toContain('no such task');
    const malformed = await run(['status', '../../etc/passwd'], { sandbox: sb });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('is not a task id');
    expect(sb.requests).toHaveLength(1);
  });
});

describe.concurrent('download', () => {
  it('saves a completed job; refuses to overwrite without --force; `last` works', async () => {
    const sb = await sandbox({ jobSeconds: 0.2 });
    const configDir = tempDir();
    const cwd = tempDir();
    const id = await submitted(sb, configDir);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const saved = await run(['download', 'last', '-o', 'clip.mp4'], { sandbox: sb, configDir, cwd });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toBe(`${join(cwd, 'clip.mp4')}\n`);
    expect(readFileSync(join(cwd, 'clip.mp4')).equals(LANDSCAPE)).toBe(true);

    const again = await run(['download', id, '-o', 'clip.mp4'], { sandbox: sb, configDir, cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    const forced = await run(['download', id, '-o', 'clip.mp4', '--force', '--json'], { sandbox: sb, configDir, cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ task_id: id, status: 'completed', files: [join(cwd, 'clip.mp4')] });
  });

  it('saves a file of many MiB whole (the CLI collects written chunks as it goes)', async () => {
    const size = 9 * 1024 * 1024 + 5;
    const sb = await sandbox({ jobSeconds: 0.1, largeFileBytes: size });
    const configDir = tempDir();
    const cwd = tempDir();
    const id = await submitted(sb, configDir);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const saved = await run(['download', id, '-o', 'big.mp4'], { sandbox: sb, configDir, cwd });
    expect(saved.code, saved.stderr).toBe(0);
    const bytes = readFileSync(join(cwd, 'big.mp4'));
    expect(bytes.length).toBe(size);
    expect(bytes.toString('latin1', 4, 8)).toBe('ftyp');
    // The sandbox's filler repeats with a prime period: any lost or repeated chunk would shift it.
    const path = sb.requests.find((request) => request.server === 'files')!.path;
    const reference = Buffer.from(await (await fetch(`${sb.fileBaseUrl}${path}`)).arrayBuffer());
    expect(bytes.equals(reference)).toBe(true);
  });

  it('refuses a job that is not completed yet (exit 2, nothing written), and with --wait waits for it', async () => {
    const sb = await sandbox({ jobSeconds: 60 });
    const configDir = tempDir();
    const cwd = tempDir();
    const id = await submitted(sb, configDir);
    const early = await run(['download', id], { sandbox: sb, configDir, cwd });
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(new RegExp(`Task ${id} is (pending|processing), not completed yet`));
    expect(early.stderr).toContain(`omni-video download ${id} --wait`);
    // Age the job to a second before its end, so --wait has a short, certain wait however loaded the machine.
    sb.tasks.get(id)!.createdMs -= 59_000;
    const waited = await run(['download', id, '--wait'], { sandbox: sb, configDir, cwd });
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toBe(`${join(cwd, `${id}.mp4`)}\n`);
    expect(await readMediaInfo(join(cwd, `${id}.mp4`))).toMatchObject({ width: 1280, height: 720 });
  });

  it('--wait -o an existing file is refused before waiting (exit 2), not after', async () => {
    const sb = await sandbox({ jobSeconds: 20 });
    const configDir = tempDir();
    const cwd = tempDir();
    const id = await submitted(sb, configDir);
    writeFileSync(join(cwd, 'clip.mp4'), 'mine');
    const result = await run(['download', id, '--wait', '-o', 'clip.mp4'], { sandbox: sb, configDir, cwd, timeoutMs: 10_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('clip.mp4 already exists; nothing was downloaded.');
    expect(readFileSync(join(cwd, 'clip.mp4'), 'utf8')).toBe('mine');
    expect(sb.requests.filter((request) => request.method === 'GET')).toHaveLength(0);
  });

  it('a failed job cannot be downloaded: exit 4 with the reason', async () => {
    const sb = await sandbox({ jobSeconds: 0.2, faults: { failJobs: 1, failMessage: 'safety filter' } });
    const configDir = tempDir();
    const id = await submitted(sb, configDir);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const result = await run(['download', id], { sandbox: sb, configDir });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`Task ${id} failed: safety filter`);
  });
});

describe.concurrent('extend', () => {
  it('`extend last` sends extend_from_task_id of the newest job and saves the new clip', async () => {
    const sb = await sandbox();
    const configDir = tempDir();
    const cwd = tempDir();
    const first = await submitted(sb, configDir);
    const result = await run(['extend', 'last', 'the camera pulls back', '-a', '9:16'], { sandbox: sb, configDir, cwd });
    expect(result.code, result.stderr).toBe(0);
    const submissions = sb.submissions();
    expect(submissions).toHaveLength(2);
    expect(submissions[1]!.body).toEqual({
      model: 'gemini-omni-flash-preview',
      prompt: 'the camera pulls back',
      aspect_ratio: '9:16',
      resolution: '720p',
      extend_from_task_id: first,
    });
    const newId = [...sb.tasks.keys()][1]!;
    expect(result.stdout).toBe(`${join(cwd, `${newId}.mp4`)}\n`);
    expect(await readMediaInfo(join(cwd, `${newId}.mp4`))).toMatchObject({ width: 720, height: 1280 });
  });

  it('reads the task id from stdin with -, and an unknown one is refused by the service with exit 2', async () => {
    const sb = await sandbox();
    const result = await run(['extend', '-', 'more', '--dry-run'], { sandbox: sb, stdin: 'task_01BBBBBBBBBBBBBBBBBBBBBBBB\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ extend_from_task_id: 'task_01BBBBBBBBBBBBBBBBBBBBBBBB' });
    const unknown = await run(['extend', 'task_01BBBBBBBBBBBBBBBBBBBBBBBB', 'more'], { sandbox: sb });
    expect(unknown.code).toBe(2);
    expect(sb.stats.submissions).toBe(0);
  });

  it('extend with nothing to generate from is refused (exit 2) and nothing is submitted', async () => {
    const sb = await sandbox({ jobSeconds: 20 });
    const configDir = tempDir();
    await submitted(sb, configDir);
    const result = await run(['extend', 'last'], { sandbox: sb, configDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Nothing to generate from');
    expect(sb.stats.submissions).toBe(1);
  });

  it('`extend last` with no history says so (exit 2)', async () => {
    const result = await run(['extend', 'last', 'more']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('No job in the local history yet');
  });
});

describe.concurrent('balance', () => {
  it('prints this key’s and the account’s balance, and JSON', async () => {
    const sb = await sandbox({ balance: 12.5 });
    const key = await run(['balance'], { sandbox: sb });
    expect(key.code, key.stderr).toBe(0);
    expect(key.stdout).toBe('remaining balance 12.5\nused balance 0\n');
    const user = await run(['balance', '--user', '--json'], { sandbox: sb });
    expect(JSON.parse(user.stdout)).toMatchObject({ scope: 'account', remain_balance: 125, used_balance: 0, unlimited_quota: false });
    expect(sb.requests.map((request) => request.path)).toEqual(['/v1/balance', '/v1/user/balance']);
  });
});

describe.concurrent('bad input: a clear error, exit 2, and nothing sent', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['17 images', ['generate', 'x', ...Array.from({ length: 17 }, (_, index) => ['-i', `https://example.com/${index}.jpg`]).flat()], /Too many images: 17 given, the API takes at most 16/],
    ['2 videos', ['generate', 'x', '--video', 'https://example.com/a.mp4', '--video', 'https://example.com/b.mp4'], /Too many videos: 2 given/],
    ['a local image path', ['generate', 'x', '-i', './cat.png'], /not an http\(s\) URL: the API fetches reference images from a public URL/],
    ['-a 4:3', ['generate', 'x', '-a', '4:3'], /Unsupported aspect ratio '4:3': use 16:9 \(landscape\) or 9:16 \(portrait\)/],
    ['neither prompt nor media', ['generate'], /Nothing to generate from: give a prompt, --image or --video/],
    ['a missing video file', ['generate', 'x', '--video', 'missing.mp4'], /--video missing\.mp4: cannot read it \(no such file\)/],
    ['a video of the wrong type', ['generate', 'x', '--video', 'clip.avi'], /only \.mp4, \.mov and \.webm/],
    ['a bad --timeout', ['generate', 'x', '--timeout', 'soon'], /--timeout takes a number of seconds/],
    ['a --base-url that is no URL', ['generate', 'x', '--base-url', 'api.apimart.ai/v1'], /^✖ --base-url: use an http\(s\) URL such as https:\/\/api\.apimart\.ai\/v1$/m],
    ['a --base-url of another scheme', ['status', 'task_1', '--base-url', 'ftp://example.com/v1'], /^✖ --base-url: use an http\(s\) URL/m],
    ['a --api-key too short to be one', ['balance', '--api-key', 'sk-1'], /^✖ --api-key: an API key is at least 8 characters$/m],
    ['an unknown option', ['generate', 'x', '--colour'], /unknown option '--colour'/],
    ['an unknown command', ['generat', 'x'], /unknown command 'generat'/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const sb = await sandbox();
      const result = await run(args, { sandbox: sb });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
      expect(result.stderr.split('\n').filter(Boolean).length).toBeLessThanOrEqual(3);
      expect(sb.requests).toHaveLength(0);
    });
  }

  it('-a 4:3: the message and why, as the config store reads the same words', async () => {
    const result = await run(['generate', 'x', '-a', '4:3', '--dry-run'], { noKey: true });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("✖ Unsupported aspect ratio '4:3': use 16:9 (landscape) or 9:16 (portrait).\n  The service would silently turn anything else into 16:9, so omni-video refuses it.\n");
    const portrait = await run(['generate', 'x', '-a', ' Portrait ', '--dry-run'], { noKey: true });
    expect(JSON.parse(portrait.stdout)).toMatchObject({ aspect_ratio: '9:16', resolution: '720p' });
  });

  it('no key at all: exit 3, says how to set one, sends nothing', async () => {
    const sb = await sandbox();
    const result = await run(['generate', 'a fox'], { sandbox: sb, noKey: true });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('No API key found.');
    expect(result.stderr).toContain('omni-video config set api-key');
    expect(sb.requests).toHaveLength(0);
  });
});

describe.concurrent('config', () => {
  it('stores the key from stdin, masks it everywhere, keeps the file 0600 in a 0700 directory, and uses it', async () => {
    const sb = await sandbox();
    const configDir = join(tempDir(), 'nested', 'omni-video');
    const set = await run(['config', 'set', 'api-key'], { configDir, noKey: true, stdin: `${TEST_KEY}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).toContain('Saved api-key = sk-…7c1e in');
    expect(statSync(join(configDir, 'config.json')).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'))).toEqual({ 'api-key': TEST_KEY });

    const get = await run(['config', 'get', 'api-key'], { configDir, noKey: true });
    expect(get.stdout).toBe('sk-…7c1e\n');
    const list = await run(['config', 'list'], { configDir, noKey: true });
    expect(list.stdout).toBe('api-key=sk-…7c1e\nThe API key in use comes from the config store (sk-…7c1e).\n');

    const used = await run(['balance'], { configDir, noKey: true, sandbox: sb });
    expect(used.code, used.stderr).toBe(0);
    expect(sb.requests[0]!.headers.authorization).toBe(`Bearer ${TEST_KEY}`);

    const path = await run(['config', 'path'], { configDir });
    expect(path.stdout).toBe(`${join(configDir, 'config.json')}\n`);
  });

  it('the flag beats the environment beats the store, and list says which is in effect', async () => {
    const sb = await sandbox();
    const configDir = tempDir();
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ 'api-key': 'sk-from-config-0000' }), { mode: 0o600 });
    await run(['balance'], { configDir, sandbox: sb, noKey: true, env: { APIMART_API_KEY: 'sk-from-apimart-1111' } });
    await run(['balance'], { configDir, sandbox: sb, noKey: true, env: { APIMART_API_KEY: 'sk-from-apimart-1111', OMNI_VIDEO_API_KEY: 'sk-from-omni-2222' } });
    await run(['balance', '--api-key', 'sk-from-flag-3333'], { configDir, sandbox: sb, noKey: true, env: { OMNI_VIDEO_API_KEY: 'sk-from-omni-2222' } });
    await run(['balance'], { configDir, sandbox: sb, noKey: true });
    expect(sb.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer sk-from-apimart-1111',
      'Bearer sk-from-omni-2222',
      'Bearer sk-from-flag-3333',
      'Bearer sk-from-config-0000',
    ]);
    const list = await run(['config', 'list'], { configDir, noKey: true, env: { OMNI_VIDEO_API_KEY: 'sk-from-omni-2222' } });
    expect(list.stdout).toContain('The API key in use comes from OMNI_VIDEO_API_KEY (sk-…2222).');
  });

  it('sets, gets and unsets the other keys, validating values', async () => {
    const configDir = tempDir();
    expect((await run(['config', 'set', 'timeout', '120'], { configDir })).code).toBe(0);
    expect((await run(['config', 'get', 'timeout'], { configDir })).stdout).toBe('120\n');
    expect(JSON.parse((await run(['config', 'get', 'timeout', '--json'], { configDir })).stdout)).toEqual({ timeout: 120 });
    const bad = await run(['config', 'set', 'aspect-ratio', '4:3'], { configDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid value for aspect-ratio');
    const unknown = await run(['config', 'set', 'colour', 'red'], { configDir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown config key 'colour'");
    expect((await run(['config', 'unset', 'timeout'], { configDir })).code).toBe(0);
    // Not set is one answer with or without --json: exit 2, nothing on stdout, the reason on stderr.
    for (const json of [[], ['--json']]) {
      const gone = await run(['config', 'get', 'timeout', ...json], { configDir });
      expect(gone.code, json.join('')).toBe(2);
      expect(gone.stdout, json.join('')).toBe('');
      expect(gone.stderr, json.join('')).toBe('✖ timeout is not set.\n  Set it (a number of seconds, or 90s, 5m, 1h), for example: omni-video config set timeout 5m\n');
    }
  });

  it('`config set api-key` with empty stdin fails at once instead of hanging', async () => {
    const configDir = tempDir();
    const result = await run(['config', 'set', 'api-key'], { configDir, stdin: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Nothing was read from stdin');
  });
});
