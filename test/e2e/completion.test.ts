import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { GALLERY_STATES, JOB_STATES } from '../../src/io/job-states.js';
import { ASPECT_RATIO_WORDS } from '../../src/values.js';
import { BIN, run, tempDir } from '../helpers/harness.js';

const exec = promisify(execFile);
/** The words the flags take, from the lists the commands check them against. */
const RATIOS = Object.keys(ASPECT_RATIO_WORDS);
const JOBS = [...JOB_STATES];
const GALLERY = [...GALLERY_STATES];
const has = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

let scripts: Record<'bash' | 'zsh' | 'fish', string>;
const dir = tempDir();

beforeAll(async () => {
  const entries = await Promise.all(
    (['bash', 'zsh', 'fish'] as const).map(async (shell) => {
      const result = await run(['completion', shell]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      writeFileSync(join(dir, `omni-video.${shell}`), result.stdout);
      return [shell, result.stdout] as const;
    }),
  );
  scripts = Object.fromEntries(entries) as typeof scripts;
});

/** Sources the bash script and calls its function as bash would for `words` (the last one being completed). */
async function bashComplete(...words: string[]): Promise<string[]> {
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _omni_video; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await exec('bash', ['--norc', '--noprofile', '-c', program, 'bash', join(dir, 'omni-video.bash'), 'omni-video', ...words]);
  return stdout.split('\n').filter(Boolean);
}

describe.concurrent('completion bash', () => {
  it('registers _omni_video for omni-video', async () => {
    const { stdout } = await exec('bash', ['--norc', '-c', `source "$1"; complete -p omni-video`, 'bash', join(dir, 'omni-video.bash')]);
    expect(stdout.trim()).toBe('complete -F _omni_video omni-video');
  });

  it('completes command names: gen → generate, and every command from an empty word', async () => {
    expect(await bashComplete('gen')).toEqual(['generate']);
    expect(await bashComplete('do')).toEqual(['download', 'doctor']);
    expect(await bashComplete('')).toEqual(expect.arrayContaining(['generate', 'extend', 'status', 'download', 'jobs', 'balance', 'config', 'sandbox', 'completion', 'doctor', 'help']));
  });

  it('completes the options of the command typed, and global ones', async () => {
    expect(await bashComplete('generate', '--asp')).toEqual(['--aspect-ratio']);
    expect(await bashComplete('generate', '--no-')).toEqual(['--no-wait', '--no-download', '--no-color']);
    expect(await bashComplete('download', '--f')).toEqual(['--force']);
    // extend's options are generate's; status has no --aspect-ratio
    expect(await bashComplete('extend', 'last', '--dry')).toEqual(['--dry-run']);
    expect(await bashComplete('status', '--asp')).toEqual([]);
  });

  it('completes the values of --aspect-ratio and --resolution', async () => {
    expect(await bashComplete('generate', '-a', '')).toEqual(['16:9', '9:16', 'landscape', 'portrait']);
    expect(await bashComplete('generate', '--aspect-ratio', 'p')).toEqual(['portrait']);
    expect(await bashComplete('extend', 'last', '--resolution', '')).toEqual(['720p']);
    // an option's value is no command: `--base-url http://x gen` still completes generate
    expect(await bashComplete('--base-url', 'http://127.0.0.1:4010/v1', 'gen')).toEqual(['generate']);
  });

  it('completes jobs --status and gallery --status with the state words, each its own, and batch -a with the aspect ratio words', async () => {
    expect(await bashComplete('jobs', '--status', '')).toEqual(JOBS);
    expect(await bashComplete('gallery', 'clips', '--status', '')).toEqual(GALLERY);
    expect(await bashComplete('gallery', '--status', 'n')).toEqual(['not_run']);
    expect(await bashComplete('jobs', '--status', 'n')).toEqual([]);
    expect(await bashComplete('batch', 'prompts.txt', '-a', '')).toEqual(RATIOS);
  });

  it('completes subcommands, config keys and shells', async () => {
    expect(await bashComplete('config', 's')).toEqual(['set']);
    expect(await bashComplete('config', 'set', 'a')).toEqual(['api-key', 'aspect-ratio']);
    expect(await bashComplete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
  });
});

/**
 * Calls the zsh script's function as zsh's completion system would for `words` (the last one being
 * completed), with stand-ins for compadd, _describe and _files that print what they are given.
 */
async function zshComplete(...words: string[]): Promise<string[]> {
  const program = [
    'compdef() { :; }',
    'source "$1"; shift',
    'compadd() { shift $(( ${@[(i)--]} )); print -l -- "$@"; }',
    '_describe() { print -l -- "${(@)${(P)2}%%:*}"; }',
    // _files runs commands: the function must leave PATH as it found it.
    '_files() { print -- "<files>"; command -v ls >/dev/null && print -- "<PATH kept>"; }',
    'words=(omni-video "$@"); CURRENT=$#words; _omni_video',
  ].join('\n');
  const { stdout } = await exec('zsh', ['-f', '-c', program, 'zsh', join(dir, 'omni-video.zsh'), ...words]);
  return stdout.split('\n').filter(Boolean);
}

/** In CI the shells are installed (.ci/run): a missing one fails there instead of skipping. */
const skipWithout = (shell: string) => !has(shell) && !process.env.CI;

describe.concurrent.skipIf(skipWithout('zsh'))('completion zsh', () => {
  it('parses (zsh -n)', async () => {
    await exec('zsh', ['-n', join(dir, 'omni-video.zsh')]);
  });

  it('offers every command, the subcommands of config, and the config keys', async () => {
    expect(await zshComplete('gen')).toEqual(expect.arrayContaining(['generate', 'extend', 'status', 'download', 'jobs', 'balance', 'config', 'sandbox', 'completion', 'doctor', 'help']));
    expect(await zshComplete('config', '')).toEqual(['set', 'get', 'unset', 'list', 'path']);
    expect(await zshComplete('config', 'set', 'a')).toEqual(['api-key', 'base-url', 'output-dir', 'aspect-ratio', 'timeout', 'poll-interval']);
    expect(await zshComplete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    // an option's value is no command
    expect(await zshComplete('--base-url', 'http://127.0.0.1:4010/v1', 'gen')).toContain('generate');
  });

  it("offers the command's options and the global ones, and the values of --aspect-ratio", async () => {
    const generate = await zshComplete('generate', '--');
    expect(generate).toEqual(expect.arrayContaining(['--aspect-ratio', '--no-wait', '--dry-run', '--no-color', '--json']));
    expect(await zshComplete('status', '--')).not.toContain('--aspect-ratio');
    expect(await zshComplete('generate', '-a', '')).toEqual(['16:9', '9:16', 'landscape', 'portrait']);
    expect(await zshComplete('extend', 'last', '--resolution', '')).toEqual(['720p']);
  });

  it('completes jobs --status and gallery --status with the state words, each its own, and batch -a with the aspect ratio words', async () => {
    expect(await zshComplete('jobs', '--status', '')).toEqual(JOBS);
    expect(await zshComplete('gallery', 'clips', '--status', '')).toEqual(GALLERY);
    expect(await zshComplete('batch', 'prompts.txt', '--aspect-ratio', '')).toEqual(RATIOS);
  });

  it('completes file names for -o, with PATH intact', async () => {
    expect(await zshComplete('generate', 'x', '-o', '')).toEqual(['<files>', '<PATH kept>']);
  });
});

/** A new account: an empty home, and `omni-video` on its PATH (this build). */
function newAccount() {
  const home = tempDir('ov-home-');
  const env = { ...process.env, HOME: home, PATH: `${join(home, 'bin')}:${process.env.PATH}` };
  execFileSync('sh', ['-c', `mkdir -p "$HOME/bin" && printf '#!/bin/sh\\nexec "%s" "%s" "$@"\\n' "$1" "$2" > "$HOME/bin/omni-video" && chmod +x "$HOME/bin/omni-video"`, 'sh', process.execPath, BIN], { env });
  return { home, env };
}

describe('completion zsh and fish', () => {
  it('offer the same commands and values', () => {
    for (const shell of ['zsh', 'fish'] as const) {
      expect(scripts[shell], shell).toMatch(/generate/);
      expect(scripts[shell], shell).toContain('16:9 9:16 landscape portrait');
      expect(scripts[shell], shell).toContain('720p');
    }
    expect(scripts.zsh.startsWith('#compdef omni-video\n')).toBe(true);
  });

  it.skipIf(skipWithout('fish'))('fish completes gen → generate and the --aspect-ratio values', async () => {
    const { stdout } = await exec('fish', ['--no-config', '-c', `source $argv[1]; complete -C 'omni-video gen'; complete -C 'omni-video generate -a '`, join(dir, 'omni-video.fish')]);
    const words = stdout.split('\n').map((line) => line.split('\t')[0]);
    expect(words).toEqual(expect.arrayContaining(['generate', '16:9', '9:16', 'landscape', 'portrait']));
  });

  it.skipIf(skipWithout('fish'))('fish completes jobs --status and gallery --status with the state words, each its own', async () => {
    const complete = async (line: string) => {
      const { stdout } = await exec('fish', ['--no-config', '-c', `source $argv[1]; complete -C $argv[2]`, join(dir, 'omni-video.fish'), line]);
      return stdout.split('\n').filter(Boolean).map((entry) => entry.split('\t')[0]);
    };
    expect((await complete('omni-video jobs --status ')).sort()).toEqual([...JOBS].sort());
    expect((await complete('omni-video gallery clips --status ')).sort()).toEqual([...GALLERY].sort());
    expect((await complete('omni-video batch prompts.txt -a ')).sort()).toEqual([...RATIOS].sort());
  });

  it('the bash and fish install lines of completion --help work in a new account, where those directories do not exist yet', async () => {
    const help = await run(['completion', '--help']);
    const lines = [...help.stdout.matchAll(/^ {2}\$ (.*completion (?:bash|fish) > .*?)\s*(#.*)?$/gm)].map((match) => match[1]!);
    expect(lines, help.stdout).toHaveLength(2);
    for (const line of lines) {
      const { home, env } = newAccount();
      await exec('bash', ['--norc', '--noprofile', '-c', line], { env });
      const target = line.split('> ').at(-1)!.replace('~', home);
      expect(readFileSync(target, 'utf8'), line).toMatch(/omni-video/);
    }
  });

  it.skipIf(skipWithout('zsh'))('the zsh install line of completion --help works for a user who cannot write the first $fpath directory (a system one), and zsh then completes omni-video', async () => {
    const help = await run(['completion', '--help']);
    const line = /^ {2}\$ (.*completion zsh.*?)\s*(#.*)?$/m.exec(help.stdout)?.[1];
    expect(line, help.stdout).toBeDefined();
    const { home, env } = newAccount();
    // As for anyone but root, the first $fpath directory (/usr/local/share/zsh/site-functions) cannot be written.
    await exec('zsh', ['-f', '-c', `fpath=(/proc/omni-video-not-writable $fpath); ${line}`], { env });
    // The ~/.zshrc line the README gives, then compinit: omni-video is completed by _omni-video.
    const { stdout } = await exec('zsh', ['-f', '-c', 'fpath=(~/.zfunc $fpath); autoload -Uz compinit; compinit -D -u; print -r -- $_comps[omni-video]'], { env });
    expect(stdout.trim()).toBe('_omni-video');
  });

  it('refuses another shell with exit 2', async () => {
    const result = await run(['completion', 'powershell']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Allowed choices are bash, zsh, fish/);
    expect(result.stdout).toBe('');
  });
});
