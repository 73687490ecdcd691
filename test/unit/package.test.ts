import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the npm package', () => {
  it('ships the build, the bin and the sandbox assets, and no tests or dev files', () => {
    const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const [pack] = JSON.parse(output) as Array<{ files: Array<{ path: string }> }>;
    const paths = pack!.files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['bin/omni-video.js', 'dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'src/sandbox/assets/landscape.mp4', 'src/sandbox/assets/portrait.mp4', 'package.json', 'README.md']));
    // Nothing but the bin itself in bin/: no loader beside it; the CLI's chunks beside its bundle.
    expect(paths.filter((path) => path.startsWith('bin/'))).toEqual(['bin/omni-video.js']);
    expect(paths.filter((path) => path.startsWith('dist/cli-chunks/')).length).toBeGreaterThan(5);
    expect(paths.filter((path) => path.startsWith('test/') || path.startsWith('.ci/') || path.endsWith('.test.ts') || path.endsWith('.cpuprofile') || path === 'tsconfig.json')).toEqual([]);
  });

  it('is importable as a library', async () => {
    const library = await import('../../src/index.js');
    expect(typeof library.OmniVideoClient).toBe('function');
    expect(typeof library.startSandbox).toBe('function');
    // Object schemas (zod/mini), not the CLI's lazy wrappers: a library user can extend or pick from them.
    expect(Object.keys(library.GenerationRequestSchema.shape)).toContain('prompt');
    expect(Object.keys(z.extend(library.TaskSchema, { seed: library.BalanceSchema.shape.used_balance }).shape)).toContain('seed');
    expect(library.TaskSchema.parse({ id: 'task_1', status: 'completed', result: { videos: [{ url: 'https://x/1.mp4' }] } }).result?.videos[0]?.url).toEqual(['https://x/1.mp4']);
  });
});
