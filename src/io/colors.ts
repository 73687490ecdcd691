/**
 * The four styles the CLI uses on stderr, as 16-colour ANSI codes (what chalk's level 1 wrote),
 * or plain text when colour is off. A library for four escape codes cost a status call ~1.5 ms.
 */
export interface Colors {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
}

const style = (open: number, close: number) => (text: string) => `\u001B[${open}m${text}\u001B[${close}m`;

const ANSI: Colors = { red: style(31, 39), green: style(32, 39), yellow: style(33, 39), dim: style(2, 22) };
const PLAIN: Colors = { red: String, green: String, yellow: String, dim: String };

/** Colour when the streams allow it (IOStreams.color: a terminal, no NO_COLOR, no --no-color). */
export function colorsFor(io: { color: boolean }): Colors {
  return io.color ? ANSI : PLAIN;
}
