import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv, run } from '../helpers/harness.js';
import { onFreePort } from '../helpers/net.js';

/**
 * `omni-video sandbox` driven through its command line: each switch of `sandbox --help` is given to
 * the built CLI, and its effect checked with plain HTTP requests, as a client would meet it.
 */

const MODEL = 'gemini-omni-flash-preview';
const KEY = 'sk-test';
/** Jobs short enough to complete while a test waits. */
const FAST = ['--job-seconds', '0.2'];

interface CliSandbox {
  baseUrl: string;
  /** SIGTERM, as `kill %1`; resolves with the exit code and all of stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts `omni-video sandbox <flags>` on any free port; resolves with the base URL it prints on stdout. */
function startCli(flags: string[], globals: string[] = []): Promise<CliSandbox> {
  const child = spawn(process.execPath, [BIN, ...globals, 'sandbox', ...flags], { env: cliEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => (children.delete(child), resolve(code))));
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!stdout.includes('\n')) return;
      resolve({
        baseUrl: stdout.trim(),
        stop: async () => {
          child.kill('SIGTERM');
          return { code: await exited, stderr };
        },
      });
    });
    void exited.then((code) => reject(new Error(`sandbox ${flags.join(' ')} exited ${code}: ${stderr}`)));
  });
}

/** Runs a test against a sandbox started with these flags, stops it; its stderr (the banner) when it stopped. */
async function withCli(flags: string[], use: (sandbox: CliSandbox) => Promise<void>): Promise<string> {
  const sandbox = await startCli(flags);
  const failure = await use(sandbox).then(
    () => undefined,
    (error: unknown) => error ?? new Error('failed'),
  );
  const stopped = await sandbox.stop();
  if (failure) throw failure;
  expect(stopped.code).toBe(0);
  return stopped.stderr;
}

function api(baseUrl: string, path: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? KEY}`, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

const submit = (baseUrl: string, key?: string) => api(baseUrl, '/videos/generations', { method: 'POST', body: { model: MODEL, prompt: 'a red fox' }, key });

async function submitted(baseUrl: string): Promise<string> {
  const answer = await submit(baseUrl);
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { data: [{ task_id: string }] }).data[0].task_id;
}

type TaskData = { status: string; result?: { videos: [{ url: string | string[]; expires_at: number }] }; error?: { message: string }; completed?: number; estimated_time?: number };

/** Polls until the task ends; its data. */
async function ended(baseUrl: string, id: string): Promise<TaskData> {
  for (let tries = 0; tries < 100; tries++) {
    const data = ((await (await api(baseUrl, `/tasks/${id}`)).json()) as { data: TaskData }).data;
    if (['completed', 'failed', 'cancelled'].includes(data.status)) return data;
    await sleep(100);
  }
  throw new Error(`task ${id} did not end`);
}

/** A completed job's result link. */
async function resultUrl(baseUrl: string): Promise<string> {
  const data = await ended(baseUrl, await submitted(baseUrl));
  expect(data.status).toBe('completed');
  const url = data.result!.videos[0].url;
  return Array.isArray(url) ? url[0]! : url;
}

interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The whole body arrived and the response ended. */
  complete: boolean;
  /** Still open, with nothing more for idleMs. */
  stalled: boolean;
  ms: number;
  /** [ms since the request, bytes so far] at each chunk. */
  arrivals: [number, number][];
}

/** GET (or HEAD) with node:http, which reports a cut or stalled body instead of throwing. */
function download(url: string, options: { headers?: Record<string, string>; method?: string; idleMs?: number } = {}): Promise<Download> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const arrivals: [number, number][] = [];
      let received = 0;
      let idle: NodeJS.Timeout | undefined;
      const finish = (complete: boolean, stalled = false) => {
        clearTimeout(idle);
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete, stalled, ms: performance.now() - started, arrivals });
        if (stalled) req.destroy();
      };
      const watch = () => {
        clearTimeout(idle);
        if (options.idleMs !== undefined) idle = setTimeout(() => finish(false, true), options.idleMs);
      };
      watch();
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        arrivals.push([performance.now() - started, received]);
        watch();
      });
      res.on('end', () => finish(res.complete));
      res.on('error', () => finish(false));
      res.on('close', () => finish(res.complete));
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const LANDSCAPE_BYTES = statSync(new URL('../../src/sandbox/assets/landscape.mp4', import.meta.url)).size;

/** One test per switch of `sandbox --help`, by flag; the last test checks that none is missing. */
const switches: Record<string, () => Promise<void>> = {
  '--port': async () => {
    await onFreePort((port) =>
      withCli(['--port', String(port)], async ({ baseUrl }) => {
        expect(baseUrl).toBe(`http://127.0.0.1:${port}/v1`);
        expect((await api(baseUrl, '/balance')).status).toBe(200);
      }),
    );
  },
  '--host': async () => {
    await withCli(['--host', '127.0.0.2', ...FAST], async ({ baseUrl }) => {
      expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/v1$/);
      expect(await resultUrl(baseUrl)).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/files\//);
    });
  },
  '--file-port': async () => {
    await onFreePort((port) =>
      withCli(['--file-port', String(port), ...FAST], async ({ baseUrl }) => {
        const url = await resultUrl(baseUrl);
        expect(url.startsWith(`http://127.0.0.1:${port}/files/`)).toBe(true);
        expect((await download(url)).status).toBe(200);
      }),
    );
  },
  '--job-seconds': async () => {
    await withCli(['--job-seconds', '30'], async ({ baseUrl }) => {
      const data = ((await (await api(baseUrl, `/tasks/${await submitted(baseUrl)}`)).json()) as { data: TaskData }).data;
      expect(data).toMatchObject({ status: 'pending', estimated_time: 30 });
    });
  },
  '--queue-seconds': async () => {
    // Pending for 0 s instead of the default 1 s: processing from the first poll.
    await withCli(['--job-seconds', '30', '--queue-seconds', '0'], async ({ baseUrl }) => {
      const data = ((await (await api(baseUrl, `/tasks/${await submitted(baseUrl)}`)).json()) as { data: TaskData }).data;
      expect(data.status).toBe('processing');
    });
  },
  '--require-key': async () => {
    const banner = await withCli(['--require-key', 'sk-right'], async ({ baseUrl }) => {
      expect((await submit(baseUrl, 'sk-wrong')).status).toBe(401);
      expect((await api(baseUrl, '/balance', { key: 'sk-wrong' })).status).toBe(401);
      expect((await submit(baseUrl, 'sk-right')).status).toBe(200);
    });
    expect(banner).toContain('only the --require-key key is accepted');
    expect(banner).not.toContain('any non-empty API key is accepted');
  },
  '--balance': async () => {
    await withCli(['--balance', '1'], async ({ baseUrl }) => {
      expect((await submit(baseUrl)).status).toBe(200);
      expect((await submit(baseUrl)).status).toBe(402);
    });
  },
  '--unlimited': async () => {
    await withCli(['--unlimited'], async ({ baseUrl }) => {
      expect(await (await api(baseUrl, '/balance')).json()).toMatchObject({ remain_balance: -1, unlimited_quota: true });
    });
  },
  '--link-ttl': async () => {
    await withCli(['--link-ttl', '1', '--job-seconds', '0'], async ({ baseUrl }) => {
      const data = await ended(baseUrl, await submitted(baseUrl));
      expect(data.result!.videos[0].expires_at).toBe(data.completed! + 1);
      const url = data.result!.videos[0].url[0]!;
      expect((await download(url)).status).toBe(200);
      // Expired once the clock passes expires_at (whole seconds): within about 2 s.
      let status = 200;
      for (let tries = 0; tries < 40 && status === 200; tries++) {
        await sleep(100);
        status = (await download(url)).status;
      }
      expect(status).toBe(403);
    });
  },
  '--large-file-bytes': async () => {
    await withCli(['--large-file-bytes', '100k', ...FAST], async ({ baseUrl }) => {
      const file = await download(await resultUrl(baseUrl));
      expect(file.body.length).toBe(100 * 1024);
      expect(file.body.toString('latin1', 4, 8)).toBe('ftyp');
    });
  },
  '--download-rate': async () => {
    const bytes = 512 * 1024;
    const rate = 512 * 1024;
    const banner = await withCli(['--large-file-bytes', '512k', '--download-rate', '512k', ...FAST], async ({ baseUrl }) => {
      const file = await download(await resultUrl(baseUrl));
      expect(file.complete).toBe(true);
      expect(file.body.length).toBe(bytes);
      // Slower machines only make it slower: the lower bounds hold whatever the load.
      expect(file.ms).toBeGreaterThan(0.75 * (bytes / rate) * 1000);
      // Smooth: at no point ahead of the rate by more than a slice (10 ms of data) and a socket buffer.
      for (const [ms, received] of file.arrivals) expect(received, `${received} bytes at ${ms.toFixed(0)} ms`).toBeLessThanOrEqual((rate * ms) / 1000 + rate / 100 + 64 * 1024);
    });
    expect(banner).toContain('downloads are sent at 524288 bytes/s');
  },
  '--fail-jobs': async () => {
    await withCli(['--fail-jobs', '1', ...FAST], async ({ baseUrl }) => {
      expect(await ended(baseUrl, await submitted(baseUrl))).toMatchObject({ status: 'failed', error: { message: 'The content violates the usage policy' } });
      expect((await ended(baseUrl, await submitted(baseUrl))).status).toBe('completed');
    });
  },
  '--fail-message': async () => {
    const banner = await withCli(['--fail-message', 'quota exceeded', ...FAST], async ({ baseUrl }) => {
      expect(await ended(baseUrl, await submitted(baseUrl))).toMatchObject({ status: 'failed', error: { message: 'quota exceeded' } });
    });
    expect(banner).toContain('Simulated faults: --fail-jobs 1, --fail-message "quota exceeded"\n');
  },
  '--cancel-jobs': async () => {
    await withCli(['--cancel-jobs', '1', ...FAST], async ({ baseUrl }) => {
      expect((await ended(baseUrl, await submitted(baseUrl))).status).toBe('cancelled');
      expect((await ended(baseUrl, await submitted(baseUrl))).status).toBe('completed');
    });
  },
  '--submit-delay-ms': async () => {
    await withCli(['--submit-delay-ms', '600'], async ({ baseUrl }) => {
      const started = performance.now();
      expect((await submit(baseUrl)).status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    });
  },
  '--submit-429': async () => {
    await withCli(['--submit-429', '2'], async ({ baseUrl }) => {
      for (let i = 0; i < 2; i++) {
        const limited = await submit(baseUrl);
        expect(limited.status).toBe(429);
        expect(limited.headers.get('retry-after')).toBe('1');
      }
      expect((await submit(baseUrl)).status).toBe(200);
      expect(await (await api(baseUrl, '/balance')).json()).toMatchObject({ used_balance: 1 });
    });
  },
  '--submit-503': async () => {
    await withCli(['--submit-503', '1'], async ({ baseUrl }) => {
      expect((await submit(baseUrl)).status).toBe(503);
      expect((await submit(baseUrl)).status).toBe(200);
    });
  },
  '--submit-reset': async () => {
    await withCli(['--submit-reset', '1'], async ({ baseUrl }) => {
      await expect(submit(baseUrl)).rejects.toThrow();
      // The job was created and charged all the same.
      expect(await (await api(baseUrl, '/balance')).json()).toMatchObject({ used_balance: 1 });
      expect((await submit(baseUrl)).status).toBe(200);
    });
  },
  '--retry-after': async () => {
    await withCli(['--submit-429', '1', '--retry-after', '7'], async ({ baseUrl }) => {
      expect((await submit(baseUrl)).headers.get('retry-after')).toBe('7');
    });
  },
  '--poll-5xx': async () => {
    await withCli(['--poll-5xx', '1'], async ({ baseUrl }) => {
      const id = await submitted(baseUrl);
      const broken = await api(baseUrl, `/tasks/${id}`);
      expect(broken.status).toBe(502);
      expect(broken.headers.get('content-type')).toContain('application/json');
      expect((await api(baseUrl, `/tasks/${id}`)).status).toBe(200);
    });
  },
  '--poll-html': async () => {
    await withCli(['--poll-html', '1'], async ({ baseUrl }) => {
      const broken = await api(baseUrl, `/tasks/${await submitted(baseUrl)}`);
      expect(broken.status).toBe(502);
      expect(await broken.text()).toContain('<h1>502 Bad Gateway</h1>');
    });
  },
  '--poll-malformed': async () => {
    await withCli(['--poll-malformed', '1'], async ({ baseUrl }) => {
      const broken = await api(baseUrl, `/tasks/${await submitted(baseUrl)}`);
      expect(broken.status).toBe(200);
      await expect(broken.json()).rejects.toThrow();
    });
  },
  '--poll-empty': async () => {
    await withCli(['--poll-empty', '1'], async ({ baseUrl }) => {
      const broken = await api(baseUrl, `/tasks/${await submitted(baseUrl)}`);
      expect(broken.status).toBe(200);
      expect(await broken.text()).toBe('');
    });
  },
  '--poll-bad-shape': async () => {
    await withCli(['--poll-bad-shape', '1'], async ({ baseUrl }) => {
      const broken = await api(baseUrl, `/tasks/${await submitted(baseUrl)}`);
      expect(await broken.json()).toEqual({ code: 200, data: { status: 3, progress: 'half' } });
    });
  },
  '--poll-reset': async () => {
    await withCli(['--poll-reset', '1'], async ({ baseUrl }) => {
      const id = await submitted(baseUrl);
      await expect(api(baseUrl, `/tasks/${id}`)).rejects.toThrow();
      expect((await api(baseUrl, `/tasks/${id}`)).status).toBe(200);
    });
  },
  '--poll-429': async () => {
    await withCli(['--poll-429', '1'], async ({ baseUrl }) => {
      const limited = await api(baseUrl, `/tasks/${await submitted(baseUrl)}`);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('1');
    });
  },
  '--download-cuts': async () => {
    await withCli(['--download-cuts', '1', '--large-file-bytes', '50k', ...FAST], async ({ baseUrl }) => {
      const url = await resultUrl(baseUrl);
      const cut = await download(url);
      expect(cut).toMatchObject({ status: 200, complete: false });
      expect(cut.body.length).toBe(10_000);
      expect((await download(url)).body.length).toBe(50 * 1024);
    });
  },
  '--download-cut-after': async () => {
    await withCli(['--download-cut-after', '500', ...FAST], async ({ baseUrl }) => {
      const url = await resultUrl(baseUrl);
      const cut = await download(url);
      expect(cut).toMatchObject({ status: 200, complete: false });
      expect(cut.body.length).toBe(500);
      const whole = await download(url);
      expect(whole.complete).toBe(true);
      expect(whole.body.length).toBe(LANDSCAPE_BYTES);
    });
  },
  '--download-ignore-range': async () => {
    await withCli(['--download-ignore-range', ...FAST], async ({ baseUrl }) => {
      const answer = await download(await resultUrl(baseUrl), { headers: { range: 'bytes=100-' } });
      expect(answer.status).toBe(200);
      expect(answer.headers['accept-ranges']).toBeUndefined();
      expect(answer.body.length).toBe(Number(answer.headers['content-length']));
    });
  },
  '--download-status': async () => {
    await withCli(['--download-status', '410', ...FAST], async ({ baseUrl }) => {
      const url = await resultUrl(baseUrl);
      const gone = await download(url);
      expect(gone.status).toBe(410);
      expect(gone.body.toString()).toContain('<Code>Gone</Code>');
      expect((await download(url)).status).toBe(200);
    });
  },
  '--download-status-count': async () => {
    await withCli(['--download-status', '404', '--download-status-count', '2', ...FAST], async ({ baseUrl }) => {
      const url = await resultUrl(baseUrl);
      const statuses = [(await download(url)).status, (await download(url)).status, (await download(url)).status];
      expect(statuses).toEqual([404, 404, 200]);
    });
  },
  '--expire-links': async () => {
    await withCli(['--expire-links', ...FAST], async ({ baseUrl }) => {
      const data = await ended(baseUrl, await submitted(baseUrl));
      expect(data.result!.videos[0].expires_at).toBeLessThan(Date.now() / 1000);
      const denied = await download(data.result!.videos[0].url[0]!);
      expect(denied.status).toBe(403);
      expect(denied.body.toString()).toContain('Request has expired');
    });
  },
  '--url-as-string': async () => {
    await withCli(['--url-as-string', ...FAST], async ({ baseUrl }) => {
      const data = await ended(baseUrl, await submitted(baseUrl));
      expect(typeof data.result!.videos[0].url).toBe('string');
    });
  },
  '--omit-cost': async () => {
    await withCli(['--omit-cost', ...FAST], async ({ baseUrl }) => {
      const data = await ended(baseUrl, await submitted(baseUrl));
      expect(data).not.toHaveProperty('cost');
      expect(data).not.toHaveProperty('credits_cost');
    });
  },
  '--stall-after': async () => {
    await withCli(['--stall-after', '100', ...FAST], async ({ baseUrl }) => {
      const url = await resultUrl(baseUrl);
      const stalled = await download(url, { idleMs: 500 });
      expect(stalled).toMatchObject({ status: 200, complete: false, stalled: true });
      expect(stalled.body.length).toBe(100);
      expect((await download(url, { idleMs: 2000 })).complete).toBe(true);
    });
  },
};

describe.concurrent('omni-video sandbox, switch by switch', () => {
  for (const [flag, test] of Object.entries(switches)) it(flag, test);

  it('every switch of sandbox --help has its test here', async () => {
    const help = await run(['sandbox', '--help']);
    const flags = [...help.stdout.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((match) => match[1]).filter((flag) => flag !== '--help');
    expect(flags.length).toBeGreaterThan(30);
    expect(Object.keys(switches).sort()).toEqual([...flags].sort());
  });

  it('logs requests on stderr with --verbose only; the banner lists every fault in force', async () => {
    const quiet = await startCli(['--submit-429', '1', '--download-cut-after', '500', '--stall-after', '100', '--expire-links']);
    expect((await api(quiet.baseUrl, '/balance')).status).toBe(200);
    const stopped = await quiet.stop();
    expect(stopped.stderr).toContain('Simulated faults: --submit-429 1, --download-cuts 1, --download-cut-after 500, --expire-links, --stall-after 100\n');
    expect(stopped.stderr).toContain('Requests are not logged (add --verbose to log them).');
    expect(stopped.stderr).not.toContain('/v1/balance');

    const verbose = await startCli([], ['--verbose']);
    expect((await api(verbose.baseUrl, '/balance')).status).toBe(200);
    await sleep(100);
    expect((await verbose.stop()).stderr).toMatch(/^\d\d:\d\d:\d\d api {3}GET \/v1\/balance 200 \d+ms$/m);
  });

  it('-q leaves stdout its one line and stderr empty', async () => {
    const sandbox = await startCli([], ['-q']);
    expect(sandbox.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(await sandbox.stop()).toEqual({ code: 0, stderr: '' });
  });

  it('refuses a bad value with exit 2, naming the flag, before listening', async () => {
    const refusals: [string[], string][] = [
      [['--download-rate', 'fast'], '--download-rate takes bytes per second, e.g. 500000, 512k, 40M or 1G, got "fast"'],
      [['--large-file-bytes', 'big'], '--large-file-bytes takes a size of at least 1024 bytes, e.g. 5000000, 512k, 200M or 1G, got "big"'],
    ];
    for (const [flags, message] of refusals) {
      const result = await run(['sandbox', ...flags]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`✖ ${message}\n`);
    }
  });
});
