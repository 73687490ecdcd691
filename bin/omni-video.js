#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import module from 'node:module';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Scripts call --version in loops: answer it without loading the CLI at all.
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  // Node >= 22.1 keeps compiled code on disk between runs; older versions have no such API.
  module.enableCompileCache?.();
  const { start } = await import('../dist/cli.bundle.js');
  await start();
}
