/**
 * --json as gh prints it: indented and coloured for a person at a terminal, one compact line per
 * document for a program on a pipe; `status -` is JSON Lines whatever the number of ids.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, run, sandbox, tempDir } from '../helpers/harness.js';

const ESC = '\x1b';

const CLI = `'${process.execPath}' '${BIN}'`;

/** Runs a command line with stdout and stderr on a pseudo-terminal (util-linux `script`), as typed at a prompt. */
async function atTerminal(commandLine: string, env: Record<string, string>): Promise<string> {
  const child = promisify(execFile)('script', ['-qec', commandLine, '/dev/null'], { env: { ...env, TERM: 'xterm-256color' } });
  child.child.stdin?.end();
  return (await child).stdout.replaceAll('\r\n', '\n');
}

describe.concurrent('JSON on stdout', () => {
  it('a wait that times out still prints its one document: the job as last seen, so a script keeps the task id (exit 5)', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const configDir = tempDir('ov-config-');
    const result = await run(['generate', 'a slow kite', '--json', '--timeout', '2'], { sandbox: sb, configDir });
    expect(result.code, result.stderr).toBe(5);
    expect(sb.submissions()).toHaveLength(1);
    const taskId = /Submitted (task_\w+)/.exec(result.stderr)?.[1];
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ task_id: taskId, status: expect.stringMatching(/^(pending|processing)$/), files: [] });
    expect(result.stderr).toContain(`Resume with: omni-video download ${taskId} --wait`);
  });

  it('on a pipe: one compact line per document, for every command that prints one', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir('ov-config-');
    const submitted = await run(['generate', 'a kite', '--no-wait', '--json'], { sandbox: sb, configDir });
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = (JSON.parse(submitted.stdout) as { task_id: string }).task_id;
    for (const args of [['generate', 'a kite', '--no-wait'], ['status', id], ['jobs'], ['balance'], ['config', 'path'], ['generate', 'a kite', '--dry-run']]) {
      const result = await run([...args, '--json'], { sandbox: sb, configDir });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stdout.split('\n'), args.join(' ')).toHaveLength(2);
      expect(result.stdout, args.join(' ')).toBe(`${JSON.stringify(JSON.parse(result.stdout))}\n`);
    }
  });

  it('status - is JSON Lines whatever the number of ids it reads', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir('ov-config-');
    const ids: string[] = [];
    for (const prompt of ['a red fox', 'a blue whale']) {
      const result = await run(['generate', prompt, '--no-wait'], { sandbox: sb, configDir });
      ids.push(result.stdout.trim());
    }
    const one = await run(['status', '-', '--json'], { sandbox: sb, configDir, stdin: `${ids[0]}\n` });
    const two = await run(['status', '-', '--json'], { sandbox: sb, configDir, stdin: `${ids.join('\n')}\n` });
    const lines = (text: string) => text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { task_id: string }).task_id);
    expect(one.code, one.stderr).toBe(0);
    expect(lines(one.stdout)).toEqual([ids[0]]);
    expect(two.code, two.stderr).toBe(0);
    expect(lines(two.stdout)).toEqual(ids);
  });

  it('at a terminal: indented and coloured; NO_COLOR keeps the indent and drops the colour; status - stays one line', async () => {
    const sb = await sandbox({ jobSeconds: 0.3 });
    const configDir = tempDir('ov-config-');
    const env = cliEnv({ sandbox: sb, configDir, env: { CI: undefined, NO_COLOR: undefined } });
    const coloured = await atTerminal(`${CLI} balance --json`, env);
    expect(coloured).toContain('\n  ');
    expect(coloured).toContain(`${ESC}[34m${ESC}[1m"remain_balance"${ESC}[22m${ESC}[39m: ${ESC}[36m100${ESC}[39m`);
    expect(JSON.parse(coloured.replace(/\x1b\[\d+m/g, ''))).toMatchObject({ scope: 'key', remain_balance: 100 });

    const plain = await atTerminal(`${CLI} balance --json`, { ...env, NO_COLOR: '1' });
    expect(plain).not.toContain(ESC);
    expect(plain).toBe(`${JSON.stringify(JSON.parse(plain), null, 2)}\n`);

    const id = (await run(['generate', 'a kite', '--no-wait'], { sandbox: sb, configDir })).stdout.trim();
    const lines = await atTerminal(`echo ${id} | ${CLI} status - --json --no-color`, env);
    expect(lines.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
