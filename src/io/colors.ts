import { Chalk, type ChalkInstance } from 'chalk';

/** The four styles the CLI uses on stderr. */
export type Colors = Pick<ChalkInstance, 'red' | 'green' | 'yellow' | 'dim'>;

/**
 * chalk at level 1 (the 16 basic colours, all the CLI uses) when the streams allow colour, else at
 * level 0 (plain text). IOStreams.color alone decides: a terminal, not CI, no NO_COLOR, no
 * --no-color, or FORCE_COLOR; chalk's own detection reads process.stdout, which carries results.
 */
export function colorsFor(io: { color: boolean }): Colors {
  return new Chalk({ level: io.color ? 1 : 0 });
}
