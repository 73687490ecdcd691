import { describe, expect, it } from 'vitest';
import { run } from '../helpers/harness.js';

const RED_CROSS = '\u001b[31m✖\u001b[39m';
/** What a user's shell has: no CI, no NO_COLOR (the harness sets both, as a CI runner would). */
const noCI = { CI: undefined, NO_COLOR: undefined };

/** Colour on stderr only, through chalk, when IOStreams allows it; never on stdout. */
describe.concurrent('colour', () => {
  it('FORCE_COLOR colours the error mark on stderr, even on a pipe', async () => {
    const result = await run(['config', 'get', 'nope'], { env: { ...noCI, FORCE_COLOR: '1' } });
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(`${RED_CROSS} Unknown config key 'nope'.\n`)).toBe(true);
  });

  const plain: Array<[string, string[], Record<string, string | undefined>]> = [
    ['--no-color beats FORCE_COLOR', ['--no-color'], { ...noCI, FORCE_COLOR: '1' }],
    ['NO_COLOR beats FORCE_COLOR', [], { ...noCI, NO_COLOR: '1', FORCE_COLOR: '1' }],
    ['FORCE_COLOR=0', [], { ...noCI, FORCE_COLOR: '0' }],
    ['a pipe, without FORCE_COLOR', [], noCI],
    ['CI', [], { ...noCI, CI: 'true' }],
  ];
  for (const [name, flags, env] of plain) {
    it(`${name}: no escape codes`, async () => {
      const result = await run(['config', 'get', 'nope', ...flags], { env });
      expect(result.code).toBe(2);
      expect(result.stderr.startsWith("✖ Unknown config key 'nope'.\n")).toBe(true);
      expect(result.stderr).not.toContain('\u001b');
    });
  }

  it('stdout carries results: never coloured, even with FORCE_COLOR', async () => {
    const result = await run(['config', 'list', '--json'], { env: { ...noCI, FORCE_COLOR: '3' } });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('\u001b');
    expect(JSON.parse(result.stdout)).toEqual({ api_key_source: 'OMNI_VIDEO_API_KEY' });
  });
});
