/**
 * Bundles the CLI (src/cli.ts) into one CommonJS file, dist/cli.cjs, dependencies included:
 * bin/code-cache.js runs it with V8's code cache, which makes a status call faster than an ES
 * module bundle with Node's compile cache (see README, Performance). tsc still builds dist/ for
 * the library and its types. Also renders every help text into dist/help.json, which
 * bin/omni-video.js prints without loading the CLI. Run by `npm run build` after tsc.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
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
 * CommonJS has no import.meta.url: each of our modules gets the URL of its tsc-compiled twin in
 * dist/ instead (dist/cli.js, dist/sandbox/server.js), so paths relative to it (../package.json,
 * the sandbox's assets) resolve as they do from there.
 */
const moduleUrlOfDistTwin = {
  name: 'module-url-of-dist-twin',
  setup(builder) {
    const src = resolve('src') + sep;
    builder.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(src)) return undefined;
      const twin = relative(src, args.path).replace(/\.ts$/, '.js').split(sep).join('/');
      return { contents: readFileSync(args.path, 'utf8').replaceAll('import.meta.url', `__omniDistUrl(${JSON.stringify(twin)})`), loader: 'ts' };
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
  outfile: 'dist/cli.cjs.tmp',
  banner: { js: "const __omniDistUrl=(path)=>require('node:url').pathToFileURL(require('node:path').join(__dirname,path)).href;" },
  plugins: [dropZodLocales, moduleUrlOfDistTwin],
  logLevel: 'warning',
});
// vm.Script is given no loader for import(): the bundle must hold every module it loads.
if (readFileSync('dist/cli.cjs.tmp', 'utf8').includes('import(')) throw new Error('dist/cli.cjs calls import(); bin/code-cache.js cannot run it');
renameSync('dist/cli.cjs.tmp', 'dist/cli.cjs');

const { renderHelpTexts } = await import('./dist/help-texts.js');
writeFileSync('dist/help.json.tmp', JSON.stringify(await renderHelpTexts()));
renameSync('dist/help.json.tmp', 'dist/help.json');
