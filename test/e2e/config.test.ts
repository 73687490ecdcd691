import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { assertNoKey, BIN, cliEnv, run, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

const execAsync = promisify(execFile);

/** `config set` takes what the flags take, stores it as they mean it, and refuses what they refuse. */
describe.concurrent('config set', () => {
  it('aspect-ratio takes the words of -a (portrait, landscape) and stores the ratio', async () => {
    const configDir = tempDir();
    const set = await run(['config', 'set', 'aspect-ratio', 'portrait'], { configDir });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).toBe(`Saved aspect-ratio = 9:16 in ${join(configDir, 'config.json')}\n`);
    expect((await run(['config', 'get', 'aspect-ratio'], { configDir })).stdout).toBe('9:16\n');
    const dryRun = await run(['generate', 'a fox', '--dry-run', '--json'], { configDir });
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(JSON.parse(dryRun.stdout)).toMatchObject({ aspect_ratio: '9:16' });
    expect((await run(['config', 'set', 'aspect-ratio', 'Landscape'], { configDir })).code).toBe(0);
    expect((await run(['config', 'get', 'aspect-ratio'], { configDir })).stdout).toBe('16:9\n');
  });

  it('a key not set, or set without a value: the command the hint gives, pasted as printed, sets it', async () => {
    for (const key of ['timeout', 'poll-interval', 'aspect-ratio', 'output-dir', 'base-url']) {
      const configDir = tempDir();
      for (const command of [['config', 'get', key], ['config', 'set', key]]) {
        const result = await run(command, { configDir });
        expect(result.code, command.join(' ')).toBe(2);
        const hint = /^ {2}.*: (omni-video config set .*)$/m.exec(result.stderr)?.[1];
        expect(hint, result.stderr).toBeDefined();
        const pasted = await execAsync('sh', ['-c', hint!.replace(/^omni-video /, `"${process.execPath}" "${BIN}" `)], { env: cliEnv({ configDir }) });
        expect(pasted.stderr).toMatch(/^Saved /);
        expect((await run(['config', 'get', key], { configDir })).code).toBe(0);
      }
    }
  });

  it('timeout and poll-interval take 10s, 5m, 1h as --timeout does; anything else is refused in words, exit 2', async () => {
    const configDir = tempDir();
    for (const [text, stored] of [['10s', '10'], ['5m', '300'], ['1h', '3600'], ['90', '90']]) {
      const set = await run(['config', 'set', 'timeout', text], { configDir });
      expect(set.code, set.stderr).toBe(0);
      expect((await run(['config', 'get', 'timeout'], { configDir })).stdout).toBe(`${stored}\n`);
    }
    expect((await run(['config', 'set', 'poll-interval', '2s'], { configDir })).code).toBe(0);
    expect(JSON.parse((await run(['config', 'list', '--json'], { configDir })).stdout)).toMatchObject({ timeout: 90, 'poll-interval': 2 });
    const before = readFileSync(join(configDir, 'config.json'));
    const bad = await run(['config', 'set', 'timeout', 'soon'], { configDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('✖ Invalid value for timeout: use a number of seconds (at least 1), or a duration such as 90s, 5m or 1h.\n');
    expect(readFileSync(join(configDir, 'config.json'))).toEqual(before);
    const flag = await run(['generate', 'a fox', '--timeout', 'soon'], { configDir });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--timeout takes a number of seconds (at least 1), or a duration such as 90s, 5m or 1h');
  });

  it('--timeout takes the forms the config store takes', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const cwd = tempDir();
    const result = await run(['generate', 'a fox', '--timeout', '1m', '--poll-interval', '1s', '-o', 'fox.mp4'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(cwd, 'fox.mp4'))).toBe(true);
  });

  it("output-dir '~/clips' is the clips directory in the home directory, where generate then saves", async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir();
    const home = tempDir('ov-home-');
    const set = await run(['config', 'set', 'output-dir', '~/clips'], { configDir, cwd: home });
    expect(set.code, set.stderr).toBe(0);
    expect((await run(['config', 'get', 'output-dir'], { configDir, cwd: home })).stdout).toBe(`${join(home, 'clips')}\n`);
    // The harness runs each command with HOME set to its cwd.
    const generated = await run(['generate', 'a fox'], { sandbox: sb, configDir, cwd: home });
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.trim().startsWith(`${join(home, 'clips')}/`)).toBe(true);
    expect(readdirSync(join(home, 'clips'))).toHaveLength(1);
    expect(readdirSync(home)).toEqual(['clips']);
  });

  it('base-url: plain http to another machine is refused when set (exit 2, nothing stored), as at use; loopback and https are kept', async () => {
    const configDir = tempDir();
    const refused = await run(['config', 'set', 'base-url', 'http://video.example.com/v1'], { configDir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      '✖ Refusing to store a plain http base URL to video.example.com: the API key would be sent over it unencrypted.\n' +
        '  Use an https:// base URL (plain http is allowed only to localhost, e.g. the sandbox).\n',
    );
    expect(existsSync(join(configDir, 'config.json'))).toBe(false);
    for (const url of ['http://127.0.0.1:4010/v1', 'http://localhost:4010/v1', 'https://video.example.com/v1']) {
      const kept = await run(['config', 'set', 'base-url', url], { configDir });
      expect(kept.code, `${url}: ${kept.stderr}`).toBe(0);
      expect((await run(['config', 'get', 'base-url'], { configDir })).stdout).toBe(`${url}\n`);
    }
  });
});

describe.concurrent('config list', () => {
  it('with nothing set says so, and names where the API key comes from, on stdout', async () => {
    const configDir = tempDir();
    const none = await run(['config', 'list'], { configDir, noKey: true });
    expect(none).toMatchObject({ code: 0, stderr: '' });
    expect(none.stdout).toBe(
      `Nothing is set in ${join(configDir, 'config.json')}.\nNo API key is set: omni-video config set api-key (reads it from stdin), or export OMNI_VIDEO_API_KEY.\n`,
    );
    const fromEnv = await run(['config', 'list'], { configDir });
    expect(fromEnv).toMatchObject({ code: 0, stderr: '' });
    expect(fromEnv.stdout).toBe(`Nothing is set in ${join(configDir, 'config.json')}.\nThe API key in use comes from OMNI_VIDEO_API_KEY (sk-…${TEST_KEY.slice(-4)}).\n`);
  });

  it('lists each key set, then the API key source, the stored key included', async () => {
    const configDir = tempDir();
    expect((await run(['config', 'set', 'api-key'], { configDir, stdin: 'sk-stored-key-0000\n' })).code).toBe(0);
    expect((await run(['config', 'set', 'timeout', '2m'], { configDir })).code).toBe(0);
    const list = await run(['config', 'list'], { configDir, noKey: true });
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(list.stdout).toBe('api-key=sk-…0000\ntimeout=120\nThe API key in use comes from the config store (sk-…0000).\n');
    const flag = await run(['config', 'list', '--api-key', 'sk-from-flag-3333'], { configDir, noKey: true });
    expect(flag.stdout.split('\n').at(-2)).toBe('The API key in use comes from --api-key (sk-…3333).');
  });
});

describe('a stored config during a wait', () => {
  it('leaves Ctrl-C as it is: the job recorded, the resume hint printed, exit 130', async () => {
    // Reading the store must not load conf: its atomically/when-exit hooks SIGINT and raises it
    // again, which would turn this first Ctrl-C into an immediate exit.
    const sb = await sandbox({ jobSeconds: 60 });
    const configDir = tempDir();
    expect((await run(['config', 'set', 'api-key'], { configDir, stdin: `${TEST_KEY}\n` })).code).toBe(0);
    expect((await run(['config', 'set', 'timeout', '10m'], { configDir })).code).toBe(0);
    const result = await run(['generate', 'a slow one'], {
      sandbox: sb,
      configDir,
      noKey: true,
      onSpawn: (child) => {
        let seen = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          seen += String(chunk);
          if (/Submitted task_\w+/.test(seen) && !child.killed) child.kill('SIGINT');
        });
      },
    });
    const [taskId] = [...sb.tasks.keys()] as string[];
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(`Resume with: omni-video download ${taskId} --wait`);
  });
});

describe.concurrent('a config file that is not JSON', () => {
  it('is named in a clear error, exit 3, and left exactly as it was, by every command that reads or writes it', async () => {
    const sb = await sandbox();
    const configDir = tempDir();
    const file = join(configDir, 'config.json');
    const broken = '{"timeout": 90,\n "aspect-ratio": "9:16"\n';
    writeFileSync(file, broken, { mode: 0o600 });
    const modified = statSync(file).mtimeMs;
    for (const args of [['config', 'set', 'timeout', '60'], ['config', 'unset', 'timeout'], ['config', 'list'], ['config', 'get', 'timeout'], ['balance']]) {
      const result = await run(args, { configDir, sandbox: sb });
      expect(result.code, args.join(' ')).toBe(3);
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^✖ ${file.replace(/[.]/g, '\\.')} is not valid JSON \\(.+\\); it was left as it is\\.\\n  Fix it in an editor, or delete it and set the keys again\\.\\n$`));
    }
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(statSync(file).mtimeMs).toBe(modified);
    expect(readdirSync(configDir)).toEqual(['config.json']);
    expect(sb.requests).toHaveLength(0);
  });

  it.each(['[1, 2]\n', '"sk-test-1234"\n', 'null\n'])('JSON that holds no object (%j) is refused alike by config set and unset, not rewritten with its indexes as keys', async (content) => {
    const configDir = tempDir();
    const file = join(configDir, 'config.json');
    writeFileSync(file, content, { mode: 0o600 });
    for (const args of [['config', 'set', 'timeout', '60'], ['config', 'unset', 'timeout'], ['config', 'list']]) {
      const result = await run(args, { configDir });
      expect(result.code, args.join(' ')).toBe(3);
      expect(result.stderr, args.join(' ')).toBe(`✖ ${file} must hold one JSON object of settings; it was left as it is.\n  Fix it in an editor, or delete it and set the keys again.\n`);
    }
    expect(readFileSync(file, 'utf8')).toBe(content);
  });
});

describe("the README's 'Set up your key'", () => {
  it('runs verbatim, the key on stdin: stored, shown masked, and named as the source in use', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Set up your key\n'), readme.indexOf('\n## ', readme.indexOf('\n## Set up your key\n') + 4));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    expect(script).toBeDefined();
    const bin = tempDir('ov-bin-');
    writeFileSync(join(bin, 'omni-video'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
    const configDir = tempDir();
    const env = cliEnv({ configDir, noKey: true });
    const shell = promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script!], { env: { ...env, PATH: `${bin}:${env.PATH}` } });
    shell.child.stdin?.end(`${TEST_KEY}\n`);
    const { stdout, stderr } = await shell;
    assertNoKey(stdout, stderr);
    const masked = `sk-…${TEST_KEY.slice(-4)}`;
    expect(stdout).toBe(`${masked}\napi-key=${masked}\nThe API key in use comes from the config store (${masked}).\n`);
    expect(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'))).toEqual({ 'api-key': TEST_KEY });
  });
});
