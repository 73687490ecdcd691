import { Chalk } from 'chalk';

/** Our own decision (a terminal, no NO_COLOR or --no-color) sets the level, not chalk's sniffing. */
const chalk = new Chalk({ level: 1 });

/** A string, its key colon, a literal or a number, in JSON text (strings first, so digits in them stay theirs). */
const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** Indented JSON coloured as gh colours it: keys blue, strings green, numbers and literals cyan. */
export function colorJson(indented: string): string {
  return indented.replace(TOKEN, (token: string, string: string | undefined, colon: string | undefined) => {
    if (string === undefined) return chalk.cyan(token);
    return colon === undefined ? chalk.green(string) : `${chalk.blue.bold(string)}${colon}`;
  });
}

/**
 * JSON as gh prints it: indented (and coloured, when colour is on) only for a terminal; on a
 * pipe, and always for JSON Lines, one compact line per document.
 */
export function formatJson(value: unknown, options: { terminal: boolean; color: boolean; lines: boolean }): string {
  if (options.lines || !options.terminal) return JSON.stringify(value);
  const indented = JSON.stringify(value, null, 2);
  return options.color ? colorJson(indented) : indented;
}
