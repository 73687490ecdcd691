import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  expect(Number.isInteger(timescale * seconds), 'duration representable in the timescale').toBe(true);
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
    // Trimming cannot make a clip longer: the hint does not suggest it.
    expect(result.stderr).toBe('✖ --video clip-0.5s.mp4 is 0.5 s long: the API takes clips of 1–24 s.\n  Pass a clip of at least 1 s.\n');
    expect(sb.requests).toHaveLength(0);
  });

  it('refuses a 30 s clip (exit 2) and sends nothing', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    clipClaiming(30, join(cwd, 'long.mp4'));
    const result = await run(['generate', 'x', '--video', 'long.mp4'], { sandbox: sb, cwd });
    expect(result.code).toBe(2);
    // The cut it suggests re-encodes: a stream copy cuts only at keyframes, and may keep no picture.
    expect(result.stderr).toBe('✖ --video long.mp4 is 30.0 s long: the API takes clips of 1–24 s.\n  Cut 3 s out of it, e.g. ffmpeg -ss 0 -t 3 -i long.mp4 short.mp4\n');
    expect(sb.requests).toHaveLength(0);
  });

  it('refuses a clip with no video track (sound only, as -c copy cuts between keyframes), exit 2, sends nothing', async () => {
    const sb = await sandbox();
    const result = await run(['generate', 'make it ripple', '--video', 'audio-only.mp4'], { sandbox: sb, cwd: workDir('audio-only.mp4') });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      '✖ --video audio-only.mp4 has no video track (sound only): there is no picture to edit.\n' +
        '  A cut made with -c copy between two keyframes keeps only the sound; cut it again, re-encoding: ffmpeg -ss <start> -t 3 -i <source> clip.mp4\n',
    );
    expect(sb.requests).toHaveLength(0);
  });

  it('says how long a clip just over a limit is, in as many digits as it takes to be true', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    // 3.001 s: over the advised 3 s, which "3.0 s" would not show.
    const bytes = Buffer.from(readFileSync(fixture('clip-2s.mp4')));
    const mvhd = bytes.indexOf('mvhd');
    const timescale = bytes.readUInt32BE(mvhd + 16);
    bytes.writeUInt32BE(Math.round(timescale * 3.001), mvhd + 20);
    writeFileSync(join(cwd, 'just-over.mp4'), bytes);
    const over = await run(['generate', 'x', '--video', 'just-over.mp4', '--dry-run'], { sandbox: sb, cwd });
    expect(over.code, over.stderr).toBe(0);
    expect(over.stderr).toBe('! --video just-over.mp4 is 3.001 s long; the provider advises clips of 3 s or less.\n');
    // 24.04 s: over the 24 s limit, refused as "24.04 s", not "24.0 s".
    clipClaiming(24.04, join(cwd, 'long.mp4'));
    const long = await run(['generate', 'x', '--video', 'long.mp4'], { sandbox: sb, cwd });
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/^✖ --video long\.mp4 is 24\.04 s long: the API takes clips of 1–24 s\.\n/);
    expect(sb.requests).toHaveLength(0);
  });

  it('refuses a file over 20 MiB before reading it, and says to host the clip instead', async () => {
    const sb = await sandbox();
    const cwd = tempDir();
    const big = join(cwd, 'big.mp4');
    copyFileSync(fixture('clip-2s.mp4'), big);
    truncateSync(big, 21 * 1024 * 1024);
    const result = await run(['generate', 'x', '--video', 'big.mp4'], { sandbox: sb, cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      '✖ --video big.mp4 is 21.0 MiB: over the 20 MiB that can be sent inline.\n  Host the clip (a bucket or any public https link) and pass its URL with --video, or trim it to a few seconds.\n',
    );
    expect(sb.requests).toHaveLength(0);
  });
});

describe.concurrent('--dry-run with a local clip', () => {
  const base64 = readFileSync(fixture('clip-2s.mp4')).toString('base64');
  const whole = `data:video/mp4;base64,${base64}`;
  // 7,923 bytes: the size of the clip, not of its base64.
  const shown = `data:video/mp4;base64,${base64.slice(0, 16)}…(7.7 KiB)`;

  it('shows the data: URL cut to its start and the clip size; --json prints it whole, as it would be sent', async () => {
    const cwd = workDir('clip-2s.mp4');
    const human = await run(['generate', 'make it rain', '--video', 'clip-2s.mp4', '--dry-run'], { cwd, noKey: true });
    expect(human.code, human.stderr).toBe(0);
    expect(JSON.parse(human.stdout)).toEqual({ model: 'gemini-omni-flash-preview', prompt: 'make it rain', video_urls: [shown], aspect_ratio: '16:9', resolution: '720p' });
    expect(human.stdout.length).toBeLessThan(300);
    const json = await run(['generate', 'make it rain', '--video', 'clip-2s.mp4', '--dry-run', '--json'], { cwd, noKey: true });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ video_urls: [whole] });
  });

  it('batch --dry-run does the same for a line naming a local clip', async () => {
    const cwd = workDir('clip-2s.mp4');
    writeFileSync(join(cwd, 'jobs.jsonl'), `${JSON.stringify({ prompt: 'make it rain', video_urls: ['clip-2s.mp4'] })}\n`);
    const human = await run(['batch', 'jobs.jsonl', '--dry-run'], { cwd, noKey: true });
    expect(human.code, human.stderr).toBe(0);
    expect(JSON.parse(human.stdout)).toMatchObject({ line: 1, plan: 'submit', request: { video_urls: [shown] } });
    const json = await run(['batch', 'jobs.jsonl', '--dry-run', '--json'], { cwd, noKey: true });
    expect(JSON.parse(json.stdout)).toMatchObject({ line: 1, request: { video_urls: [whole] } });
  });
});

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Runs a command line the way the user's shell would, in `cwd`; nobody answers a prompt. */
function shell(command: string, cwd: string) {
  const running = promisify(execFile)('bash', ['-euo', 'pipefail', '-c', command], { cwd });
  running.child.stdin?.end();
  return running;
}

describe.concurrent('the cuts the README and the hints tell a user to make', () => {
  // Every ffmpeg command of the README (recipes and troubleshooting), run on holiday.mp4, a 16 s
  // clip whose keyframes are 10 s apart (clip.mp4 is the same clip under the name the table uses).
  const commands = [...README.matchAll(/^(ffmpeg [^\n`]+?)\s*$|`(ffmpeg [^`]+)`/gm)].map((match) => (match[1] ?? match[2])!.trim());

  it('the README has its cut commands', () => {
    expect(commands.length).toBeGreaterThanOrEqual(2);
    // None copies streams: a copy cuts only at keyframes.
    for (const command of commands) expect(command).not.toMatch(/-c(:v)? copy/);
  });

  it.each(commands)('%s makes a clip that generate --video accepts', async (command) => {
    const cwd = workDir('holiday.mp4');
    copyFileSync(fixture('holiday.mp4'), join(cwd, 'clip.mp4'));
    // Where the table's user has a sound-only clip.mp4 from an earlier cut.
    if (/-y /.test(command)) copyFileSync(fixture('audio-only.mp4'), join(cwd, command.split(/\s+/).at(-1)!));
    await shell(command, cwd);
    const output = command.split(/\s+/).at(-1)!;
    const result = await run(['generate', 'make it ripple', '--video', output, '--dry-run'], { cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toMatchObject({ video_urls: [expect.stringMatching(/^data:video\/mp4;base64,/)] });
  });

  it("the hint for a clip over 24 s, run as printed, makes a clip that is accepted", async () => {
    const cwd = tempDir();
    await shell('ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc2=size=64x36:rate=5:duration=30 -c:v libx264 -g 50 long.mp4', cwd);
    const refused = await run(['generate', 'x', '--video', 'long.mp4'], { cwd });
    expect(refused.code).toBe(2);
    const hint = /e\.g\. (ffmpeg .*)$/m.exec(refused.stderr)?.[1];
    expect(hint, refused.stderr).toBe('ffmpeg -ss 0 -t 3 -i long.mp4 short.mp4');
    await shell(hint!, cwd);
    const accepted = await run(['generate', 'x', '--video', 'short.mp4', '--dry-run'], { cwd });
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stderr).toBe('');
  });

  it("that hint quotes a path with a space or a quote, so it still runs as printed", async () => {
    const cwd = tempDir();
    await shell(`ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc2=size=64x36:rate=5:duration=30 -c:v libx264 -g 50 "it's long.mp4"`, cwd);
    const refused = await run(['generate', 'x', '--video', "it's long.mp4"], { cwd });
    expect(refused.code).toBe(2);
    const hint = /e\.g\. (ffmpeg .*)$/m.exec(refused.stderr)?.[1];
    expect(hint, refused.stderr).toBe(`ffmpeg -ss 0 -t 3 -i 'it'\\''s long.mp4' short.mp4`);
    await shell(hint!, cwd);
    const accepted = await run(['generate', 'x', '--video', 'short.mp4', '--dry-run'], { cwd });
    expect(accepted.code, accepted.stderr).toBe(0);
  });
});
