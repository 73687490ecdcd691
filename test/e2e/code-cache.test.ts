import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run, tempDir } from '../helpers/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The V8 code cache the bin keeps (bin/code-cache.js): saved once, reused, never in the way. */
describe('code cache', () => {
  const cacheFiles = (cacheHome: string) => readdirSync(join(cacheHome, 'omni-video')).map((name) => join(cacheHome, 'omni-video', name));

  it('is saved by the first run and reused as it is by the next', async () => {
    const cacheHome = tempDir('ov-cache-');
    const configDir = tempDir('ov-config-');
    const first = await run(['config', 'path'], { configDir, env: { XDG_CACHE_HOME: cacheHome } });
    expect(first).toMatchObject({ code: 0, stdout: `${join(configDir, 'config.json')}\n`, stderr: '' });
    const [file, ...others] = cacheFiles(cacheHome);
    expect(others).toEqual([]);
    expect(file).toMatch(/cli-\d+\.\d+\.\d+-nodev\d+\.\d+\.\d+-\w+-[0-9a-f]{32}-config\.v8cache$/);
    const saved = statSync(file!);
    expect(saved.size).toBeGreaterThan(10_000);
    expect(saved.mode & 0o077).toBe(0);

    const second = await run(['config', 'path'], { configDir, env: { XDG_CACHE_HOME: cacheHome } });
    expect(second).toEqual(first);
    // Rewritten only when V8 rejects it; a rename would give the file a new inode.
    expect(cacheFiles(cacheHome)).toEqual([file]);
    expect(statSync(file!).ino).toBe(saved.ino);

    // Another command keeps its own, holding what it compiled; the first one's stays as it was.
    expect((await run(['jobs'], { configDir, env: { XDG_CACHE_HOME: cacheHome } })).code).toBe(0);
    // Mistyped commands, and options first, share one: not a file per typo.
    for (const args of [['stauts'], ['foo'], ['--json', 'jobs']]) await run(args, { configDir, env: { XDG_CACHE_HOME: cacheHome } });
    const named = (command: string) => file!.replace(/-config\.v8cache$/, `-${command}.v8cache`);
    expect(cacheFiles(cacheHome).sort()).toEqual([file, named('jobs'), named('other')].sort());
    expect(statSync(file!).ino).toBe(saved.ino);
  });

  it('is keyed by the bundle content: a same-length rebuild in place, mtime kept, runs its own code', async () => {
    // A copy of the installed package, run once (the cache is saved), then its bundle rewritten in
    // place (same inode, same length, mtime put back) with one message changed and the content
    // hash the build would write: V8 alone would accept the old cache for it.
    const copy = tempDir('ov-build-');
    for (const file of ['package.json', 'bin/omni-video.js', 'bin/code-cache.js', 'bin/package.json', 'dist/help.json', 'dist/cli.cjs']) {
      cpSync(join(ROOT, file), join(copy, file));
    }
    const bundle = join(copy, 'dist/cli.cjs');
    // A whole second, so that it can be put back exactly (as npm's fixed tarball mtimes are).
    utimesSync(bundle, 1_000_000_000, 1_000_000_000);
    const env = { XDG_CACHE_HOME: tempDir('ov-cache-') };
    const runCopy = () => run(['config', 'get', 'nope'], { env, bin: join(copy, 'bin/omni-video.js') });
    expect((await runCopy()).stderr).toContain('Unknown config key');

    const before = statSync(bundle);
    const [firstLine, ...rest] = readFileSync(bundle, 'utf8').split('\n');
    const body = rest.join('\n').replace('Unknown config key', 'UNKNOWN CONFIG KEY');
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 32);
    writeFileSync(bundle, `${firstLine!.replace(/[0-9a-f]{32}/, hash)}\n${body}`);
    utimesSync(bundle, 1_000_000_000, 1_000_000_000);
    const after = statSync(bundle, { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([BigInt(before.ino), BigInt(before.size), 1_000_000_000_000_000_000n]);

    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await runCopy();
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('UNKNOWN CONFIG KEY');
    }
    // The old build's cache went when the new one's was saved.
    expect(cacheFiles(env.XDG_CACHE_HOME).map((name) => name.slice(-47))).toEqual([`${hash}-config.v8cache`]);
  });

  it('is ignored when corrupt, and replaced', async () => {
    const cacheHome = tempDir('ov-cache-');
    const configDir = tempDir('ov-config-');
    await run(['config', 'path'], { configDir, env: { XDG_CACHE_HOME: cacheHome } });
    const [file] = cacheFiles(cacheHome);
    const garbage = Buffer.alloc(4096, 0x5a);
    writeFileSync(file!, garbage);

    const result = await run(['config', 'path'], { configDir, env: { XDG_CACHE_HOME: cacheHome } });
    expect(result).toMatchObject({ code: 0, stdout: `${join(configDir, 'config.json')}\n`, stderr: '' });
    expect(readFileSync(file!).equals(garbage)).toBe(false);
    expect(statSync(file!).size).toBeGreaterThan(10_000);
  });

  it('is skipped, silently, where it cannot be written', async () => {
    const notADirectory = join(tempDir('ov-cache-'), 'file');
    writeFileSync(notADirectory, '');
    const configDir = tempDir('ov-config-');
    const result = await run(['config', 'path'], { configDir, env: { XDG_CACHE_HOME: notADirectory } });
    expect(result).toMatchObject({ code: 0, stdout: `${join(configDir, 'config.json')}\n`, stderr: '' });
  });
});
