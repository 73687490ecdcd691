import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readMediaInfo } from '../../src/io/media.js';
import { tempDir } from '../helpers/harness.js';

const DEMO = fileURLToPath(new URL('../../dist/demo.js', import.meta.url));

describe('npm run demo', () => {
  it('generates a clip against an in-process sandbox and prints its path as the last line of stdout', async () => {
    const cwd = tempDir();
    const { stdout } = await promisify(execFile)(process.execPath, [DEMO], { cwd, env: { PATH: process.env.PATH, CI: 'true', NO_COLOR: '1' } });
    const last = stdout.trim().split('\n').at(-1)!;
    expect(last.startsWith(`${cwd}/demo-output/task_`)).toBe(true);
    expect(await readMediaInfo(last)).toMatchObject({ container: 'mp4', width: 1280, height: 720 });
  });
});
