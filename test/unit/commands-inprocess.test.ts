import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/api/errors.js';
import { runInProcess, tempDir, TEST_KEY } from '../helpers/harness.js';

describe('commands in-process, on fake streams', () => {
  it('`config set api-key` on a terminal asks without echoing the key', async () => {
    const configDir = tempDir();
    const result = await runInProcess(['config', 'set', 'api-key'], { configDir, stdin: `${TEST_KEY}\n`, stdinIsTTY: true });
    expect(result.code).toBe(0);
    expect(result.stderr.startsWith('API key: \n')).toBe(true);
    expect(result.stdout).toBe('');
    expect(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'))).toEqual({ 'api-key': TEST_KEY });
  });

  it('Ctrl-C at the hidden key prompt is an interrupt (130), and stores nothing', async () => {
    const configDir = tempDir();
    const result = await runInProcess(['config', 'set', 'api-key'], { configDir, stdin: 'sk-partly\u0003', stdinIsTTY: true });
    expect(result.code).toBe(130);
    expect(existsSync(join(configDir, 'config.json'))).toBe(false);
  });

  it.each([
    [['config', 'set', 'api-key']],
    [['generate', '-']],
  ])('%j stops at SIGTERM while stdin stays open and empty (exit 143), instead of waiting for it to end', async (argv) => {
    const configDir = tempDir('ov-config-');
    const stdin = new PassThrough();
    const controller = new AbortController();
    const running = runInProcess(argv, { configDir, stdin, signal: controller.signal });
    setImmediate(() => controller.abort(new InterruptedError('SIGTERM')));
    const result = await running;
    expect(result.code).toBe(143);
    expect(result.stderr).toMatch(/^✖ Terminated\.$/m);
    expect(existsSync(join(configDir, 'jobs.jsonl'))).toBe(false);
    expect(existsSync(join(configDir, 'config.json'))).toBe(false);
  });

  it('refuses to wait for a prompt on a terminal stdin', async () => {
    const result = await runInProcess(['generate', '-', '--dry-run'], { stdinIsTTY: true });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Expected a prompt on stdin, but stdin is a terminal.');
  });

  it('on a terminal stdin, `-` says what to run instead: a real command, not "echo … | omni-video …"', async () => {
    const hints = {
      'generate - --dry-run': '  Give the prompt as an argument, or pipe it in: echo "a red apple on a table" | omni-video generate -\n',
      'status -': '  Name the task ids, or pipe them in: omni-video generate "a lighthouse at dusk" --no-wait | omni-video status -\n',
      'batch -': '  Name the file (omni-video batch prompts.txt), or pipe it in: cat prompts.txt | omni-video batch -\n',
      'config set api-key -': '  Run omni-video config set api-key to type it hidden, or pipe it in: echo "$KEY" | omni-video config set api-key\n',
    };
    for (const [command, hint] of Object.entries(hints)) {
      const result = await runInProcess(command.split(' '), { stdinIsTTY: true, configDir: tempDir() });
      expect(result.code, command).toBe(2);
      expect(result.stderr.split('\n')[1]! + '\n', command).toBe(hint);
    }
  });

  it('plain http to a remote host is refused before any connection (exit 2)', async () => {
    const result = await runInProcess(['balance', '--base-url', 'http://api.example.invalid/v1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Refusing to send the API key over plain http to api.example.invalid');
  });

  it('with no arguments prints the commands and a quick start', async () => {
    const result = await runInProcess([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Commands:');
    expect(result.stdout).toContain('Quick start:');
  });
});
