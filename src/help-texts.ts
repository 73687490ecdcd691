import { PassThrough, Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { buildProgram, runCli } from './cli.js';
import { systemClock, type Context } from './context.js';

/**
 * Every help text the CLI prints off a terminal, keyed by command path ('' for the program,
 * 'config set', …). The build writes them to dist/help.json so that bin/omni-video.js prints
 * help without loading the CLI; they come from commander itself, so they cannot drift.
 */
export async function renderHelpTexts(): Promise<Record<string, string>> {
  const texts: Record<string, string> = {};
  const paths = (command: Command, prefix: string[]): string[][] =>
    command.commands.flatMap((sub) => [[...prefix, sub.name()], ...paths(sub, [...prefix, sub.name()])]);
  for (const path of [[], ...paths(buildProgram(offTerminal().ctx), [])]) {
    const { ctx, output } = offTerminal();
    const code = await runCli([...path, '--help'], ctx);
    if (code !== 0) throw new Error(`omni-video ${path.join(' ')} --help exited ${code}`);
    texts[path.join(' ')] = output();
  }
  return texts;
}

/** A context whose stdout is a pipe that keeps what is written to it; nothing else is used by help. */
function offTerminal(): { ctx: Context; output: () => string } {
  let text = '';
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const ctx: Context = {
    io: { stdin: Readable.from([]), stdout, stderr: new PassThrough(), stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false, color: false, columns: 80 },
    env: {},
    clock: systemClock,
    cwd: '.',
    configDir: '.',
    signal: new AbortController().signal,
    createClient: () => Promise.reject(new Error('help contacts nobody')),
  };
  return { ctx, output: () => text };
}
