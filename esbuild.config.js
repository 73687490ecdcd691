/**
 * Bundles the CLI (src/cli.ts) into one CommonJS file, dist/cli.cjs, dependencies included:
 * bin/code-cache.js runs it with V8's code cache, which makes a status call faster than an ES
 * module bundle with Node's compile cache (see README, Performance). tsc still builds dist/ for
 * the library and its types. The plugins below also trim what a run does as the bundle starts
 * (README, Performance). Also renders every help text into dist/help.json, which
 * bin/omni-video.js prints without loading the CLI. Run by `npm run build` after tsc.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative, resolve, sep } from 'node:path';
import { build } from 'esbuild';

/** zod's translations of its messages (~260 KB) that the CLI never uses: English is built in. */
const dropZodLocales = {
  name: 'drop-zod-locales',
  setup(builder) {
    builder.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'empty' } : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {}', loader: 'js' }));
  },
};

/**
 * child_process, which commander loads as it starts for external subcommands (the CLI has none),
 * becomes a proxy that loads it on first use.
 */
const DEFERRED_BUILTINS = ['child_process'];
/**
 * `import x from 'node:m'` and `require('node:m')` of the listed built-ins become proxies that load
 * the module on first use; `import { f, g } from 'node:m'` becomes wrappers calling through one
 * (type-only names dropped; anything but a plain function fails the build).
 */
const requireBuiltin = createRequire(import.meta.url);
function deferImports(source, builtins) {
  const names = builtins.join('|');
  return source
    .replaceAll(new RegExp(`import (\\w+) from 'node:(${names})';`, 'g'), "const $1 = __omniLazyBuiltin('node:$2');")
    .replaceAll(new RegExp(`import \\{([\\w\\s,]+)\\} from 'node:(${names})';`, 'g'), (_, list, name) =>
      list
        .split(',')
        .map((fn) => fn.trim())
        .filter((fn) => fn && !fn.startsWith('type '))
        .map((fn) => {
          // Called through a wrapper: a constant, a class or `a as b` would compile and then break.
          if (!/^[a-z]\w*$/.test(fn) || typeof requireBuiltin(`node:${name}`)[fn] !== 'function') {
            throw new Error(`cannot defer \`${fn}\` of node:${name}: only plain functions are called through`);
          }
          return `const ${fn} = (...args) => __omniLazyBuiltin('node:${name}').${fn}(...args);`;
        })
        .join(' '),
    )
    .replaceAll(new RegExp(`require\\('(?:node:)?(${names})'\\)`, 'g'), "__omniLazyBuiltin('node:$1')");
}

const deferBuiltins = {
  name: 'defer-builtins',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]node_modules[\\/]commander[\\/].*\.js$/ }, (args) => ({
      contents: deferImports(readFileSync(args.path, 'utf8'), DEFERRED_BUILTINS),
      loader: 'js',
    }));
  },
};

/**
 * CommonJS has no import.meta.url: each of our modules gets the URL of its tsc-compiled twin in
 * dist/ instead (dist/cli.js, dist/sandbox/server.js), so paths relative to it (../package.json,
 * the sandbox's assets) resolve as they do from there. Our modules' imports of node:fs/promises,
 * node:crypto, node:https and node:tls are deferred too: a status call over http uses none of them.
 */
const moduleUrlOfDistTwin = {
  name: 'module-url-of-dist-twin',
  setup(builder) {
    const src = resolve('src') + sep;
    builder.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(src)) return undefined;
      const twin = relative(src, args.path).replace(/\.ts$/, '.js').split(sep).join('/');
      const source = readFileSync(args.path, 'utf8').replaceAll('import.meta.url', `__omniDistUrl(${JSON.stringify(twin)})`);
      return { contents: deferImports(source, ['fs/promises', 'crypto', 'https', 'tls']), loader: 'ts' };
    });
  },
};

// Written aside and renamed, so a CLI starting meanwhile never reads half a file.
await build({
  entryPoints: ['src/cli.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  define: { OMNI_VIDEO_VERSION: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  outfile: 'dist/cli.cjs.tmp',
  banner: {
    js: [
      "const __omniDistUrl=(path)=>require('node:url').pathToFileURL(require('node:path').join(__dirname,path)).href;",
      'const __omniLazyBuiltin=(id)=>{let m;return new Proxy({},{get:(_,key)=>(m??=require(id))[key]});};',
    ].join('\n'),
  },
  plugins: [dropZodLocales, deferBuiltins, moduleUrlOfDistTwin],
  logLevel: 'warning',
});
const bundled = readFileSync('dist/cli.cjs.tmp', 'utf8');
// vm.Script is given no loader for import(): the bundle must hold every module it loads.
if (bundled.includes('import(')) throw new Error('dist/cli.cjs calls import(); bin/code-cache.js cannot run it');
// bin/code-cache.js reads it as latin1, which is utf8 only for ASCII (esbuild's default charset).
if (/[^\x00-\x7f]/.test(bundled)) throw new Error('dist/cli.cjs is not ASCII only');
const { renderHelpTexts } = await import('./dist/help-texts.js');
const helpTexts = await renderHelpTexts();
// The content's hash on the first line: bin/code-cache.js keys the V8 code cache by it, as V8
// itself checks only the source length, and hashing the bundle on every run would cost
// node:crypto. Then the command names, which get a cache file each (anything else shares one).
const contentHash = createHash('sha256').update(bundled).digest('hex').slice(0, 32);
const commands = Object.keys(helpTexts).filter((path) => /^[a-z]+$/.test(path));
writeFileSync('dist/cli.cjs.tmp', `// omni-video bundle ${contentHash} ${commands.join(',')}\n${bundled}`);
renameSync('dist/cli.cjs.tmp', 'dist/cli.cjs');

writeFileSync('dist/help.json.tmp', JSON.stringify(helpTexts));
renameSync('dist/help.json.tmp', 'dist/help.json');
