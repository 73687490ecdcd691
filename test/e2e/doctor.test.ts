import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

/** A loopback port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const lines = (stdout: string) => stdout.trimEnd().split('\n');

describe.concurrent('doctor', () => {
  it('a working setup: six ✔ lines, the key masked with its source, a GET /balance with the key, exit 0', async () => {
    const sb = await sandbox();
    const configDir = tempDir();
    const cwd = tempDir();
    const result = await run(['doctor'], { sandbox: sb, configDir, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(lines(result.stdout)).toEqual([
      expect.stringMatching(/^✔ Node\.js: {4}v\d+\.\d+\.\d+ \(20 or newer needed\)$/),
      `✔ config:     no config file yet (${join(configDir, 'config.json')}); settings come from flags and the environment`,
      `✔ API key:    sk-…${TEST_KEY.slice(-4)} from OMNI_VIDEO_API_KEY, accepted`,
      expect.stringMatching(new RegExp(`^✔ API: {8}${sb.baseUrl.replace(/[.]/g, '\\.')} reachable \\(\\d+ ms\\)$`)),
      '✔ proxy:      none: direct connections (HTTPS_PROXY, HTTP_PROXY, NO_PROXY are honoured)',
      `✔ output dir: ${cwd} is writable`,
    ]);
    expect(sb.requests.map((request) => `${request.method} ${request.path} ${String(request.headers.authorization)}`)).toEqual([`GET /v1/balance Bearer ${TEST_KEY}`]);
  });

  it('a broken setup: no key, an unreachable base URL, a 0644 config file, an output dir under a file — each ✖ with its fix, exit 3, nothing changed', async () => {
    const port = await closedPort();
    const configDir = tempDir();
    const cwd = tempDir();
    const config = join(configDir, 'config.json');
    writeFileSync(join(cwd, 'clips'), 'a file, not a directory');
    writeFileSync(config, JSON.stringify({ 'output-dir': 'clips/today' }));
    chmodSync(config, 0o644);
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const result = await run(['doctor'], { noKey: true, configDir, cwd, env: { OMNI_VIDEO_BASE_URL: baseUrl } });
    expect(result.code).toBe(3);
    expect(lines(result.stdout)).toEqual([
      expect.stringMatching(/^✔ Node\.js: /),
      `✖ config:     ${config} is readable by other users (mode 0644) — fix: chmod 600 ${config}`,
      '✖ API key:    no API key (looked in --api-key, OMNI_VIDEO_API_KEY, APIMART_API_KEY, the config file) — fix: omni-video config set api-key (reads it from stdin), or export OMNI_VIDEO_API_KEY',
      `✖ API:        ${baseUrl} is unreachable: connection refused — fix: check the address (--base-url, OMNI_VIDEO_BASE_URL or config base-url), the network and the proxy settings`,
      '✔ proxy:      none: direct connections (HTTPS_PROXY, HTTP_PROXY, NO_PROXY are honoured)',
      `✖ output dir: ${join(cwd, 'clips')} is not a directory — fix: choose another: omni-video config set output-dir <dir>, or pass -o`,
    ]);
    expect(result.stderr).toBe('✖ 4 of 6 checks failed.\n  Apply the fix on each line marked ✖, then run omni-video doctor again.\n');
    // A doctor reports; it does not quietly change the file it found wrong.
    expect(statSync(config).mode & 0o777).toBe(0o644);
  });

  it('a rejected key: ✖ with the masked key and its source, exit 3', async () => {
    const sb = await sandbox({ apiKey: 'sk-the-only-valid-key-0000' });
    const result = await run(['doctor'], { sandbox: sb });
    expect(result.code).toBe(3);
    expect(lines(result.stdout)[2]).toBe(
      `✖ API key:    sk-…${TEST_KEY.slice(-4)} from OMNI_VIDEO_API_KEY was rejected (HTTP 401) — fix: check the key, then omni-video config set api-key (reads it from stdin), or export OMNI_VIDEO_API_KEY`,
    );
    expect(lines(result.stdout)[3]).toMatch(/^✔ API: +http:\/\/127\.0\.0\.1:\d+\/v1 reachable/);
  });

  it('shows the proxy in effect with its password masked, and NO_PROXY bypassing it', async () => {
    const sb = await sandbox();
    const port = await closedPort();
    const proxied = await run(['doctor', '--json'], { sandbox: sb, env: { HTTP_PROXY: `http://me:s3cret@127.0.0.1:${port}` } });
    expect(proxied.code).toBe(3);
    expect(proxied.stdout).not.toContain('s3cret');
    const checks = JSON.parse(proxied.stdout) as Array<{ name: string; ok: boolean; detail: string }>;
    expect(checks.find((check) => check.name === 'proxy')).toEqual({ name: 'proxy', ok: true, detail: `${new URL(sb.baseUrl).host} through http://***@127.0.0.1:${port}` });
    expect(checks.find((check) => check.name === 'api')).toMatchObject({ ok: false, detail: expect.stringContaining('unreachable') });
    expect(sb.requests).toHaveLength(0);

    const bypassed = await run(['doctor'], { sandbox: sb, env: { HTTP_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: '127.0.0.1' } });
    expect(bypassed.code, bypassed.stdout).toBe(0);
    expect(bypassed.stdout).toContain(`✔ proxy:      direct: NO_PROXY covers ${new URL(sb.baseUrl).host}\n`);
  });

  it('a proxy that is no http(s) URL: ✖, its password not shown', async () => {
    const sb = await sandbox();
    for (const value of ['http://me:s3cret@[bad host]:1', 'socks5://me:s3cret@127.0.0.1:1080']) {
      const result = await run(['doctor'], { sandbox: sb, env: { HTTP_PROXY: value } });
      expect(result.code).toBe(3);
      expect(result.stdout).not.toContain('s3cret');
      expect(result.stdout).toContain('✖ proxy:      HTTPS_PROXY / HTTP_PROXY is not an http(s) URL — fix: export HTTPS_PROXY=http://host:port (or unset it)\n');
    }
    expect(sb.requests).toHaveLength(0);
  });
});
