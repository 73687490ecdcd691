#!/usr/bin/env node
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node 22.1+ keeps compiled code between runs; older versions have no such cache.
module.enableCompileCache?.();

const entry = new URL('../dist/cli.js', import.meta.url);
const cli = await import(entry.href).catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || error.url !== entry.href) throw error;
  process.stderr.write(`✖ omni-video is not built (no dist/): run npm run build in ${fileURLToPath(new URL('..', import.meta.url))}\n`);
  process.exitCode = 1;
});
await cli?.start();
