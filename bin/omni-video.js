#!/usr/bin/env node
// CommonJS (see bin/package.json): Node starts a CommonJS entry ~10 ms sooner than an ES module,
// which is most of what --version and --help cost. Anything else runs the CLI, bundled into one
// CommonJS file, with V8's code cache (bin/code-cache.js).
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const args = process.argv.slice(2);
const help = helpText(args);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Scripts call --version in loops: answer it without loading the CLI at all.
  process.stdout.write(`${packageVersion()}\n`);
} else if (help !== undefined) {
  process.stdout.write(help);
} else {
  require('./code-cache.js').runWithCodeCache(join(__dirname, '..', 'dist', 'cli.cjs'), packageVersion(), args[0]);
}

function packageVersion() {
  return JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;
}

/**
 * The help that commander would print for `[<command> [<sub>]] --help|-h` (or no arguments), read
 * from dist/help.json, rendered by the build at the 80 columns commander uses off a terminal. On a
 * terminal (its width), or for anything else, undefined: the CLI answers.
 */
function helpText(argv) {
  const last = argv.at(-1);
  const isHelp = argv.length === 0 || (argv.length <= 3 && (last === '--help' || last === '-h'));
  if (!isHelp || process.stdout.isTTY) return undefined;
  const path = argv.slice(0, -1);
  if (!path.every((word) => /^[a-z]+$/.test(word))) return undefined;
  try {
    const texts = JSON.parse(readFileSync(join(__dirname, '..', 'dist', 'help.json'), 'utf8'));
    const key = path.join(' ');
    return Object.hasOwn(texts, key) ? texts[key] : undefined;
  } catch {
    return undefined;
  }
}
