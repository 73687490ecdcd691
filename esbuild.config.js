/**
 * Bundles the CLI (src/cli.ts) into dist/cli.bundle.js plus lazily loaded chunks in dist/chunks/,
 * dependencies included: one file per command instead of hundreds of modules to resolve and
 * compile makes every start faster. tsc still builds dist/ for the library and its types.
 * Also renders every help text into dist/help.json, which bin/omni-video.js prints without
 * loading the CLI. Run by `npm run build` after tsc.
 */
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
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

const { metafile } = await build({
  entryPoints: ['src/cli.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  outdir: 'dist',
  entryNames: '[name].bundle',
  // One level below dist/, as dist/sandbox/ is: the sandbox finds its assets at ../../src/sandbox/assets.
  chunkNames: 'chunks/[name]-[hash]',
  // Bundled CommonJS dependencies call require() for Node's built-ins.
  banner: { js: "import{createRequire as __omniRequire}from'node:module';const require=__omniRequire(import.meta.url);" },
  plugins: [dropZodLocales],
  metafile: true,
  logLevel: 'warning',
});

// Chunks of earlier builds go only after the new ones exist, so a CLI running meanwhile keeps working.
const current = new Set(Object.keys(metafile.outputs).map((path) => relative('dist/chunks', path)));
for (const name of readdirSync('dist/chunks')) if (!current.has(name)) rmSync(`dist/chunks/${name}`, { force: true });

// Written aside and renamed, so a CLI starting meanwhile never reads half a file.
const { renderHelpTexts } = await import('./dist/help-texts.js');
writeFileSync('dist/help.json.tmp', JSON.stringify(await renderHelpTexts()));
renameSync('dist/help.json.tmp', 'dist/help.json');
