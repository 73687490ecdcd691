import { isatty } from 'node:tty';
import type { IOStreams } from '../context.js';

/**
 * Colour: off for NO_COLOR, --no-color, a pipe or TERM=dumb; FORCE_COLOR turns it on
 * (FORCE_COLOR=0 off). It applies to stderr, and to JSON on stdout when that is a terminal too
 * (writeJson); other results on stdout are never coloured: they are for pipes.
 */
export function colorEnabled(env: NodeJS.ProcessEnv, stderrIsTTY: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stderrIsTTY && env.TERM !== 'dumb';
}

export function processIO(env: NodeJS.ProcessEnv): IOStreams {
  // CI logs are not terminals even when a runner allocates a pty: no spinner, no colour.
  const stderrIsTTY = Boolean(process.stderr.isTTY) && !isCI(env);
  return {
    // process.stdin builds its stream when first read (~4 ms): most commands never need it.
    get stdin() {
      return process.stdin;
    },
    stdout: process.stdout,
    stderr: process.stderr,
    stdinIsTTY: isatty(0),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY,
    color: colorEnabled(env, stderrIsTTY),
    // 0 when the terminal reports no width (`stty cols 0`, some `script` ptys): progress is then
    // printed as plain lines, since ora cannot count the rows its live line takes.
    columns: process.stderr.columns ?? 0,
  };
}

export function isCI(env: NodeJS.ProcessEnv): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
}
