'use strict';
/**
 * Runs the CLI, bundled into one CommonJS file (dist/cli.cjs), through vm.Script with V8's code
 * cache: the first run saves the compiled code, later runs skip compiling commander, zod and the
 * rest. Node 20 has no compile cache at all, and on Node 22/24 this is faster than theirs
 * (module.enableCompileCache), as the data is saved after the run and so holds every function
 * the run compiled, not only the top level. That is why each command has its own: with one saved
 * by `config path`, every later `status` compiled what it needed itself (measured: 1.5 times a
 * plain GET instead of 1.3). The cache is an optimisation only: any problem with it means
 * running without it.
 */
const { accessSync, constants, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

/** Runs the bundle's start() like Node's CommonJS loader would; resolves when it ends. */
async function runWithCodeCache(bundlePath, version, command, env = process.env) {
  // The build makes the bundle ASCII only: latin1 reads it as utf8 would, without decoding
  // (0.4 vs 1.2-1.8 ms for the bundle, measured alone; within the noise of a whole status call).
  const source = readFileSync(bundlePath, 'latin1');
  const cacheFile = cacheFilePath(source, version, command, env);
  const cachedData = cacheFile === undefined ? undefined : readIfPresent(cacheFile);
  // The same wrapper as Node's loader, so the bundle sees require, module and __dirname.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new Script(wrapped, { filename: bundlePath, cachedData });
  const bundle = { exports: {} };
  script.runInThisContext()(bundle.exports, createRequire(bundlePath), bundle, bundlePath, dirname(bundlePath));
  await bundle.exports.start();
  if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected)) save(cacheFile, script);
}

/**
 * One file per package version, Node version, bundle content and command (one the build listed
 * after the hash, else `other`: options first, a mistyped name): V8 itself checks only the source
 * length, so the key is the content hash the build writes on the bundle's first line (taken from
 * the very source compiled, so a build renamed into place meanwhile cannot mismatch them). In
 * $XDG_CACHE_HOME/omni-video, else a directory of this user's in the temp directory; undefined
 * when that directory is not safely this user's (code is read from it), or the hash is missing.
 */
function cacheFilePath(source, version, command, env) {
  const [, hash, commands = ''] = /^\/\/ omni-video bundle ([0-9a-f]{32})(?: ([a-z,]*))?\n/.exec(source) ?? [];
  if (hash === undefined) return undefined;
  const uid = process.getuid?.();
  const dir = env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'omni-video') : join(tmpdir(), `omni-video-${uid ?? 'user'}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stats = lstatSync(dir);
    if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid) || (stats.mode & 0o022) !== 0) return undefined;
    // Else every run would pay for serialising code it cannot save.
    accessSync(dir, constants.W_OK);
  } catch {
    return undefined;
  }
  const name = commands.split(',').includes(command) ? command : 'other';
  return join(dir, `cli-${version}-node${process.version}-${process.arch}-${hash}-${name}.v8cache`);
}

function readIfPresent(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Written aside and renamed, so a concurrent run never reads half a file; other builds' files go. */
function save(cacheFile, script) {
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
    renameSync(temporary, cacheFile);
    const dir = dirname(cacheFile);
    const [, sameVersion, build] = /^(.*-)([0-9a-f]{32})-[a-z]+\.v8cache$/.exec(cacheFile.slice(dir.length + 1));
    for (const name of readdirSync(dir)) {
      if (name.startsWith(sameVersion) && name.endsWith('.v8cache') && !name.startsWith(`${sameVersion}${build}-`)) rmSync(join(dir, name), { force: true });
    }
  } catch {
    rmSync(temporary, { force: true });
  }
}

module.exports = { runWithCodeCache };
