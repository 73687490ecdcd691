import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, sandbox, tempDir } from '../helpers/harness.js';

const fixture = (name: string) => new URL(`../fixtures/media/${name}`, import.meta.url);

/** A directory holding the named fixtures, to run the CLI in. */
function workDir(...names: string[]): string {
  const cwd = tempDir();
  for (const name of names) copyFileSync(fixture(name), join(cwd, name));
  return cwd;
}

/** clip-2s.mp4 with its mvhd duration rewritten to `seconds`: a long clip without storing one. */
function clipClaiming(seconds: number, path: string): void {
  const bytes = Buffer.from(readFileSync(fixture('clip-2s.mp4')));
  const mvhd = bytes.indexOf('mvhd');
  expect(bytes[mvhd + 4], 'fixture mvhd is version 0').toBe(0);
  const timescale = bytes.readUInt32BE(mvhd + 16);
  bytes.writeUInt32BE(timescale * seconds, mvhd + 20);
  writeFileSync(path, bytes);
}

describe.concurrent('generate --video with a local file', () => {
  it('sends a 2 s mp4 inline as a data: URL equal to the file, with no warning', async () => {
    const sb = await sandbox();
    const cwd = workDir('clip-2s.mp4');
    const result = await run(['generate', 'make it rain', '--video', 'clip-2s.mp4', '--no-wait'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^task_\w+\n$/);
    const [submission] = sb.submissions();
    expect(submission!.body).toMatchObject({
      prompt: 'make it rain',
      video_urls: [`data:video/mp4;base64,${readFileSync(fixture('clip-2s.mp4')).toString('base64')}`],
    });
    expect(result.stderr).not.toMatch(/advises|!/);
  });

  it('sends a .mov as data:video/quicktime', async () => {
    const sb = await sandbox();
    const result = await run(['generate', 'x', '--video', 'clip.mov', '--no-wait'], { sandbox: sb, cwd: workDir('clip.mov') });
    expect(result.code, result.stderr).toBe(0);
    expect(sb.submissions()[0]!.body).toMatchObject({ video_urls: [`data:video/quicktime;base64,${readFileSync(fixture('clip.mov')).toString('base64')}`] });
  });

  it('warns about a 5 s clip (the provider advises 3 s or less) and still sends it', async () => {
    const sb = await sandbox();
    const cwd = workDir('clip-moov-at-end.mp4');
    const result = await run(['generate', 'x', '--video', 'clip-moov-at-end.mp4', '--no-wait'], { sandbox: sb, cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('! --video clip-moov-at-end.mp4 is 5.0 s long; the provider advises clips of 3 s or less.');
    expect(sb.submissions()).toHaveLength(1);
    expect(sb.submissions()[0]!.body).toMatchObject({ video_urls: [`data:video/mp4;base64,${readFileSync(fixture('clip-moov-at-end.mp4')).toString('base64')}`] });
  });

  it('refuses a 0.5 s clip (exit 2), says how to fix it, and sends nothing', async () => {
    const sb = await sandbox();
    const result = await run(['generate', 'x', '--video', 'clip-0.5s.mp4'], { sandbox: sb, cwd: workDir('clip-0.5s.mp4') });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('✖ --video clip-0.5s.mp4 is 0.5 s long: the API takes clips of 1–24 s.\n  Trim it, e.g. ffmpeg -i clip-0.5s.mp4 -t 3 -c copy short.mp4\n');
    expect(sb.requests).toHaveLength(0);
  });

  it('refuses a 30 s clip (exit 2) and sends nothing', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    clipClaiming(30, join(cwd, 'long.mp4'));
    const result = await run(['generate', 'x', '--video', 'long.mp4'], { sandbox: sb, cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^✖ --video long\.mp4 is 30\.0 s long: the API takes clips of 1–24 s\.\n/);
    expect(sb.requests).toHaveLength(0);
  });

  it('refuses a file over 20 MB before reading it, and says to host the clip instead', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const big = join(cwd, 'big.mp4');
    copyFileSync(fixture('clip-2s.mp4'), big);
    truncateSync(big, 21 * 1024 * 1024);
    const result = await run(['generate', 'x', '--video', 'big.mp4'], { sandbox: sb, cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      '✖ --video big.mp4 is 21.0 MB: over the 20 MB that can be sent inline.\n  Host the clip (a bucket or any public https link) and pass its URL with --video, or trim it to a few seconds.\n',
    );
    expect(sb.requests).toHaveLength(0);
  });
});
