/**
 * The CLI in a real terminal: tmux gives it a pty, and the test reads the screen as a person
 * would see it, over time. Skipped (saying why) only where tmux is not installed; .ci/run installs it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, run, sandbox, tempDir, TEST_KEY } from '../helpers/harness.js';

const exec = promisify(execFile);
function installed(command: string, versionFlag: string): boolean {
  try {
    execFileSync(command, [versionFlag], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const hasTmux = installed('tmux', '-V');
if (!hasTmux) console.warn('terminal.test.ts: skipped, tmux is not installed (apt-get install tmux; .ci/run installs it)');

const SPINNER_FRAMES = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;
const ESC = '\x1b';

/**
 * One tmux server of its own per test (its socket in a temp dir), running `script` in a 160x24
 * pane. The shell traps Ctrl-C (its child gets the default handler back) so it outlives the CLI.
 */
async function terminal(script: string, cwd: string) {
  const socket = join(tempDir('ov-tmux-'), 's');
  const tmux = async (...args: string[]) => (await exec('tmux', ['-S', socket, ...args])).stdout;
  await tmux('new-session', '-d', '-x', '160', '-y', '24', '-c', cwd, 'sh', '-c', `trap : INT; ${script}; echo "exit $?"; sleep 60`);
  return {
    tmux,
    /** The screen, with escapes (-e) or as plain text, trailing blank lines dropped. */
    screen: async (escapes = false) => (await tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []))).replace(/\n+$/, ''),
    cursorVisible: async () => (await tmux('display-message', '-p', '#{cursor_flag}')).trim() === '1',
    close: () => tmux('kill-server').catch(() => undefined),
  };
}

/** A clean environment as in a user's terminal: no CI (which means "not a TTY"), no NO_COLOR. */
function shellCommand(args: string, configDir: string, baseUrl: string, extraEnv = ''): string {
  const env = ['PATH', 'HOME'].map((name) => `${name}='${process.env[name] ?? ''}'`).join(' ');
  return `env -i ${env} TERM=xterm-256color OMNI_VIDEO_CONFIG_DIR='${configDir}' OMNI_VIDEO_BASE_URL='${baseUrl}' OMNI_VIDEO_API_KEY='${TEST_KEY}' ${extraEnv} '${process.execPath}' '${BIN}' ${args}`;
}

/** One job of 8 s submitted with --no-wait, and `jobs --watch` of it running in a terminal. */
async function watching(prompt: string) {
  const sb = await sandbox({ jobSeconds: 8, queueSeconds: 0.5 });
  const configDir = tempDir();
  const id = (await run(['generate', prompt, '--no-wait'], { sandbox: sb, configDir })).stdout.trim();
  return { id, term: await terminal(shellCommand('jobs --watch', configDir, sb.baseUrl), tempDir()) };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.concurrent.skipIf(!hasTmux)('in a real terminal (tmux)', () => {
  it('the live line animates with a rising percentage, then leaves exactly the result lines', async () => {
    const sb = await sandbox({ jobSeconds: 4 });
    const cwd = tempDir();
    const term = await terminal(shellCommand('generate "a red apple on a table"', tempDir(), sb.baseUrl), cwd);
    try {
      const liveLines: string[] = [];
      let cursorHidden = false;
      await waitFor(
        async () => {
          const screen = await term.screen(true);
          const live = screen.split('\n').find((line) => SPINNER_FRAMES.test(line));
          if (live) {
            liveLines.push(live);
            cursorHidden ||= !(await term.cursorVisible());
          }
          return /^exit \d+$/m.test(screen);
        },
        20_000,
        'the run to end',
      );

      // The spinner turns: several different frames, in colour on a terminal.
      const frames = new Set(liveLines.map((line) => SPINNER_FRAMES.exec(line)![0]));
      expect(frames.size, liveLines.join('\n')).toBeGreaterThanOrEqual(3);
      expect(liveLines.some((line) => line.includes(`${ESC}[36m`))).toBe(true);
      expect(cursorHidden, 'the cursor is hidden while the spinner turns').toBe(true);
      // phase · percent · elapsed · ETA, the percentage rising
      const plain = liveLines.map((line) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
      for (const line of plain.filter((text) => /queued|generating/.test(text))) {
        expect(line).toMatch(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (queued|generating) · \d+% · \d+s · ETA \d+s$/);
      }
      const percents = plain.flatMap((line) => /· (\d+)% ·/.exec(line)?.slice(1) ?? []).map(Number);
      expect(percents, plain.join('\n')).toEqual([...percents].sort((a, b) => a - b));
      expect(new Set(percents).size).toBeGreaterThanOrEqual(2);
      expect(percents.some((percent) => percent > 0 && percent < 100)).toBe(true);

      const [task] = [...sb.tasks.values()];
      const saved = join(cwd, `${task!.id}.mp4`);
      const finalScreen = await term.screen();
      expect(finalScreen.split('\n')).toEqual([`Submitted ${task!.id}`, saved, `✔ ${saved} (77 KiB, 3.0 s, 1280x720, cost 1)`, 'exit 0']);
      expect(await term.screen(true)).toContain(`${ESC}[32m✔${ESC}[39m ${saved}`);
      expect(await term.cursorVisible(), 'the cursor is shown again').toBe(true);
      expect(finalScreen).not.toContain(TEST_KEY);
    } finally {
      await term.close();
    }
  });

  it('NO_COLOR: a spinner without colour; Ctrl-C clears it, shows the cursor, prints the task id and how to resume, exit 130', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const term = await terminal(shellCommand('generate "a slow one"', tempDir(), sb.baseUrl, 'NO_COLOR=1'), tempDir());
    try {
      await waitFor(async () => /generating|queued/.test(await term.screen()) && !(await term.cursorVisible()), 10_000, 'the spinner');
      expect(await term.screen(true)).not.toMatch(/\x1b\[\d*m/);
      await term.tmux('send-keys', 'C-c');
      await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 10_000, 'the run to end');
      const [task] = [...sb.tasks.values()];
      const screen = await term.screen();
      expect(screen).not.toMatch(SPINNER_FRAMES);
      expect(screen.split('\n')).toEqual([
        `Submitted ${task!.id}`,
        expect.stringMatching(new RegExp(`^✖ .*Task ${task!.id} was submitted and keeps running on the service \\(it may be charged whether or not you wait\\)\\.$`)),
        `  Resume with: omni-video download ${task!.id} --wait`,
        'exit 130',
      ]);
      expect(await term.cursorVisible(), 'the cursor is shown again').toBe(true);
    } finally {
      await term.close();
    }
  });

  it('Ctrl-C under plain lines on a terminal (status of two jobs): the terminal\'s echoed ^C does not stay glued to the message', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const configDir = tempDir();
    const ids: string[] = [];
    for (const prompt of ['one', 'two']) ids.push((await run(['generate', prompt, '--no-wait'], { sandbox: sb, configDir })).stdout.trim());
    const term = await terminal(shellCommand(`status ${ids.join(' ')} --wait`, configDir, sb.baseUrl, 'NO_COLOR=1'), tempDir());
    try {
      await waitFor(async () => (await term.screen()).includes(`${ids[1]}: `), 10_000, 'the progress lines');
      await term.tmux('send-keys', 'C-c');
      await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 10_000, 'the run to end');
      const screen = await term.screen();
      expect(screen).toMatch(/^✖ Interrupted\./m);
      expect(screen).not.toContain('^C');
    } finally {
      await term.close();
    }
  });

  it('piped (not a terminal), the same run prints plain lines without a single ANSI escape', async () => {
    const sb = await sandbox({ jobSeconds: 4 });
    const dir = tempDir();
    const log = join(dir, 'out.txt');
    const term = await terminal(`${shellCommand('generate "a red apple on a table"', tempDir(), sb.baseUrl)} 2>&1 | cat > '${log}'`, dir);
    try {
      await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 20_000, 'the run to end');
      const output = readFileSync(log, 'utf8');
      expect(output).not.toContain(ESC);
      const [task] = [...sb.tasks.values()];
      const lines = output.trimEnd().split('\n');
      expect(lines.slice(0, 2)).toEqual(['submitting', `Submitted ${task!.id}`]);
      expect(lines.slice(2, -2).every((line) => /^(queued|generating) · \d+% · \d+s · ETA \d+s$|^completed · 100% · \d+s$|^downloading \d+ KiB · \d+s$/.test(line)), output).toBe(true);
      expect(lines.slice(-2)).toEqual([join(dir, `${task!.id}.mp4`), `✔ ${join(dir, `${task!.id}.mp4`)} (77 KiB, 3.0 s, 1280x720, cost 1)`]);
    } finally {
      await term.close();
    }
  });

  it('jobs --watch redraws the list in place until every job has ended, leaving one line per job', async () => {
    // Long enough that the jobs still generate once a loaded machine has started two generates, tmux and the watch.
    const sb = await sandbox({ jobSeconds: 8, queueSeconds: 0.5 });
    const configDir = tempDir();
    const ids: string[] = [];
    for (const prompt of ['first watched', 'second watched']) ids.push((await run(['generate', prompt, '--no-wait'], { sandbox: sb, configDir })).stdout.trim());
    const term = await terminal(shellCommand('jobs --watch', configDir, sb.baseUrl), tempDir());
    try {
      const progress = new Set<string>();
      await waitFor(
        async () => {
          const screen = await term.screen();
          for (const match of screen.matchAll(/generating (\d+)%/g)) progress.add(match[1]!);
          return /^exit \d+$/m.test(screen);
        },
        20_000,
        'the watch to end',
      );
      expect(progress.size, 'the percentage moved on screen').toBeGreaterThan(1);
      const screen = (await term.screen()).split('\n');
      expect(screen).toHaveLength(4);
      expect(screen[0]).toMatch(new RegExp(`  ${ids[1]}  completed  "second watched"  cost 1 \\(10 credits\\)  link expires `));
      expect(screen[1]).toMatch(new RegExp(`  ${ids[0]}  completed  "first watched"  cost 1 \\(10 credits\\)  link expires `));
      expect(screen.slice(2)).toEqual(['2 job(s) · cost 2 (20 credits)', 'exit 0']);
    } finally {
      await term.close();
    }
  });

  it('a terminal made narrower while the spinner turns: the live line is cut to the new width, not wrapped onto two rows', async () => {
    const sb = await sandbox({ jobSeconds: 30 });
    const term = await terminal(shellCommand('generate "a slow one"', tempDir(), sb.baseUrl), tempDir());
    try {
      await waitFor(async () => /generating · \d+% · \d+s · ETA \d+s/.test(await term.screen()), 10_000, 'the spinner');
      await term.tmux('resize-window', '-x', '24', '-y', '24');
      // 24 columns leave 21 for the spinner's text: "generating · 3% · 4s · ETA 26s" no longer fits.
      await waitFor(async () => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] generating · \d.{0,12}…$/m.test(await term.screen()), 10_000, 'the live line cut to 24 columns');
      await term.tmux('send-keys', 'C-c');
      await waitFor(async () => /^exit 130$/m.test(await term.screen()), 10_000, 'the run to end');
    } finally {
      await term.close();
    }
  });

  it('jobs --watch in a terminal made narrower: each redrawn row is cut to the new width', async () => {
    const { id, term } = await watching('a watched job with a prompt long enough to be cut');
    try {
      await waitFor(async () => (await term.screen()).includes(`${id}  `), 10_000, 'the list');
      await term.tmux('resize-window', '-x', '70', '-y', '24');
      await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 20_000, 'the watch to end');
      // The last redraw, at 70 columns: the date, the task id, the state and the prompt's first letter, then "…" (69 columns).
      const rows = (await term.screen()).split('\n');
      expect(rows, rows.join('\n')).toContainEqual(expect.stringMatching(new RegExp(`^\\S+ \\S+  ${id}  completed  "a.*…$`)));
      expect(rows.filter((row) => row.includes(`${id}  completed`)).map((row) => row.length)).toEqual([69]);
    } finally {
      await term.close();
    }
  });

  it('jobs --watch with a prompt of wide characters (CJK) redraws in place: one row for the job, never a stack of copies', async () => {
    const { id, term } = await watching('雪の中を走る狐が雪の中を走る狐が雪の中を走る狐が雪の中を走る狐が雪の中を走る');
    try {
      await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 20_000, 'the watch to end');
      const rows = (await term.screen()).split('\n');
      // Each character of the prompt takes two columns: cut by the terminal at 160, on one row.
      expect(rows, rows.join('\n')).toHaveLength(3);
      expect(rows[0]).toMatch(new RegExp(`^\\S+ \\S+  ${id}  completed  "雪の中を走る狐が`));
      expect(rows.slice(1)).toEqual(['1 job(s) · cost 1 (10 credits)', 'exit 0']);
    } finally {
      await term.close();
    }
  });

  it('jobs --watch of more jobs than the terminal has rows leaves no stale copies of the list above it, and ends with every job', async () => {
    const sb = await sandbox({ jobSeconds: 8, queueSeconds: 0.5 });
    const configDir = tempDir();
    for (let i = 1; i <= 10; i++) expect((await run(['generate', `tall list ${i}`, '--no-wait'], { sandbox: sb, configDir })).code).toBe(0);
    const cwd = tempDir();
    // Started once the terminal has its 8 rows: a list drawn before would be pushed up by the resize.
    const term = await terminal(`until [ -e go ]; do sleep 0.1; done; ${shellCommand('jobs --watch', configDir, sb.baseUrl)}`, cwd);
    try {
      await term.tmux('resize-window', '-x', '160', '-y', '8');
      writeFileSync(join(cwd, 'go'), '');
      await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 25_000, 'the watch to end');
      // The screen and what scrolled off it: the final list once, each job on one row.
      const everything = (await term.tmux('capture-pane', '-p', '-S', '-1000')).split('\n');
      const rows = everything.filter((row) => row.includes('"tall list '));
      expect(rows, everything.join('\n')).toHaveLength(10);
      expect(rows.every((row) => row.includes('  completed  '))).toBe(true);
    } finally {
      await term.close();
    }
  });

  it('a batch of more than 10 new jobs asks first: n submits nothing (exit 2), and --gallery writes no page; --yes does not ask; stdin piped does not ask', async () => {
    const sb = await sandbox({ jobSeconds: 0.2 });
    const dir = tempDir();
    writeFileSync(join(dir, 'prompts.txt'), `${Array.from({ length: 12 }, (_, index) => `take ${index + 1}`).join('\n')}\n`);
    const configDir = tempDir();
    const asked = await terminal(shellCommand('batch prompts.txt --output-dir declined --gallery', configDir, sb.baseUrl), dir);
    try {
      await waitFor(async () => (await asked.screen()).endsWith('Submit 12 jobs (cost unknown)? [y/N]'), 20_000, 'the question');
      await asked.tmux('send-keys', 'n', 'Enter');
      await waitFor(async () => /^exit \d+$/m.test(await asked.screen()), 20_000, 'the run to end');
      const screen = (await asked.screen()).split('\n');
      expect(screen.slice(-4)).toEqual([
        'No gallery written: the batch stopped before running any job.',
        '✖ Nothing was submitted.',
        '  Run it again and answer y, or add --yes to skip the question.',
        'exit 2',
      ]);
      expect(sb.requests).toHaveLength(0);
      expect(['index.html', '.omni-video-batch.jsonl'].filter((name) => existsSync(join(dir, 'declined', name)))).toEqual([]);
    } finally {
      await asked.close();
    }
    for (const [how, script] of [
      ['--yes', `${shellCommand('batch prompts.txt --output-dir yes --yes -q', configDir, sb.baseUrl)} > yes.jsonl`],
      ['piped stdin', `true | ${shellCommand('batch prompts.txt --output-dir piped -q', configDir, sb.baseUrl)} > piped.jsonl`],
    ]) {
      const before = sb.stats.submissions;
      const term = await terminal(script!, dir);
      try {
        await waitFor(async () => /^exit \d+$/m.test(await term.screen()), 30_000, `the run with ${how} to end`);
        expect(await term.screen(), how).toBe('exit 0');
        expect(sb.stats.submissions - before, how).toBe(12);
      } finally {
        await term.close();
      }
    }
  });
});

const hasScript = installed('script', '--version');
if (!hasScript) console.warn('terminal.test.ts: the 0-column test is skipped, script (util-linux) is not installed');

describe.skipIf(!hasScript)('in a terminal that reports 0 columns (script, stty cols 0)', () => {
  it('generate prints the plain progress lines, not a spinner, and ends: a few hundred bytes, exit 0', async () => {
    const sb = await sandbox({ jobSeconds: 2 });
    const cwd = tempDir();
    // Before plain lines were used here, ora cleared rows without end: megabytes a second, never
    // exiting, deaf to SIGTERM (its loop never yields). `timeout -s KILL` ends it if that comes back.
    const cli = shellCommand('generate "a red apple on a table"', tempDir(), sb.baseUrl);
    const { stdout } = await exec('script', ['-qec', `stty cols 0 rows 0; timeout -s KILL 25 ${cli}`, '/dev/null'], {
      cwd,
      timeout: 30_000,
      maxBuffer: 64 * 1024,
    });
    expect(stdout.length).toBeLessThan(4_000);
    expect(stdout, 'no cursor movement, no hidden cursor').not.toMatch(/\x1b\[(\d*[AGK]|\?25l)/);
    const lines = stdout.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '').trimEnd().split('\n');
    const [task] = [...sb.tasks.values()];
    const saved = join(cwd, `${task!.id}.mp4`);
    expect(lines.slice(0, 2)).toEqual(['submitting', `Submitted ${task!.id}`]);
    expect(lines.slice(2, -2).every((line) => /^(queued|generating) · \d+% · \d+s · ETA \d+s$|^completed · 100% · \d+s$|^downloading \d+ KiB · \d+s$/.test(line)), stdout).toBe(true);
    expect(lines.slice(2, -2).some((line) => line.startsWith('completed'))).toBe(true);
    expect(lines.slice(-2)).toEqual([saved, `✔ ${saved} (77 KiB, 3.0 s, 1280x720, cost 1)`]);
    expect(readFileSync(saved).length).toBeGreaterThan(70_000);
  });
});
